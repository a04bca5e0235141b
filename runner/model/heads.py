"""The heads: the registry `HEADS` (model.head → how it loads, what it outputs, how it answers)
and each head's per-example answers from plain numpy arrays — the postprocess step of a pipeline.

Adding a head is one `HEADS` entry and its two functions (docs: "Adding a head or a data source").
The forward pass (inference.py) hands each head a `Step`; the answers are pure functions of
float32 arrays, no model or torch needed. Scores follow the transformers pipelines
(text-classification, token-classification, question-answering, fill-mask), which the tests
compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

import numpy as np

from runner.config.schema import PredictConfig
from runner.errors import ConfigError, ModelError
from runner.registry import Registry
from runner.tokenization.batch import Batch

Row = dict[str, Any]


@dataclass(frozen=True)
class Labels:
    """What a classification config says about its outputs."""

    id2label: dict[int, str]
    problem_type: str | None = None
    num_labels: int = 2


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return cast("np.ndarray", shifted / shifted.sum(-1, keepdims=True))


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return cast("np.ndarray", 1.0 / (1.0 + np.exp(-logits)))


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


# --- The registry: what each `model.head` is --------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One forward pass as a head reads it: the model's output, the tensors fed, the batch and
    which of its rows went in (`group`), the tokenizer, the model's config, predict.* and the
    batch's second texts (question answering: the contexts)."""

    out: Any
    tensors: dict[str, Any]
    batch: Batch
    group: list[int]
    tok: Any
    config: Any
    predict: PredictConfig
    contexts: list[str] | None

    def real(self) -> np.ndarray:
        """[rows, positions]: True where a position is a token, not padding."""
        mask = self.tensors.get("attention_mask")
        return cast(
            "np.ndarray",
            (mask if mask is not None else self.tensors["input_ids"] * 0 + 1).bool().cpu().numpy(),
        )

    def ids(self, at: list[int]) -> np.ndarray:
        return cast("np.ndarray", self.tensors["input_ids"].cpu().numpy()[at])


Wanted = list[tuple[int, int]]  # (row in the forward pass, row in the batch) of each reported example


class Kind(Enum):
    """What a head is, and so what the runner logs and checks for it."""

    BODY = "body"  # hidden states, no labels: no label tags, no label flips
    LABELS = "labels"  # a label per example (id2label, num_labels, problem_type)
    TOKEN_LABELS = "token_labels"  # a label per token
    SPANS = "spans"  # answer spans in a context
    FILLS = "fills"  # vocabulary entries at masked positions


LABELLED = (Kind.LABELS, Kind.TOKEN_LABELS)


@dataclass(frozen=True)
class Head:
    """One `model.head`: what it is (`kind`), the transformers class that loads it, the mapping
    that lists the architectures having it, each example's comparable output (outputs.npy/.npz,
    invariance), the answers of the reported examples (predictions.json), and its rules."""

    kind: Kind
    auto_class: str  # AutoModel or an AutoModelFor… class of transformers
    mapping: str  # transformers' config → model mapping behind that class
    outputs: Callable[[Step], list[np.ndarray]]
    rows: Callable[[Step, Wanted, list[np.ndarray]], list[Row]]
    answer: str = "label"  # the key of a row the console shows as its answer
    accuracy: bool = False  # compared with dataset.label_column, one class id per example
    needs_offsets: bool = False  # maps tokens back to characters: fast tokenizers only

    @property
    def labelled(self) -> bool:
        """Its outputs are labels: id2label, num_labels and problem_type mean something, and a
        different argmax between two runs is a label flip."""
        return self.kind in LABELLED

    @property
    def body(self) -> bool:
        return self.kind is Kind.BODY


def _numpy(tensor: Any) -> np.ndarray:
    return cast("np.ndarray", tensor.float().cpu().numpy())


