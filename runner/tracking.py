"""Everything MLflow: the store, runs and parent runs, params, tags, metrics, tables, artifacts.

The only module that imports mlflow. A `Tracker` holds an `MlflowClient` and explicit run ids —
never a global active run — so jobs in other processes can nest under a sweep's parent.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from runner.errors import TrackingError, first_line
from runner.redact import redact_text

log = logging.getLogger(__name__)

DEFAULT_DB = "outputs/mlflow.db"


@functools.cache
def limits() -> tuple[int, int, int]:
    """MLflow's own limits: a param value's length, params per batch, a tag value's length."""
    from mlflow.utils import validation as v

    return v.MAX_PARAM_VAL_LENGTH, v.MAX_PARAMS_TAGS_PER_BATCH, v.MAX_TAG_VAL_LENGTH


def resolve_uri(uri: str | None) -> str:
    """tracking.uri, else MLFLOW_TRACKING_URI, else an sqlite file under ./outputs/."""
    if uri:
        return uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path(DEFAULT_DB).resolve()}"


UI_DEFAULT = "http://127.0.0.1:5000"  # where `mlflow ui` listens unless told otherwise
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # MLflow 3: open on runs, not GenAI


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


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


PROBE_TIMEOUT_S = 3.0  # one look at a tracking server before anything else


def _probe(uri: str) -> None:
    """Fail at once, naming tracking.uri, when nothing answers there. Any HTTP answer (even an
    error status) means a server is there; MLflow's own retries then cover transient errors."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise TrackingError(
            f"tracking.uri={uri}",
            f"no tracking server answers there ({reason})",
            "start the server (make server) or fix the URI; unset tracking.uri for the local sqlite store",
        ) from exc


RACES = ("locked",)  # sqlite's write lock, lost to a concurrent writer
# Concurrent runs logging the same dataset first: one insert wins, the others violate the unique
# key (sqlite / PostgreSQL wording); retried, the row exists and the input links to it.
DATASET_RACES = ("locked", "unique constraint", "duplicate key", "integrityerror")


def _retry(call, *args, attempts: int = 8, races: tuple[str, ...] = RACES, **kwargs):
    """Retry a store call that lost a race with another writer (see RACES)."""
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if not any(r in str(exc).lower() for r in races) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    return None


def process_tags() -> dict[str, str]:
    """Who runs this run: host, pid and the pid's start time (so a reused pid is told apart)."""
    import socket

    return {
        "runner.host": socket.gethostname(),
        "runner.pid": str(os.getpid()),
        "runner.pid_start": _start_time(os.getpid()),
    }


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" where unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return not start or _start_time(pid) in ("", start)


def _creation_lock(db: Path | None):
    """Processes that open one fresh sqlite file at once would each run MLflow's migrations and
    break each other's ("duplicate column", "table already exists"): the first opens it alone."""
    if db is None:
        return contextlib.nullcontext()
    from filelock import FileLock

    return FileLock(str(db) + ".lock")


