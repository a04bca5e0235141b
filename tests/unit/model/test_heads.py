"""Each head's answers from plain arrays, without a model: scores against a direct computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.model import heads

LABELS = heads.Labels({0: "neg", 1: "neu", 2: "pos"}, None, 3)


def direct_softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_sequence_rows_rank_labels_by_softmax():
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]], dtype=np.float32)
    rows = heads.sequence_rows([7, 9], logits, LABELS, top_k=2, threshold=0.5)
    assert len(rows) == 2
    assert [r["index"] for r in rows] == [7, 9]
    assert [t["label"] for t in rows[0]["top_k"]] == ["neu", "neg"]
    assert [t["label"] for t in rows[1]["top_k"]] == ["neg", "pos"]
    expected = direct_softmax([3.0, 0.0, 0.5])
    assert rows[1]["score"] == pytest.approx(expected[0], rel=1e-6)
    assert rows[1]["top_k"][1]["score"] == pytest.approx(expected[2], rel=1e-6)
    assert "labels" not in rows[0]  # single-label: no thresholded set


def test_multi_label_rows_use_sigmoid_and_the_threshold():
    labels = heads.Labels({0: "a", 1: "b", 2: "c"}, "multi_label_classification", 3)
    rows = heads.sequence_rows([0], np.array([[2.0, -3.0, 0.4]], dtype=np.float32), labels, 3, 0.5)
    assert rows[0]["labels"] == ["a", "c"]
    assert rows[0]["score"] == pytest.approx(1 / (1 + math.exp(-2.0)), rel=1e-6)


def test_regression_rows_are_raw_values():
    labels = heads.Labels({0: "LABEL_0"}, "regression", 1)
    rows = heads.sequence_rows([3], np.array([[4.25]], dtype=np.float32), labels, 5, 0.5)
    assert rows == [{"index": 3, "score": 4.25, "values": [4.25]}]


def test_token_rows_skip_specials_and_label_each_word_by_its_first_piece():
    example = heads.TokenExample(
        index=1, ids=np.array([101, 7, 8, 9, 102]), words=[None, 0, 0, 1, None], special=[1, 0, 0, 0, 1]
    )
    logits = np.zeros((1, 5, 3), dtype=np.float32)
    logits[0, 1, 2] = logits[0, 2, 0] = logits[0, 3, 1] = 5.0
    rows = heads.token_rows([example], logits, LABELS.id2label, lambda i: f"t{i}")
    assert len(rows) == 1
    assert [t["token"] for t in rows[0]["tokens"]] == ["t7", "t8", "t9"]
    assert [t["label"] for t in rows[0]["tokens"]] == ["pos", "neg", "neu"]
    assert rows[0]["word_labels"] == ["pos", "neu"]  # word 0 takes its first piece's label
    assert rows[0]["tokens"][0]["score"] == pytest.approx(direct_softmax([0, 0, 5.0])[2], rel=1e-6)


def test_fill_rows_rank_the_vocabulary_at_each_mask():
    ids = np.array([[5, 4, 6, 4]])
    logits = np.zeros((1, 4, 6), dtype=np.float32)
    logits[0, 1, 3], logits[0, 3, 0], logits[0, 3, 2] = 2.0, 1.0, 3.0
    rows = heads.fill_rows([0], logits, ids, mask_token_id=4, top_k=2, decode=lambda t: f"<{t[0]}>")
    assert rows[0]["masks"] == 2 and len(rows[0]["fills"]) == 2
    assert [f["token"] for f in rows[0]["fills"][0]] == [3, 0]
    assert [f["token"] for f in rows[0]["fills"][1]] == [2, 0]
    assert rows[0]["fills"][1][0]["token_str"] == "<2>"
    assert rows[0]["fills"][1][0]["score"] == pytest.approx(direct_softmax([1, 0, 3, 0, 0, 0])[2], rel=1e-6)


def test_answer_rows_find_the_span_inside_the_context():
    context = "the cat sat"
    # positions: [CLS] q [SEP] the cat sat [SEP]; sequence 1 is the context
    example = heads.SpanExample(
        index=0,
        sequence_ids=[None, 0, None, 1, 1, 1, None],
        attention=np.ones(7, dtype=np.int64),
        offsets=[(0, 0), (0, 1), (0, 0), (0, 3), (4, 7), (8, 11), (0, 0)],
        context=context,
    )
    start = np.array([[0, 9, 0, 0, 6, 0, 0]], dtype=np.float32)  # the question's own token scores high
    end = np.array([[0, 9, 0, 0, 0, 6, 0]], dtype=np.float32)
    rows = heads.answer_rows([example], start, end, max_answer_len=15)
    assert len(rows) == 1
    assert rows[0]["answer"] == "cat sat" and (rows[0]["start"], rows[0]["end"]) == (4, 11)
    assert 0 < rows[0]["score"] <= 1
