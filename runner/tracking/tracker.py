"""Everything MLflow: the store, runs and parent runs, params, tags, metrics, tables, artifacts.

With readback and sync, the modules that import mlflow. A `Tracker` (a runner.tracking.base.Tracker)
holds an `MlflowClient` and explicit run ids —
never a global active run — so jobs in other processes can nest under a sweep's parent.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner.config.redact import redact_text
from runner.config.tags import PARENT
from runner.errors import TrackingError, first_line
from runner.tracking import store

if TYPE_CHECKING:
    from datasets import Dataset
    from mlflow.entities import Run

    from runner.tracking.base import Array, Row

log = logging.getLogger(__name__)


@functools.cache
def limits() -> tuple[int, int, int]:
    """MLflow's own limits: a param value's length, params per batch, a tag value's length."""
    from mlflow.utils import validation as v

    return v.MAX_PARAM_VAL_LENGTH, v.MAX_PARAMS_TAGS_PER_BATCH, v.MAX_TAG_VAL_LENGTH


EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # MLflow 3: open on runs, not GenAI


def quiet() -> None:
    """The runner prints its own links and summary: no MLflow INFO lines, URL prints or bars."""
    import warnings

    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # (mlflow configures its loggers on import)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # no INFO chatter about migrations
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\..*")
    warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")


