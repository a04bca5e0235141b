"""Reading runs back from MLflow, in one place: which artifacts a run logged, one downloaded,
a table (MLflow's split JSON) as rows, a JSON file, a run's logged outputs, the runs of the local
store kept for runner-sync, and `runs:/` URIs. The Python API (runner.api), the comparison and
the invariance check (runner.analysis), the trained tokenizer's reload and runner-sync read
through it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def client(uri: str) -> Any:
    """An MlflowClient of the store at `uri`, MLflow's console noise off (no download bars)."""
    from mlflow import MlflowClient

    from runner.tracking.tracker import quiet

    quiet()
    return MlflowClient(tracking_uri=uri)


def names(client: Any, run_id: str, folder: str | None = None) -> set[str]:
    """The artifact names a run logged (in `folder`, or at its top)."""
    return {Path(a.path).name for a in client.list_artifacts(run_id, folder)}


def download(client: Any, run_id: str, artifact: str, into: str | Path | None = None) -> Path:
    """One artifact (a file or a folder) on local disk: into `into`, or a new temporary folder."""
    folder = str(into) if into is not None else tempfile.mkdtemp(prefix="runner-artifact-")
    return Path(client.download_artifacts(run_id, artifact, folder))


def has(client: Any, run_id: str, artifact: str) -> bool:
    folder, _, name = artifact.rpartition("/")
    return name in names(client, run_id, folder or None)


def json_file(client: Any, run_id: str, artifact: str) -> Any:
    """A logged JSON file's content; None when the run logged none."""
    if not has(client, run_id, artifact):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(download(client, run_id, artifact, tmp).read_text(encoding="utf-8"))


def table_rows(client: Any, run_id: str, artifact: str) -> list[dict[str, Any]] | None:
    """An MLflow table (log_table's split JSON) as one dict per row; None when absent."""
    table = json_file(client, run_id, artifact)
    if table is None:
        return None
    return [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]


def table(client: Any, run_id: str, artifact: str) -> Any:
    """An MLflow table as a pandas DataFrame (its columns in logged order); None when absent."""
    import pandas as pd

    found = json_file(client, run_id, artifact)
    return None if found is None else pd.DataFrame(found["data"], columns=found["columns"])


def outputs(client: Any, run_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A run's model outputs as (values, offsets): example i is values[offsets[i]:offsets[i+1]]
    (outputs.npy: one row each; outputs.npz: per-token rows). None without a forward pass."""
    from runner.model import outputs as model_outputs

    logged = names(client, run_id)
    name = next((n for n in ("outputs.npy", "outputs.npz") if n in logged), None)
    if name is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return model_outputs.load(str(download(client, run_id, name, tmp)))


def array(client: Any, run_id: str, artifact: str) -> np.ndarray | None:
    """A logged .npy array; None when absent."""
    if not has(client, run_id, artifact):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return np.load(download(client, run_id, artifact, tmp))


def runs_uri(uri: str, tracking_uri: str | None) -> Path:
    """A `runs:/<run_id>/<path>` artifact on local disk (MLflow resolves the store)."""
    from mlflow.artifacts import download_artifacts

    return Path(download_artifacts(artifact_uri=uri, tracking_uri=tracking_uri))


def search(uri: str, filter_string: str) -> list[Any]:
    """Runs of every experiment of the store at `uri` that match (the local store of kept runs)."""
    store = client(uri)
    return [
        run
        for experiment in store.search_experiments()
        for run in store.search_runs([experiment.experiment_id], filter_string)
    ]
