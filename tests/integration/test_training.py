"""tokenizer.train in whole runs (the Python API, in-process): held-out evaluation with no
leakage, the trained files as an artifact that `runs:/` loads back to the same ids — in this
process and in another — a sweep that trains once, and the report's curves over vocab_size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import runner
from tests.helpers.texts import direct_bpe, sentences

TRAIN = ("model=none", "tokenizer=train", "tokenizer.train.dataset.limit=1500")


def test_held_out_part_is_evaluated_and_never_trained_on():
    run = runner.run(
        "model=none",
        "tokenizer=train",
        "tokenizer.train.algorithm=bpe",
        "tokenizer.train.vocab_size=2000",
        "tokenizer.train.dataset=null",
        "dataset=klue_ner",
        "dataset.limit=600",
        "tokenizer.train.holdout=0.25",
        "tracking.max_logged_examples=1000",
    )
    texts = sentences(600)
    order = np.random.default_rng(0).permutation(600)  # runtime.seed=0, drawn here again
    held = sorted(order[:150].tolist())
    assert run.tokens["text"].tolist() == [texts[i] for i in held]
    assert run.metrics["data/rows"] == 150 and run.metrics["train/overlap"] == 0
    trained_on = [texts[i] for i in sorted(order[150:].tolist()) if texts[i] not in {texts[j] for j in held}]
    assert run.metrics["train/texts"] == len(trained_on)
    assert run.metrics["train/chars"] == sum(map(len, trained_on))
    direct = direct_bpe(trained_on, 2000)  # the library on the same texts, called here
    assert run.tokenizer.get_vocab() == direct.get_vocab()
    assert run.tags["tokenizer.train.vocab_size_reached"] == "2000"
    assert run.tags["tokenizer.train.deterministic"] == "true"
    inputs = run._mlflow.inputs.dataset_inputs
    contexts = {i.dataset.name: i.tags[0].value for i in inputs}
    assert contexts == {
        "klue-ner-v1.1_dev.sentences.jsonl": "inference",
        "klue-ner-v1.1_dev.sentences.jsonl (training part)": "training",
    }


def test_evaluation_texts_are_dropped_from_another_training_set_unless_allowed():
    common = (*TRAIN, "tokenizer.train.algorithm=bpe", "tokenizer.train.vocab_size=2000")
    evaluation = ("dataset=klue_ner", "dataset.limit=100")
    kept_apart = runner.run(*common, *evaluation)
    assert kept_apart.metrics["train/overlap"] == 0
    assert kept_apart.metrics["train/dropped_overlap"] == 100  # the first 100 of the same file
    assert kept_apart.metrics["train/texts"] == 1400
    leaked = runner.run(*common, *evaluation, "tokenizer.train.allow_overlap=true")
    assert leaked.metrics["train/overlap"] == 100 and leaked.metrics["train/texts"] == 1500


def test_runs_uri_loads_the_same_tokenizer_here_and_in_another_process(tmp_path, monkeypatch):
    trained = runner.run(*TRAIN, "tokenizer.train.algorithm=unigram", "tokenizer.train.vocab_size=3000")
    assert trained.tags["tokenizer.train.deterministic"] == "false"
    assert trained.metrics["time/train_tokenizer_s"] > 0
    source = f"tokenizer.name_or_path=runs:/{trained.id}/tokenizer"
    again = runner.run("model=none", source)
    assert len(again.tokens) == len(trained.tokens) == 10
    assert again.tokens["input_ids"].tolist() == trained.tokens["input_ids"].tolist()
    assert again.tags["tokenizer.vocab_size"] == trained.tags["tokenizer.vocab_size"]
    uri = trained.tracking_uri
    proc = subprocess.run(  # another process: the installed command, the same store
        [
            sys.executable,
            "-m",
            "runner",
            "model=none",
            source,
            f"tracking.uri={uri}",
            "tracking.run_name=elsewhere",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    other = next(r for r in _runs(uri) if r.info.run_name == "elsewhere")
    ids = runner.load(other.info.run_id, uri).tokens["input_ids"].tolist()
    assert ids == trained.tokens["input_ids"].tolist()


def test_a_missing_run_is_one_line():
    with pytest.raises(runner.RunnerError) as info:
        runner.run("model=none", "tokenizer.name_or_path=runs:/0123456789abcdef0123456789abcdef/tokenizer")
    assert info.value.key.startswith("tokenizer.name_or_path=runs:/")


def test_a_sweep_trains_each_config_once():
    sweep = runner.sweep(*TRAIN, "tokenizer.train.algorithm=bpe", "padding=longest,do_not_pad")
    tags = [c.tags for c in sweep.children]
    assert [t["cache/tokenizer"] for t in tags] == ["miss", "hit"]
    assert len({t["tokenizer.train.vocab_hash"] for t in tags}) == 1


def test_a_trained_tokenizer_needs_model_none():
    with pytest.raises(runner.RunnerError) as info:
        runner.run("tokenizer=train")
    assert info.value.key == "tokenizer.train" and "model=none" in info.value.fix


def _runs(uri: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


README_EXAMPLE = "runner experiment=vocab_size"  # run here as written (tests/integration/test_readme.py)


def test_the_vocab_size_experiment_trains_each_combination_once_and_draws_curves(tmp_path):
    """The README's line as written: 3 algorithms × 3 sizes on held-out KLUE NER, each trained
    once with no evaluation text in training; the report carries the curves over vocab_size."""
    import shlex

    from mlflow import MlflowClient

    from tests.helpers.invoking import invoke

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke(*shlex.split(README_EXAMPLE)[1:], cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 0, proc.stderr[-2000:]
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("vocab_size").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 9 and all(c.info.status == "FINISHED" for c in children)
    grid = {
        (c.data.params["tokenizer.train.algorithm"], c.data.params["tokenizer.train.vocab_size"])
        for c in children
    }
    assert len(grid) == 9
    assert all(c.data.tags["cache/tokenizer"] == "miss" for c in children)  # 9 configs, 9 trainings
    assert {c.data.metrics["train/overlap"] for c in children} == {0.0}
    assert {c.data.metrics["data/rows"] for c in children} == {500.0}  # the held-out fifth
    assert {c.data.metrics["train/texts"] for c in children} == {2000.0}
    for c in children:
        assert int(c.data.tags["tokenizer.train.vocab_size_reached"]) <= int(
            c.data.params["tokenizer.train.vocab_size"]
        )
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert "comparison/curves_vocab_size.png" in logged
    page = Path(client.download_artifacts(parent.info.run_id, "comparison/report.html", str(tmp_path)))
    assert "alt='curves_vocab_size.png'" in page.read_text(encoding="utf-8")
    assert "invariance: not applicable" in proc.stdout  # nine tokenizers: nothing to hold equal


def test_morpheme_bpe_in_a_run_shows_only_the_texts_characters_and_reloads_with_its_cut(tmp_path):
    """tokenizer=klue_morpheme_bpe: its pieces and covers refer to the original text, its files
    carry the cut (a marker beside tokenizer.json) back into `runs:/` and `Run.tokenizer`."""
    from collections import Counter

    from transformers import AutoTokenizer

    trained = runner.run(
        "model=none",
        "tokenizer=klue_morpheme_bpe",
        "tokenizer.train.dataset.limit=1500",
        "tokenizer.train.vocab_size=3000",
        "dataset=klue_ner",
        "dataset.limit=60",
        "tracking.max_logged_examples=60",
        "stats.morphemes=kiwi",
    )
    rows = trained.tokens.to_dict("records")
    assert len(rows) == 60 and trained.metrics["train/overlap"] == 0
    for row in rows:
        content = [p for p, s in zip(row["pieces"], row["span"], strict=True) if s is not None]
        shown, text = Counter("".join(content)), Counter(row["text"])
        assert all(shown[c] <= n for c, n in text.items()), row["text"]
        assert "".join(c for c in row["covers"] if c) == row["text"]  # every character, once
    assert trained.metrics["morph/boundary_recall"] == 1.0  # it cuts wherever Kiwi does
    assert trained.metrics["morph/boundary_precision"] < 1.0  # and where BPE does besides
    source = f"tokenizer.name_or_path=runs:/{trained.id}/tokenizer"
    again = runner.run(
        "model=none", source, "dataset=klue_ner", "dataset.limit=60", "tracking.max_logged_examples=60"
    )
    assert again.tokens["input_ids"].tolist() == trained.tokens["input_ids"].tolist()
    texts = trained.tokens["text"].tolist()
    tok = trained.tokenizer
    unpadded = [[i for i in ids if i != tok.pad_token_id] for ids in trained.tokens["input_ids"]]
    assert tok(texts)["input_ids"] == unpadded
    folder = trained._client.download_artifacts(trained.id, "tokenizer", str(tmp_path))
    plain = AutoTokenizer.from_pretrained(folder)  # the files alone: metaspace, no cut
    assert plain(texts)["input_ids"] != tok(texts)["input_ids"]
