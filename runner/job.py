"""One Hydra job: open the MLflow run, run the pipeline, log its result, close the run.

The run is opened before anything that can fail, so every failure ends FAILED (KILLED on
SIGINT/SIGTERM) with what was logged so far kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from runner import console, interrupt, naming, schema, sweep
from runner.redact import redact_config

log = logging.getLogger(__name__)

CACHE = None  # pipeline.Cache of this process, created on first use (sweeps reuse it)


def quiet_libraries() -> None:
    """Libraries' progress bars and INFO chatter would drown the runner's own summary."""
    import warnings

    import datasets
    import mlflow  # noqa: F401  (configures its loggers on import; quiet them after)

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(logging.CRITICAL)  # read errors come back as our own one line
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\..*")
    __import__("transformers").utils.logging.disable_progress_bar()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")


def execute(cfg: DictConfig) -> None:
    """Run one job; a failure prints one line and exits non-zero (in a sweep: the job fails alone)."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    fail_fast = bool(cfg.sweep.fail_fast)
    try:
        with interrupt.handled():
            _execute(cfg, hc, multirun)
    except Exception as exc:
        console.error(exc)
        if multirun and not fail_fast:
            return
        if multirun:
            sweep.abort(hc, console.describe(exc))
        raise SystemExit(2 if console.is_config_error(exc) else 1) from None


def _execute(cfg: DictConfig, hc, multirun: bool) -> None:
    from runner import pipeline, tracking

    global CACHE
    quiet_libraries()
    run_cfg: schema.RunConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    schema.check(run_cfg)  # config errors before any run is opened: exit 2, nothing in MLflow
    resolved = redact_config(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    tracker = tracking.Tracker(run_cfg.tracking.uri, run_cfg.tracking.experiment)
    stale = tracker.end_dead_runs()
    if stale:
        console.line(f"note: {len(stale)} run(s) left RUNNING by a process that died now end KILLED")
    config_hash = hashlib.sha256(
        json.dumps(
            {k: v for k, v in resolved.items() if k not in ("tracking", "sweep", "invariance")},
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:16]
    if run_cfg.sweep.skip_finished:
        done = tracker.finished_with_hash(config_hash)
        if done:
            console.line(f"skipped: this config already FINISHED as run {done}")
            return
    parent = sweep.parent_run_id(hc) if multirun else None
    name = naming.run_name(
        dict(hc.runtime.choices),
        list(hc.overrides.task),
        run_cfg.tracking.run_name,
        hc.job.num if multirun else None,
    )
    run_id = tracker.start(
        name,
        {
            **_hydra_tags(hc),
            **(sweep.job_tags(hc) if multirun else {}),
            "runner.config_hash": config_hash,
            **_versions(),
        },
        parent_run_id=parent,
    )
    CACHE = CACHE or pipeline.Cache()
    try:
        warmup = pipeline.warm_up(run_cfg.model if run_cfg.model.forward else None)
        if warmup is not None:  # once per process: on the sweep's parent, or on this run
            tracker.log(parent or run_id, metrics={"time/process_warmup_s": warmup})
        tracker.log(run_id, params=flatten(resolved))
        tracker.log_text(run_id, OmegaConf.to_yaml(OmegaConf.create(resolved)), "config.yaml")
        interrupt.check()
        result = pipeline.run(run_cfg, CACHE, console.Progress("batches", "batch"))
    except KeyboardInterrupt as exc:
        _log_result(tracker, run_id, getattr(exc, "partial_result", None), run_cfg)
        tracker.finish(run_id, "KILLED", "interrupted (SIGINT/SIGTERM)")
        console.line(f"interrupted: run {run_id} marked KILLED; what it logged is kept")
        raise
    except Exception as exc:
        _log_result(tracker, run_id, getattr(exc, "partial_result", None), run_cfg)
        tracker.log_text(run_id, traceback.format_exc(), "error/traceback.txt")
        tracker.finish(run_id, "FAILED", console.describe(exc))
        raise
    _log_result(tracker, run_id, result, run_cfg)
    tracker.finish(run_id, "FINISHED")
    if multirun:  # the sweep prints the table and the parent's link at its end
        console.line(f"job {hc.job.num} FINISHED: {name}")
        return
    url = tracking.run_url(tracker.uri, tracker.experiment_id, run_id)
    console.summary(run_id, tracker.uri, tracking.ui_command(tracker.uri), url, result.metrics, "FINISHED")
    if result.prediction_rows and result.texts is not None and run_cfg.model.head is not schema.Head.none:
        console.predictions(result.prediction_rows, result.texts.texts)  # a head's first answers


def _log_result(tracker, run_id: str, result, run_cfg: schema.RunConfig) -> None:
    """Log whatever the pipeline produced (all of it, or the part done before a failure)."""
    if result is None:
        return
    tracker.log(run_id, metrics=result.metrics, tags=result.tags)
    if result.texts is not None:
        try:
            tracker.log_dataset(run_id, result.texts.dataset, _dataset_name(run_cfg), result.texts.lineage)
        except Exception as exc:  # lineage is extra: never fail a run over it
            log.warning("dataset lineage not logged: %s", exc)
        tracker.log(run_id, tags={f"data.{k}": v for k, v in result.texts.lineage.items()})
    if result.token_rows:
        tracker.log_table(run_id, result.token_rows, "tokens.json")
    if result.prediction_rows:
        tracker.log_table(run_id, result.prediction_rows, "predictions.json")
    if result.shapes is not None:
        tracker.log_json(run_id, result.shapes, "shapes.json")
    if result.outputs is not None:
        values, offsets = result.outputs
        if len(values) == len(offsets) - 1:  # one row per example (body, sequence classification)
            tracker.log_array(run_id, values, "outputs.npy")
        else:
            tracker.log_npz(run_id, "outputs.npz", values=values, offsets=offsets)
    if result.token_hashes is not None:
        tracker.log_array(run_id, result.token_hashes, "token_hashes.npy")
    if result.model_config is not None:
        tracker.log_json(run_id, result.model_config, "model_config.json")
    if result.missing_keys:
        tracker.log_json(run_id, result.missing_keys, "model_missing_keys.json")
    if result.warnings:
        tracker.log_text(run_id, "\n".join(result.warnings), "warnings.txt")


def _dataset_name(run_cfg: schema.RunConfig) -> str:
    d = run_cfg.dataset
    return ":".join(x for x in (d.path or d.source.value, d.name, d.split) if x)


def _hydra_tags(hc) -> dict[str, str]:
    tags = {f"choice.{k}": str(v) for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
    tags["overrides"] = " ".join(hc.overrides.task) or "(none)"
    commit = _git_commit()
    if commit:
        tags["git.commit"] = commit
    return tags


def _git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
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


def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested config → dotted keys; lists become JSON strings."""
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    value = json.dumps(obj, ensure_ascii=False) if isinstance(obj, list) else str(obj)
    return {prefix[:-1]: value}
