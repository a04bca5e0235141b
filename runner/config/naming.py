"""Run names that say what differs. A sweep's child is named by its values of the sweep's axes,
shortest axis first (`do_not_pad · roberta_base`, `max_length=64`); what every child shares is said
once, on the parent (`shared`), and the parent is named for what it compares (the experiment,
or the swept keys: `tokenizer × padding`). A single run: the group choices, then each
plain-key override. Path values show their last component(s), long values are shortened in the
middle — never by cutting off the part that differs between jobs of the same sweep.
"""

from __future__ import annotations

import re
from typing import Any

from runner.errors import ConfigError

GROUPS = ("model", "padding", "dataset")
SKIPPED = ("tracking.", "hydra.", "sweep.")
MAX_VALUE = 40  # characters of one shown value


def run_name(
    choices: dict[str, str],
    overrides: list[str],
    user_name: str | None,
    job_num: int | str | None,
    grid: dict[str, list[str]] | None = None,
) -> str:
    """`tiny_bert · longest · sample`, plus the overrides: `tokenizer=roberta-base`, `max_length=64`.

    A user's tracking.run_name is kept; within a sweep it gets ` #<job>` so children stay distinct.
    """
    if user_name:
        return user_name if job_num is None else f"{user_name} #{job_num}"
    grid = grid or {}  # the sweep's swept values (JobContext.grid)
    if job_num is not None and grid:
        varied = _varied(overrides, grid)
        if varied:
            return " · ".join(varied)
    parts = [str(choices[g]) for g in GROUPS if choices.get(g)]
    if choices.get("tokenizer") not in (None, "default"):
        parts.append(f"tokenizer={choices['tokenizer']}")
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if "." not in key or key.startswith(SKIPPED):
            continue
        parts.append(f"{label(key)}={short(value, grid.get(key, []))}")
    return " · ".join(parts)


def _varied(overrides: list[str], grid: dict[str, list[str]]) -> list[str]:
    """This job's value of each swept key: a group's option by its name, any other key as
    `label=value` — the axes in the order that tells the most children apart within the first
    characters MLflow's runs table shows (`axis_order`)."""
    values = {}
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        values[key] = value
    keys = axis_order([k for k in grid if k in values and not k.startswith(SKIPPED)], grid)
    if _distinct_within_shown(keys, grid, bare=True) > _distinct_within_shown(keys, grid, bare=False):
        # `unigram · 16000` tells siblings apart where `algorithm=unigram · …` cannot (the parent's
        # name says which axis is which: `algorithm × vocab_size`)
        return [short(values[key], grid[key]) for key in keys]
    return [_shown(key, values[key], grid[key]) for key in keys]


def _distinct_within_shown(keys: list[str], grid: dict[str, list[str]], bare: bool) -> int:
    """How many of the sweep's names differ within SHOWN characters, with or without `label=`."""
    import itertools
    import math

    if math.prod(len(grid[k]) for k in keys) > MAX_ORDERS:
        return 0
    shown = [[short(v, grid[k]) if bare else _shown(k, v, grid[k]) for v in grid[k]] for k in keys]
    return len({" · ".join(names)[:SHOWN] for names in itertools.product(*shown)})


SHOWN = 18  # characters of a run name MLflow's runs table shows at its default column width
MAX_ORDERS = 50_000  # names built when choosing the axis order; a larger grid keeps its order


def axis_order(keys: list[str], grid: dict[str, list[str]]) -> list[str]:
    """The order of the axes whose names differ most within SHOWN characters; among equals, the
    sweep's own order (`bert_vs_roberta`: `sample · bert_base_uncased`, `sample_pairs · …`)."""
    import itertools
    import math

    shown = {k: [_shown(k, v, grid[k]) for v in grid[k]] for k in keys}
    orders: list[tuple[str, ...]] = list(itertools.permutations(keys)) if len(keys) <= 5 else [tuple(keys)]
    if len(orders) * math.prod(len(v) for v in shown.values()) > MAX_ORDERS:
        return keys

    def distinct(order: tuple[str, ...]) -> int:
        return len({" · ".join(names)[:SHOWN] for names in itertools.product(*(shown[k] for k in order))})

    best = max(range(len(orders)), key=lambda n: (distinct(orders[n]), -n))  # equals: the sweep's order
    return list(orders[best])


