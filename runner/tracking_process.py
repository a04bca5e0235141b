"""A `Tracker` served by a forked child process, for a single run started from the command line.

Importing MLflow's SQLAlchemy store costs ~0.7 s in a fresh process. The child opens the store
while this process imports transformers and loads the tokenizer; then each store call is sent
to it over a pipe and waits for its answer, so calls, errors and their order are those of one
process. The child ignores SIGINT/SIGTERM (this process closes the run as KILLED through it)
and ends when the pipe closes — also when this process is killed with -9, whose run a later
runner then ends as KILLED (`Tracker.end_dead_runs`).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from multiprocessing.connection import Connection, Pipe
from typing import Any

from runner import store
from runner.errors import TrackingError
from runner.tracking import Tracker


def open_tracker(uri: str | None, experiment: str, multirun: bool) -> Tracker:
    """A single run's store in a child process where forking is cheap and safe (Linux, no other
    thread yet: a thread's held lock would stay held in the child); a sweep's jobs, whose
    launchers fork and thread themselves, and other platforms keep it in this process."""
    if store.is_server(store.resolve_uri(uri)):  # a server may go away: runs move to a local store
        from runner.keep import KeepingTracker

        try:
            return KeepingTracker(Tracker(uri, experiment))  # type: ignore[return-value]
        except TrackingError:
            if not multirun:
                raise  # a single run starts only with its server there
            # a sweep's job while the server is away: the whole run is kept locally
            return KeepingTracker.away(store.resolve_uri(uri), experiment)  # type: ignore[return-value]
    if multirun or sys.platform != "linux" or threading.active_count() > 1:
        return Tracker(uri, experiment)
    return ChildTracker(uri, experiment)


class ChildTracker(Tracker):
    """Tracker's methods, with every store call made by the child; the rest runs here."""

    def __init__(self, uri: str | None, experiment: str) -> None:  # no super(): the child opens it
        ours, theirs = Pipe()
        pid = os.fork()
        if pid == 0:
            ours.close()
            _serve(theirs, uri, experiment)
        theirs.close()
        self.pid = pid
        self._conn: Connection = ours
        self._experiment_id: str | None = None
        self._sent = 0  # calls sent; the child's first answer (the store opened) is number 0
        self.uri = store.resolve_uri(uri)

    @property  # Tracker sets it; here the child's first answer gives it
    def experiment_id(self) -> str:  # type: ignore[override]
        if self._experiment_id is None:
            self._experiment_id = self._answer()  # the child's first answer: the store is open
        return self._experiment_id

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        _ = self.experiment_id
        self._sent += 1
        try:
            self._conn.send((self._sent, name, args, kwargs))
        except OSError as exc:
            raise self._gone() from exc
        return self._answer(self._sent)

    def _answer(self, call: int = 0) -> Any:
        """The answer to `call`; answers to calls left by an interrupt (a second Ctrl-C while
        waiting) are read and dropped."""
        while True:
            try:
                number, ok, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise self._gone() from exc
            if number == call:
                break
        if not ok:
            raise value
        return value

    def _gone(self) -> TrackingError:
        return TrackingError(
            f"tracking.uri={self.uri}",
            "the process writing to the MLflow store ended unexpectedly",
            "run again; a run it left RUNNING ends KILLED at the next start",
        )

    def start(self, run_name: str, tags: dict[str, str], parent_run_id: str | None = None) -> str:
        return self._call("start", run_name, {**store.process_tags(), **tags}, parent_run_id)  # this pid

    def log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self._call("log", run_id, params, metrics, tags)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._call("log_text", run_id, text, artifact_file)

    def log_table(self, run_id: str, rows: list[dict[str, Any]], artifact_file: str) -> None:
        self._call("log_table", run_id, rows, artifact_file)

    def log_file(self, run_id: str, path: str, artifact_path: str | None = None) -> None:
        self._call("log_file", run_id, path, artifact_path)

    def log_dataset(self, run_id: str, dataset: Any, name: str, lineage: dict[str, str]) -> None:
        self._call("log_dataset", run_id, dataset, name, lineage)  # Arrow files go by path

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        self._call("finish", run_id, status, error)

    def end_dead_runs(self) -> list[str]:
        return self._call("end_dead_runs")

    def children(self, parent_run_id: str) -> list[Any]:
        return self._call("children", parent_run_id)

    def finished_with_hash(self, config_hash: str) -> str | None:
        return self._call("finished_with_hash", config_hash)

    def set_description(self, run_id: str, text: str) -> None:
        self._call("set_description", run_id, text)


def _serve(conn: Connection, uri: str | None, experiment: str) -> None:
    """The child: open the store, then answer calls until the pipe closes. Never returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        tracker = Tracker(uri, experiment)
        conn.send((0, True, tracker.experiment_id))
        while True:
            number, name, args, kwargs = conn.recv()
            try:
                answer = (number, True, getattr(tracker, name)(*args, **kwargs))
            except Exception as exc:
                answer = (number, False, _portable(exc))
            conn.send(answer)
    except EOFError:
        pass
    except Exception as exc:  # the store could not be opened
        try:
            conn.send((0, False, _portable(exc)))
        except OSError:
            pass
    finally:
        os._exit(0)


def _portable(exc: Exception) -> Exception:
    """The exception itself where it survives pickling, else its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
