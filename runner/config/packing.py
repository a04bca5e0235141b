"""Where a job sits in a sweep (`JobContext`), and packed sweeps: `sweep.inner` holds a grid in
Hydra's sweep syntax that runs inside each launched job, in one process, each combination its
own child run under the sweep's parent and all of them sharing the process's load cache.

Outer axes go to the launcher (one scheduler task each), inner axes stay local:
`runner -m hydra/launcher=slurm model=a,b,c 'sweep.inner="padding=longest,max_length"'` gives 3
tasks and 6 child runs. The grid is expanded by Hydra's own basic sweeper and each inner config
is composed by Hydra's compose API on top of the launched job's overrides.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from runner.errors import ConfigError, first_line

INNER_KEYS = ("sweep.inner=", "+sweep.inner=", "++sweep.inner=")
# What the sweep's callback hands every job (hydra.job.env_set, which Hydra applies in the job's
# own process wherever the launcher runs it); the job reads them from its Hydra config, here.
PARENT_ENV = "RUNNER_PARENT_RUN_ID"
URI_ENV, EXPERIMENT_ENV = "RUNNER_SWEEP_TRACKING_URI", "RUNNER_SWEEP_EXPERIMENT"
GRID_ENV = "RUNNER_SWEEP_GRID"  # {key: [values]} of the sweep
PARENT_FILE = "mlflow_parent_run_id"  # in the sweep directory: the fallback on a shared file system


@dataclass(frozen=True)
class JobContext:
    """What a job takes from Hydra, read once from its Hydra config: its group choices and
    overrides, its place in a sweep, and what the sweep's callback handed it (the parent run, the
    sweep's store and experiment, the swept values)."""

    multirun: bool
    choices: dict[str, str]
    overrides: list[str]
    num: str | None = None  # "3" for a launched job, "3.1" for its second inner combination
    sweep_dir: str | None = None
    parent: str | None = None  # the sweep's parent run
    parent_from: str = ""  # env: the job's own config; file: the shared sweep directory
    tracking_uri: str | None = None  # the sweep's store and experiment
    experiment: str = "runner"
    grid: dict[str, list[str]] = field(default_factory=dict)  # the sweep's swept values per key

    @classmethod
    def of(cls, hc: Any) -> JobContext:
        """The context of the job Hydra is running (`HydraConfig.get()`)."""
        from hydra.types import RunMode

        multirun = hc.mode == RunMode.MULTIRUN
        sweep_dir = str(hc.sweep.dir) if multirun else None
        env = {str(k): str(v) for k, v in (hc.job.get("env_set") or {}).items()}
        parent, source = env.get(PARENT_ENV) or None, "env"
        if parent is None and sweep_dir is not None:
            path = Path(sweep_dir) / PARENT_FILE
            parent, source = (path.read_text().strip() or None) if path.exists() else None, "file"
        return cls(
            multirun,
            {k: str(v) for k, v in hc.runtime.choices.items()},
            list(hc.overrides.task),
            str(hc.job.num) if multirun else None,
            sweep_dir,
            parent,
            source if parent else "",
            env.get(URI_ENV),
            env.get(EXPERIMENT_ENV) or "runner",
            _grid(env.get(GRID_ENV)),
        )

    def inner(self, choices: dict[str, str], overrides: list[str], k: int) -> JobContext:
        """The k-th combination of this job's sweep.inner grid."""
        return dataclasses.replace(self, choices=choices, overrides=overrides, num=f"{self.num}.{k}")


def _grid(text: str | None) -> dict[str, list[str]]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return (
        {str(k): [str(v) for v in values] for k, values in found.items()} if isinstance(found, dict) else {}
    )


def combinations(inner: str) -> list[list[str]]:
    """The inner grid as lists of overrides, in Hydra's order (the basic sweeper's expansion)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(shlex.split(inner))
    except Exception as exc:
        raise ConfigError(
            f"sweep.inner={inner}",
            f"is not a grid in Hydra's sweep syntax ({first_line(exc, 160)})",
            """quote it for Hydra, e.g. 'sweep.inner="padding=longest,max_length"'""",
        ) from exc
    return [list(combo) for batch in BasicSweeper.split_arguments(parsed, None) for combo in batch]


def inner_jobs(hc: Any, inner: str) -> Iterator[tuple[DictConfig, JobContext]]:
    """Each inner combination's job config and context, composed on the launched job's overrides."""
    from hydra import compose

    outer = JobContext.of(hc)
    if not outer.multirun:
        raise ConfigError(
            f"sweep.inner={inner}",
            "runs a grid inside each job of a sweep, and this is a single run",
            "add -m (runner -m ... 'sweep.inner=\"...\"')",
        )
    base = [o for o in outer.overrides if not o.startswith(INNER_KEYS)]
    for k, combo in enumerate(combinations(inner)):
        cfg = compose(hc.job.config_name, overrides=[*base, *combo], return_hydra_config=True)
        choices = {key: str(v) for key, v in cfg.hydra.runtime.choices.items()}
        with open_dict(cfg):
            del cfg["hydra"]
            cfg.sweep.inner = ""
        yield cfg, outer.inner(choices, [*base, *combo], k)