def _shown(key: str, value: str, siblings: list[str]) -> str:
    if "." not in key or key.endswith(".name_or_path"):  # a group's option, a checkpoint: bare
        return short(value, siblings)
    return f"{label(key)}={short(value, siblings)}"


def parent_name(experiment: str | None, grid: dict[str, list[str]], sweep_id: str) -> str:
    """`bert_vs_roberta · 15-27-36-3b9d0f`, or the swept keys: `tokenizer × padding · 15-27-…`."""
    keys = [k for k in grid if not k.startswith(SKIPPED)]
    what = experiment or " × ".join(label(k) if "." in k else k for k in keys) or "sweep"
    return f"{what} · {sweep_id}"


def shared(choices: dict[str, str], overrides: list[str], grid: dict[str, list[str]]) -> str:
    """What every child of the sweep shares: the group choices and the overrides not swept."""
    parts = [
        f"{g}={choices[g]}"
        for g in (*GROUPS, "tokenizer")
        if choices.get(g) not in (None, "default") and g not in grid
    ]
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if "." in key and key not in grid and not key.startswith(SKIPPED):
            parts.append(f"{label(key)}={short(value, [])}")
    return " · ".join(parts)


def label(key: str) -> str:
    """`tokenizer.name_or_path` → `tokenizer`; `padding.side` → `side`."""
    head, _, last = key.rpartition(".")
    return head.split(".")[0] if last == "name_or_path" else last


def short(value: str, siblings: list[str]) -> str:
    """A path by as many trailing components as tell it apart from its siblings in the sweep;
    anything longer than MAX_VALUE shortened in the middle, keeping both ends."""
    value = re.sub(r"\\(.)", r"\1", value)  # Hydra's escapes in sweep values: $\{tiny\:bert\}
    value = re.sub(r"^\$\{(.*)\}$", r"\1", value)  # an interpolation by its body: tiny:bert
    if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":  # text_column="문장" and '문장' alike
        value = value[1:-1]
    if value.startswith("runs:/"):  # a run's artifact by the run it reuses: runs:/3f2a1b9c
        run_id, _, path = value.removeprefix("runs:/").partition("/")
        return f"runs:/{run_id[:8]}" + (f"/{path}" if path.strip("/") not in ("", "tokenizer") else "")
    if "/" in value.strip("/"):
        parts = value.rstrip("/").split("/")
        others = [s.rstrip("/").split("/") for s in siblings if s.rstrip("/") != value.rstrip("/")]
        n = 1
        while n < len(parts) and any(o[-n:] == parts[-n:] for o in others):
            n += 1
        value = "/".join(parts[-n:])
    if len(value) <= MAX_VALUE:
        return value
    keep = (MAX_VALUE - 1) // 2
    shortened = value[:keep] + "…" + value[-keep:]
    clash = any(s != value and short(s, []) == shortened for s in siblings)
    return value if clash else shortened  # the differing part sits in the middle: keep it


def grid(overrides: list[str], config_loader: Any = None) -> dict[str, list[str]]:
    """Each swept key's values, parsed and expanded by Hydra's own override parser (`glob()`
    needs the config loader to list a group's options). Hydra's basic sweeper enumerates
    choice lists, `choice()`, `range()` and `glob()`; `interval()` is a search space for
    sweeper plugins (Optuna, Nevergrad), named in one line here."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out: dict[str, list[str]] = {}
    for override in OverridesParser.create(config_loader).parse_overrides(overrides):
        if not override.is_sweep_override():
            continue
        key = override.get_key_element().lstrip("+~")
        if override.is_interval_sweep():
            raise ConfigError(
                key,
                "interval() is a range for sweeper plugins to sample from; Hydra's basic sweeper "
                "cannot enumerate it",
                f"list the values ({key}=a,b,c or range(start,stop,step)), or use a sweeper "
                "plugin such as hydra/sweeper=optuna",
            )
        out[key] = list(override.sweep_string_iterator())
    return out
