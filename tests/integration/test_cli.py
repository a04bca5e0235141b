"""The runner command in a subprocess against a temporary sqlite store, read back with MlflowClient."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def runs_in(uri: str, experiment: str = "runner"):
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment} in {uri}"
    return client, client.search_runs([exp.experiment_id], max_results=100)


def artifact_names(client, run_id, path=None):
    return {Path(a.path).name for a in client.list_artifacts(run_id, path)}


def test_default_run_lands_in_mlflow(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
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


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("padding.strategy=bogus", "padding.strategy"),
        ("model.nonexistent=1", "model.nonexistent"),
        ("runtime.batch_size=0", "runtime.batch_size"),
        ("model=bogus", "model"),
    ],
)
def test_bad_config_is_one_line(tmp_path, override, key):
    proc = run_cli(override, cwd=tmp_path)
    assert proc.returncode != 0
    lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and key in lines[0]
    assert "Traceback" not in proc.stderr


def test_failing_run_ends_failed_and_next_run_succeeds(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    proc = run_cli(f"tracking.uri={uri}", "dataset=csv_file", "dataset.path=missing.csv", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "dataset.path=missing.csv" in proc.stderr
    assert run_cli(f"tracking.uri={uri}", cwd=tmp_path).returncode == 0
    client, runs = runs_in(uri)
    statuses = sorted(r.info.status for r in runs)
    assert statuses == ["FAILED", "FINISHED"]
    failed = next(r for r in runs if r.info.status == "FAILED")
    assert "dataset.path=missing.csv" in failed.data.tags["error"]
    assert "traceback.txt" in artifact_names(client, failed.info.run_id, "error")


def test_sweep_parent_children_and_reuse(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    proc = run_cli(
        "-m",
        f"tracking.uri={uri}",
        "model=tiny_bert,tiny_roberta",
        "padding=longest,max_length",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tiny_roberta · max_length · sample" in proc.stdout  # the summary table
    client, runs = runs_in(uri)
    parents = [r for r in runs if r.data.tags.get("runner.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    names = {c.info.run_name for c in children}
    assert names == {
        f"{m} · {p} · sample" for m in ("tiny_bert", "tiny_roberta") for p in ("longest", "max_length")
    }
    by_job = {int(c.data.tags["sweep.job_num"]): c.data.tags for c in children}
    assert [by_job[i]["cache/model"] for i in range(4)] == ["miss", "hit", "miss", "hit"]
    assert all(t["sweep.id"] == parent.data.tags["sweep.id"] for t in by_job.values())
    assert "sweep_summary.json" in artifact_names(client, parent.info.run_id)
    assert "tiny_bert" in parent.data.tags["mlflow.note.content"]


def test_sweep_survives_a_bad_job(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    proc = run_cli("-m", f"tracking.uri={uri}", "dataset=sample,csv_file", cwd=tmp_path)
    assert proc.returncode != 0
    assert "FAILED" in proc.stdout and "FINISHED" in proc.stdout  # the table
    _, runs = runs_in(uri)
    children = {r.data.tags["choice.dataset"]: r for r in runs if r.data.tags.get("mlflow.parentRunId")}
    assert children["sample"].info.status == "FINISHED"
    assert children["csv_file"].info.status == "FAILED"
    assert "dataset.path=data.csv" in children["csv_file"].data.tags["error"]


def test_secrets_never_reach_the_store(tmp_path):
    secret = "hf_SuperSecretValue12345"
    uri = f"sqlite:///{tmp_path}/store/m.db"
    proc = run_cli(
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


def test_comparison_report_for_bert_vs_roberta(tmp_path):
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path}/m.db"
    assert run_cli(f"tracking.uri={uri}", "experiment=bert_vs_roberta", cwd=tmp_path).returncode == 0
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.compare",
            "--tracking-uri",
            uri,
            "--experiment",
            "bert_vs_roberta",
            "--out",
            str(tmp_path / "cmp"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tiny_bert · longest · sample_pairs" in proc.stdout  # the terminal table
    page = (tmp_path / "cmp" / "report.html").read_text(encoding="utf-8")
    assert "id='metrics'" in page and "tokens/fertility" in page
    assert "id='token-diff'" in page and "[CLS]" in page and "&lt;s&gt;" in page
    for name in ("token_lengths.png", "pad_fraction.png", "time_breakdown.png"):
        assert (tmp_path / "cmp" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    client, runs = runs_in(uri, "bert_vs_roberta")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert {r.data.tags["tokenizer.class"] for r in children} == {"BertTokenizer", "RobertaTokenizer"}
    assert {r.data.tags["tokenizer.returns_token_type_ids"] for r in children} == {"true", "false"}
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    logged = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {"report.html", "token_lengths.png"} <= logged
    assert "fertility" in client.get_run(parent.info.run_id).data.tags["mlflow.note.content"]


def test_fail_fast_stops_the_sweep_and_fails_the_parent(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    proc = run_cli(
        "-m", f"tracking.uri={uri}", "dataset=csv_file,sample", "sweep.fail_fast=true", cwd=tmp_path
    )
    assert proc.returncode != 0
    _, runs = runs_in(uri)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    assert [c.data.tags["choice.dataset"] for c in children] == ["csv_file"]  # sample never ran
    assert children[0].info.status == "FAILED"
    assert parent.info.status == "FAILED" and "fail_fast" in parent.data.tags["error"]


def test_skip_finished_skips_an_identical_config(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    assert run_cli(f"tracking.uri={uri}", "model=none", cwd=tmp_path).returncode == 0
    proc = run_cli(f"tracking.uri={uri}", "model=none", "sweep.skip_finished=true", cwd=tmp_path)
    assert proc.returncode == 0 and "skipped" in proc.stderr
    changed = run_cli(
        f"tracking.uri={uri}", "model=none", "padding=do_not_pad", "sweep.skip_finished=true", cwd=tmp_path
    )
    assert changed.returncode == 0 and "skipped" not in changed.stderr
    _, runs = runs_in(uri)
    assert len(runs) == 2


def test_secret_keyed_config_values_never_reach_the_store(tmp_path):
    """Values under token / password / secret / api_key keys are masked everywhere, even when the
    same value also appears elsewhere (here: in the text itself)."""
    api_key, password = "sk-live-abcdef123456", "correct-horse-battery"
    uri = f"sqlite:///{tmp_path}/store/m.db"
    proc = run_cli(
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


def test_udhr_sweep_puts_a_parity_heatmap_in_the_parents_report(tmp_path, fixtures):
    uri = f"sqlite:///{tmp_path}/m.db"
    hub = fixtures / "hub"
    proc = run_cli(
        "-m",
        f"tracking.uri={uri}",
        "model=none",
        "dataset=udhr_parallel",
        "tokenizer.truncation=false",
        f"tokenizer.name_or_path={hub / 'bert-base-uncased'},{hub / 'roberta-base'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    client, runs = runs_in(uri)
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(children) == 2 and all(c.data.metrics["parity/eng"] == 1.0 for c in children)
    logged = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {"parity_heatmap.png", "script_fertility.png", "report.html", "tokens.json"} <= logged
    page = Path(client.download_artifacts(parent.info.run_id, "comparison/report.html", str(tmp_path)))
    html = page.read_text(encoding="utf-8")
    assert "alt='parity_heatmap.png' src='data:image/png;base64," in html
    assert "[kor] #0" in html and "[tha] #0" in html  # examples per (column, index)


def test_a_failed_run_leaks_no_token_keyed_secret(tmp_path):
    """hf_token / use_auth_token under read_kwargs, in a run that FAILS (missing file)."""
    token, auth = "hf_LeakCheckToken98765", "auth-Value-4455667"
    uri = f"sqlite:///{tmp_path}/store/m.db"
    proc = run_cli(
        f"tracking.uri={uri}",
        "dataset=csv_file",
        f"dataset.path={tmp_path}/missing.csv",
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


def test_slurm_without_srun_names_the_launcher_and_closes_the_parent(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    proc = run_cli("-m", "hydra/launcher=slurm", "model=none", f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 1
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert (
        len(lines) == 1
        and lines[0].startswith("error: hydra/launcher=slurm")
        and "submitit_local" in lines[0]
    )
    _, runs = runs_in(uri)
    assert [(r.data.tags.get("runner.role"), r.info.status) for r in runs] == [("sweep", "FAILED")]


def test_an_unreachable_hub_fails_at_once_naming_hf_hub_offline(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens: as a machine without network
    started = time.time()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "model=bert_base_uncased",
            f"tracking.uri=sqlite:///{tmp_path}/m.db",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 1
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "cannot be reached" in lines[0] and "HF_HUB_OFFLINE=1" in lines[0], proc.stderr
    assert "retry" not in proc.stderr.lower()
    assert time.time() - started < 30


def test_load_times_do_not_depend_on_job_order(tmp_path):
    """The process warms up before the first job's timers (logged once as time/process_warmup_s
    on the parent), so the first model of a sweep no longer pays everyone's one-off costs."""
    loads = {}
    for order in ("tiny_bert,tiny_roberta", "tiny_roberta,tiny_bert"):
        uri = f"sqlite:///{tmp_path}/{order.replace(',', '-')}.db"
        proc = run_cli("-m", f"tracking.uri={uri}", f"model={order}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        _, runs = runs_in(uri)
        parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
        assert parent.data.metrics["time/process_warmup_s"] > 0  # logged once, on the parent
        for run in runs:
            if run.data.tags.get("mlflow.parentRunId"):
                assert run.data.tags["cache/model"] == "miss"
                loads[(order, run.data.tags["choice.model"])] = run.data.metrics["time/load_model_s"]
    assert len(loads) == 4
    for model in ("tiny_bert", "tiny_roberta"):
        first, second = loads[("tiny_bert,tiny_roberta", model)], loads[("tiny_roberta,tiny_bert", model)]
        assert abs(first - second) < 0.3, (model, first, second)  # was 1.7 s vs 0.02 s


def test_a_head_run_shows_accuracy_and_its_first_predictions(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    proc = run_cli(
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
