"""A multirun as one unit: a parent MLflow run per sweep, children nested by explicit id.

`SweepCallback` (registered in conf/config.yaml) opens the parent when Hydra starts a multirun,
writes its id into the sweep directory — where jobs in any process or on any node of a shared
file system find it — and at the end prints and logs the table of every job.
"""

from __future__ import annotations

import functools
import itertools
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from runner import console, errors, reach
from runner.analysis import conclusion
from runner.config import naming, packing
from runner.config.packing import JobContext
from runner.config.tags import JOB_NUM, ROLE, SWEEP_ROLE
from runner.engine import recording
from runner.engine.session import Session, Started
from runner.errors import ConfigError, Escalated, Stop
from runner.tracking import store

if TYPE_CHECKING:
    from hydra.core.config_loader import ConfigLoader
    from hydra.core.utils import JobReturn
    from mlflow.entities import Run

    from runner.tracking.base import Tracker


def job_tags(context: JobContext) -> dict[str, str]:
    """Tags naming a multirun job's sweep, its number (3, or 3.1 for an inner combination) and how
    it found the parent run (env: its own config; file: the shared sweep directory)."""
    sweep_dir = str(context.sweep_dir)
    return {
        "sweep.id": Path(sweep_dir).name,
        "sweep.dir": sweep_dir,
        JOB_NUM: str(context.num),
        "sweep.parent_from": context.parent_from,
    }


def abort(context: JobContext, reason: str) -> None:
    """Close the parent FAILED before the sweep stops (sweep.fail_fast, a broken sweep.inner)."""
    from runner.tracking.tracker import Tracker

    if context.parent:
        Tracker(context.tracking_uri, context.experiment).finish(context.parent, "FAILED", reason)


def sweep_overrides(config: DictConfig) -> list[str]:
    """The sweep's overrides: the command line's and an experiment's hydra.sweeper.params."""
    params = config.hydra.sweeper.get("params") or {}
    return [*config.hydra.overrides.task, *(f"{k}={v}" for k, v in params.items())]


def _config_loader() -> ConfigLoader | None:
    """Hydra's config loader of this run (glob() sweeps list a group's options through it)."""
    from hydra.core.global_hydra import GlobalHydra

    hydra = GlobalHydra.instance()
    return hydra.config_loader() if hydra.is_initialized() else None


def count_jobs(config: DictConfig) -> int:
    """How many jobs the basic sweeper will launch: the product of every swept value list."""
    total = 1
    for values in naming.grid(sweep_overrides(config), _config_loader()).values():
        total *= len(values)
    return total


P = ParamSpec("P")


def _escalated(hook: Callable[P, None]) -> Callable[P, None]:
    """Hydra turns an Exception raised in a callback into a warning and carries on (a sweep with
    no parent, exit 0): raise it past Hydra, to cli.main, which prints its one line."""

    @functools.wraps(hook)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            hook(*args, **kwargs)
        except Exception as exc:
            raise Escalated(exc) from exc

    return wrapper


GONE = "the tracking server went away (runner-sync builds it when the parent is sent)"


def check_launcher(config: DictConfig) -> None:
    """The Ray launcher with no cluster at its address waits for minutes inside ray.init: look
    first (one TCP connection to the head's port), and fail with a line saying how to start one."""
    target = str(config.hydra.launcher.get("_target_", ""))
    if "RayLauncher" not in target:
        return
    address = str(config.hydra.launcher.ray.init.get("address") or "auto")
    key = "hydra.launcher.ray.init.address"
    fix = "start a head with `ray start --head` (it prints the address) and pass it here or as RAY_ADDRESS"
    if address == "local":
        return  # Ray starts its own local cluster
    silent = reach.ray_head(address)
    if silent:
        raise ConfigError(key, silent, fix)


def check_needs(config: DictConfig) -> None:
    """Every job's optional packages, before the first job starts and before the parent opens
    (one line, exit 2, no run): Kiwi for stats.morphemes=kiwi and morpheme-aware tokenizers, the
    tiktoken ranks file for cl100k_base. Each job's config is composed as Hydra will compose it
    (~80 ms a job) — only when one of those packages is missing: with both installed there is
    nothing a job could lack."""
    import importlib.util

    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from runner.tokenization import morphemes

    if morphemes.installed() and importlib.util.find_spec("tiktoken_ext") is not None:
        return
    overrides = sweep_overrides(config)
    parsed = OverridesParser.create(_config_loader()).parse_overrides(overrides)
    fixed = [str(o.input_line) for o in parsed if not o.is_sweep_override()]
    axes = naming.grid(overrides, _config_loader())
    name = str(config.hydra.job.config_name)
    for combo in itertools.product(*([f"{k}={v}" for v in values] for k, values in axes.items())):
        job = compose(name, overrides=[*fixed, *combo], return_hydra_config=True)
        _needs(job, str(job.hydra.runtime.choices.get("tokenizer", "")))


