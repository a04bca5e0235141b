"""Adding a head or a data source is one registry entry and its functions (docs/extending.md):
nothing else in the runner changes, and the run logs what the new entry computes."""

from __future__ import annotations

import gzip

import numpy as np

import runner
from runner.data import sources
from runner.model import heads


def max_pooled(step: heads.Step) -> list[np.ndarray]:
    """Each example's hidden states max-pooled over its real tokens, one row."""
    hidden, real = step.out.last_hidden_state.float().cpu().numpy(), step.real()
    return [hidden[n][real[n]].max(0)[None] for n in range(len(step.group))]


def peak_rows(step: heads.Step, wanted: heads.Wanted, values: list[np.ndarray]) -> list[heads.Row]:
    return [{"index": step.batch.indices[j], "peak": float(values[n].max())} for n, j in wanted]


def gzip_lines(cfg, reachable):
    from datasets import Dataset

    with gzip.open(cfg.path, "rt", encoding="utf-8") as f:
        return Dataset.from_dict({"text": f.read().splitlines()})


def test_a_new_head_is_one_entry(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tests.conftest import compose

    monkeypatch.chdir(tmp_path)
    entry = heads.Head("AutoModel", "MODEL_MAPPING", max_pooled, peak_rows, answer="peak")
    monkeypatch.setitem(heads.HEADS, "max_pool", entry)
    run = runner.run("model=tiny_bert", "model.head=max_pool")
    assert run.status == "FINISHED" and run.params["model.head"] == "max_pool"

    cfg = compose("model=tiny_bert")
    texts = list(cfg.dataset.texts)
    tok = AutoTokenizer.from_pretrained(cfg.model.name_or_path)
    model = AutoModel.from_pretrained(cfg.model.name_or_path).eval()
    with torch.no_grad():
        expected = np.stack(
            [model(**tok(t, return_tensors="pt")).last_hidden_state[0].max(0).values.numpy() for t in texts]
        )
    assert isinstance(run.outputs, np.ndarray) and run.outputs.shape == expected.shape
    np.testing.assert_allclose(run.outputs, expected, atol=1e-5)
    assert len(run.predictions) == len(texts)
    np.testing.assert_allclose(run.predictions["peak"], expected.max(1), atol=1e-5)


def test_a_new_data_source_is_one_entry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = ["첫 번째 줄", "the second line", "三番目の行"]
    with gzip.open(tmp_path / "lines.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines))
    monkeypatch.setitem(sources.SOURCES, "gzip_lines", gzip_lines)
    run = runner.run("model=none", "dataset.source=gzip_lines", f"dataset.path={tmp_path}/lines.txt.gz")
    assert run.tokens["text"].tolist() == lines
