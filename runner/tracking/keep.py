"""Nothing lost when the tracking server goes away: a run logging to a server keeps its results
in a local MLflow store when the server stops answering, and `runner-sync` sends them later.

`KeepingTracker` wraps the server's `Tracker`. Every write for a run it opened is remembered
(the call and its arguments — the RunResult, whose files live as long as it does). When a
write fails because the server cannot be reached (after MLflow's own retries, bounded for
servers in `tracking.bounded_http`), the run moves to the local store `outputs/unsynced/`
(sqlite + artifacts): a run is created there, the remembered writes are replayed on it and
every later write goes there. The local run carries `runner.sync.*` tags: where it belongs
(the server's URI and experiment), the server's run id when the server had opened it, and its
parent there. Its status is the real one (FINISHED, FAILED, KILLED). After a move, calls for
other runs (a sweep parent's warm-up metric) are dropped and reads answer empty.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from runner.tracking import store

log = logging.getLogger(__name__)

KEPT_DB = "outputs/unsynced/mlflow.db"
EXIT_KEPT = 75  # EX_TEMPFAIL: the run is done, its results wait for the server
TARGET, EXPERIMENT, REMOTE_ID, PARENT = (
    "runner.sync.target",
    "runner.sync.experiment",
    "runner.sync.remote_run_id",
    "runner.sync.parent",
)
WRITES = (
    "log",
    "log_text",
    "log_json",
    "log_table",
    "log_file",
    "log_array",
    "log_config",
    "log_dataset",
    "log_result",
    "set_description",
    "finish",
)
UNREACHABLE = (
    "max retries exceeded",
    "connection refused",
    "failed to establish a new connection",
    "connection aborted",
    "connection broken",  # killed mid-response: IncompleteRead, ConnectionResetError
    "connection reset",
    "remotedisconnected",
    "read timed out",
    "connect timeout",
)


def open_tracker(uri: str | None, experiment: str, multirun: bool) -> Any:
    """The job's tracker: a server's is a KeepingTracker (the server may go away), any other
    store a plain Tracker. A sweep's job that starts while its server is away keeps its run
    locally; a single run starts only with its server there (one line, exit 1)."""
    from runner.errors import TrackingError
    from runner.tracking.tracker import Tracker

    if not store.is_server(store.resolve_uri(uri)):
        return Tracker(uri, experiment)
    try:
        return KeepingTracker(Tracker(uri, experiment))
    except TrackingError:
        if not multirun:
            raise
        return KeepingTracker.away(store.resolve_uri(uri), experiment)


def kept_uri() -> str:
    return f"sqlite:///{Path(KEPT_DB).resolve()}"


def unreachable(exc: BaseException) -> bool:
    """The server did not answer (as opposed to answering with an error)."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(marker in text for marker in UNREACHABLE)


