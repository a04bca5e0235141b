"""The forward pass over tokenized batches and the per-example predictions of each head."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runner.encoding import Batch, model_inputs
from runner.errors import ModelError
from runner.models import Loaded, max_positions
from runner.schema import Head, PredictConfig

log = logging.getLogger(__name__)


@dataclass
class Predictor:
    """Runs batches through the model and turns outputs into plain per-example rows."""

    loaded: Loaded
    tok: Any
    head: Head
    predict: PredictConfig
    keep_below: int  # only examples with index < keep_below get a predictions row
    label_ids: list[int] | None = None  # gold class ids per input index (single-label heads)
    correct: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    embeddings: dict[int, np.ndarray] = field(default_factory=dict)
    outputs: dict[int, np.ndarray] = field(default_factory=dict)  # per example: [rows, dims] float32
    batch_shapes: list[dict[str, list[int]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _dropped_types: bool = False

    def run(self, batch: Batch, contexts: list[str] | None) -> None:
        """Forward one batch (one example at a time when it is not padded) and predict."""
        import torch

        inputs = model_inputs(batch)
        padded = isinstance(inputs["input_ids"], np.ndarray)
        groups = [list(range(len(batch.indices)))] if padded else [[j] for j in range(len(batch.indices))]
        for group in groups:
            tensors = {
                k: torch.as_tensor(np.asarray(v) if padded else np.asarray([v[group[0]]]))
                for k, v in inputs.items()
            }
            self._preflight(tensors)
            tensors = {k: t.to(self.loaded.device) for k, t in tensors.items()}
            with torch.inference_mode():
                out = self.loaded.model(**tensors)
            self.batch_shapes.append(
                {k: list(v.shape) for k, v in out.items() if isinstance(v, torch.Tensor)}
            )
            self._predict(batch, group, out, tensors, contexts)

    def _preflight(self, tensors: dict[str, Any]) -> None:
        config = self.loaded.model.config
        top = int(tensors["input_ids"].max()) if tensors["input_ids"].numel() else 0
        if top >= config.vocab_size:
            raise ModelError(
                "tokenizer.name_or_path",
                f"produces token id {top} but the model's vocab_size is {config.vocab_size}",
                "use the model's own tokenizer (tokenizer.name_or_path=null)",
            )
        limit_positions = max_positions(self.loaded)
        if limit_positions is not None and tensors["input_ids"].shape[-1] > limit_positions:
            raise ModelError(
                "tokenizer.truncation",
                f"a sequence of {tensors['input_ids'].shape[-1]} "
                f"tokens exceeds the {limit_positions} positions the model embeds",
                f"set tokenizer.truncation=true (and tokenizer.max_length<={limit_positions})",
            )
        types = tensors.get("token_type_ids")
        limit = getattr(config, "type_vocab_size", None)
        if types is not None and limit is not None and types.numel() and int(types.max()) >= limit:
            # RoBERTa-family models embed one token type: a pair's 1s would IndexError in torch.
            del tensors["token_type_ids"]
            if not self._dropped_types:
                self._dropped_types = True
                message = (
                    f"token_type_ids hold values up to {int(types.max())} but "
                    f"{config.model_type} embeds only {limit} type(s): dropped them before "
                    "the forward pass (set tokenizer.return_token_type_ids=false to silence)"
                )
                self.warnings.append(message)
                log.warning(message)

    def _predict(self, batch: Batch, group: list[int], out, tensors, contexts) -> None:
        mask = tensors.get("attention_mask")
        if self.head is Head.none:
            hidden = out.last_hidden_state.float()
            m = (mask if mask is not None else (tensors["input_ids"] * 0 + 1)).unsqueeze(-1).float()
            pooled = ((hidden * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy()
            for n, j in enumerate(group):
                self.embeddings[batch.indices[j]] = pooled[n]
        self._collect(batch, group, out, tensors)
        if self.label_ids is not None:  # accuracy over every example, not only the logged ones
            predicted = out.logits.argmax(-1).tolist()
            self.correct += sum(
                p == self.label_ids[batch.indices[j]] for p, j in zip(predicted, group, strict=True)
            )
        wanted = [(n, j) for n, j in enumerate(group) if batch.indices[j] < self.keep_below]
        if not wanted:
            return
        rows = PREDICTORS[self.head](self, batch, wanted, out, tensors, contexts)
        self.rows.extend(rows)

    def _collect(self, batch: Batch, group: list[int], out, tensors) -> None:
        """Each example's comparable output (outputs.npy / .npz): the mean-pooled hidden state
        (body) or the logits (sequence classification) as one row; per non-pad token the logits
        (token classification), the start/end logits (question answering); masked LM: the
        logits at the mask positions."""
        ids = tensors["input_ids"]
        mask = tensors.get("attention_mask")
        real = (mask if mask is not None else ids * 0 + 1).bool().cpu().numpy()
        if self.head is Head.none:
            values = [self.embeddings[batch.indices[j]][None] for j in group]
        elif self.head is Head.sequence_classification:
            values = list(out.logits.float().cpu().numpy()[:, None])
        elif self.head is Head.question_answering:
            both = np.stack(
                [out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()], -1
            )
            values = [both[n][real[n]] for n in range(len(group))]
        elif self.head is Head.masked_lm:
            at_mask = (ids == self.tok.mask_token_id).cpu().numpy()
            logits = out.logits.float().cpu().numpy()
            values = [logits[n][at_mask[n]] for n in range(len(group))]
        else:
            logits = out.logits.float().cpu().numpy()
            values = [logits[n][real[n]] for n in range(len(group))]
        for n, j in enumerate(group):
            self.outputs[batch.indices[j]] = np.asarray(values[n], dtype=np.float32)

    def output_arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        """All outputs in input order: values [rows, dims] and offsets [examples + 1]."""
        if not self.outputs:
            return None
        parts = [self.outputs[i] for i in sorted(self.outputs)]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        return np.concatenate(parts).astype(np.float32), offsets

    def _body(self, batch, wanted, out, tensors, contexts):
        return [
            {
                "index": batch.indices[j],
                "embedding_norm": float(np.linalg.norm(self.embeddings[batch.indices[j]])),
                "embedding_dim": int(self.embeddings[batch.indices[j]].shape[0]),
            }
            for _, j in wanted
        ]

    def _sequence(self, batch, wanted, out, tensors, contexts):
        config = self.loaded.model.config
        logits = out.logits.float()
        if config.problem_type == "regression":  # raw outputs, no label (pipeline: function_to_apply none)
            values = logits.cpu().numpy()
            return [
                {"index": batch.indices[j], "score": float(values[n, 0]), "values": values[n].tolist()}
                for n, j in wanted
            ]
        multi = config.problem_type == "multi_label_classification" or config.num_labels == 1
        probs = (logits.sigmoid() if multi else logits.softmax(-1)).cpu().numpy()
        k = min(self.predict.top_k, probs.shape[-1])
        rows = []
        for n, j in wanted:
            order = np.argsort(-probs[n], kind="stable")
            top = [{"label": config.id2label[int(i)], "score": float(probs[n, i])} for i in order[:k]]
            row = {
                "index": batch.indices[j],
                "label": top[0]["label"],
                "score": top[0]["score"],
                "top_k": top,
            }
            if multi:
                row["labels"] = [
                    config.id2label[int(i)] for i in order if probs[n, i] > self.predict.threshold
                ]
            rows.append(row)
        return rows

    def _tokens(self, batch, wanted, out, tensors, contexts):
        config = self.loaded.model.config
        probs = out.logits.float().softmax(-1).cpu().numpy()
        rows = []
        for n, j in wanted:
            ids = np.asarray(tensors["input_ids"][n].cpu())
            words = batch.word_ids(j)
            sp = batch.special_row(j)
            tokens, word_labels, seen = [], [], set()
            for pos, token_id in enumerate(ids):
                if sp[pos]:
                    continue
                label_id = int(probs[n, pos].argmax())
                tokens.append(
                    {
                        "token": self.tok.convert_ids_to_tokens(int(token_id)),
                        "label": config.id2label[label_id],
                        "score": float(probs[n, pos, label_id]),
                        "word": words[pos],
                    }
                )
                if words[pos] is not None and words[pos] not in seen:  # first sub-token labels a word
                    seen.add(words[pos])
                    word_labels.append(config.id2label[label_id])
            rows.append({"index": batch.indices[j], "tokens": tokens, "word_labels": word_labels})
        return rows

    def _answer(self, batch, wanted, out, tensors, contexts):
        from transformers.pipelines.document_question_answering import select_starts_ends

        if contexts is None:
            raise ModelError(
                "model.head=question_answering",
                "needs question/context pairs",
                "set dataset.text_pair_column (text = question, pair = context)",
            )
        start, end = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
        rows = []
        for n, j in wanted:
            seq = batch.sequence_ids(j)
            p_mask = np.array([[0 if s == 1 else 1 for s in seq]])
            attention = (
                np.asarray(tensors["attention_mask"][n : n + 1].cpu())
                if "attention_mask" in tensors
                else np.ones_like(p_mask)
            )
            width = len(seq)
            s, e, score, _ = select_starts_ends(
                start[n : n + 1, :width],
                end[n : n + 1, :width],
                p_mask,
                attention[:, :width],
                max_answer_len=self.predict.max_answer_len,
            )
            offsets = batch.offset_row(j)
            a, b = int(offsets[int(s[0])][0]), int(offsets[int(e[0])][1])
            rows.append(
                {
                    "index": batch.indices[j],
                    "answer": contexts[j][a:b],
                    "score": float(score[0]),
                    "start": a,
                    "end": b,
                }
            )
        return rows

    def _fill(self, batch, wanted, out, tensors, contexts):
        rows = []
        for n, j in wanted:
            ids = tensors["input_ids"][n]
            positions = (ids == self.tok.mask_token_id).nonzero().flatten().tolist()
            fills = []
            for pos in positions:
                probs = out.logits[n, pos].float().softmax(-1)
                values, top = probs.topk(min(self.predict.top_k, probs.shape[-1]))
                fills.append(
                    [
                        {"token": int(t), "token_str": self.tok.decode([int(t)]), "score": float(v)}
                        for v, t in zip(values.tolist(), top.tolist(), strict=True)
                    ]
                )
            rows.append({"index": batch.indices[j], "masks": len(positions), "fills": fills})
        return rows

    def accuracy(self, examples: int) -> float | None:
        return self.correct / examples if self.label_ids is not None and examples else None

    def shapes(self, examples: int) -> dict[str, Any]:
        """Per-batch output shapes and the overall [examples, ...] shape (null where it varies)."""
        overall: dict[str, list[Any]] = {}
        for shapes in self.batch_shapes:
            for name, shape in shapes.items():
                prev = overall.setdefault(name, [examples, *shape[1:]])
                overall[name] = [examples] + [
                    a if a == b else None for a, b in zip(prev[1:], shape[1:], strict=True)
                ]
        return {"overall": overall, "per_batch": self.batch_shapes}


PREDICTORS = {
    Head.none: Predictor._body,
    Head.sequence_classification: Predictor._sequence,
    Head.token_classification: Predictor._tokens,
    Head.question_answering: Predictor._answer,
    Head.masked_lm: Predictor._fill,
}
