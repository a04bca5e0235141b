"""Adding a head or a data source is one registry entry and its functions (docs/extending.md):
nothing else in the runner changes, and the run logs what the new entry computes."""

from __future__ import annotations

import gzip

import numpy as np

import runner
from runner.data import sources
from runner.errors import ConfigError
from runner.model import heads
from runner.tokenization import statistics


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

    from tests.helpers.invoking import compose

    monkeypatch.chdir(tmp_path)
    entry = heads.Head(heads.Kind.BODY, "AutoModel", "MODEL_MAPPING", max_pooled, peak_rows, answer="peak")
    monkeypatch.setitem(heads.HEADS, "max_pool", entry)
    run = runner.run("model=tiny_bert", "model.head=max_pool")
    assert run.status == "FINISHED" and run.params["model.head"] == "max_pool"
    assert "model.num_labels" not in run.tags and "model.problem_type" not in run.tags  # a body

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


class LongestPiece(statistics.BaseStatistic):
    """A statistic of one's own: the longest content token of the run, in characters."""

    def __init__(self) -> None:
        self.longest = 0

    def update(self, batch, keep: int) -> None:
        content = (batch.special == 0) & (batch.offsets[:, 1] > batch.offsets[:, 0])
        spans = batch.offsets[content]
        self.longest = max(self.longest, int((spans[:, 1] - spans[:, 0]).max(initial=0)))

    def metrics(self) -> dict[str, float]:
        return {"mine/longest_piece_chars": float(self.longest)}


def test_a_new_statistic_is_one_entry(monkeypatch):
    from transformers import AutoTokenizer

    from tests.helpers.invoking import compose
    from tests.helpers.paths import HUB

    monkeypatch.setitem(statistics.STATISTICS, "longest_piece", lambda context: LongestPiece())
    run = runner.run("model=none", "tokenizer=roberta_base")
    tok = AutoTokenizer.from_pretrained(str(HUB / "roberta-base"))
    texts = list(compose("model=none").dataset.texts)
    spans = [
        b - a
        for t in texts
        for a, b in tok(t, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    ]
    assert run.metrics["mine/longest_piece_chars"] == max(spans)
    try:
        statistics.register_statistic("longest_piece", lambda context: LongestPiece())
    except ConfigError as exc:  # a name taken twice is refused
        assert "longest_piece" in str(exc)
    else:
        raise AssertionError("a duplicate statistic was accepted")


def test_a_family_switched_off_leaves_the_others_unchanged():
    whole = runner.run("model=none", "tokenizer=roberta_base")
    part = runner.run(
        "model=none", "tokenizer=roberta_base", "stats.scripts=false", "stats.distribution=false"
    )
    gone = {k for k in whole.metrics if k.startswith("script/") and not k.endswith("split_char_rate")}
    gone |= {"tokens/fertility", "tokens/continued_word_ratio", "tokens/shannon_entropy", "tokens/vocab_used"}
    assert gone <= set(whole.metrics) and not gone & set(part.metrics)
    kept = {k for k in part.metrics if k.startswith(("tokens/", "script/"))}
    assert len(kept) >= 12
    assert {k: part.metrics[k] for k in kept} == {k: whole.metrics[k] for k in kept}
