"""Shared fixtures: offline environment, a per-test MLflow store, tiny assets built once."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"  # vendored real files, provenance in each SOURCES.md
HUB = ROOT / "runner" / "assets" / "hub"  # the real tokenizers bundled with the runner

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
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
    "test_scale.py",
    "test_outage.py",
    "test_invariance.py",
    "test_signals.py",
    "test_dashboard.py",
    "test_cli.py",
    "test_sweeps.py",
    "test_ray.py",
    "test_training.py",
    "test_readme.py",
    "test_bad_input.py",
    "test_notebook.py",
    "test_tokenization.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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


@pytest.fixture(autouse=True)
def offline_env(monkeypatch, tmp_path, assets_dir, migrated_store):
    import shutil

    shutil.copyfile(migrated_store, tmp_path / "mlflow.db")
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


def compose(*overrides: str):
    """Compose the real conf/ with overrides into a typed RunConfig (as the CLI does)."""
    from runner.cli import compose as cli_compose

    return cli_compose(*overrides)


def invoke(*args: str, cwd: Path, env: dict | None = None, timeout: int | None = None, main=None):
    """The `runner` command run in this process (`cli.main` with these arguments; another
    command's `main(argv)` if given), returned as run_cli returns it — exit code, stdout,
    stderr — without ~5 s of imports per call. For tests whose subject is not the process
    itself (signals, kill -9, launchers, the collector of a runner process: run_cli). The
    environment, working directory and argv are restored."""
    import contextlib
    import io

    from runner import cli

    saved = (dict(os.environ), Path.cwd(), sys.argv)
    out, err, code = io.StringIO(), io.StringIO(), 0
    os.environ.update({**OFFLINE, **(env or {})})
    if "HYDRA_FULL_ERROR" not in (env or {}):
        os.environ.pop("HYDRA_FULL_ERROR", None)
    os.chdir(cwd)
    sys.argv = ["runner", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(list(args)) if main else cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        os.chdir(saved[1])
        sys.argv = saved[2]
    return subprocess.CompletedProcess(["runner", *args], code, out.getvalue(), err.getvalue())


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 240, module: str = "runner"):
    """Run `python -m runner ARGS` (or another of its commands: `module="runner.tracking.sync"`) in a
    subprocess: the test's environment, offline, and without HYDRA_FULL_ERROR (an in-process
    `cli.main()` sets it in os.environ for Hydra)."""
    inherited = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    full_env = {**OFFLINE, **inherited, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