class KeepingTracker:
    """A server's Tracker whose runs move to the local store when the server goes away."""

    def __init__(self, remote: Any) -> None:
        self.remote = remote
        self.uri, self.experiment_id = remote.uri, remote.experiment_id
        self.experiment = remote.experiment
        self.journal: dict[str, list[tuple[str, tuple, dict]]] = {}
        self.started: dict[str, tuple[str, dict[str, str], str | None]] = {}
        self.moved: dict[str, str] = {}  # server run id → local run id
        self.local: Any = None
        self.gone = False

    @classmethod
    def away(cls, uri: str, experiment: str) -> KeepingTracker:
        """A sweep's job that starts while the server is away: every run of it is kept locally."""
        tracker = cls.__new__(cls)
        tracker.remote, tracker.uri, tracker.experiment_id, tracker.experiment = None, uri, "", experiment
        tracker.journal, tracker.started, tracker.moved, tracker.local = {}, {}, {}, None
        tracker.gone = True
        return tracker

    @property
    def client(self) -> Any:
        return self.remote.client

    def start(self, run_name: str, tags: dict[str, str], parent_run_id: str | None = None) -> str:
        if not self.gone:
            try:
                run_id = self.remote.start(run_name, tags, parent_run_id)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                self.gone = True
            else:
                self.started[run_id] = (run_name, tags, parent_run_id)
                self.journal[run_id] = []
                return run_id
        local_id = self._local_run(run_name, tags, parent_run_id, None)
        self.moved[local_id] = local_id  # never on the server: its own id is the local one
        return local_id

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "remote" not in self.__dict__:  # pickling (launchers ship it)
            raise AttributeError(name)
        if name in WRITES:
            return lambda run_id, *args, **kwargs: self._write(name, run_id, args, kwargs)
        if self.remote is None:
            raise AttributeError(name)
        return getattr(self.remote, name)

    def finished_with_hash(self, config_hash: str) -> str | None:
        return None if self.gone else self.remote.finished_with_hash(config_hash)

    def _write(self, name: str, run_id: str, args: tuple, kwargs: dict) -> None:
        """To the server while it answers; once it is gone (found by this write or by an earlier
        call, a read included), a run this tracker started moves to the local store."""
        if run_id not in self.moved and not self.gone:
            try:
                getattr(self.remote, name)(run_id, *args, **kwargs)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                self.gone = True
            else:
                if run_id in self.journal:
                    self.journal[run_id].append((name, args, kwargs))
                return
        if run_id not in self.moved:
            if run_id not in self.started:
                log.debug(
                    "%s for run %s dropped: the server is gone and the run is not this job's", name, run_id
                )
                return
            self._move(run_id)
        getattr(self.local, name)(self.moved[run_id], *args, **kwargs)

    def _move(self, run_id: str) -> None:
        """The run and everything written to it so far, into the local store."""
        name, tags, parent = self.started[run_id]
        local_id = self._local_run(name, tags, parent, run_id)
        self.moved[run_id] = local_id
        for method, args, kwargs in self.journal.pop(run_id, []):
            getattr(self.local, method)(local_id, *args, **kwargs)

    def _local_run(self, name: str, tags: dict[str, str], parent: str | None, remote_id: str | None) -> str:
        from runner.tracking.tracker import Tracker

        if self.local is None:
            self.local = Tracker(kept_uri(), self.experiment)
        sync = {TARGET: self.uri, EXPERIMENT: self.experiment}
        if remote_id:
            sync[REMOTE_ID] = remote_id
        if parent:
            sync[PARENT] = parent
        return self.local.start(name, {**tags, **sync})

    def kept(self) -> list[str]:
        """Server run ids (or local ids, for runs the server never saw) kept locally."""
        return list(self.moved)

    def children(self, parent: str) -> list:
        """The parent's runs on the server; none once it is gone (a sweep's end may be the first
        call to find it away: the parent then moves at its next write)."""
        if self.gone:
            return []
        try:
            return self.remote.children(parent)
        except Exception as exc:
            if not unreachable(exc):
                raise
            self.gone = True
            return []

    def end_dead_runs(self) -> list[str]:
        return [] if self.gone else self.remote.end_dead_runs()


def kept_remote_ids() -> set[str]:
    """Server run ids whose results wait in the local store (the reaper leaves them RUNNING)."""
    db = store.sqlite_path(kept_uri())
    if db is None or not db.exists():
        return set()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=kept_uri())
    ids = set()
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], f"tags.`{REMOTE_ID}` != ''"):
            ids.add(run.data.tags[REMOTE_ID])
    return ids


def kept_children(parent: str) -> list[Any]:
    """The runs of a sweep's parent (a server run id) kept in the local store."""
    db = store.sqlite_path(kept_uri())
    if db is None or not db.exists():
        return []
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=kept_uri())
    return [
        run
        for experiment in client.search_experiments()
        for run in client.search_runs([experiment.experiment_id], f"tags.`{PARENT}` = '{parent}'")
    ]


def kept_line(uri: str, count: int) -> str:
    runs = "its results are" if count == 1 else f"the results of {count} runs are"
    return (
        f"the tracking server at {uri} is unreachable: {runs} kept at {Path(KEPT_DB).parent.resolve()}"
        " — run `runner-sync` to send them when it is back"
    )
