"""Ray, really started, in one file (so that no other test's `ray stop` meets a Ray instance of
this one's):

- Hydra's Ray launcher against a real local Ray cluster (`ray start --head` on 127.0.0.1) and a
  real `mlflow server`: each job runs in a Ray worker — a process started by the cluster, not by
  the runner, so it inherits none of the sweep's environment — in its own working directory, and
  still nests under the one parent with every metric and artifact.
- execution=ray against execution=local on the same shards, on a local Ray instance the run
  starts and stops: every statistic equal (integers exactly, floats to 1e-9), the same logged
  examples with the same ids, the same token hashes and data digest, and at least two workers
  that did work. Its refusals (one line, exit 2, no run) are in test_bad_input's matrix."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runner.engine import pipeline
from tests.helpers.invoking import compose, run_cli
from tests.helpers.paths import HUB, ROOT
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


KLUE_NER = ROOT / "runner" / "assets" / "klue-ner" / "klue-ner-v1.1_dev.sentences.jsonl"
SHARDS = 8


def write_shards(folder, rows: int) -> None:
    """`rows` distinct Korean rows from the 5,000 KLUE NER sentences (two joined per row), in
    SHARDS jsonl files."""
    sentences = [json.loads(line)["sentence"] for line in KLUE_NER.read_text(encoding="utf-8").splitlines()]
    n = len(sentences)
    texts = [f"{sentences[i % n]} {sentences[(i // n + 7 * i) % n]}" for i in range(rows)]
    size = -(-rows // SHARDS)
    folder.mkdir()
    for k in range(SHARDS):
        part = texts[k * size : (k + 1) * size]
        lines = (json.dumps({"sentence": t}, ensure_ascii=False) for t in part)
        (folder / f"shard_{k}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(folder, *extra: str):
    cfg = compose(
        "model=none", f"tokenizer.name_or_path={HUB / 'bert-base-uncased'}", "dataset=json_file",
        f"dataset.path={folder}", "dataset.text_column=sentence", *extra,
    )  # fmt: skip
    return pipeline.run(cfg)


def assert_equal_runs(local, ray) -> None:
    measured = {k for k in local.metrics if not k.startswith(("time/", "throughput/"))}
    assert len(measured) > 20
    assert measured == {k for k in ray.metrics if not k.startswith(("time/", "throughput/"))}
    for key in sorted(measured):
        a, b = local.metrics[key], ray.metrics[key]
        if float(a).is_integer():
            assert a == b, key
        else:
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (key, a, b)
    assert ray.tags["data.digest"] == local.tags["data.digest"]
    assert len(ray.token_rows) == len(local.token_rows) > 0
    for mine, theirs in zip(local.token_rows, ray.token_rows, strict=True):
        assert mine == theirs
    assert ray.token_hashes is not None and local.token_hashes is not None
    assert len(ray.token_hashes) == len(local.token_hashes) and np.array_equal(
        ray.token_hashes, local.token_hashes
    )
    assert local.tags["execution.engine"] == "local" and local.tags["execution.workers"] == "1"
    assert ray.tags["execution.engine"] == "ray"
    assert int(ray.tags["execution.workers"]) >= 2


def test_ray_and_local_log_the_same_statistics_over_120000_rows_in_8_shards(tmp_path):
    write_shards(tmp_path / "shards", 120_000)
    local = run(tmp_path / "shards")
    ray = run(tmp_path / "shards", "execution=ray", "execution.batch_size=8192")
    assert local.metrics["data/rows"] == ray.metrics["data/rows"] == 120_000
    assert_equal_runs(local, ray)
    # the ray run's rows were read and digested by a Ray task, not by the driver
    assert local.texts.digest is None and ray.texts.digest is not None
    assert ray.texts.digest[:16] == ray.tags["data.digest"] == local.tags["data.digest"]


def test_ray_merges_the_morpheme_statistic_exactly(tmp_path):
    pytest.importorskip("kiwipiepy")
    write_shards(tmp_path / "shards", 6_000)
    extra = ("stats.morphemes=kiwi", "runtime.sort_by_length=false")  # blocks of whole batches
    local = run(tmp_path / "shards", *extra)
    ray = run(tmp_path / "shards", *extra, "execution=ray", "execution.batch_size=500")
    assert local.metrics["morph/boundaries"] > 10_000
    assert_equal_runs(local, ray)
    assert [r["morphemes"] for r in ray.token_rows] == [r["morphemes"] for r in local.token_rows]


def _workers() -> list:
    import psutil

    return [p for p in psutil.process_iter(["cmdline"]) if "MapWorker" in " ".join(p.info["cmdline"] or [])]


def test_a_worker_killed_mid_run_is_replaced_and_the_run_equals_an_undisturbed_one(tmp_path):
    """SIGKILL to one actor process while blocks are in flight: Ray restarts the actor and
    retries its block; every statistic still equals the local run's."""
    import signal
    import threading
    import time

    write_shards(tmp_path / "shards", 60_000)
    local = run(tmp_path / "shards")
    outcome: dict[str, object] = {}

    def ray_run() -> None:
        outcome["result"] = run(tmp_path / "shards", "execution=ray", "execution.batch_size=4096")

    thread = threading.Thread(target=ray_run)
    thread.start()
    deadline, killed = time.monotonic() + 120, None
    while killed is None and thread.is_alive() and time.monotonic() < deadline:
        busy = [p for p in _workers() if p.cpu_percent(interval=0.2) > 20]
        if busy:
            killed = busy[0].pid
            busy[0].send_signal(signal.SIGKILL)
        time.sleep(0.2)
    thread.join(timeout=300)
    assert killed is not None, "no busy worker was found to kill"
    ray = outcome["result"]
    assert_equal_runs(local, ray)


