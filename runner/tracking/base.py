"""The tracking boundary: what every tracker offers the rest of the runner (the `Tracker`
protocol). `tracker.Tracker` is one MLflow store; `keep.KeepingTracker` is a server's Tracker
whose runs move to a local store when the server goes away. Callers type a tracker as
`base.Tracker` and never probe for attributes: a plain store simply keeps nothing (`kept()` is
empty, `gone` is False).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    from datasets import Dataset
    from mlflow import MlflowClient
    from mlflow.entities import Run


Row = Mapping[str, object]  # one row of a logged table: column → a JSON-able value
Array: TypeAlias = "np.ndarray[tuple[int, ...], np.dtype[np.uint64]]"  # a logged array: token hashes


class Tracker(Protocol):
    uri: str
    experiment: str  # the experiment's name
    experiment_id: str

    @property
    def client(self) -> MlflowClient:
        """The MlflowClient of the store (reads: runs, artifacts)."""

    @property
    def gone(self) -> bool:
        """The server stopped answering during this process (never, for a plain store)."""

    def kept(self) -> list[str]:
        """Runs whose results wait in the local store for runner-sync."""

    def start(self, run_name: str, tags: dict[str, str], parent_run_id: str | None = None) -> str: ...

    def log(
        self,
        run_id: str,
        params: Mapping[str, object] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None: ...

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None: ...

    def log_json(self, run_id: str, obj: object, artifact_file: str) -> None: ...

    def log_table(self, run_id: str, rows: Sequence[Row], artifact_file: str) -> None: ...

    def log_file(self, run_id: str, path: str, artifact_path: str | None = None) -> None: ...

    def log_array(self, run_id: str, array: Array, artifact_file: str) -> None: ...

    def log_dataset(
        self, run_id: str, dataset: Dataset, name: str, lineage: dict[str, str], context: str = "inference"
    ) -> None: ...

    def set_description(self, run_id: str, text: str) -> None: ...

    def finish(self, run_id: str, status: str, error: str | None = None) -> None: ...

    def end_dead_runs(self, spare: set[str] | frozenset[str] = frozenset()) -> list[str]: ...

    def children(self, parent_run_id: str) -> list[Run]: ...

    def finished_with_hash(self, config_hash: str) -> str | None: ...
