"""Each head's per-example answers from plain numpy arrays: the postprocess step of a pipeline.

The forward pass (runner/inference.py) hands over float32 outputs of the examples to report, with
their positions in the batch already picked; nothing here needs a model or torch. Scores follow
the transformers pipelines (text-classification, token-classification, question-answering,
fill-mask), which the tests compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Row = dict[str, Any]


@dataclass(frozen=True)
class Labels:
    """What a classification config says about its outputs."""

    id2label: dict[int, str]
    problem_type: str | None = None
    num_labels: int = 2


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def body_rows(indices: Sequence[int], pooled: np.ndarray) -> list[Row]:
    """Mean-pooled hidden states [examples, hidden]: their norm and width."""
    return [
        {"index": i, "embedding_norm": float(np.linalg.norm(p)), "embedding_dim": int(p.shape[0])}
        for i, p in zip(indices, pooled, strict=True)
    ]


def sequence_rows(
    indices: Sequence[int], logits: np.ndarray, labels: Labels, top_k: int, threshold: float
) -> list[Row]:
    """Logits [examples, labels]: the top-k labels (softmax, or sigmoid for multi-label and single
    outputs); regression heads report their raw values (pipeline: function_to_apply none)."""
    if labels.problem_type == "regression":
        return [
            {"index": i, "score": float(v[0]), "values": v.tolist()}
            for i, v in zip(indices, logits, strict=True)
        ]
    multi = labels.problem_type == "multi_label_classification" or labels.num_labels == 1
    probs = sigmoid(logits) if multi else softmax(logits)
    k = min(top_k, probs.shape[-1])
    rows = []
    for i, p in zip(indices, probs, strict=True):
        order = np.argsort(-p, kind="stable")
        top = [{"label": labels.id2label[int(c)], "score": float(p[c])} for c in order[:k]]
        row: Row = {"index": i, "label": top[0]["label"], "score": top[0]["score"], "top_k": top}
        if multi:
            row["labels"] = [labels.id2label[int(c)] for c in order if p[c] > threshold]
        rows.append(row)
    return rows


@dataclass(frozen=True)
class TokenExample:
    """One example of a token-classification batch: ids and which word / special each position is."""

    index: int
    ids: np.ndarray
    words: Sequence[int | None]
    special: np.ndarray | Sequence[bool | int]


def token_rows(
    examples: Sequence[TokenExample],
    logits: np.ndarray,
    id2label: dict[int, str],
    id_to_token: Callable[[int], str],
) -> list[Row]:
    """Logits [examples, positions, labels]: a label per non-special token, and per word the label
    of its first sub-token."""
    probs = softmax(logits)
    rows = []
    for example, p in zip(examples, probs, strict=True):
        tokens, word_labels, seen = [], [], set()
        for pos, token_id in enumerate(example.ids):
            if example.special[pos]:
                continue
            label_id = int(p[pos].argmax())
            word = example.words[pos]
            tokens.append(
                {
                    "token": id_to_token(int(token_id)),
                    "label": id2label[label_id],
                    "score": float(p[pos, label_id]),
                    "word": word,
                }
            )
            if word is not None and word not in seen:
                seen.add(word)
                word_labels.append(id2label[label_id])
        rows.append({"index": example.index, "tokens": tokens, "word_labels": word_labels})
    return rows


@dataclass(frozen=True)
class SpanExample:
    """One question-answering example: which sequence each position belongs to, the real (not pad)
    positions, character offsets into the context, and the context itself."""

    index: int
    sequence_ids: Sequence[int | None]
    attention: np.ndarray
    offsets: np.ndarray | Sequence[Sequence[int]]
    context: str


def answer_rows(
    examples: Sequence[SpanExample], start: np.ndarray, end: np.ndarray, max_answer_len: int
) -> list[Row]:
    """Start and end logits [examples, positions]: the best span inside the context (transformers'
    own span search), as text and character offsets."""
    from transformers.pipelines.document_question_answering import select_starts_ends

    rows = []
    for example, s_logits, e_logits in zip(examples, start, end, strict=True):
        width = len(example.sequence_ids)
        p_mask = np.array([[0 if s == 1 else 1 for s in example.sequence_ids]])
        s, e, score, _ = select_starts_ends(
            s_logits[None, :width],
            e_logits[None, :width],
            p_mask,
            example.attention[None, :width],
            max_answer_len=max_answer_len,
        )
        a, b = int(example.offsets[int(s[0])][0]), int(example.offsets[int(e[0])][1])
        rows.append(
            {
                "index": example.index,
                "answer": example.context[a:b],
                "score": float(score[0]),
                "start": a,
                "end": b,
            }
        )
    return rows


def fill_rows(
    indices: Sequence[int],
    logits: np.ndarray,
    ids: np.ndarray,
    mask_token_id: int,
    top_k: int,
    decode: Callable[[list[int]], str],
) -> list[Row]:
    """Logits [examples, positions, vocab]: the top-k fills of every mask position."""
    rows = []
    for i, example_logits, example_ids in zip(indices, logits, ids, strict=True):
        positions = np.flatnonzero(example_ids == mask_token_id).tolist()
        fills = []
        for pos in positions:
            probs = softmax(example_logits[pos])
            top = np.argsort(-probs, kind="stable")[: min(top_k, probs.shape[-1])]
            fills.append(
                [{"token": int(t), "token_str": decode([int(t)]), "score": float(probs[t])} for t in top]
            )
        rows.append({"index": i, "masks": len(positions), "fills": fills})
    return rows
