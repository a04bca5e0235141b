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


Factory = Callable[[Context], "Statistic | None"]


STATISTICS: Registry[Factory] = Registry(
    "runner.statistics",
    "statistic",
    {
        "counts": lambda c: _family(c.cfg.stats.counts, token_stats.Counts(c.tokenizer.unk_token_id)),
        "scripts": lambda c: _family(c.cfg.stats.scripts, token_stats.Scripts(c.tokenizer.unk_token_id)),
        "fidelity": lambda c: _family(c.cfg.stats.fidelity, token_stats.Fidelity()),
        "distribution": lambda c: _family(
            c.cfg.stats.distribution, token_stats.Distribution(len(c.tokenizer), c.cfg.stats.renyi_alpha)
        ),
        "morphemes": morphemes.statistic,
    },
)


register_statistic = STATISTICS.register


def _family(on: bool, family: token_stats.Family) -> Statistic | None:
    """A built-in family as a statistic of its own (start feeds the families together)."""
    return token_stats.Chunked([family]) if on else None


def start(context: Context) -> list[Statistic]:
    """The statistics this run switches on, each from its factory; the built-in families among
    them fed as one group (token_stats.together: a chunk's text layout built once for all)."""
    made = [factory(context) for name, factory in STATISTICS.items() if switched_on(context.cfg.stats, name)]
    return token_stats.together([s for s in made if s is not None])


def unmergeable(context: Context) -> list[str]:
    """The names of the statistics this run switches on whose partial states do not merge
    (no `merge`): what execution=ray cannot run."""
    return [
        name
        for name, factory in STATISTICS.items()
        if switched_on(context.cfg.stats, name)
        and (made := factory(context)) is not None
        and not mergeable(made)
    ]
