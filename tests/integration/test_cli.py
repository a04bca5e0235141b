"""The runner command in a subprocess against a temporary sqlite store, read back with MlflowClient."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.invoking import invoke, run_cli
from tests.helpers.servers import artifact_names, runs_in


def test_a_reader_that_goes_away_stops_no_run(tmp_path):
    """`runner -m … | head -1`: the reader closes the pipe before the first line; the sweep goes
    on, every run and its parent end FINISHED, and nothing but the unread lines is lost."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["-m", "model=none", "padding=longest,max_length", f"tracking.uri={uri}"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # type: ignore[union-attr]
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert proc.wait(timeout=240) == 0, err
    assert "error" not in err.lower() and "Traceback" not in err
    _, runs = runs_in(uri)
    assert len(runs) == 3
    assert [r.data.tags.get("runner.role") for r in runs].count("sweep") == 1  # the parent and its 2 jobs
    assert [r.info.status for r in runs] == ["FINISHED"] * 3


def test_a_crash_at_the_sweeps_end_ends_its_parent_failed(tmp_path, monkeypatch):
    from runner import console

    def broken(*args, **kwargs):
        raise RuntimeError("the summary table broke")

    monkeypatch.setattr(console, "table", broken)
    proc = invoke("-m", "model=none", "padding=longest,max_length", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "the summary table broke" in proc.stderr
    _, runs = runs_in(f"sqlite:///{tmp_path}/mlflow.db")
    assert len(runs) == 3
    statuses = {r.data.tags.get("runner.role", "job"): r.info.status for r in runs}
    assert statuses == {"sweep": "FAILED", "job": "FINISHED"}  # not left RUNNING


def test_default_run_lands_in_mlflow(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_cli(f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "FINISHED" in proc.stdout and f"mlflow ui --backend-store-uri {uri}" in proc.stdout
    assert " → " not in proc.stdout  # a body has no predictions to show
    client, runs = runs_in(uri)
    assert len(runs) == 1
    run = runs[0]
    assert f"/runs/{run.info.run_id}?workflowType=machine_learning" in proc.stdout
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "tiny_bert · longest · sample"
    params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
    assert params["padding.strategy"] == "longest" and params["runtime.batch_size"] == "32"
    assert tags["choice.model"] == "tiny_bert" and tags["choice.padding"] == "longest"
    assert "version.transformers" in tags and "version.torch" in tags
    assert tags["tokenizer.class"] == "BertTokenizer" and tags["model.model_type"] == "bert"
    for key in (
        "time/load_tokenizer_s",
        "time/load_model_s",
        "time/tokenize_s",
        "time/forward_s",
        "time/total_s",
        "throughput/samples_per_s",
        "tokens/total",
        "tokens/fertility",
        "data/rows",
    ):
        assert key in metrics, key
    assert metrics["data/rows"] == 10
    assert {
        "config.yaml",
        "tokens.json",
        "shapes.json",
        "predictions.json",
        "outputs.npy",
        "token_hashes.npy",
        "model_config.json",
    } <= artifact_names(client, run.info.run_id)
    table = json.loads(
        Path(client.download_artifacts(run.info.run_id, "tokens.json", str(tmp_path))).read_text(
            encoding="utf-8"
        )
    )
    assert {"text", "input_ids", "tokens", "attention_mask", "token_type_ids"} <= set(table["columns"])
    assert len(table["data"]) == 10
    inputs = run.inputs.dataset_inputs
    assert inputs and inputs[0].dataset.digest and "text" in inputs[0].dataset.schema


def test_python_m_runner_from_another_directory_uses_its_outputs(tmp_path):
    proc = run_cli("model=none", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": ""})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "outputs" / "mlflow.db").exists()
    assert list((tmp_path / "outputs" / "runs").glob("*/*"))
    _, runs = runs_in(f"sqlite:///{tmp_path}/outputs/mlflow.db")
    assert runs[0].info.status == "FINISHED" and "time/forward_s" in runs[0].data.metrics


# one error of the schema and one of Hydra through the real process (exit code 2); the whole
# bad-input matrix runs in-process in test_bad_input.py
@pytest.mark.parametrize(
    ("override", "key"), [("model.nonexistent=1", "model.nonexistent"), ("model=bogus", "model")]
)
def test_bad_config_is_one_line(tmp_path, override, key):
    proc = run_cli(override, cwd=tmp_path)
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and key in lines[0]
    assert "Traceback" not in proc.stderr


def test_failing_run_ends_failed_and_next_run_succeeds(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    (tmp_path / "data.csv").write_text("other\nx\n", encoding="utf-8")  # no `text` column
    proc = invoke(f"tracking.uri={uri}", "dataset=csv_file", "dataset.path=data.csv", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "dataset.text_column" in proc.stderr
    assert invoke(f"tracking.uri={uri}", cwd=tmp_path).returncode == 0
    client, runs = runs_in(uri)
    statuses = sorted(r.info.status for r in runs)
    assert statuses == ["FAILED", "FINISHED"]
    failed = next(r for r in runs if r.info.status == "FAILED")
    assert "dataset.text_column" in failed.data.tags["error"]
    assert "traceback.txt" in artifact_names(client, failed.info.run_id, "error")


def test_secrets_never_reach_the_store(tmp_path):
    secret = "hf_SuperSecretValue12345"
    uri = f"sqlite:///{tmp_path}/store/m.db"
    proc = invoke(
        f"tracking.uri={uri}",
        f'dataset.texts=["my token is {secret}"]',
        cwd=tmp_path,
        env={"HF_TOKEN": secret, "MLFLOW_TRACKING_PASSWORD": "pw-secret-987"},
    )
    assert proc.returncode == 0, proc.stderr
    hits = [
        p
        for p in (tmp_path / "store").rglob("*")
        if p.is_file() and (secret.encode() in p.read_bytes() or b"pw-secret-987" in p.read_bytes())
    ]
    assert hits == []


def test_secret_keyed_config_values_never_reach_the_store(tmp_path):
    """Values under token / password / secret / api_key keys are masked everywhere, even when the
    same value also appears elsewhere (here: in the text itself)."""
    api_key, password = "sk-live-abcdef123456", "correct-horse-battery"
    uri = f"sqlite:///{tmp_path}/store/m.db"
    proc = invoke(
        f"tracking.uri={uri}",
        f"+dataset.read_kwargs.api_key={api_key}",
        f"+dataset.read_kwargs.storage.password={password}",
        f'dataset.texts=["the key {api_key} leaked into the text"]',
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert any(p.name == "config.yaml" for p in files)
    hits = [p for p in files if api_key.encode() in p.read_bytes() or password.encode() in p.read_bytes()]
    assert hits == []
    _, runs = runs_in(uri)
    assert runs[0].data.params["dataset.read_kwargs.api_key"] == "***"


def test_a_failed_run_leaks_no_token_keyed_secret(tmp_path):
    """hf_token / use_auth_token under read_kwargs, in a run that FAILS (a column it lacks)."""
    token, auth = "hf_LeakCheckToken98765", "auth-Value-4455667"
    uri = f"sqlite:///{tmp_path}/store/m.db"
    (tmp_path / "data.csv").write_text("other\nx\n", encoding="utf-8")
    proc = invoke(
        f"tracking.uri={uri}",
        "dataset=csv_file",
        f"dataset.path={tmp_path}/data.csv",
        f"+dataset.read_kwargs.storage_options.hf_token={token}",
        f"+dataset.read_kwargs.use_auth_token={auth}",
        "+dataset.read_kwargs.token_id=7",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    _, runs = runs_in(uri)
    assert [r.info.status for r in runs] == ["FAILED"]
    files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert any(p.name == "config.yaml" for p in files)
    assert [p for p in files if token.encode() in p.read_bytes() or auth.encode() in p.read_bytes()] == []
    assert token not in proc.stdout + proc.stderr
    assert runs[0].data.params["dataset.read_kwargs.token_id"] == "7"  # harmless keys stay readable


def _timed_hub_run(tmp_path, env: dict[str, str], name: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "model=bert_base_uncased",
            f"tracking.uri=sqlite:///{tmp_path}/{name}.db",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return proc, time.perf_counter() - started


def test_an_unreachable_hub_fails_at_once_naming_hf_hub_offline(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens: as a machine without network
    proc, elapsed = _timed_hub_run(tmp_path, env, "unreachable")
    assert proc.returncode == 1
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "cannot be reached" in lines[0] and "HF_HUB_OFFLINE=1" in lines[0], proc.stderr
    assert "retry" not in proc.stderr.lower()
    # "at once": no slower than the same run offline (which never tries the network) plus the 3 s
    # probe and some slack — measured here, on this machine's load, rather than as a fixed time
    offline, baseline = _timed_hub_run(tmp_path, {**env, "HF_HUB_OFFLINE": "1"}, "offline")
    assert offline.returncode == 1 and "HF_HUB_OFFLINE is set" in offline.stderr
    assert elapsed < 1.5 * baseline + 10, (elapsed, baseline)


def test_a_head_run_shows_accuracy_and_its_first_predictions(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke(
        f"tracking.uri={uri}",
        "model=tiny_classifier",
        "+dataset.columns={text:[great,awful,fine],label:[positive,negative,positive]}",
        "dataset.label_column=label",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "predict/accuracy=" in proc.stdout
    shown = [line for line in proc.stdout.splitlines() if " → " in line]
    assert len(shown) == 3 and shown[0].strip().startswith("great → ") and "(" in shown[0]


def test_help_introduces_the_runner(tmp_path):
    proc = invoke("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("runner — declarative experiments on Hugging Face tokenizers")
    assert "powered by Hydra" not in proc.stdout and "experiment=bert_vs_roberta" in proc.stdout
    assert "== Configuration groups ==" in proc.stdout  # Hydra's own listing follows