def test_a_statistic_without_merge_refuses_ray_naming_it(tmp_path, monkeypatch):
    from runner.errors import ConfigError
    from runner.tokenization import statistics

    class Plain(statistics.BaseStatistic):
        def update(self, batch, keep):
            pass

        def metrics(self):
            return {}

    monkeypatch.setitem(statistics.STATISTICS, "plain", lambda context: Plain())
    write_shards(tmp_path / "shards", 100)
    with pytest.raises(ConfigError) as info:
        run(tmp_path / "shards", "execution=ray")
    assert info.value.key == "stats.plain" and "merge" in info.value.problem


def test_the_bag_of_tokens_probe_reads_the_features_the_workers_made(tmp_path):
    """probe=bag_of_tokens under execution=ray: each worker collects its blocks' token counts,
    the driver merges them and fits the probe — the same accuracy, folds and interval as local."""
    common = (
        "model=none", f"tokenizer.name_or_path={HUB / 'bert-base-uncased'}", "dataset=klue_nli_genre",
        "probe=bag_of_tokens", "runtime.sort_by_length=false",
    )  # fmt: skip
    local = pipeline.run(compose(*common))
    ray = pipeline.run(compose(*common, "execution=ray", "execution.batch_size=256"))
    probed = sorted(k for k in local.metrics if k.startswith("probe/"))
    assert len(probed) >= 8 and probed == sorted(k for k in ray.metrics if k.startswith("probe/"))
    for key in probed:
        assert ray.metrics[key] == local.metrics[key], key
    assert ray.probe == local.probe and ray.tags["execution.engine"] == "ray"


