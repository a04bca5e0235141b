"""Helpers the tests share (fixtures live in conftest.py): free ports, real servers, a browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# MLflow 3's server also starts job consumers (four processes) for its GenAI jobs, which no
# test uses: the servers the tests start go without them
SERVER_ENV = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, what: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"{what} did not start within {seconds:.0f} s")


@contextmanager
def _mlflow(command: str, backend_uri: str, *extra: str):
    """`mlflow ui|server` on a free loopback port, stopped afterwards; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", command, "--host", "127.0.0.1", "--port", str(port)]
        + ["--backend-store-uri", backend_uri, "--workers", "1", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=SERVER_ENV,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, f"mlflow {command} on {backend_uri}")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def mlflow_ui(backend_uri: str):
    """A real `mlflow ui` (what `make ui` starts) on the store's own artifact locations."""
    return _mlflow("ui", backend_uri)


def mlflow_server(backend_uri: str, artifacts: Path):
    """A real `mlflow server` with artifacts served by it (what a team server runs)."""
    return _mlflow("server", backend_uri, "--artifacts-destination", str(artifacts))


def chromium_path() -> str:
    """Debian's chromium (`.ci/run` installs it when absent): Playwright drives it by path."""
    for path in CHROMIUM:
        if Path(path).exists():
            return path
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("no chromium: `apt-get install chromium` (.ci/run does this)", pytrace=False)
    return found


def runs_in(uri: str, experiment: str = "runner"):
    """The experiment's runs in a store, with a client to read their artifacts."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment} in {uri}"
    return client, client.search_runs([exp.experiment_id], max_results=100)


def artifact_names(client, run_id, path=None):
    return {Path(a.path).name for a in client.list_artifacts(run_id, path)}


def finished_sweep(uri: str, jobs: int) -> tuple[Any, Any, list]:
    """A store's one sweep: its parent and `jobs` children, every run FINISHED, every child
    nested under that parent. Returns the client, the parent and the children."""
    client, runs = runs_in(uri)
    parents = [r for r in runs if r.data.tags.get("runner.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parents) == 1 and len(children) == jobs, (len(parents), len(children))
    assert all(r.info.status == "FINISHED" for r in runs), [r.info.status for r in runs]
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    return client, parents[0], children
