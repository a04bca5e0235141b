"""Run names that say what differs: the group choices, then each plain-key override, with
path values by their last component(s) and long values shortened in the middle — never by
cutting off the part that differs between jobs of the same sweep.
"""

from __future__ import annotations

import json
import os
import re

GRID_ENV = "RUNNER_SWEEP_GRID"  # {key: [values]} of the sweep, set by runner.sweep for its jobs
GROUPS = ("model", "padding", "dataset")
SKIPPED = ("tracking.", "hydra.", "sweep.")
MAX_VALUE = 40  # characters of one shown value


def run_name(
    choices: dict[str, str], overrides: list[str], user_name: str | None, job_num: int | str | None
) -> str:
    """`tiny_bert · longest · sample`, plus the overrides: `tokenizer=roberta-base`, `max_length=64`.

    A user's tracking.run_name is kept; within a sweep it gets ` #<job>` so children stay distinct.
    """
    if user_name:
        return user_name if job_num is None else f"{user_name} #{job_num}"
    parts = [str(choices[g]) for g in GROUPS if choices.get(g)]
    if choices.get("tokenizer") not in (None, "default"):
        parts.append(f"tokenizer={choices['tokenizer']}")
    grid = sweep_grid()
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if "." not in key or key.startswith(SKIPPED):
            continue
        parts.append(f"{label(key)}={short(value, grid.get(key, []))}")
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


def sweep_grid() -> dict[str, list[str]]:
    """The sweep's swept values per key (empty outside a sweep)."""
    try:
        return json.loads(os.environ.get(GRID_ENV, "{}"))
    except ValueError:
        return {}


def grid(overrides: list[str]) -> dict[str, list[str]]:
    """Each swept key's values, parsed by Hydra's own override parser."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out: dict[str, list[str]] = {}
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            out[override.get_key_element().lstrip("+~")] = list(override.sweep_string_iterator())
    return out


def export_grid(overrides: list[str]) -> None:
    os.environ[GRID_ENV] = json.dumps(grid(overrides))
