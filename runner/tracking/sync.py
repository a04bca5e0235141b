"""`runner-sync`: send the runs kept locally while a tracking server was away (runner.tracking.keep) to
that server, then clean them from the local store.

Each kept run goes to the server as one run: the one the server already has (it was RUNNING
when the server went away) under its own id, else a new one, whose id is written back to the
local run before anything else is sent, so an interrupted sync continues it. Then what the
server lacks: params not yet there, metric points not yet there (key, step, value: a point
replayed into the local store has a later timestamp),
the tags (a sweep's children under their parent), the artifacts (files replace files), the
dataset inputs not yet there, and last the run's real status. Only then is the local run
deleted, with its artifacts. A sweep whose children arrive is handed back to the caller, which
rebuilds its conclusion (runner.commands).
Sending twice changes nothing; an interrupted sync, run again, leaves no duplicates.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlparse

from runner.config.tags import PARENT, ROLE, SWEEP_ROLE
from runner.tracking import keep, store
from runner.tracking.tracker import Tracker

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

SYNC_TAGS = (keep.TARGET, keep.EXPERIMENT, keep.REMOTE_ID, keep.PARENT)


def kept_runs(client: MlflowClient) -> list[Run]:
    """Every run of the local store, sweep parents before their children."""
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    return sorted(runs, key=lambda r: (r.data.tags.get(ROLE) != SWEEP_ROLE, r.info.start_time))


def send(local: MlflowClient, run: Run, remote: Tracker, dry_run: bool) -> str:
    """One kept run onto the server; returns what was sent, as one line."""
    from mlflow.entities import Metric, Param, RunTag

    tags = run.data.tags
    target_id = _remote_run(local, run, remote, dry_run)
    if dry_run:
        return f"would send {run.info.run_name} ({run.info.status}) to {tags[keep.TARGET]}"
    have = remote.client.get_run(target_id)
    params = [Param(k, v) for k, v in run.data.params.items() if k not in have.data.params]
    out_tags = {k: v for k, v in tags.items() if k not in SYNC_TAGS and not k.startswith("mlflow.runName")}
    if tags.get(keep.PARENT):
        out_tags[PARENT] = tags[keep.PARENT]
    for start in range(0, max(len(params), 1), 100):
        store.retry(remote.client.log_batch, target_id, params=params[start : start + 100])
    store.retry(remote.client.log_batch, target_id, tags=[RunTag(k, v) for k, v in out_tags.items()])
    points = 0
    for key in run.data.metrics:
        there = {(m.step, m.value) for m in remote.client.get_metric_history(target_id, key)}
        new = [
            Metric(key, m.value, m.timestamp, m.step)
            for m in local.get_metric_history(run.info.run_id, key)
            if (m.step, m.value) not in there
        ]
        if new:
            store.retry(remote.client.log_batch, target_id, metrics=new)
            points += len(new)
    folder = _artifacts(run)
    if folder is not None and any(folder.iterdir()):
        remote.client.log_artifacts(target_id, str(folder))
    _inputs(run, have, remote, target_id)
    remote.client.set_terminated(target_id, run.info.status, end_time=run.info.end_time)
    local.delete_run(run.info.run_id)
    if folder is not None:
        shutil.rmtree(folder.parent, ignore_errors=True)  # the run's folder: artifacts and all
    return (
        f"sent {run.info.run_name} → run {target_id} ({run.info.status}): {len(params)} params, "
        f"{points} metric points"
    )


def _remote_run(local: MlflowClient, run: Run, remote: Tracker, dry_run: bool) -> str:
    """The server's run for this kept run: the one it has, else a new one (its id written back
    to the local run at once, so an interrupted sync finds it next time)."""
    tags = run.data.tags
    known = tags.get(keep.REMOTE_ID)
    if known:
        try:
            remote.client.get_run(known)
            return str(known)
        except Exception as exc:
            if keep.unreachable(exc):
                raise
    if dry_run:
        return "(new)"
    created = remote.client.create_run(
        remote.experiment_id, start_time=run.info.start_time, run_name=run.info.run_name
    )
    local.set_tag(run.info.run_id, keep.REMOTE_ID, created.info.run_id)
    return str(created.info.run_id)


def _artifacts(run: Run) -> Path | None:
    uri = run.info.artifact_uri
    path = Path(urlparse(uri).path) if uri.startswith("file:") else Path(uri)
    return path if path.is_dir() else None


def _inputs(run: Run, have: Run, remote: Tracker, target_id: str) -> None:
    had = have.inputs.dataset_inputs if have.inputs is not None else []
    kept = run.inputs.dataset_inputs if run.inputs is not None else []
    there = {(d.dataset.name, d.dataset.digest) for d in had}
    new = [d for d in kept if (d.dataset.name, d.dataset.digest) not in there]
    if new:
        store.retry(remote.client.log_inputs, target_id, datasets=new)


class Synced(NamedTuple):
    """What a sync did: the lines it printed, and the sweep parents whose children (or who
    themselves) arrived, each with the tracker of its server — the caller concludes them
    (runner.commands: their comparison, invariance check and description rebuilt)."""

    lines: list[str]
    parents: list[tuple[Tracker, str]]


def sync(kept_uri: str, dry_run: bool) -> Synced:
    """Send every kept run. Raises TrackingError when a server is away."""
    from mlflow import MlflowClient

    db = store.sqlite_path(kept_uri)
    if db is None or not db.exists():
        return Synced([], [])
    local = MlflowClient(tracking_uri=kept_uri)
    lines: list[str] = []
    remotes: dict[tuple[str, str], Tracker] = {}
    parents: set[tuple[str, str, str]] = set()
    for run in kept_runs(local):
        target, experiment = run.data.tags.get(keep.TARGET), run.data.tags.get(keep.EXPERIMENT)
        if not target or not experiment:
            continue
        if (target, experiment) not in remotes:
            remotes[(target, experiment)] = Tracker(target, experiment)  # probes: one line if away
        remote = remotes[(target, experiment)]
        lines.append(send(local, run, remote, dry_run))
        print(lines[-1], flush=True)
        parent = run.data.tags.get(keep.PARENT)
        if not parent and run.data.tags.get(ROLE) == SWEEP_ROLE:  # its end found the server away
            parent = run.data.tags.get(keep.REMOTE_ID)
        if parent:
            parents.add((target, experiment, parent))
    concluded = [] if dry_run else [(remotes[(t, e)], p) for t, e, p in sorted(parents)]
    return Synced(lines, concluded)
