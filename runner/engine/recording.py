"""What a run logs, mapped from its config and its RunResult to the tracker's generic writes
(runner.tracking.base.Tracker): the tracking room knows stores, runs and files, not what the
runner's results hold. A KeepingTracker journals each write, so a server that goes away midway
loses none of them."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from runner import console
from runner.engine.result import RunResult
from runner.tracking.base import Tracker
from runner.tracking.tracker import flatten

log = logging.getLogger(__name__)


def log_config(tracker: Tracker, run_id: str, resolved: dict[str, object]) -> None:
    """The resolved (redacted) config: flattened as params, whole as config.yaml. Without a
    forward pass (model=none) no model is loaded: the params say which tokenizer was, not a
    model's checkpoint (config.yaml keeps every key, to run it again)."""
    from omegaconf import OmegaConf

    params = flatten(resolved)
    model, tokenizer = _section(resolved, "model"), _section(resolved, "tokenizer")
    if model.get("forward") is False:
        source = tokenizer.get("name_or_path") or model.get("name_or_path")
        params = {k: v for k, v in params.items() if not k.startswith("model.") or k == "model.forward"}
        if not tokenizer.get("train"):
            params["tokenizer.name_or_path"] = str(source)
    tracker.log(run_id, params=params)
    tracker.log_text(run_id, OmegaConf.to_yaml(OmegaConf.create(resolved)), "config.yaml")


def _section(config: Mapping[str, object], key: str) -> Mapping[str, object]:
    found = config.get(key)
    return found if isinstance(found, Mapping) else {}


def log_result(
    tracker: Tracker, run_id: str, result: RunResult | None, dataset_name: str, train_name: str = "training"
) -> None:
    """Whatever the pipeline produced (a RunResult: all of it, or the part done before a failure)."""
    if result is None:
        return
    tracker.log(run_id, metrics=result.metrics, tags=result.tags)
    _inputs(tracker, run_id, result, dataset_name, train_name)
    if result.trained is not None:  # tokenizer.train: the files are the source of truth
        for path in sorted(result.trained.iterdir()):
            tracker.log_file(run_id, str(path), "tokenizer")
    for rows, name in ((result.token_rows, "tokens.json"), (result.prediction_rows, "predictions.json")):
        if rows:
            tracker.log_table(run_id, rows, name)
    if result.outputs is not None and result.outputs.is_dir():  # execution=ray: the workers' shards
        for path in sorted(result.outputs.iterdir()):
            tracker.log_file(run_id, str(path), "outputs")
    elif result.outputs is not None:  # outputs.npy or outputs.npz, written by runner.model.outputs
        tracker.log_file(run_id, str(result.outputs))
    if result.token_hashes is not None:
        tracker.log_array(run_id, result.token_hashes, "token_hashes.npy")
    for obj, name in (
        (result.shapes, "shapes.json"),
        (result.model_config, "model_config.json"),
        (result.missing_keys or None, "model_missing_keys.json"),
        (result.probe, "probe.json"),
    ):
        if obj is not None:
            tracker.log_json(run_id, obj, name)
    if result.warnings:
        tracker.log_text(run_id, "\n".join(result.warnings), "warnings.txt")


def _inputs(tracker: Tracker, run_id: str, result: RunResult, dataset_name: str, train_name: str) -> None:
    """The datasets as the run's inputs (lineage), and their lineage as data.* tags."""
    inputs = [(result.texts, dataset_name, "inference"), (result.train_texts, train_name, "training")]
    for texts, name, context in inputs:
        if texts is None:
            continue
        try:
            tracker.log_dataset(run_id, texts.dataset, name, texts.lineage, context)
        except Exception as exc:  # lineage is extra: never fail a run over it
            log.warning("dataset lineage not logged: %s", exc)
    if result.texts is not None:
        tracker.log(run_id, tags={f"data.{k}": v for k, v in result.texts.lineage.items()})


def end_dead_runs(tracker: Tracker) -> None:
    """Runs of this host left RUNNING by a process that died end KILLED, with one note."""
    stale = tracker.end_dead_runs()
    if stale:
        console.line(f"note: {len(stale)} run(s) left RUNNING by a process that died now end KILLED")
