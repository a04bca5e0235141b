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

from runner.config.schema import switched_on
from runner.registry import Registry
from runner.tokenization import morphemes, token_stats
from runner.tokenization.statistic import BaseStatistic, Context, Statistic, mergeable

__all__ = [
    "STATISTICS",
    "BaseStatistic",
    "Context",
    "Statistic",
    "register_statistic",
    "start",
    "unmergeable",
]


Factory = Callable[[Context], "Statistic | token_stats.Family | None"]


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
        "morphemes": morphemes.statistic,
    },
)


register_statistic = STATISTICS.register


def start(context: Context) -> list[Statistic]:
    """The statistics this run switches on; the token families among them fed as one."""
    made = [
        s
        for s in (
            factory(context) for name, factory in STATISTICS.items() if switched_on(context.cfg.stats, name)
        )
        if s is not None
    ]
    families = [s for s in made if isinstance(s, token_stats.Family)]
    others: list[Statistic] = [s for s in made if not isinstance(s, token_stats.Family)]
    return ([token_stats.Chunked(families)] if families else []) + others


def unmergeable(context: Context) -> list[str]:
    """The names of the statistics this run switches on whose partial states do not merge
    (no `merge`): what execution=ray cannot run."""
    return [
        name
        for name, factory in STATISTICS.items()
        if switched_on(context.cfg.stats, name)
        and (made := factory(context)) is not None
        and not isinstance(made, token_stats.Family)
        and not mergeable(made)
    ]
