"""What a statistic is (the `Statistic` protocol every registry entry gives), what it need not
write (`BaseStatistic`) and what it may read to set itself up (`Context`). The registry of
statistics is runner.tokenization.statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from runner.config.schema import RunConfig
from runner.data import sources
from runner.tokenization.batch import Batch

Cached = Callable[[str, Any, Callable[[], Any]], Any]  # (kind, key, build): built once per key


class Statistic(Protocol):
    def update(self, batch: Batch, keep: int) -> None:
        """One batch; `keep`: examples with a smaller index are logged in tokens.json."""

    def metrics(self) -> dict[str, float]:
        """The run's metrics, once every batch is in."""

    def columns(self, index: int) -> dict[str, Any]:
        """Extra tokens.json columns of a logged example."""

    def tags(self) -> dict[str, str]:
        """The run's tags, once every batch is in."""

    def merge(self, other: Any) -> None:
        """Add the partial state of another instance — the same run's statistic, fed other
        batches (an `execution=ray` worker's) — so that this one holds what both saw, exactly.
        Optional under `execution=local`; a statistic without it refuses `execution=ray`."""


class BaseStatistic:
    """What a statistic need not write: no columns, no tags; no merge (execution=local only)."""

    def update(self, batch: Batch, keep: int) -> None:
        raise NotImplementedError

    def metrics(self) -> dict[str, float]:
        raise NotImplementedError

    def columns(self, index: int) -> dict[str, Any]:
        return {}

    def tags(self) -> dict[str, str]:
        return {}

    def merge(self, other: Any) -> None:
        raise NotImplementedError


def mergeable(statistic: Any) -> bool:
    """Whether a statistic's partial states merge (it defines `merge`, not BaseStatistic's)."""
    merge = getattr(type(statistic), "merge", None)
    return merge is not None and merge is not BaseStatistic.merge


@dataclass
class Context:
    """What a statistic may read to set itself up: the config, the tokenizer, the evaluation
    texts, and the process's load cache (`cached(kind, key, build)`: built once per key)."""

    cfg: RunConfig
    tokenizer: Any
    texts: sources.Texts
    cached: Cached
