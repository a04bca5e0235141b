"""Statistics as an extension point: a statistic is fed every batch of encodings (texts, pairs,
token ids, offsets, special-token masks — runner.tokenization.batch.Batch) as the run goes, then
gives its metrics and, per logged example, extra columns of tokens.json.

`STATISTICS` maps a name to a factory that returns the statistic for a run, or None when the
run's config leaves it off. The built-in token statistics (counts, per script, fidelity,
distribution: runner.tokenization.token_stats) run on every run; `morphemes` (stats.morphemes=kiwi)
is the first entry. Adding one is one entry and its class (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from runner.config.schema import RunConfig
from runner.data import sources
from runner.tokenization import morphemes
from runner.tokenization.batch import Batch
from runner.tokenization.fingerprints import texts_digest


class Statistic(Protocol):
    def update(self, batch: Batch, keep: int) -> None:
        """One batch; `keep`: examples with a smaller index are logged in tokens.json."""

    def metrics(self) -> dict[str, float]:
        """The run's metrics, once every batch is in."""

    def columns(self, index: int) -> dict[str, Any]:
        """Extra tokens.json columns of a logged example."""


@dataclass
class Context:
    """What a statistic may read to set itself up: the config, the tokenizer, the evaluation
    texts, and the process's load cache (`cached(kind, key, build)`: built once per key)."""

    cfg: RunConfig
    tokenizer: Any
    texts: sources.Texts
    cached: Callable[[str, Any, Callable[[], Any]], Any]


Factory = Callable[[Context], "Statistic | None"]


class Morphemes:
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


STATISTICS: dict[str, Factory] = {"morphemes": _morphemes}


def register_statistic(name: str, factory: Factory) -> None:
    """Add a statistic; a name already taken is an error (two packages must not shadow each other)."""
    if name in STATISTICS:
        raise ValueError(f"a statistic named {name!r} is registered already")
    STATISTICS[name] = factory


def start(context: Context) -> list[Statistic]:
    """The statistics this run switches on."""
    return [s for s in (factory(context) for factory in STATISTICS.values()) if s is not None]
