"""Hydra's launchers and a real `mlflow server`: parallel jobs nest under one parent, nothing lost."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.helpers.invoking import run_cli
from tests.helpers.servers import finished_sweep, free_port, mlflow_server

GRID = ["model=tiny_bert,tiny_roberta", "padding=longest,max_length"]


def check_sweep(uri: str, jobs: int) -> None:
    client, _, children = finished_sweep(uri, jobs)
    for child in children:
        assert {"tokens/total", "time/total_s", "throughput/samples_per_s"} <= set(child.data.metrics)
        assert child.data.params["padding.strategy"] in ("longest", "max_length")
        names = {Path(a.path).name for a in client.list_artifacts(child.info.run_id)}
        assert {"config.yaml", "tokens.json", "shapes.json", "predictions.json"} <= names


def test_eight_parallel_joblib_workers_on_sqlite_lose_nothing(tmp_path):
    """Eight processes on one sqlite store: every run FINISHED with its metrics and artifacts,
    and every run keeps its dataset lineage (concurrent first log_inputs of one dataset race on
    its unique key: retried)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_cli(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=8",
        f"tracking.uri={uri}",
        "model=none",
        "padding=longest,do_not_pad",
        "tokenizer.max_length=16,32,64,128",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("runner").experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(children) == 8 and all(r.info.status == "FINISHED" for r in children)
    for child in children:
        inputs = client.get_run(child.info.run_id).inputs.dataset_inputs
        assert len(inputs) == 1 and inputs[0].dataset.name == "sample", (
            child.info.run_name
        )  # the dataset config
        assert {"tokens/total", "time/total_s", "data/rows"} <= set(child.data.metrics)
        names = {Path(a.path).name for a in client.list_artifacts(child.info.run_id)}
        assert {"config.yaml", "tokens.json", "token_hashes.npy"} <= names
    assert "lineage not logged" not in proc.stderr


def test_packed_sweep_on_submitit_local(tmp_path):
    """sweep.inner: 2 launched jobs (the models) × 3 inner paddings = 6 children under one parent,
    each launched job one process whose inner jobs reuse its loaded model."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_cli(
        "-m",
        "hydra/launcher=submitit_local",
        f"tracking.uri={uri}",
        "model=tiny_bert,tiny_roberta",
        'sweep.inner="padding=longest,max_length,do_not_pad"',
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, _, children = finished_sweep(uri, 6)
    nums = sorted(c.data.tags["sweep.job_num"] for c in children)
    assert nums == ["0.0", "0.1", "0.2", "1.0", "1.1", "1.2"]
    assert len({c.data.tags["runner.pid"] for c in children}) == 2  # two launcher jobs
    assert sorted(c.data.tags["cache/model"] for c in children) == ["hit"] * 4 + ["miss"] * 2
    grid = {(c.data.params["model.name_or_path"], c.data.params["padding.strategy"]) for c in children}
    assert len(grid) == 6 and len({c.info.run_name for c in children}) == 6


@pytest.fixture(scope="module")
def postgres():
    """A real PostgreSQL server (Debian's package; .ci/run installs it) in a throwaway data dir."""
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        pytest.fail(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: install Debian's "
            "postgresql package (apt-get install -y postgresql; .ci/run does this)",
            pytrace=False,
        )
    bindir = Path(initdb[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="runner-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def pg(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    pg(str(bindir / "initdb"), "-D", f"{root}/db", "-A", "trust", "-U", "postgres")
    pg(
        str(bindir / "pg_ctl"),
        "-D",
        f"{root}/db",
        "-l",
        f"{root}/log",
        "-w",
        "-o",
        f"-h 127.0.0.1 -p {port} -k {root}",
        "start",
    )
    try:
        pg(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mlflow"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", f"{root}/db", "-m", "fast", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_parallel_jobs_against_a_postgresql_tracking_server(tmp_path, postgres):
    """A sweep against a real `mlflow server` backed by PostgreSQL, four jobs in parallel (a
    server on sqlite: tests/integration/test_ray.py)."""
    workers = 4
    with mlflow_server(postgres, tmp_path / "served") as url:
        proc = run_cli(
            "-m",
            "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={workers}",
            f"tracking.uri={url}",
            *GRID,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        check_sweep(url, 4)


def test_unreachable_server_fails_fast_naming_tracking_uri(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    started = time.time()
    proc = run_cli(
        f"tracking.uri=http://127.0.0.1:{port}",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "tracking.uri=http://127.0.0.1" in lines[0], proc.stderr
    assert time.time() - started < 15  # no environment tuning: the default is fast


def test_port_9_fails_in_under_15_s_with_no_environment_tuning(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP")}
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "tracking.uri=http://127.0.0.1:9"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "tracking.uri=http://127.0.0.1:9" in proc.stderr
    assert time.time() - started < 15
