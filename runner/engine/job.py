"""One Hydra job: open the MLflow run, run the pipeline, log its result, close the run.

The run is opened before anything that can fail, so every failure ends FAILED (KILLED on
SIGINT/SIGTERM) with what was logged so far kept.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from runner import console, errors
from runner.config import naming, packing, schema
from runner.config.redact import redact_config
from runner.data import sources
from runner.engine import interrupt, recording, sweep
from runner.engine.result import RunResult
from runner.engine.session import Session, Started
from runner.errors import Stop
from runner.model import heads
from runner.tokenization import training
from runner.tracking import keep, store

if TYPE_CHECKING:
    from runner.tracking.base import Tracker

log = logging.getLogger(__name__)


def quiet_libraries() -> None:
    """Libraries' progress bars and INFO chatter would drown the runner's own summary."""
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(logging.CRITICAL)  # read errors come back as our own one line
    transformers = __import__("transformers")
    transformers.utils.logging.disable_progress_bar()
    _ = transformers.AutoTokenizer  # its import (torch's too) overlaps the store's opening


def execute(cfg: DictConfig, session: Session) -> None:
    """Run the job Hydra launched — or, with sweep.inner, each combination of its inner grid —
    with what the Session's runs share (its load cache, its warm-up)."""
    hc = HydraConfig.get()
    inner = OmegaConf.select(cfg, "sweep.inner") or ""
    if not inner:
        _job(cfg, packing.JobContext.of(hc), session)
        return
    try:
        jobs = list(packing.inner_jobs(hc, inner))
    except Exception as exc:  # a grid Hydra cannot parse, a config that does not compose
        console.error(exc)
        context = packing.JobContext.of(hc)
        if context.multirun:
            sweep.abort(context, errors.describe(exc))
        raise Stop(errors.exit_code(exc), exc) from None
    for job_cfg, context in jobs:
        _job(job_cfg, context, session)


