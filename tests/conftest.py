"""Shared fixtures: the offline environment of every test, tiny assets built once, and an MLflow
store migrated once and copied per test (`store`: asked for by the tests that log runs — every
test under tests/pipeline/ and tests/integration/, through their conftest.py). Each test is
marked by its directory: unit, pipeline (runs the pipeline in-process) or integration (the
runner end to end, as a process, or with a real server); the Makefile selects by marker."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from tests.helpers.paths import FIXTURES, OFFLINE

# huggingface_hub reads HF_HUB_OFFLINE once, when it is first imported: the whole test process
# is offline from the start (module fixtures import transformers before any function fixture)
os.environ.update(OFFLINE)


@pytest.fixture(scope="session")
def assets_dir(tmp_path_factory) -> Path:
    """Tiny models are built once per session into a temporary folder (the same builder as the demo)."""
    path = tmp_path_factory.mktemp("assets")
    os.environ["RUNNER_ASSETS_DIR"] = str(path)
    return path


# The longest test files, longest first: with --no-loadscope-reorder (make test) pytest-xdist
# hands each worker the next file in collection order (by default it would start with the files
# holding the most tests), so the long ones start at once and short ones fill the end
LONGEST_FIRST = (
    "test_ray.py",  # 4.5 min in one worker (2026-12-07)
    "test_scale.py",
    "test_outage.py",
    "test_invariance.py",
    "test_signals.py",
    "test_dashboard.py",
    "test_cli.py",
    "test_sweeps.py",
    "test_training.py",
    "test_readme.py",
    "test_bad_input.py",
    "test_notebook.py",
    "test_tokenization.py",
)


ROOMS = ("unit", "pipeline", "integration")  # tests/<room>/: the marker of every test in it


def pytest_collection_modifyitems(items):
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
    tests = Path(__file__).parent
    for item in items:
        room = item.path.relative_to(tests).parts[0]
        if room in ROOMS:
            item.add_marker(getattr(pytest.mark, room))


def pytest_runtest_logfinish(nodeid, location):
    """A test worker holds over a million long-lived objects (torch, transformers, MLflow, the
    tokenizers and models earlier tests loaded), and each of Python's full collections rescans
    them all (~0.5 s each; Hydra's compositions trigger them often). What is alive after a test
    is moved out of the collector's sight (gc.freeze), so a collection looks only at what later
    tests make: ~18% less CPU in the in-process tests. It changes no test's subject."""
    gc.freeze()


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory) -> Path:
    """An empty MLflow sqlite store, migrated once per session (a migration costs ~2 s); each
    test gets a copy as its default store."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, migrated_store) -> Path:
    """This test's default MLflow store (MLFLOW_TRACKING_URI): a copy of the migrated one."""
    import shutil

    shutil.copyfile(migrated_store, tmp_path / "mlflow.db")
    return tmp_path / "mlflow.db"


@pytest.fixture(autouse=True)
def offline_env(monkeypatch, tmp_path, assets_dir):
    """Offline, the tiny assets at hand, and a default store of the test's own (created where a
    test logs without asking for `store`: nothing reaches the project's outputs/)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("RUNNER_ASSETS_DIR", str(assets_dir))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets-cache"))


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """Vendored real files: the bert-base-uncased/roberta-base tokenizers and KLUE samples."""
    return FIXTURES
