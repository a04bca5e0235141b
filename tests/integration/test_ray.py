"""Hydra's Ray launcher against a real local Ray cluster (`ray start --head` on 127.0.0.1) and a
real `mlflow server`: each job runs in a Ray worker — a process started by the cluster, not by the
runner, so it inherits none of the sweep's environment — in its own working directory, and
still nests under the one parent with every metric and artifact."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.invoking import run_cli
from tests.helpers.servers import finished_sweep, free_port, mlflow_server

# Ray listens on every interface unless it takes the node for a laptop (loopback only): this
# keeps the whole cluster on 127.0.0.1.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture
def ray_cluster(tmp_path):
    ray = str(Path(sys.executable).parent / "ray")
    port, env = free_port(), {**os.environ, **LOOPBACK}
    temp = Path("/tmp") / f"ray-{port}"  # Ray's socket paths must stay short
    start = [ray, "start", "--head", f"--port={port}", "--num-cpus=1", f"--temp-dir={temp}"]
    start += ["--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_four_jobs_on_a_ray_cluster_nest_under_one_parent(tmp_path, ray_cluster, migrated_store):
    shutil.copyfile(migrated_store, tmp_path / "server.db")  # the server's store, migrated once
    with mlflow_server(f"sqlite:///{tmp_path}/server.db", tmp_path / "served") as url:
        proc = run_cli(
            "-m",
            "hydra/launcher=ray",
            f"hydra.launcher.ray.init.address={ray_cluster}",
            "hydra.job.chdir=true",  # each job in its own working directory
            f"tracking.uri={url}",
            "model=none",  # tokenization runs: the workers' cost is start-up, not a forward pass
            "tokenizer=tiny_bert,tiny_roberta",
            "padding=longest,max_length",
            cwd=tmp_path,
            env=LOOPBACK,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        _, _, children = finished_sweep(url, 4)
    for child in children:
        assert child.data.tags["sweep.parent_from"] == "env"  # from the job's own config
        assert {"tokens/total", "time/total_s", "throughput/samples_per_s"} <= set(child.data.metrics)
    served = {p.name for p in (tmp_path / "served").rglob("*") if p.is_file()}
    assert {"config.yaml", "tokens.json", "token_hashes.npy"} <= served
    per_run = [p for p in (tmp_path / "served").rglob("tokens.json") if p.parent.name == "artifacts"]
    assert len(per_run) == 4  # one per child (the parent's is under comparison/)