def _needs(job: DictConfig, tokenizer: str) -> None:
    from omegaconf.errors import InterpolationResolutionError

    from runner.tokenization import morphemes

    if not morphemes.installed():
        if OmegaConf.select(job, "stats.morphemes") == "kiwi":
            raise morphemes.missing("stats.morphemes=kiwi")
        if str(OmegaConf.select(job, "tokenizer.train.pre_tokenizer")) in (
            "morphemes",
            "PreTokenizer.morphemes",
        ):
            raise morphemes.missing(f"tokenizer={tokenizer} (tokenizer.train.pre_tokenizer=morphemes)")
    try:
        OmegaConf.select(job, "tokenizer.name_or_path")  # ${tiktoken:…}: the ranks file, hash checked
    except InterpolationResolutionError as exc:
        if isinstance(exc.__cause__, ConfigError):
            raise exc.__cause__ from None
        raise


class SweepCallback(Callback):
    """The sweep's parent run, opened at the multirun's start and closed with the comparison at its
    end. Hydra instantiates it (hydra.callbacks in conf/config.yaml); it finds its Session active."""

    def __init__(self) -> None:
        self.session = Session.current()
        self.total = self.done = 0
        self.progress: console.Progress | None = None  # from the multirun's start
        self.tracker: Tracker | None = None
        self.parent = ""
        self.written: list[str] = []  # the parent's comparison files, as logged

    @property
    def opened(self) -> Tracker:
        """The tracker of the sweep's parent run (open from the multirun's start)."""
        if self.tracker is None:
            raise RuntimeError("the sweep's parent run is not open: on_multirun_start did not run")
        return self.tracker

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: object) -> None:
        """Jobs run in this process (the basic launcher) advance the sweep's progress bar."""
        if self.progress is not None:
            self.done += 1
            self.progress(self.done, self.total)

    @_escalated
    def on_multirun_start(self, config: DictConfig, **kwargs: object) -> None:
        from runner.tracking import keep

        check_launcher(config)
        check_needs(config)
        self.total, self.done = count_jobs(config), 0
        grid = naming.grid([*sweep_overrides(config), *_inner_axes(config)], _config_loader())
        self.progress = console.Progress("jobs", "job", leave=True)
        self.progress(0, self.total)  # shown from the start, not from the first job's end

        # a server's parent can move to the local store; the sweep starts only with its server there
        self.tracker = keep.open_tracker(config.tracking.uri, config.tracking.experiment, multirun=False)
        recording.end_dead_runs(self.tracker)  # once per sweep, not per job
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        overrides = " ".join(config.hydra.overrides.task) or "(none)"
        choices = dict(config.hydra.runtime.choices)
        self.parent = self.tracker.start(
            naming.parent_name(choices.get("experiment"), grid, sweep_dir.name),
            {
                "sweep.id": sweep_dir.name,
                "sweep.dir": str(sweep_dir),
                "sweep.axes": " × ".join(grid),
                "sweep.shared": naming.shared(choices, list(config.hydra.overrides.task), grid),
                ROLE: SWEEP_ROLE,
                "overrides": overrides,
            },
        )
        self.session.open_sweep = self  # closed by the CLI or the API if the sweep dies outside its jobs
        self.session.started.append(Started(self.tracker.uri, self.parent, sweep=True))
        (sweep_dir / packing.PARENT_FILE).write_text(self.parent)  # the fallback: a shared file system
        env = {
            packing.PARENT_ENV: self.parent,
            packing.URI_ENV: self.tracker.uri,
            packing.EXPERIMENT_ENV: str(config.tracking.experiment),
            packing.GRID_ENV: json.dumps(grid, ensure_ascii=False),
        }
        _send_to_jobs(config, env)

    @_escalated
    def on_multirun_end(self, config: DictConfig, **kwargs: object) -> None:
        self.session.settle()  # a launcher's parent runs no job: the comparison is its work
        if self.progress is not None:
            self.progress.close()
        children = self.opened.children(self.parent)  # none when the server has gone away
        self._kept_exit(children)
        found = conclusion.conclude(
            self.opened,
            self.parent,
            children,
            float(config.invariance.tolerance),
            self.session.unopened,
            why=self._why,
        )
        self.session.unopened = []
        self.written = found.written
        for problem in found.problems:
            console.line(f"warning: {problem}")
        print("\n" + found.jobs, flush=True)
        if found.side_by_side:
            print("\n" + found.side_by_side, flush=True)
        print(found.verdict, flush=True)
        gate = bool(config.invariance.fail) and found.invariant is not True
        self.opened.finish(self.parent, "FAILED" if found.failed or gate else "FINISHED")
        self.session.open_sweep = None  # until here, a crash in this callback ends the parent FAILED
        self._kept_parent()
        self._link()
        if found.failed:
            console.line(f"{found.failed} of {len(found.rows)} jobs failed")
        if gate:
            console.line(f"invariance.fail=true: {found.verdict}")
        if found.failed or gate:
            raise Stop(1)

    def _kept_exit(self, children: list[Run]) -> None:
        """Jobs whose server went away kept their results locally: the sweep ends with one line
        for all of them; runner-sync sends them and rebuilds the comparison on the parent."""
        from runner.tracking import keep

        if not store.is_server(self.opened.uri):
            return
        kept = keep.kept_children(self.parent)
        gone = self._gone()
        if not kept and not gone:
            return
        moved = {r.data.tags.get(keep.REMOTE_ID) for r in kept}  # left RUNNING on the server
        failed = [r for r in kept if r.info.status != "FINISHED"]
        failed += [c for c in children if c.info.status != "FINISHED" and c.info.run_id not in moved]
        self.opened.finish(self.parent, "FAILED" if failed else "FINISHED")  # moves too if gone
        self.session.open_sweep = None
        console.line(keep.kept_line(self.opened.uri, len(kept) + (1 if gone else 0)))
        raise Stop(keep.EXIT_KEPT)

    def _why(self, exc: BaseException) -> str:
        """A part of the conclusion failed: because the server went away (a read through the
        client fails before any write notices), or for its own reason."""
        from runner.reach import silence

        server = store.is_server(self.opened.uri)
        return GONE if self._gone() or (server and silence(self.opened.uri)) else errors.describe(exc)

    def _gone(self) -> bool:
        """The server stopped answering during this sweep's end (runner.tracking.keep)."""
        return self.opened.gone

    def _kept_parent(self) -> None:
        """The server went away after the jobs, while the parent's tables were logged: the
        parent finished in the local store; runner-sync sends it and builds its comparison."""
        from runner.tracking import keep

        if self._gone():
            console.line(keep.kept_line(self.opened.uri, 1))
            raise Stop(keep.EXIT_KEPT)

    def _link(self) -> None:
        from runner.tracking import store

        uri, experiment = self.opened.uri, self.opened.experiment_id
        links = {
            "runs": store.run_url(uri, experiment),
            "parent": store.run_url(uri, experiment, self.parent),
        }
        files = ", ".join(["sweep_summary.json", *self.written])
        print(
            f"sweep parent run {self.parent}: {files}\n" + console.dashboard(store.ui_command(uri), links),
            flush=True,
        )


def _send_to_jobs(config: DictConfig, env: dict[str, str]) -> None:
    """Every job's config carries `env` (hydra.job.env_set, applied by Hydra in the job's own
    process wherever the launcher runs it): the launchers compose each job from the sweep's
    hydra overrides, and this config is the one they hold."""
    from omegaconf import read_write

    with read_write(config.hydra.overrides):
        for key, value in env.items():
            quoted = value.replace("\\", "\\\\").replace("'", "\\'")
            config.hydra.overrides.hydra.append(f"++hydra.job.env_set.{key}='{quoted}'")


def _inner_axes(config: DictConfig) -> list[str]:
    """sweep.inner's overrides, so that inner axes tell runs apart too (a grid Hydra cannot
    parse adds nothing here: each job reports it, naming the key)."""
    from runner.config import packing

    inner = str(config.sweep.get("inner") or "")
    try:
        packing.combinations(inner)
    except Exception:
        return []
    return shlex.split(inner)