def _job(cfg: DictConfig, context: packing.JobContext, session: Session) -> None:
    """Run one job; a failure prints one line and exits non-zero (in a sweep: the job fails alone)."""
    run_cfg: schema.RunConfig | None = None
    opened = len(session.started)
    try:
        with interrupt.handled():
            run_cfg = typed(cfg)  # config errors before any run opens: exit 2
            if not context.multirun:  # a sweep's job fails as a FAILED run its table shows
                _check_paths(run_cfg)  # a missing file in < 1 s, before the heavy imports
            resolved = redact_config(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
            _execute(run_cfg, resolved, context, session)
    except Exception as exc:
        if session.command or context.multirun:  # the API raises a single run's error: no line too
            console.error(exc)
        if context.multirun and len(session.started) == opened:  # no run shows this job: the table will
            session.unopened.append(_unopened(context, exc))
        fail_fast = run_cfg.sweep.fail_fast if run_cfg else OmegaConf.select(cfg, "sweep.fail_fast")
        if context.multirun and not fail_fast:
            return
        if context.multirun:
            sweep.abort(context, f"fail_fast: {errors.describe(exc)}")
        raise Stop(errors.exit_code(exc), exc) from None


def _unopened(context: packing.JobContext, exc: BaseException) -> dict[str, object]:
    """A jobs-table row for a job refused before its run opened."""
    try:
        name = naming.run_name(context.choices, context.overrides, None, context.num, context.grid)
    except Exception:  # the config that failed may not name itself
        name = " ".join(context.overrides) or "(no overrides)"
    return {
        "job": context.num or "?",
        "run": name,
        "status": "FAILED (no run)",
        "error": errors.describe(exc),
    }


def _check_paths(run_cfg: schema.RunConfig) -> None:
    sources.check_path(run_cfg.dataset)
    train = run_cfg.tokenizer.train
    if train is not None and train.dataset is not None:
        sources.check_path(train.dataset, "tokenizer.train.dataset.path")


def typed(cfg: DictConfig) -> schema.RunConfig:
    """The composed config as a checked RunConfig: the schema's rules, then the registries' (a
    registered model.head and dataset.source) — before any run opens."""
    run = schema.to_run_config(cfg)
    heads.check(run.model.head, run.tokenizer.use_fast, run.model.forward)
    sources.check(run.dataset.source)
    if run.tokenizer.train is not None:
        training.check(run.tokenizer.train)
        if run.tokenizer.train.dataset is not None:
            sources.check(run.tokenizer.train.dataset.source)
    return run


def _execute(
    run_cfg: schema.RunConfig, resolved: dict[str, object], context: packing.JobContext, session: Session
) -> None:
    multirun = context.multirun
    tracker = keep.open_tracker(run_cfg.tracking.uri, run_cfg.tracking.experiment, multirun)
    quiet_libraries()
    if not multirun:  # a sweep's parent does this once for all its jobs
        recording.end_dead_runs(tracker)
    config_hash = _config_hash(resolved)
    if run_cfg.sweep.skip_finished:
        done = tracker.finished_with_hash(config_hash)
        if done:
            console.line(f"skipped: this config already FINISHED as run {done}")
            session.started.append(Started(tracker.uri, done))  # what the API returns
            return
    _preflight(run_cfg, session)
    parent = context.parent
    name = naming.run_name(
        context.choices, context.overrides, run_cfg.tracking.run_name, context.num, context.grid
    )
    tags = {
        **_hydra_tags(context),
        **(sweep.job_tags(context) if context.multirun else {}),
        "runner.config_hash": config_hash,
        "data.label": dataset_name(run_cfg, context.choices.get("dataset")),
        **_versions(),
    }
    run_id = tracker.start(name, tags, parent_run_id=parent)
    session.started.append(Started(tracker.uri, run_id))
    result = _tracked(tracker, run_id, parent, run_cfg, resolved, session, context)
    tracker.finish(run_id, "FINISHED")
    if _kept(tracker, multirun, context, name):
        return
    if multirun:  # the sweep prints the table and the parent's link at its end
        console.line(f"job {context.num} FINISHED: {name}")
        return
    url = store.run_url(tracker.uri, tracker.experiment_id, run_id)
    console.summary(run_id, tracker.uri, store.ui_command(tracker.uri), url, result.metrics, "FINISHED")
    head = heads.HEADS[run_cfg.model.head]
    if result.prediction_rows and result.texts is not None and not head.body:
        console.predictions(result.prediction_rows, result.texts.texts, head.answer)  # a head's first answers


def _preflight(run_cfg: schema.RunConfig, session: Session) -> None:
    """What the config asks for that cannot be, refused before any run opens (exit 2); a data or
    model error is left to the run, which meets it again and ends FAILED, as documented."""
    from runner.engine import pipeline

    try:
        pipeline.preflight(run_cfg, session.loads())
    except errors.ConfigError:
        raise
    except Exception:
        log.debug("preflight: a non-config error left to the run", exc_info=True)


def _tracked(
    tracker: Tracker,
    run_id: str,
    parent: str | None,
    run_cfg: schema.RunConfig,
    resolved: dict[str, object],
    session: Session,
    context: packing.JobContext,
) -> RunResult:
    """The pipeline inside an open run; whatever it produced is logged, even when it fails (the
    run then ends FAILED, or KILLED on SIGINT/SIGTERM)."""
    from runner.engine import pipeline, warmup

    name = dataset_name(run_cfg, context.choices.get("dataset"))
    trained_on = train_name(run_cfg, context.choices.get("dataset"))
    result = RunResult()  # the pipeline fills it: what was done is logged even when a step fails
    try:
        warmed = warmup.warm_up(run_cfg.model if run_cfg.model.forward else None, session.warmed)
        session.settle()  # the process's imports are done (Session.for_process)
        if warmed is not None:  # once per process: on the sweep's parent, or on this run
            tracker.log(parent or run_id, metrics={"time/process_warmup_s": warmed})
        recording.log_config(tracker, run_id, resolved)
        interrupt.check()
        pipeline.run(run_cfg, session.loads(), console.Progress("rows", "row"), result)
    except KeyboardInterrupt:
        recording.log_result(tracker, run_id, result, name, trained_on)
        tracker.finish(run_id, "KILLED", "interrupted (SIGINT/SIGTERM)")
        console.line(f"interrupted: run {run_id} marked KILLED; what it logged is kept")
        raise
    except Exception as exc:
        recording.log_result(tracker, run_id, result, name, trained_on)
        tracker.log_text(run_id, traceback.format_exc(), "error/traceback.txt")
        tracker.finish(run_id, "FAILED", errors.describe(exc))
        raise
    recording.log_result(tracker, run_id, result, name, trained_on)
    return result


def _kept(tracker: Tracker, multirun: bool, context: packing.JobContext, name: str) -> bool:
    """The server went away during the run: its results wait in the local store (runner.tracking.keep).
    A sweep's job says so in a line and the sweep goes on; a single run ends with the line and
    its own exit code."""

    if not tracker.kept():
        return False
    if multirun:
        console.line(f"job {context.num} FINISHED, kept locally (tracking server unreachable): {name}")
        return True
    console.line(keep.kept_line(tracker.uri, 1))
    raise Stop(keep.EXIT_KEPT)


def _config_hash(resolved: dict[str, object]) -> str:
    """What makes two runs the same work (skip_finished): everything but where and how it is tracked."""
    kept = {k: v for k, v in resolved.items() if k not in ("tracking", "sweep", "invariance")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def dataset_name(run_cfg: schema.RunConfig, choice: str | None = None) -> str:
    """The dataset input's name in MLflow: a hub id with its config and split, a file by its name,
    inline data by its dataset config (`sample`, `sample_pairs`)."""
    return _named(run_cfg.dataset, choice)


def train_name(run_cfg: schema.RunConfig, choice: str | None = None) -> str:
    """The training corpus's input name: its own dataset's, or `<dataset> (training part)`."""
    train = run_cfg.tokenizer.train
    if train is None or train.dataset is None:
        return f"{dataset_name(run_cfg, choice)} (training part)"
    return _named(train.dataset, None)


def _named(d: schema.DatasetConfig, choice: str | None) -> str:
    if d.source == "hub":
        return ":".join(x for x in (d.path, d.name, d.split) if x)
    if d.path:
        return Path(d.path).name
    return choice if choice and choice != "inline" else d.source


def _hydra_tags(context: packing.JobContext) -> dict[str, str]:
    tags = {f"choice.{k}": v for k, v in context.choices.items() if not k.startswith("hydra")}
    tags["overrides"] = " ".join(context.overrides) or "(none)"
    commit = _git_commit()
    if commit:
        tags["git.commit"] = commit
    return tags


def _git_commit() -> str | None:
    return _commit_in(os.getcwd())


@functools.cache
def _commit_in(folder: str) -> str | None:
    """The git commit of `folder` (asked once per folder and process, not once per job)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=folder
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in (
        "hf-runner",
        "torch",
        "transformers",
        "tokenizers",
        "datasets",
        "mlflow",
        "hydra-core",
    ):
        try:
            out[f"version.{package}"] = version(package)
        except PackageNotFoundError:
            pass
    return out