class Tracker:
    """One MLflow store and experiment; opens, fills and closes runs by explicit id."""

    def __init__(self, uri: str | None, experiment: str) -> None:
        from mlflow import MlflowClient

        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # we print our own link
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # no INFO chatter about migrations
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.uri = resolve_uri(uri)
        db = _sqlite_path(self.uri)
        if db is not None:
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
                probe = db.parent / f".write-probe-{os.getpid()}"
                probe.write_text("")
                probe.unlink()
            except OSError as exc:
                raise TrackingError(
                    f"tracking.uri={self.uri}",
                    f"cannot write {db.parent} ({exc.strerror})",
                    "point tracking.uri at a writable place, e.g. tracking.uri=sqlite:////tmp/mlflow.db",
                ) from exc
        if self.uri.startswith(("http://", "https://")):
            _probe(self.uri)
        with _creation_lock(db):  # MlflowClient creates (migrates) the store as it is built
            self.client = MlflowClient(tracking_uri=self.uri)
            self.experiment_id = self._experiment(experiment, db)

    def _experiment(self, name: str, db: Path | None) -> str:
        try:
            found = _retry(self.client.get_experiment_by_name, name)
            if found is not None:
                return found.experiment_id
            location = (db.parent / "artifacts").resolve().as_uri() if db is not None else None
            try:
                return _retry(
                    self.client.create_experiment, name, artifact_location=location, tags=EXPERIMENT_KIND
                )
            except Exception:  # another worker created it first
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
                return found.experiment_id
        except TrackingError:
            raise
        except Exception as exc:
            raise TrackingError(
                f"tracking.uri={self.uri}",
                f"the store cannot be used: {first_line(exc, 200)}",
                "start the server / fix the URI, or unset tracking.uri to use the local sqlite store",
            ) from exc

    def start(self, run_name: str, tags: dict[str, str], parent_run_id: str | None = None) -> str:
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        tags = {**process_tags(), **tags}
        if parent_run_id:
            tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        run = _retry(
            self.client.create_run,
            self.experiment_id,
            run_name=redact_text(run_name)[:250],
            tags=_clean_tags(tags),
        )
        return run.info.run_id

    def log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Params (truncated), metrics and tags in as few batched calls as MLflow allows."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        param_list = [Param(k, _truncate(redact_text(str(v)))) for k, v in (params or {}).items()]
        metric_list = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        tag_list = [RunTag(k, v) for k, v in _clean_tags(tags or {}).items()]
        batch = limits()[1]
        for start in range(0, max(len(param_list), 1), batch):
            chunk = param_list[start : start + batch]
            first = start == 0
            _retry(
                self.client.log_batch,
                run_id,
                params=chunk,
                metrics=metric_list if first else (),
                tags=tag_list if first else (),
            )

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        _retry(self.client.log_text, run_id, redact_text(text), artifact_file)

    def log_json(self, run_id: str, obj: Any, artifact_file: str) -> None:
        self.log_text(run_id, json.dumps(obj, ensure_ascii=False, indent=1, default=str), artifact_file)

    def log_table(self, run_id: str, rows: list[dict[str, Any]], artifact_file: str) -> None:
        """An MLflow table (shown in the UI's artifact view and by mlflow.load_table)."""
        import pandas as pd

        frame = pd.DataFrame([{k: _cell(v) for k, v in row.items()} for row in rows])
        frame = frame.map(lambda v: redact_text(v) if isinstance(v, str) else v)
        _retry(self.client.log_table, run_id, data=frame, artifact_file=artifact_file)

    def log_file(self, run_id: str, path: str, artifact_path: str | None = None) -> None:
        _retry(self.client.log_artifact, run_id, path, artifact_path)

    def log_array(self, run_id: str, array, artifact_file: str) -> None:
        import numpy as np

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / artifact_file
            np.save(path, array)
            self.log_file(run_id, str(path))

    def log_npz(self, run_id: str, artifact_file: str, **arrays) -> None:
        import numpy as np

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / artifact_file
            np.savez(path, **arrays)
            self.log_file(run_id, str(path))

    def log_dataset(self, run_id: str, dataset, name: str, lineage: dict[str, str]) -> None:
        """Dataset lineage: name, digest, schema and source on the run's Inputs tab."""
        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag

        source = lineage.get("path") or lineage.get("source")
        if lineage.get("source") == "hub":
            tracked = mlflow.data.from_huggingface(dataset, path=source, name=name)
        else:  # local data: name the file (or "inline"), not a hub id
            tracked = mlflow.data.from_pandas(dataset.to_pandas(), source=source or "inline", name=name)
        entity = tracked._to_mlflow_entity()
        context = InputTag(key="mlflow.data.context", value="inference")
        _retry(
            self.client.log_inputs, run_id, datasets=[DatasetInput(entity, [context])], races=DATASET_RACES
        )

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        """Close the run: FINISHED, FAILED (with the error as a tag) or KILLED."""
        if error:
            _retry(self.client.set_tag, run_id, "error", _truncate(redact_text(error), 5000))
        _retry(self.client.set_terminated, run_id, status)

    def end_dead_runs(self) -> list[str]:
        """RUNNING runs of this host whose process is gone (kill -9, OOM, power loss) end KILLED,
        keeping what they logged; runs of other hosts and of live processes are left alone."""
        import socket

        host = socket.gethostname().replace("'", "")
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"attributes.status = 'RUNNING' and tags.`runner.host` = '{host}'",
            max_results=1000,
        )
        ended = []
        for run in runs:
            tags = run.data.tags
            pid = int(tags.get("runner.pid", "0") or 0)
            if pid and pid != os.getpid() and not _alive(pid, tags.get("runner.pid_start", "")):
                reason = (
                    f"its process {pid} on {host} ended without closing it (kill -9, OOM kill or power loss)"
                )
                self.finish(run.info.run_id, "KILLED", reason)
                _retry(
                    self.client.set_tag, run.info.run_id, "runner.ended_by", "a later runner on the same host"
                )
                ended.append(run.info.run_id)
        return ended

    def children(self, parent_run_id: str) -> list[Any]:
        return self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
            max_results=5000,
            order_by=["attributes.start_time ASC"],
        )

    def finished_with_hash(self, config_hash: str) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`runner.config_hash` = '{config_hash}' and attributes.status = 'FINISHED'",
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def set_description(self, run_id: str, text: str) -> None:
        _retry(self.client.set_tag, run_id, "mlflow.note.content", text)


def _truncate(value: str, limit: int | None = None) -> str:
    limit = limit or limits()[0]
    return value if len(value) <= limit else value[: limit - 15] + "...[truncated]"


def _clean_tags(tags: dict[str, Any]) -> dict[str, str]:
    return {k: _truncate(redact_text(str(v)), limits()[2]) for k, v in tags.items() if v is not None}


def _cell(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, list, dict)) or value is None else str(value)
