"""Reading runs back from MLflow, in one place: which artifacts a run logged, one downloaded,
a table (MLflow's split JSON) as rows, a JSON file, a run's logged outputs, the runs of the local
store kept for runner-sync, and `runs:/` URIs. The Python API (runner.api), the comparison and
the invariance check (runner.analysis), the trained tokenizer's reload and runner-sync read
through it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Run

Values: TypeAlias = "np.ndarray[tuple[int, ...], np.dtype[np.float32]]"  # outputs, float32
Offsets: TypeAlias = "np.ndarray[tuple[int, ...], np.dtype[np.int64]]"
Hashes: TypeAlias = "np.ndarray[tuple[int, ...], np.dtype[np.uint64]]"


def client(uri: str) -> MlflowClient:
    """An MlflowClient of the store at `uri`, MLflow's console noise off (no download bars)."""
    from mlflow import MlflowClient

    from runner.tracking.tracker import quiet

    quiet()
    return MlflowClient(tracking_uri=uri)


def names(client: MlflowClient, run_id: str, folder: str | None = None) -> set[str]:
    """The artifact names a run logged (in `folder`, or at its top)."""
    return {Path(a.path).name for a in client.list_artifacts(run_id, folder)}


def download(client: MlflowClient, run_id: str, artifact: str, into: str | Path | None = None) -> Path:
    """One artifact (a file or a folder) on local disk: into `into`, or a new temporary folder."""
    folder = str(into) if into is not None else tempfile.mkdtemp(prefix="runner-artifact-")
    return Path(client.download_artifacts(run_id, artifact, folder))


def has(client: MlflowClient, run_id: str, artifact: str) -> bool:
    folder, _, name = artifact.rpartition("/")
    return name in names(client, run_id, folder or None)


def json_file(client: MlflowClient, run_id: str, artifact: str) -> object:
    """A logged JSON file's content; None when the run logged none."""
    if not has(client, run_id, artifact):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(download(client, run_id, artifact, tmp).read_text(encoding="utf-8"))


def table_rows(client: MlflowClient, run_id: str, artifact: str) -> list[dict[str, object]] | None:
    """An MLflow table (log_table's split JSON) as one dict per row; None when absent."""
    found = _split(json_file(client, run_id, artifact))
    if found is None:
        return None
    columns, data = found
    return [dict(zip(columns, row, strict=True)) for row in data]


def _split(table: object) -> tuple[list[str], list[list[object]]] | None:
    """(columns, rows) of pandas' split JSON; None for anything else."""
    if not isinstance(table, dict) or not isinstance(table.get("columns"), list):
        return None
    return [str(c) for c in table["columns"]], [list(row) for row in table.get("data") or []]


def table(client: MlflowClient, run_id: str, artifact: str) -> pd.DataFrame | None:
    """An MLflow table as a pandas DataFrame (its columns in logged order); None when absent."""
    import pandas as pd

    found = _split(json_file(client, run_id, artifact))
    return None if found is None else pd.DataFrame(found[1], columns=found[0])


def outputs(
    client: MlflowClient, run_id: str, load: Callable[[str], tuple[Values, Offsets]]
) -> tuple[Values, Offsets] | None:
    """A run's model outputs as (values, offsets), read by `load` (runner.model.outputs.load: the
    format is the model room's): example i is values[offsets[i]:offsets[i+1]] (outputs.npy: one
    row each; outputs.npz: per-token rows; outputs/: an execution=ray run's Parquet shards). None
    without a forward pass."""
    logged = names(client, run_id)
    name = next((n for n in ("outputs.npy", "outputs.npz", "outputs") if n in logged), None)
    if name is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return load(str(download(client, run_id, name, tmp)))


def hashes(client: MlflowClient, run_id: str, artifact: str = "token_hashes.npy") -> Hashes | None:
    """A run's per-example token hashes (a logged .npy of uint64); None when absent."""
    if not has(client, run_id, artifact):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        loaded: Hashes = np.load(download(client, run_id, artifact, tmp))
        return loaded


def runs_uri(uri: str, tracking_uri: str | None) -> Path:
    """A `runs:/<run_id>/<path>` artifact on local disk (MLflow resolves the store)."""
    from mlflow.artifacts import download_artifacts

    return Path(download_artifacts(artifact_uri=uri, tracking_uri=tracking_uri))


def search(uri: str, filter_string: str) -> list[Run]:
    """Runs of every experiment of the store at `uri` that match (the local store of kept runs)."""
    store = client(uri)
    return [
        run
        for experiment in store.search_experiments()
        for run in store.search_runs([experiment.experiment_id], filter_string)
    ]
