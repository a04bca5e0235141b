"""Where the MLflow store is and who writes to it — no mlflow import: the store's URI and its
dashboard links, a first look at a tracking server, retries of writes that lost a race, and which
process owns a run.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import ParamSpec, TypeVar

from runner.errors import TrackingError

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_DB = "outputs/mlflow.db"


def resolve_uri(uri: str | None) -> str:
    """tracking.uri, else MLFLOW_TRACKING_URI, else an sqlite file under ./outputs/."""
    if uri:
        return uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path(DEFAULT_DB).resolve()}"


UI_DEFAULT = "http://127.0.0.1:5000"  # where `mlflow ui` listens unless told otherwise


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def ui_command(uri: str) -> str | None:
    """The command that serves this store in the MLflow UI (None for a server: it is served)."""
    if uri.startswith(("http://", "https://")):
        return None
    return f"mlflow ui --backend-store-uri {uri}"


def run_url(uri: str, experiment_id: str, run_id: str | None = None) -> str:
    """A run's page (or, without a run, the runs table) in the dashboard's model-training view."""
    host = uri.rstrip("/") if uri.startswith(("http://", "https://")) else UI_DEFAULT
    run = f"/{run_id}" if run_id else ""
    return f"{host}/#/experiments/{experiment_id}/runs{run}?workflowType=machine_learning"


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def probe(uri: str) -> None:
    """Fail at once, naming tracking.uri, when nothing answers there (runner.reach: any HTTP
    answer, even an error status, means a server is there)."""
    from runner.reach import silence

    reason = silence(f"{uri.rstrip('/')}/health")
    if reason is not None:
        raise TrackingError(
            f"tracking.uri={uri}",
            f"no tracking server answers there ({reason})",
            "start the server (make server) or fix the URI; unset tracking.uri for the local sqlite store",
        )


RACES = ("locked",)  # sqlite's write lock, lost to a concurrent writer
# Concurrent runs logging the same dataset first: one insert wins, the others violate the unique
# key (sqlite / PostgreSQL wording); retried, the row exists and the input links to it.
DATASET_RACES = ("locked", "unique constraint", "duplicate key", "integrityerror")


def retry(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Retry a store call that lost a race with another writer (see RACES)."""
    return retry_on(RACES, call, *args, **kwargs)


def retry_on(races: tuple[str, ...], call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Retry a store call (8 attempts, backing off) while it fails with one of `races`."""
    attempts = 8
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if not any(r in str(exc).lower() for r in races) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def process_tags() -> dict[str, str]:
    """Who runs this run: host, pid and the pid's start time (so a reused pid is told apart)."""
    import socket

    return {
        "runner.host": socket.gethostname(),
        "runner.pid": str(os.getpid()),
        "runner.pid_start": start_time(os.getpid()),
    }


def start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" where unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return not start or start_time(pid) in ("", start)


def creation_lock(db: Path | None) -> AbstractContextManager[object]:
    """Processes that open one fresh sqlite file at once would each run MLflow's migrations and
    break each other's ("duplicate column", "table already exists"): the first opens it alone."""
    if db is None:
        return contextlib.nullcontext()
    from filelock import FileLock

    return FileLock(str(db) + ".lock")


def check_writable(db: Path, uri: str) -> None:
    """An sqlite store's folder must take files (the database and its artifacts)."""
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        probe_file = db.parent / f".write-probe-{os.getpid()}"
        probe_file.write_text("")
        probe_file.unlink()
    except OSError as exc:
        raise TrackingError(
            f"tracking.uri={uri}",
            f"cannot write {db.parent} ({exc.strerror})",
            "point tracking.uri at a writable place, e.g. tracking.uri=sqlite:////tmp/mlflow.db",
        ) from exc