def test_the_model_runs_in_the_workers_and_writes_its_outputs_as_parquet_shards(tmp_path):
    """model=tiny_classifier under execution=ray: each worker runs its blocks' forward; the
    predictions rows, accuracy, per-batch shapes and every example's logits equal local, and
    the logits are one Parquet shard per block, never gathered on the driver."""
    from runner.model import outputs as model_outputs

    rows = 3_000
    sentences = [json.loads(line)["sentence"] for line in KLUE_NER.read_text(encoding="utf-8").splitlines()]
    labels = ("negative", "neutral", "positive")
    lines = (
        json.dumps({"sentence": sentences[i], "label": labels[i % 3]}, ensure_ascii=False)
        for i in range(rows)
    )
    (tmp_path / "rows.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    common = (
        "model=tiny_classifier", "dataset=json_file", f"dataset.path={tmp_path / 'rows.jsonl'}",
        "dataset.text_column=sentence", "dataset.label_column=label", "runtime.sort_by_length=false",
    )  # fmt: skip
    local = pipeline.run(compose(*common))
    ray = pipeline.run(compose(*common, "execution=ray", "execution.batch_size=512"))
    assert_equal_runs(local, ray)
    assert 0 < local.metrics["predict/accuracy"] < 1
    assert len(ray.prediction_rows) == len(local.prediction_rows) == 100
    assert ray.prediction_rows == local.prediction_rows and ray.shapes == local.shapes
    assert ray.outputs is not None and ray.outputs.is_dir()
    shards = sorted(p.name for p in ray.outputs.iterdir())
    assert shards == [f"part-{s:012d}.parquet" for s in range(0, rows, 512)]  # one per block
    (values, offsets), (want, want_offsets) = (
        model_outputs.load(ray.outputs),
        model_outputs.load(local.outputs),
    )
    assert values.shape == want.shape == (rows, 3) and np.array_equal(offsets, want_offsets)
    np.testing.assert_allclose(values, want, rtol=0, atol=1e-6)


def test_the_embedding_probe_reads_the_shards_the_workers_logged(tmp_path, monkeypatch):
    """probe=embedding with a body under execution=ray, through runner.run and a real store: the
    workers write their shards in execution.output_dir, the run logs them under outputs/,
    Run.outputs reads them as local's outputs.npy, and the probe over them scores what the local
    probe scores."""
    from mlflow import MlflowClient

    import runner

    monkeypatch.chdir(tmp_path)
    common = ("model=tiny_bert", "dataset=klue_nli_genre", "probe=embedding", "runtime.sort_by_length=false")
    local = runner.run(*common)
    shared = tmp_path / "shared"  # execution.output_dir: where a cluster's nodes all write
    ray = runner.run(*common, "execution=ray", "execution.batch_size=256", f"execution.output_dir={shared}")
    assert ray.tags["execution.engine"] == "ray" and int(ray.tags["execution.workers"]) >= 2
    written = sorted(p.name for p in shared.glob("runner-outputs-*/part-*.parquet"))
    logged = MlflowClient(ray.tracking_uri).list_artifacts(ray.id, "outputs")
    assert len(written) >= 2 and written == sorted(Path(a.path).name for a in logged)
    assert isinstance(ray.outputs, np.ndarray) and isinstance(local.outputs, np.ndarray)
    assert ray.outputs.shape == local.outputs.shape and ray.outputs.shape[0] == local.metrics["data/rows"]
    np.testing.assert_allclose(ray.outputs, local.outputs, rtol=0, atol=1e-6)
    probed = sorted(k for k in local.metrics if k.startswith("probe/"))
    assert len(probed) >= 8 and probed == sorted(k for k in ray.metrics if k.startswith("probe/"))
    for key in probed:
        assert math.isclose(ray.metrics[key], local.metrics[key], abs_tol=1e-9), key


def test_a_workers_runner_error_reaches_the_driver_as_itself():
    """A token id past the model's vocabulary is found in a worker's forward: the run fails
    with the one line a local run gives (a ModelError naming the key), not Ray's traceback."""
    from runner.errors import ModelError

    common = (
        "model=tiny_bert",
        f"tokenizer.name_or_path={HUB / 'bert-base-uncased'}",
        "tokenizer.max_length=64",
    )
    with pytest.raises(ModelError) as local:
        pipeline.run(compose(*common))
    with pytest.raises(ModelError) as ray:
        pipeline.run(compose(*common, "execution=ray"))
    assert str(ray.value) == str(local.value) and ray.value.key == "tokenizer.name_or_path"
