"""SIGTERM and SIGINT sent to a real runner process end its run KILLED, keeping what was logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from runner.tracking.tracker import Tracker


def wait_running(uri: str, n: int, seconds: float = 120) -> tuple[MlflowClient, list]:
    """The RUNNING runs that have logged their params and config.yaml (inside the pipeline), once
    there are n. The
    store is opened as the runner opens it (a lock around a fresh sqlite file's migrations): two
    processes migrating one new file at once would break each other."""
    client = Tracker(uri, "runner").client
    deadline, running = time.time() + seconds, []
    while time.time() < deadline and len(running) < n:
        time.sleep(0.5)
        exp = client.get_experiment_by_name("runner")
        runs = client.search_runs([exp.experiment_id]) if exp else []
        running = [r for r in runs if r.info.status == "RUNNING" and r.data.params and _configured(client, r)]
    return client, running


def _configured(client: MlflowClient, run) -> bool:
    """Its config.yaml is written: logged after every param, so the run's start-up writes are
    over and a SIGSTOP cannot catch it inside a store transaction (which would lock the store
    for every other runner on it)."""
    return any(a.path == "config.yaml" for a in client.list_artifacts(run.info.run_id))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_marks_run_killed(tmp_path, sig):
    (tmp_path / "big.txt").write_text("a sentence that the tiny model reads slowly\n" * 20000)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            f"tracking.uri={uri}",
            "dataset.source=text",
            f"dataset.path={tmp_path / 'big.txt'}",
            "runtime.batch_size=1",
        ],
        cwd=tmp_path,
        env=os.environ.copy(),
        # as from a terminal: a CI started in the background would hand SIGINT down ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client, started = wait_running(uri, 1)
        assert len(started) == 1, "the run never started"
        running = started[0]
        time.sleep(1.0)  # inside the batch loop
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a no-op once it has exited; a run left going would slow every later test
    assert proc.returncode == 128 + sig  # 143 SIGTERM, 130 SIGINT
    assert "Traceback" not in err
    assert f"run {running.info.run_id} marked KILLED" in err
    run = client.get_run(running.info.run_id)
    assert run.info.status == "KILLED"
    assert run.data.params["dataset.source"] == "text"  # logged before the signal: kept
    assert "interrupted" in run.data.tags["error"]


def test_a_run_killed_hard_ends_killed_when_the_next_run_starts(tmp_path):
    """kill -9 leaves the run RUNNING (nothing can close it); the next runner on this host ends it
    KILLED, keeping what it logged — and leaves a live process's run alone."""
    (tmp_path / "big.txt").write_text("a sentence that the tiny model reads slowly\n" * 20000)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = [sys.executable, "-m", "runner", f"tracking.uri={uri}", "dataset.source=text"]
    slow = [*args, f"dataset.path={tmp_path / 'big.txt'}", "runtime.batch_size=1"]
    procs = [
        subprocess.Popen(slow, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    victim, survivor = procs
    try:
        client, running = wait_running(uri, 2)  # two runners opened the fresh store at once
        assert len(running) == 2, "the runs never started"
        by_pid = {int(r.data.tags["runner.pid"]): r for r in running}
        survivor.send_signal(signal.SIGSTOP)  # alive, its run open, and off the CPU meanwhile
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert client.get_run(by_pid[victim.pid].info.run_id).info.status == "RUNNING"  # as MLflow leaves it
        proc = subprocess.run(
            [*args, f"dataset.path={tmp_path / 'big.txt'}", "dataset.limit=5", "model=none"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "1 run(s) left RUNNING by a process that died now end KILLED" in proc.stderr
        dead = client.get_run(by_pid[victim.pid].info.run_id)
        assert dead.info.status == "KILLED" and f"process {victim.pid}" in dead.data.tags["error"]
        assert dead.data.params["dataset.source"] == "text"  # what it logged is kept
        assert client.get_run(by_pid[survivor.pid].info.run_id).info.status == "RUNNING"  # alive: untouched
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)
