"""The Python API in one process: runs, a sweep, read back; errors raised, never an exit."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pytest

import runner
from tests.helpers.servers import runs_in


def test_two_runs_a_sweep_and_load_in_one_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    touched = []  # the caller's collector: neither paused nor frozen by the API
    for name in ("disable", "freeze"):
        monkeypatch.setattr(gc, name, lambda name=name: touched.append(name))
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 0)  # as in a fresh interpreter
    first = runner.run("model=none", "tokenizer=roberta_base")
    second = runner.run("model=none", "tokenizer=bert_base_uncased")
    sweep = runner.sweep("model=none", "padding=longest,max_length", "tokenizer.max_length=32")
    assert first.id != second.id and first.status == second.status == "FINISHED"
    assert first.tags["tokenizer.class"] != second.tags["tokenizer.class"]  # independent calls
    assert isinstance(sweep, runner.Sweep) and sweep.parent.status == "FINISHED"
    assert [c.name for c in sweep.children] == ["longest", "max_length"]
    loaded = [runner.load(x.id, uri) for x in (first, second, sweep)]
    assert isinstance(loaded[2], runner.Sweep) and loaded[2].id == sweep.id
    assert [type(x) for x in loaded[:2]] == [runner.Run, runner.Run]
    assert loaded[0].metrics == first.metrics and loaded[1].params == second.params
    _, runs = runs_in(uri)
    assert len(runs) == 5  # two runs, a parent and its two children
    assert touched == [] and gc.isenabled()


def test_tokens_is_the_runs_tokens_json(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    run = runner.run("model=none", "tokenizer=bert_base_uncased", "dataset=sample_pairs")
    client = MlflowClient(tracking_uri=run.tracking_uri)
    path = client.download_artifacts(run.id, "tokens.json", str(tmp_path))
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    assert list(run.tokens.columns) == table["columns"]
    assert len(run.tokens) == len(table["data"]) > 0
    assert run.tokens.to_dict("split")["data"] == table["data"]
    assert "token_type_ids" in run.tokens.columns  # BERT's pairs carry segment ids
    assert run.predictions is None and run.outputs is None  # no model


def test_outputs_are_the_bodys_mean_pooled_hidden_states(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tests.helpers.invoking import compose

    monkeypatch.chdir(tmp_path)
    run = runner.run("model=tiny_bert", "padding=longest")
    cfg = compose("model=tiny_bert")
    texts = list(cfg.dataset.texts)
    tok = AutoTokenizer.from_pretrained(cfg.model.name_or_path)
    model = AutoModel.from_pretrained(cfg.model.name_or_path).eval()
    with torch.no_grad():
        enc = tok(texts, padding=True, return_tensors="pt")
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    expected = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    assert isinstance(run.outputs, np.ndarray) and run.outputs.shape == expected.shape
    np.testing.assert_allclose(run.outputs, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("overrides", "key", "fix"),
    [
        (["padding=nope"], "padding", "longest"),  # a group option that does not exist
        (["model.nme=3"], "model.nme", "spelling"),  # a key that does not exist
        (["padding=max_length", "tokenizer.max_length=null"], "padding.strategy", "tokenizer.max_length"),
        (["experiment=bert_vs_roberta"], "hydra.mode", "runner.sweep"),  # a sweep given to run
        (["model.head=max_pool"], "model.head", "sequence_classification"),  # not in heads.HEADS
        (["dataset.source=gzip_lines"], "dataset.source", "parquet"),  # not in sources.SOURCES
    ],
)
def test_a_config_error_raises_and_opens_no_run(tmp_path, monkeypatch, overrides, key, fix):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(runner.RunnerError) as info:
        runner.run(*overrides)
    assert info.value.key == key and fix in info.value.fix, (info.value.key, info.value.fix)
    assert _all_runs(f"sqlite:///{tmp_path}/mlflow.db") == []


def _all_runs(uri: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_a_failed_run_raises_its_error_and_ends_failed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("other\nx\n", encoding="utf-8")  # no `text` column: fails loading
    with pytest.raises(runner.RunnerError) as info:
        runner.run("dataset=csv_file", f"dataset.path={tmp_path}/data.csv", "model=none")
    assert info.value.key.startswith("dataset.text_column")
    _, runs = runs_in(f"sqlite:///{tmp_path}/mlflow.db")
    assert [r.info.status for r in runs] == ["FAILED"]


def test_a_missing_data_file_raises_before_any_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(runner.RunnerError) as info:
        runner.run("dataset=csv_file", f"dataset.path={tmp_path}/missing.csv", "model=none")
    assert info.value.key == f"dataset.path={tmp_path}/missing.csv" and "no such file" in info.value.problem
    assert _all_runs(f"sqlite:///{tmp_path}/mlflow.db") == []  # failed before any run opened


def test_load_reads_a_run_the_command_made(tmp_path):
    from tests.helpers.invoking import invoke

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke("model=none", "dataset=sample_pairs", f"tracking.uri={uri}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _, (made,) = runs_in(uri)
    loaded = runner.load(made.info.run_id, uri)
    assert isinstance(loaded, runner.Run) and loaded.name == made.info.run_name
    assert loaded.metrics == made.data.metrics and len(loaded.tokens) == 5
    assert loaded.url.endswith(f"/runs/{made.info.run_id}?workflowType=machine_learning")


def test_skip_finished_gives_back_the_finished_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = runner.run("model=none", "sweep.skip_finished=true")
    again = runner.run("model=none", "sweep.skip_finished=true")
    assert again.id == first.id and again.status == "FINISHED"
    assert len(_all_runs(f"sqlite:///{tmp_path}/mlflow.db")) == 1


def test_a_tokenization_only_run_logs_the_tokenizer_it_used_not_a_model():
    run = runner.run("model=none", "tokenizer=roberta_base")
    assert run.params["model.forward"] == "False"
    assert not [k for k in run.params if k.startswith("model.") and k != "model.forward"]
    assert run.params["tokenizer.name_or_path"].endswith("roberta-base")
