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


class Statistic(Protocol):
    def update(self, batch: Batch, keep: int) -> None:
        """One batch; `keep`: examples with a smaller index are logged in tokens.json."""

    def metrics(self) -> dict[str, float]:
        """The run's metrics, once every batch is in."""

    def columns(self, index: int) -> dict[str, Any]:
        """Extra tokens.json columns of a logged example."""

    def tags(self) -> dict[str, str]:
        """The run's tags, once every batch is in."""


class BaseStatistic:
    """What a statistic need not write: no columns, no tags."""

    def update(self, batch: Batch, keep: int) -> None:
        raise NotImplementedError

    def metrics(self) -> dict[str, float]:
        raise NotImplementedError

    def columns(self, index: int) -> dict[str, Any]:
        return {}

    def tags(self) -> dict[str, str]:
        return {}


@dataclass
class Context:
    """What a statistic may read to set itself up: the config, the tokenizer, the evaluation
    texts, and the process's load cache (`cached(kind, key, build)`: built once per key)."""

    cfg: RunConfig
    tokenizer: Any
    texts: sources.Texts
    cached: Callable[[str, Any, Callable[[], Any]], Any]
