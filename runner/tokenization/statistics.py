"""Statistics as an extension point: a statistic is fed every batch of encodings (texts, pairs,
token ids, offsets, special-token masks — runner.tokenization.batch.Batch) as the run goes, then
gives its metrics, tags and, per logged example, extra columns of tokens.json.

`STATISTICS` maps a name to a factory that returns the statistic for a run, or None when the
run's config leaves it off. Its entries: the built-in families `counts`, `scripts`, `fidelity`
and `distribution` (runner.tokenization.token_stats; `stats.<family>=false` switches one off),
which are fed together so that a chunk's text layout is built once, and `morphemes`
(stats.morphemes=kiwi). Adding one is one entry and its class (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from runner.config.schema import RunConfig
from runner.data import sources
from runner.registry import Registry
from runner.tokenization import morphemes, token_stats
from runner.tokenization.batch import Batch
from runner.tokenization.fingerprints import texts_digest


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


Factory = Callable[[Context], "Statistic | token_stats.Family | None"]


class Morphemes(BaseStatistic):
    """stats.morphemes=kiwi: token boundaries against Kiwi's morpheme boundaries."""

    def __init__(self, segmented: dict[str, list[tuple[int, int]]]) -> None:
        self.stats = morphemes.MorphemeStats(segmented)
        self.texts: dict[int, tuple[str, str | None]] = {}  # logged examples

    def update(self, batch: Batch, keep: int) -> None:
        self.stats.update(batch, keep)
        for j, index in enumerate(batch.indices):
            if index < keep:
                self.texts[index] = (batch.texts[j], batch.pairs[j] if batch.pairs is not None else None)

    def metrics(self) -> dict[str, float]:
        return self.stats.metrics()

    def columns(self, index: int) -> dict[str, Any]:
        text, pair = self.texts[index]
        shown = morphemes.surface(text, self.stats.segmented.get(text, []))
        if pair is not None:
            shown += " ‖ " + morphemes.surface(pair, self.stats.segmented.get(pair, []))
        return {"morphemes": shown, "crosses": self.stats.crosses.get(index, [])}


def _morphemes(context: Context) -> Statistic | None:
    mode = context.cfg.stats.morphemes
    if mode == "none" or context.texts.parallel:
        return None
    texts = context.texts  # read its strings only when the analysis is not cached yet
    segmented = context.cached("morphemes", texts_digest(texts), lambda: morphemes.analyse(texts.strings()))
    return Morphemes(segmented)


STATISTICS: Registry[Factory] = Registry(
    "runner.statistics",
    "statistic",
    {
        "counts": lambda c: token_stats.Counts(c.tokenizer.unk_token_id) if c.cfg.stats.counts else None,
        "scripts": lambda c: token_stats.Scripts(c.tokenizer.unk_token_id) if c.cfg.stats.scripts else None,
        "fidelity": lambda c: token_stats.Fidelity() if c.cfg.stats.fidelity else None,
        "distribution": lambda c: (
            token_stats.Distribution(len(c.tokenizer), c.cfg.stats.renyi_alpha)
            if c.cfg.stats.distribution
            else None
        ),
        "morphemes": _morphemes,
    },
)


register_statistic = STATISTICS.register


def start(context: Context) -> list[Statistic]:
    """The statistics this run switches on; the token families among them fed as one."""
    made = [s for s in (factory(context) for factory in STATISTICS.values()) if s is not None]
    families = [s for s in made if isinstance(s, token_stats.Family)]
    others: list[Statistic] = [s for s in made if not isinstance(s, token_stats.Family)]
    return ([token_stats.Chunked(families)] if families else []) + others