HTTP_LIMITS = {  # MLflow's defaults (7 retries, 120 s timeout) wait minutes per call on a dead server
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


def bounded_http() -> None:
    """A server that stops answering costs one call's retries — ~5 s refused, at most ~50 s
    silent — after which runner.tracking.keep moves the run to the local store; urllib3's "Retrying"
    warnings stay off the console. The user's own MLFLOW_HTTP_REQUEST_* settings win."""
    for key, value in HTTP_LIMITS.items():
        os.environ.setdefault(key, value)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


class Tracker:
    """One MLflow store and experiment; opens, fills and closes runs by explicit id (a
    runner.tracking.base.Tracker: it keeps nothing locally and is never gone)."""

    gone = False

    def __init__(self, uri: str | None, experiment: str) -> None:
        from mlflow import MlflowClient

        quiet()
        self.uri = store.resolve_uri(uri)
        self.experiment = experiment
        db = store.sqlite_path(self.uri)
        if db is not None:
            store.check_writable(db, self.uri)
        if store.is_server(self.uri):
            bounded_http()
            store.probe(self.uri)
        with store.creation_lock(db):  # MlflowClient creates (migrates) the store as it is built
            self.client = MlflowClient(tracking_uri=self.uri)
            self.experiment_id = self._experiment(experiment, db)

    def kept(self) -> list[str]:
        return []

    @staticmethod
    def experiment_of(uri: str | None, run_id: str) -> str | None:
        """The name of the experiment a run is in; None when the store has no such run."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=store.resolve_uri(uri))
        try:
            return str(client.get_experiment(client.get_run(run_id).info.experiment_id).name)
        except Exception:
            return None

    def _experiment(self, name: str, db: Path | None) -> str:
        try:
            found = store.retry(self.client.get_experiment_by_name, name)
            if found is not None:
                return found.experiment_id
            location = (db.parent / "artifacts").resolve().as_uri() if db is not None else None
            try:
                return store.retry(
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

        tags = {**store.process_tags(), **tags}
        if parent_run_id:
            tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        run = store.retry(
            self.client.create_run,
            self.experiment_id,
            run_name=redact_text(run_name)[:250],
            tags=_clean_tags(tags),
        )
        return str(run.info.run_id)

    def log(
        self,
        run_id: str,
        params: Mapping[str, object] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
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
            store.retry(
                self.client.log_batch,
                run_id,
                params=chunk,
                metrics=metric_list if first else (),
                tags=tag_list if first else (),
            )

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        store.retry(self.client.log_text, run_id, redact_text(text), artifact_file)

    def log_json(self, run_id: str, obj: object, artifact_file: str) -> None:
        self.log_text(run_id, json.dumps(obj, ensure_ascii=False, indent=1, default=str), artifact_file)

    def log_table(self, run_id: str, rows: Sequence[Row], artifact_file: str) -> None:
        """An MLflow table (shown in the UI's artifact view and by mlflow.load_table), written
        whole: MlflowClient.log_table appends to a table already there, which doubled the rows
        of a comparison rendered again by runner-compare. Same file format, same registration
        tag (mlflow.loggedArtifacts) as log_table."""
        import pandas as pd
        from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_ARTIFACTS

        frame = pd.DataFrame([{k: _cell(v) for k, v in row.items()} for row in rows])
        frame = frame.map(lambda v: redact_text(v) if isinstance(v, str) else v)
        folder, _, name = artifact_file.rpartition("/")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            frame.to_json(path, orient="split", index=False, date_format="iso", double_precision=15)
            store.retry(self.client.log_artifact, run_id, str(path), folder or None)
        logged = json.loads(self.client.get_run(run_id).data.tags.get(MLFLOW_LOGGED_ARTIFACTS, "[]"))
        entry = {"path": artifact_file, "type": "table"}
        if entry not in logged:
            store.retry(self.client.set_tag, run_id, MLFLOW_LOGGED_ARTIFACTS, json.dumps([*logged, entry]))

    def log_file(self, run_id: str, path: str, artifact_path: str | None = None) -> None:
        store.retry(self.client.log_artifact, run_id, path, artifact_path)

    def log_array(self, run_id: str, array: Array, artifact_file: str) -> None:
        import numpy as np

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / artifact_file
            np.save(path, array)
            self.log_file(run_id, str(path))

    def log_dataset(
        self, run_id: str, dataset: Dataset, name: str, lineage: dict[str, str], context: str = "inference"
    ) -> None:
        """Dataset lineage: name, digest, schema and source on the run's Inputs tab; context says
        what the run did with it (inference: evaluated on it, training: trained a tokenizer)."""
        from mlflow.data.huggingface_dataset import from_huggingface
        from mlflow.entities import DatasetInput, InputTag

        # Digest and schema come from the first 10,000 rows, the profile from the row count:
        # bounded work and memory at any size (from_pandas would copy every row first).
        source = lineage.get("path") or lineage.get("source")
        if lineage.get("source") == "hub":
            tracked = from_huggingface(dataset, path=source, name=name)
        else:  # local data: name the file (or "inline"), not a hub id
            tracked = from_huggingface(dataset, source=source or "inline", name=name)
        entity = tracked._to_mlflow_entity()
        context_tag = InputTag(key="mlflow.data.context", value=context)
        store.retry_on(
            store.DATASET_RACES,
            self.client.log_inputs,
            run_id,
            datasets=[DatasetInput(entity, [context_tag])],
        )

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        """Close the run: FINISHED, FAILED (with the error as a tag) or KILLED."""
        if error:
            store.retry(self.client.set_tag, run_id, "error", _truncate(redact_text(error), 5000))
        store.retry(self.client.set_terminated, run_id, status)

    def end_dead_runs(self, spare: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """RUNNING runs of this host whose process is gone (kill -9, OOM, power loss) end KILLED,
        keeping what they logged; runs of other hosts and of live processes are left alone, and
        so are the `spare` ones (their results wait in the local store for runner-sync)."""
        import socket

        host = socket.gethostname().replace("'", "")
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"attributes.status = 'RUNNING' and tags.`runner.host` = '{host}'",
            max_results=1000,
        )
        ended = []
        for run in runs:
            if run.info.run_id in spare:
                continue
            tags = run.data.tags
            pid = int(tags.get("runner.pid", "0") or 0)
            if pid and pid != os.getpid() and not store.alive(pid, tags.get("runner.pid_start", "")):
                # read again now that its process is known dead (a dead process writes nothing more):
                # it may have closed the run itself between the search and the check
                if self.client.get_run(run.info.run_id).info.status != "RUNNING":
                    continue
                reason = (
                    f"its process {pid} on {host} ended without closing it (kill -9, OOM kill or power loss)"
                )
                self.finish(run.info.run_id, "KILLED", reason)
                store.retry(
                    self.client.set_tag, run.info.run_id, "runner.ended_by", "a later runner on the same host"
                )
                ended.append(run.info.run_id)
        return ended

    def children(self, parent_run_id: str) -> list[Run]:
        return self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{PARENT}` = '{parent_run_id}'",
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
        """The run's description, cut to MLflow's tag length here (MLflow would cut it too, with
        a warning on the console)."""
        store.retry(self.client.set_tag, run_id, "mlflow.note.content", _truncate(text, limits()[2]))


def _truncate(value: str, limit: int | None = None) -> str:
    limit = limit or limits()[0]
    return value if len(value) <= limit else value[: limit - 15] + "...[truncated]"


def _clean_tags(tags: Mapping[str, object]) -> dict[str, str]:
    return {k: _truncate(redact_text(str(v)), limits()[2]) for k, v in tags.items() if v is not None}


def _cell(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool, list, dict)) or value is None else str(value)


PARAM_KEY = re.compile(r"[\w\-. :/]+")  # what MLflow accepts in a param's name


def flatten(obj: object, prefix: str = "") -> dict[str, str]:
    """Nested config → dotted keys; lists become JSON strings. A dict whose keys MLflow cannot
    name a param with (`<|endoftext|>` in tokenizer.tiktoken.special_tokens) is one JSON value."""
    if isinstance(obj, dict):
        if not all(PARAM_KEY.fullmatch(str(k)) for k in obj):
            return {prefix[:-1]: json.dumps(obj, ensure_ascii=False, default=str)}
        out: dict[str, str] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    value = json.dumps(obj, ensure_ascii=False) if isinstance(obj, list) else str(obj)
    return {prefix[:-1]: value}