def _pooled(step: Step) -> list[np.ndarray]:
    """A body's output: its last hidden state mean-pooled over the real tokens, one row each."""
    hidden = step.out.last_hidden_state.float()
    mask = step.tensors.get("attention_mask")
    m = (mask if mask is not None else step.tensors["input_ids"] * 0 + 1).unsqueeze(-1).float()
    return list(((hidden * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy()[:, None])


def _body(step: Step, wanted: Wanted, values: list[np.ndarray]) -> list[Row]:
    return body_rows([step.batch.indices[j] for _, j in wanted], np.stack([values[n][0] for n, _ in wanted]))


def _logits(step: Step) -> list[np.ndarray]:
    return list(_numpy(step.out.logits)[:, None])


def _per_token(step: Step) -> list[np.ndarray]:
    logits, real = _numpy(step.out.logits), step.real()
    return [logits[n][real[n]] for n in range(len(step.group))]


def _sequence(step: Step, wanted: Wanted, values: list[np.ndarray]) -> list[Row]:
    at, c = [n for n, _ in wanted], step.config
    indices = [step.batch.indices[j] for _, j in wanted]
    labels = Labels(c.id2label, c.problem_type, c.num_labels)
    p = step.predict
    return sequence_rows(indices, _numpy(step.out.logits)[at], labels, p.top_k, p.threshold)


def _tokens(step: Step, wanted: Wanted, values: list[np.ndarray]) -> list[Row]:
    at, ids, b = [n for n, _ in wanted], step.ids([n for n, _ in wanted]), step.batch
    examples = [
        TokenExample(b.indices[j], ids[k], b.word_ids(j), b.special_row(j)) for k, (_, j) in enumerate(wanted)
    ]
    return token_rows(
        examples, _numpy(step.out.logits)[at], step.config.id2label, step.tok.convert_ids_to_tokens
    )


def _spans(step: Step) -> list[np.ndarray]:
    both = np.stack([_numpy(step.out.start_logits), _numpy(step.out.end_logits)], -1)
    real = step.real()
    return [both[n][real[n]] for n in range(len(step.group))]


def _answers(step: Step, wanted: Wanted, values: list[np.ndarray]) -> list[Row]:
    if step.contexts is None:
        raise ModelError(
            "model.head=question_answering",
            "needs question/context pairs",
            "set dataset.text_pair_column (text = question, pair = context)",
        )
    at = [n for n, _ in wanted]
    mask = step.tensors.get("attention_mask")
    examples = []
    for n, j in wanted:
        seq = step.batch.sequence_ids(j)
        attention = mask[n].cpu().numpy() if mask is not None else np.ones(len(seq), dtype=np.int64)
        examples.append(
            SpanExample(step.batch.indices[j], seq, attention, step.batch.offset_row(j), step.contexts[j])
        )
    start, end = _numpy(step.out.start_logits)[at], _numpy(step.out.end_logits)[at]
    return answer_rows(examples, start, end, step.predict.max_answer_len)


def _at_masks(step: Step) -> list[np.ndarray]:
    at_mask = (step.tensors["input_ids"] == step.tok.mask_token_id).cpu().numpy()
    logits = _numpy(step.out.logits)
    return [logits[n][at_mask[n]] for n in range(len(step.group))]


def _fills(step: Step, wanted: Wanted, values: list[np.ndarray]) -> list[Row]:
    at = [n for n, _ in wanted]
    indices = [step.batch.indices[j] for _, j in wanted]
    p, tok = step.predict, step.tok
    return fill_rows(
        indices, _numpy(step.out.logits)[at], step.ids(at), tok.mask_token_id, p.top_k, tok.decode
    )


BODY = "none"  # model.head for the model's body (AutoModel), the default

HEADS: Registry[Head] = Registry(
    "runner.heads",
    "head",
    {
        BODY: Head(Kind.BODY, "AutoModel", "MODEL_MAPPING", _pooled, _body, answer="embedding_norm"),
        "sequence_classification": Head(
            Kind.LABELS,
            "AutoModelForSequenceClassification",
            "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING",
            _logits,
            _sequence,
            accuracy=True,
        ),
        "token_classification": Head(
            Kind.TOKEN_LABELS,
            "AutoModelForTokenClassification",
            "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING",
            _per_token,
            _tokens,
            answer="word_labels",
        ),
        "question_answering": Head(
            Kind.SPANS,
            "AutoModelForQuestionAnswering",
            "MODEL_FOR_QUESTION_ANSWERING_MAPPING",
            _spans,
            _answers,
            answer="answer",
            needs_offsets=True,
        ),
        "masked_lm": Head(
            Kind.FILLS,
            "AutoModelForMaskedLM",
            "MODEL_FOR_MASKED_LM_MAPPING",
            _at_masks,
            _fills,
            answer="fills",
        ),
    },
    accepts=lambda entry: isinstance(entry, Head),
)
register_head = HEADS.register


def of(name: str | None) -> Head | None:
    """The head a run's `model.head` names (a logged param: None for tokenization-only runs)."""
    return HEADS.get(name if name is not None else BODY)


def check(head: str, use_fast: bool, forward: bool = True) -> Head:
    """The registered head for `model.head`, or one line naming the key and the heads there are."""
    if head not in HEADS:
        raise ConfigError("model.head", f"'{head}' is not a head", f"use one of: {', '.join(HEADS)}")
    if not HEADS[head].body and not forward:
        raise ConfigError("model.head", f"{head} needs a model", f"drop model=none or set model.head={BODY}")
    if HEADS[head].needs_offsets and not use_fast:
        raise ConfigError(
            "tokenizer.use_fast=false",
            f"{head} maps the answer back to the text with offsets, which only fast tokenizers give",
            "use tokenizer.use_fast=true",
        )
    return HEADS[head]
