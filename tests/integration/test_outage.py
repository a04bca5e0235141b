"""Nothing lost when the tracking server goes away: a real `mlflow server` on a loopback port is
SIGKILLed under a running run (and under a sweep), restarted on the same store, and `runner-sync`
sends what the runner kept locally."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from runner.engine.sweep import GONE
from runner.tracking import keep
from tests.helpers.invoking import invoke
from tests.helpers.paths import OFFLINE
from tests.helpers.servers import SERVER_ENV, free_port, wait_healthy

TEXTS = [
    "Hello, my dog is cute.",
    "오늘 날씨가 정말 좋네요.",
    "서울은 대한민국의 수도입니다.",
    "Seoul is the capital.",
]


class Server:
    """`mlflow server` (sqlite backend, served artifacts) that can be SIGKILLed and restarted on
    the same port and store (a copy of the session's migrated empty store)."""

    def __init__(self, tmp: Path, migrated: Path) -> None:
        self.tmp, self.port = tmp, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        shutil.copyfile(migrated, tmp / "server.db")
        self.store = f"sqlite:///{tmp}/server.db"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--backend-store-uri", self.store, "--artifacts-destination", str(self.tmp / "art")]
        self.proc = subprocess.Popen(
            [*command, "--workers", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # kill -9 reaches its workers too
            env=SERVER_ENV,
        )
        wait_healthy(self.url, self.proc, "mlflow server")

    def ensure(self) -> Server:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        return self

    def kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:  # never started, or killed already
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.store)  # the server's own store, read directly


def start_runner(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**{k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}, **OFFLINE}
    return subprocess.Popen(
        [sys.executable, "-m", "runner", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def runs(client: MlflowClient, experiment: str = "runner") -> list:
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {seconds:.0f} s")


def sync(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`runner-sync ARGS` run in this process from `cwd` (its exit code and output captured)."""
    from runner import commands

    return invoke(*args, cwd=cwd, main=commands.sync)


COMPARABLE = lambda metrics: {k: v for k, v in metrics.items() if not k.startswith(("time/", "throughput/"))}  # noqa: E731


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, migrated_store):
    """One server for this file (a start costs ~5 CPU-s): each test logs to its own experiments,
    and one that kills it starts it again; a test finding it down (after a failure) starts it."""
    server = Server(tmp_path_factory.mktemp("server"), migrated_store)
    yield server
    server.kill()


def test_a_run_outlives_its_server_and_syncs_once(tmp_path, shared_server):
    server = shared_server.ensure()
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(TEXTS[i % 4] for i in range(10_000)), encoding="utf-8")
    args = ("model=tiny_bert", "dataset.source=text", f"dataset.path={data}", f"tracking.uri={server.url}")
    proc = start_runner(tmp_path, *args, "tracking.experiment=away")
    client = server.client()
    wait_for(
        lambda: any(r.info.status == "RUNNING" for r in runs(client, "away")),
        120,
        "a RUNNING run on the server",
    )
    (running,) = runs(client, "away")
    server.kill()
    killed = time.monotonic()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == keep.EXIT_KEPT, err
    assert time.monotonic() - killed < 120  # the rest of the run, then at most one call's retries
    lines = [x for x in (out + err).splitlines() if "unreachable" in x]
    assert len(lines) == 1 and server.url in lines[0] and "runner-sync" in lines[0], out + err
    assert "Retrying" not in err and "Traceback" not in err
    assert runs(client, "away")[0].info.status == "RUNNING"  # the server never heard the end
    down = sync(tmp_path)
    assert down.returncode == 1 and down.stderr.count("error:") == 1 and server.url in down.stderr

    # the reaper leaves it alone: its results wait locally
    server.start()
    other = invoke("model=none", f"tracking.uri={server.url}", "tracking.experiment=other", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert client.get_run(running.info.run_id).info.status == "RUNNING"

    dry = sync(tmp_path, "--dry-run")
    assert dry.returncode == 0 and "would send" in dry.stdout
    assert client.get_run(running.info.run_id).info.status == "RUNNING"
    sent = sync(tmp_path)
    assert sent.returncode == 0, sent.stderr
    (after,) = runs(client, "away")  # exactly one run: the same one, finished under its own id
    assert after.info.run_id == running.info.run_id and after.info.status == "FINISHED"
    baseline = invoke(*args, "tracking.experiment=baseline", cwd=tmp_path)
    assert baseline.returncode == 0, baseline.stderr
    (clean,) = runs(client, "baseline")
    assert COMPARABLE(after.data.metrics) == COMPARABLE(clean.data.metrics)
    same = lambda params: {k: v for k, v in params.items() if k != "tracking.experiment"}  # noqa: E731
    assert same(after.data.params) == same(clean.data.params) and len(after.data.params) > 20
    served = MlflowClient(tracking_uri=server.url)  # artifacts are served by the server
    listed = lambda run_id: sorted(a.path for a in served.list_artifacts(run_id))  # noqa: E731
    assert listed(after.info.run_id) == listed(clean.info.run_id)
    history = {k: len(client.get_metric_history(after.info.run_id, k)) for k in after.data.metrics}

    again = sync(tmp_path)
    assert again.returncode == 0 and "nothing to send" in again.stdout
    assert {k: len(client.get_metric_history(after.info.run_id, k)) for k in after.data.metrics} == history
    assert set(history.values()) == {1}


@pytest.mark.parametrize("interrupted_at", ["log_artifacts", "delete_run"])
def test_an_interrupted_sync_run_again_leaves_no_duplicates(
    tmp_path, monkeypatch, interrupted_at, shared_server
):
    from runner.tracking import sync as runner_sync
    from runner.tracking.tracker import Tracker

    server, experiment = shared_server.ensure(), f"runner-{interrupted_at}"
    kept = f"sqlite:///{tmp_path}/unsynced/mlflow.db"
    local = Tracker(kept, "runner")
    run_id = local.start("kept while away", {keep.TARGET: server.url, keep.EXPERIMENT: experiment})
    local.log(run_id, params={"a": 1, "b": "two"}, metrics={"tokens/total": 42.0, "time/total_s": 1.5})
    local.log_text(run_id, "hello", "notes/hello.txt")
    local.finish(run_id, "FINISHED")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt  # what a SIGTERM midway would leave behind

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, interrupted_at, interrupt)
        with pytest.raises(KeyboardInterrupt):
            runner_sync.sync(kept, dry_run=False)
    assert runner_sync.sync(kept, dry_run=False).lines  # again: it continues the same run
    assert runner_sync.sync(kept, dry_run=False).lines == []  # and a third time there is nothing left
    client = server.client()
    (sent,) = runs(client, experiment)
    assert sent.info.status == "FINISHED" and sent.data.params == {"a": "1", "b": "two"}
    assert {k: len(client.get_metric_history(sent.info.run_id, k)) for k in sent.data.metrics} == {
        "tokens/total": 1,
        "time/total_s": 1,
    }
    served = MlflowClient(tracking_uri=server.url)
    assert [a.path for a in served.list_artifacts(sent.info.run_id, "notes")] == ["notes/hello.txt"]


def test_a_sweep_keeps_going_while_its_server_is_away(tmp_path, shared_server):
    """The server dies after the first job and is still away at the sweep's end: the last three
    jobs and the parent (whose end finds it away) are kept, and runner-sync sends them all."""
    import threading

    server = shared_server.ensure()
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(TEXTS[i % 4] for i in range(2_000)), encoding="utf-8")
    proc = start_runner(
        tmp_path, "-m", "model=tiny_bert", "dataset.source=text", f"dataset.path={data}",
        "runtime.batch_size=8,16,32,64", f"tracking.uri={server.url}", "tracking.experiment=sweep-away",
    )  # fmt: skip
    lines: list[str] = []

    def follow() -> None:  # job lines go to stderr as they happen
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("job 0 FINISHED"):
                server.kill()  # down from the second job to after the sweep's end

    reader = threading.Thread(target=follow)
    reader.start()
    out = proc.stdout.read() if proc.stdout else ""
    proc.wait(timeout=600)
    reader.join(timeout=60)
    err = "".join(lines)
    assert proc.returncode == keep.EXIT_KEPT, out + err
    kept_lines = [x for x in lines if x.startswith("job ") and "kept locally" in x]
    assert [x.split(" FINISHED")[0] for x in kept_lines] == ["job 1", "job 2", "job 3"], err
    (away,) = [x for x in lines if x.startswith("the tracking server at")]
    assert "the results of 4 runs are kept" in away and "FAILED" not in err, err
    server.start()
    sent = sync(tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.count("sent ") == 4 and "comparison rebuilt" in sent.stdout, sent.stdout
    client = server.client()
    everything = runs(client, "sweep-away")
    parents = [r for r in everything if r.data.tags.get("runner.role") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in everything if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 4 and all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.data.tags["sweep.job_num"] for c in children) == ["0", "1", "2", "3"]
    served = MlflowClient(tracking_uri=server.url)
    names = {a.path for a in served.list_artifacts(parents[0].info.run_id, "comparison")}
    assert {"comparison/report.html", "comparison/tokens.json"} <= names
    invariance = [a.path for a in served.list_artifacts(parents[0].info.run_id, "invariance")]
    assert invariance == ["invariance/report.json"] and "invariance: INVARIANT" in sent.stdout
    assert parents[0].data.metrics["sweep/jobs"] == 4 and parents[0].data.metrics["sweep/failed"] == 0
    description = parents[0].data.tags["mlflow.note.content"]
    assert description.startswith("**invariance: INVARIANT") and "batch_size=64" in description
    assert sync(tmp_path).stdout.startswith("nothing to send")


def test_a_server_lost_after_the_jobs_keeps_the_parent(tmp_path, monkeypatch, shared_server):
    """Every job reached the server; it goes away while the parent's comparison is built: the
    parent ends in the local store (exit 75, one line), and runner-sync sends it and builds its
    comparison there."""
    from runner.analysis import compare

    server, experiment = shared_server.ensure(), "runner-lost-at-the-end"
    build = compare.build

    def lost(*args, **kwargs):
        server.kill()
        return build(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(compare, "build", lost)
        proc = invoke(
            "-m", "model=none", "runtime.batch_size=2,4", f"tracking.uri={server.url}",
            f"tracking.experiment={experiment}", cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == keep.EXIT_KEPT, proc.stderr
    (away,) = [x for x in proc.stderr.splitlines() if x.startswith("the tracking server at")]
    assert "its results are kept" in away and f"comparison not logged: {GONE}" in proc.stderr
    server.start()
    sent = sync(tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.count("sent ") == 1 and "comparison rebuilt" in sent.stdout, sent.stdout
    everything = runs(server.client(), experiment)
    assert len(everything) == 3 and all(r.info.status == "FINISHED" for r in everything)
    (parent,) = [r for r in everything if r.data.tags.get("runner.role") == "sweep"]
    assert parent.data.metrics["sweep/jobs"] == 2
    served = MlflowClient(tracking_uri=server.url)
    names = {a.path for a in served.list_artifacts(parent.info.run_id, "comparison")}
    assert {"comparison/report.html", "comparison/tokens.json"} <= names
    invariance = [a.path for a in served.list_artifacts(parent.info.run_id, "invariance")]
    assert invariance == ["invariance/report.json"] and "invariance: INVARIANT" in sent.stdout
    assert parent.data.tags["mlflow.note.content"].startswith("**invariance: INVARIANT")  # not "not checked"
