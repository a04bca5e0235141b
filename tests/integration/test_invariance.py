"""Does padding change the answer? experiment=invariance on real runner processes, with one
child's difference recomputed directly with transformers."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from transformers import AutoModel, AutoTokenizer

from runner.model import tiny
from tests.helpers.invoking import invoke

SAMPLE = [  # conf/dataset/sample.yaml
    "Hello, my dog is cute.",
    "Tokenizers split unbelievably long words into subword units.",
    "BERT uses WordPiece while RoBERTa uses byte-level BPE.",
    "The attention mask tells the model which positions are padding.",
    "Seoul is the capital of South Korea.",
    "오늘 날씨가 정말 좋네요.",
    "저는 자연어 처리를 공부하고 있습니다.",
    "토크나이저는 문장을 작은 단위로 나눕니다.",
    "서울은 대한민국의 수도입니다.",
    "한국어 문장과 영어 문장을 함께 비교해 봅시다.",
]


def sweep(tmp_path, *args):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = invoke("-m", f"tracking.uri={uri}", *args, cwd=tmp_path, timeout=600)
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=500)
    parent = next(r for r in runs if r.data.tags.get("runner.role") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return proc, client, parent, children


def shifted(child) -> bool:
    """Left padding actually happened: a padded batch holding examples of different lengths."""
    p = child.data.params
    if p["padding.side"] != "left" or p["padding.strategy"] == "do_not_pad":
        return False
    return p["padding.strategy"] == "max_length" or p["runtime.batch_size"] != "1"


def mean_pooled(model, tok, texts, side):
    tok.padding_side = side
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy()


# The README's example, run here as written (test_readme leaves it to this file and checks that
# the two lines match): its 24 children are checked below, and recomputed for one of them.
README_EXAMPLE = "runner experiment=invariance model=tiny_bert"


def test_the_readme_example_finds_bert_shifting_with_left_padding(tmp_path):
    proc, client, parent, children = sweep(tmp_path, *shlex.split(README_EXAMPLE)[1:])
    assert len(children) == 24 and all(c.info.status == "FINISHED" for c in children)
    assert proc.returncode == 0, proc.stderr[-2000:]  # reported, not failed: invariance.fail is off
    assert "invariance: NOT INVARIANT" in proc.stdout
    compared = [c for c in children if "invariance/max_abs_diff" in c.data.metrics]
    assert len(compared) == 23  # all but the reference (do_not_pad, batch size 1)
    left = [c for c in compared if shifted(c)]
    assert len(left) == 6  # longest at batch 32, max_length at both sizes; sorted or not
    for child in compared:
        diff = child.data.metrics["invariance/max_abs_diff"]
        assert (diff > 1e-3) if child in left else (diff < 1e-4), (child.info.run_name, diff)
    assert "padding.side=left" in proc.stderr + proc.stdout  # the warning names the key
    # One child recomputed directly: longest, left, batch 32 (all ten texts in one batch).
    child = next(
        c
        for c in left
        if c.data.params["padding.strategy"] == "longest" and c.data.params["runtime.batch_size"] == "32"
    )
    path = tiny.ensure("bert")
    model, tok = AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    alone = np.concatenate([mean_pooled(model, tok, [t], "right") for t in SAMPLE])
    together = mean_pooled(model, tok, SAMPLE, "left")
    expected = float(np.abs(alone.astype(np.float64) - together).max())
    assert child.data.metrics["invariance/max_abs_diff"] == pytest.approx(expected, abs=1e-5)
    logged = np.load(client.download_artifacts(child.info.run_id, "outputs.npy", str(tmp_path)))
    assert logged.shape == (10, alone.shape[1]) and np.allclose(logged, together, atol=1e-5)
    table = client.download_artifacts(parent.info.run_id, "invariance/report.json", str(tmp_path))
    report = json.loads(Path(table).read_text(encoding="utf-8"))
    rows = [dict(zip(report["columns"], r, strict=True)) for r in report["data"]]
    assert len(rows) == 24 and sum(r["status"] == "reference" for r in rows) == 1
    assert parent.data.metrics["invariance/max_abs_diff"] == max(
        c.data.metrics["invariance/max_abs_diff"] for c in compared
    )
    assert "NOT INVARIANT" in parent.data.tags["mlflow.note.content"]


def test_the_gate_fails_a_sweep_that_is_not_invariant(tmp_path):
    """invariance.fail=true: the reference and three left-padded runs, one of them shifted."""
    proc, _, parent, children = sweep(
        tmp_path, "experiment=invariance", "model=tiny_bert", "invariance.fail=true",
        "padding=do_not_pad,longest", "padding.side=left", "runtime.batch_size=1,32",
        "runtime.sort_by_length=false",
    )  # fmt: skip
    assert len(children) == 4 and all(c.info.status == "FINISHED" for c in children)
    assert proc.returncode == 1 and "invariance.fail=true: invariance: NOT INVARIANT" in proc.stderr
    assert [c.data.params["padding.strategy"] for c in children if shifted(c)] == ["longest"]
    assert "NOT INVARIANT" in parent.data.tags["mlflow.note.content"]


def test_roberta_skips_padding_in_its_positions(tmp_path):
    """Every padding strategy, side and batch size (the order, which moves no pad token within
    a text, is the BERT test's axis): RoBERTa's outputs stay within tolerance in all of them."""
    args = ("experiment=invariance", "model=tiny_roberta", "runtime.sort_by_length=false")
    proc, _, parent, children = sweep(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    compared = [c for c in children if "invariance/max_abs_diff" in c.data.metrics]
    assert len(children) == 12 and len(compared) == 11
    assert sum(c.data.params["padding.side"] == "left" for c in compared) == 6
    assert max(c.data.metrics["invariance/max_abs_diff"] for c in compared) < 1e-4
    assert "invariance: INVARIANT" in proc.stdout and parent.info.status == "FINISHED"


def test_fast_and_slow_tokenizers_that_disagree_are_reported_row_by_row(tmp_path):
    """A folder whose vocab.txt (read by the Python tokenizer) was edited without regenerating
    tokenizer.json (read by the fast one): texts using the edited piece tokenize differently."""
    folder = tmp_path / "mismatched"
    shutil.copytree(tiny.ensure("bert"), folder)
    vocab = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab[vocab.index("##oul")] = "[edited]"  # same id, another piece: the two files disagree
    (folder / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    fast = AutoTokenizer.from_pretrained(folder)
    from transformers import BertTokenizerLegacy

    slow = BertTokenizerLegacy.from_pretrained(folder)
    differ = sum(fast(t)["input_ids"] != slow(t)["input_ids"] for t in SAMPLE)
    assert 0 < differ < len(SAMPLE)
    proc, _, _, children = sweep(
        tmp_path, "model=none", f"tokenizer.name_or_path={folder}", "tokenizer.use_fast=true,false"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    other = next(c for c in children if c.data.params["tokenizer.use_fast"] == "False")
    assert other.data.metrics["invariance/token_diff_rows"] == differ


def test_different_models_are_never_compared(tmp_path):
    proc, _, parent, children = sweep(tmp_path, "model=tiny_bert,tiny_roberta")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not any(k.startswith("invariance/") for c in children for k in c.data.metrics)
    assert (
        "invariance: nothing compared (2 run(s) with no other run of the same model and data)" in proc.stdout
    )
