"""Nothing lost when the tracking server goes away: a run logging to a server keeps its results
in a local MLflow store when the server stops answering, and `runner-sync` sends them later.

`KeepingTracker` wraps the server's `Tracker` and implements the same protocol
(runner.tracking.base.Tracker) method by method. Every write for a run it opened is remembered
(the call and its arguments — a file's path among them: the run's scratch files live as long
as its RunResult, which the job holds until the run is finished). When a
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner.errors import TrackingError
from runner.tracking import base, readback, store
from runner.tracking.tracker import Tracker

if TYPE_CHECKING:
    from datasets import Dataset
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from runner.tracking.base import Array, Row

log = logging.getLogger(__name__)

KEPT_DB = "outputs/unsynced/mlflow.db"
EXIT_KEPT = 75  # EX_TEMPFAIL: the run is done, its results wait for the server
TARGET, EXPERIMENT, REMOTE_ID, PARENT = (
    "runner.sync.target",
    "runner.sync.experiment",
    "runner.sync.remote_run_id",
    "runner.sync.parent",
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


def open_tracker(uri: str | None, experiment: str, multirun: bool) -> base.Tracker:
    """The job's tracker: a server's is a KeepingTracker (the server may go away), any other
    store a plain Tracker. A sweep's job that starts while its server is away keeps its run
    locally; a single run starts only with its server there (one line, exit 1)."""
    if not store.is_server(store.resolve_uri(uri)):
        return Tracker(uri, experiment)
    try:
        return KeepingTracker.around(Tracker(uri, experiment))
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


Write = Callable[[Tracker, str], None]  # one write, replayable on another tracker's run


class KeepingTracker:
    """A server's Tracker whose runs move to the local store when the server goes away."""

    def __init__(self, remote: Tracker | None, uri: str, experiment: str) -> None:
        self.remote = remote  # None: a sweep's job that started while the server was away
        self.uri, self.experiment = uri, experiment
        self.experiment_id = remote.experiment_id if remote is not None else ""
        self.journal: dict[str, list[Write]] = {}
        self.started: dict[str, tuple[str, dict[str, str], str | None]] = {}
        self.moved: dict[str, str] = {}  # server run id → local run id
        self.local: Tracker | None = None
        self._gone = remote is None

    @classmethod
    def around(cls, remote: Tracker) -> KeepingTracker:
        return cls(remote, remote.uri, remote.experiment)

    @classmethod
    def away(cls, uri: str, experiment: str) -> KeepingTracker:
        """A sweep's job that starts while the server is away: every run of it is kept locally."""
        return cls(None, uri, experiment)

    @property
    def client(self) -> MlflowClient:
        if self.remote is None:
            raise RuntimeError("the tracking server was away when this job started")
        return self.remote.client

    @property
    def gone(self) -> bool:
        return self._gone

    def kept(self) -> list[str]:
        """Server run ids (or local ids, for runs the server never saw) kept locally."""
        return list(self.moved)

    def start(self, run_name: str, tags: dict[str, str], parent_run_id: str | None = None) -> str:
        if self.remote is not None and not self._gone:
            try:
                run_id = self.remote.start(run_name, tags, parent_run_id)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                self._gone = True
            else:
                self.started[run_id] = (run_name, tags, parent_run_id)
                self.journal[run_id] = []
                return run_id
        local_id = self._local_run(run_name, tags, parent_run_id, None)
        self.moved[local_id] = local_id  # never on the server: its own id is the local one
        return local_id

    def log(
        self,
        run_id: str,
        params: Mapping[str, object] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self._write(run_id, "log", lambda t, r: t.log(r, params, metrics, tags))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._write(run_id, "log_text", lambda t, r: t.log_text(r, text, artifact_file))

    def log_json(self, run_id: str, obj: object, artifact_file: str) -> None:
        self._write(run_id, "log_json", lambda t, r: t.log_json(r, obj, artifact_file))

    def log_table(self, run_id: str, rows: Sequence[Row], artifact_file: str) -> None:
        self._write(run_id, "log_table", lambda t, r: t.log_table(r, rows, artifact_file))

    def log_file(self, run_id: str, path: str, artifact_path: str | None = None) -> None:
        self._write(run_id, "log_file", lambda t, r: t.log_file(r, path, artifact_path))

    def log_array(self, run_id: str, array: Array, artifact_file: str) -> None:
        self._write(run_id, "log_array", lambda t, r: t.log_array(r, array, artifact_file))

    def log_dataset(
        self, run_id: str, dataset: Dataset, name: str, lineage: dict[str, str], context: str = "inference"
    ) -> None:
        self._write(run_id, "log_dataset", lambda t, r: t.log_dataset(r, dataset, name, lineage, context))

    def set_description(self, run_id: str, text: str) -> None:
        self._write(run_id, "set_description", lambda t, r: t.set_description(r, text))

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        self._write(run_id, "finish", lambda t, r: t.finish(r, status, error))

    def finished_with_hash(self, config_hash: str) -> str | None:
        return None if self.remote is None or self._gone else self.remote.finished_with_hash(config_hash)

    def children(self, parent_run_id: str) -> list[Run]:
        """The parent's runs on the server; none once it is gone (a sweep's end may be the first
        call to find it away: the parent then moves at its next write)."""
        if self.remote is None or self._gone:
            return []
        try:
            return self.remote.children(parent_run_id)
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._gone = True
            return []

    def end_dead_runs(self, spare: set[str] | frozenset[str] = frozenset()) -> list[str]:
        if self.remote is None or self._gone:
            return []
        return self.remote.end_dead_runs(spare=set(spare) | kept_remote_ids())

    def _write(self, run_id: str, name: str, write: Write) -> None:
        """To the server while it answers; once it is gone (found by this write or by an earlier
        call, a read included), a run this tracker started moves to the local store."""
        if run_id not in self.moved and self.remote is not None and not self._gone:
            try:
                write(self.remote, run_id)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                self._gone = True
            else:
                if run_id in self.journal:
                    self.journal[run_id].append(write)
                return
        if run_id not in self.moved:
            if run_id not in self.started:
                log.debug(
                    "%s for run %s dropped: the server is gone and the run is not this job's", name, run_id
                )
                return
            self._move(run_id)
        assert self.local is not None  # made by _move or by start
        write(self.local, self.moved[run_id])

    def _move(self, run_id: str) -> None:
        """The run and everything written to it so far, into the local store."""
        name, tags, parent = self.started[run_id]
        local_id = self._local_run(name, tags, parent, run_id)
        self.moved[run_id] = local_id
        assert self.local is not None
        for write in self.journal.pop(run_id, []):
            write(self.local, local_id)

    def _local_run(self, name: str, tags: dict[str, str], parent: str | None, remote_id: str | None) -> str:
        if self.local is None:
            self.local = Tracker(kept_uri(), self.experiment)
        sync = {TARGET: self.uri, EXPERIMENT: self.experiment}
        if remote_id:
            sync[REMOTE_ID] = remote_id
        if parent:
            sync[PARENT] = parent
        return self.local.start(name, {**tags, **sync})


def kept_remote_ids() -> set[str]:
    """Server run ids whose results wait in the local store (the reaper leaves them RUNNING)."""
    return {run.data.tags[REMOTE_ID] for run in _kept_runs(f"tags.`{REMOTE_ID}` != ''")}


def kept_children(parent: str) -> list[Run]:
    """The runs of a sweep's parent (a server run id) kept in the local store."""
    return _kept_runs(f"tags.`{PARENT}` = '{parent}'")


def _kept_runs(filter_string: str) -> list[Run]:
    db = store.sqlite_path(kept_uri())
    if db is None or not db.exists():
        return []
    return readback.search(kept_uri(), filter_string)


def kept_line(uri: str, count: int) -> str:
    runs = "its results are" if count == 1 else f"the results of {count} runs are"
    return (
        f"the tracking server at {uri} is unreachable: {runs} kept at {Path(KEPT_DB).parent.resolve()}"
        " — run `runner-sync` to send them when it is back"
    )
