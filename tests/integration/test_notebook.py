"""The tour notebook (docs/notebooks/tour.ipynb) is kept without outputs and runs offline, top to
bottom, in a real Jupyter kernel — the way a user opens it."""

from __future__ import annotations

import json
import subprocess

import nbformat
from nbclient import NotebookClient

from tests.helpers.paths import ROOT
from tests.helpers.servers import runs_in

NOTEBOOK = ROOT / "docs" / "notebooks" / "tour.ipynb"


def test_the_notebook_is_kept_without_outputs():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 10
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True
    ).stdout


def test_the_notebook_runs_offline(tmp_path):
    """Run where Jupyter runs it (the kernel in docs/notebooks/): it moves to the project folder,
    so what it writes lands in the ignored outputs/ that `make ui` serves — git status unchanged."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    before = git_status()
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": NOTEBOOK.parent}}
    )
    client.execute()  # a failing cell raises CellExecutionError with its traceback
    assert git_status() == before
    outputs = "".join(
        o.get("text", "") + json.dumps(o.get("data", {}), ensure_ascii=False)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.outputs
    )
    assert f"working in {ROOT}" in outputs
    assert "BertModel" in outputs and "BertForSequenceClassification" in outputs
    assert "[UNK]" in outputs or "ᄋ" in outputs  # bert-base-uncased's Korean: UNK or jamo
    assert "<0xEC>" in outputs  # roberta-base's bytes
    assert "</s></s>" in outputs.replace("', '", "") and "[SEP]" in outputs
    _, runs = runs_in(f"sqlite:///{tmp_path}/mlflow.db")  # the test's store (MLFLOW_TRACKING_URI)
    parents = [r for r in runs if r.data.tags.get("runner.role") == "sweep"]
    assert len(parents) == 2 and all(r.info.status == "FINISHED" for r in runs)
