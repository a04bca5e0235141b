"""The forward pass over tokenized batches: checks, shapes, pooled and comparable outputs; each
head's answers come from runner/heads.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runner.config.schema import Head, PredictConfig
from runner.errors import ModelError
from runner.model import heads
from runner.model.models import Loaded, max_positions
from runner.model.outputs import OutputSpool
from runner.tokenization.batch import Batch, model_inputs

log = logging.getLogger(__name__)

Tensors = dict[str, Any]  # torch tensors by input name
Contexts = list[str] | None  # the batch's second texts (question answering: the contexts)


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
    spool: OutputSpool | None = None  # every example's comparable output, to disk in input order
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
            tensors = {k: t.to(self.loaded.device) for k, t in self._preflight(tensors).items()}
            with torch.inference_mode():
                out = self.loaded.model(**tensors)
            self.batch_shapes.append(
                {k: list(v.shape) for k, v in out.items() if isinstance(v, torch.Tensor)}
            )
            self._predict(batch, group, out, tensors, contexts)

    def _preflight(self, tensors: dict[str, Any]) -> dict[str, Any]:
        """The tensors to feed: checked against the model's vocabulary and positions; a pair's
        token types dropped (in a new dict) where the model embeds only one type."""
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
        if types is None or limit is None or not types.numel() or int(types.max()) < limit:
            return tensors
        # RoBERTa-family models embed one token type: a pair's 1s would IndexError in torch.
        if not self._dropped_types:
            self._dropped_types = True
            message = (
                f"token_type_ids hold values up to {int(types.max())} but "
                f"{config.model_type} embeds only {limit} type(s): dropped them before "
                "the forward pass (set tokenizer.return_token_type_ids=false to silence)"
            )
            self.warnings.append(message)
            log.warning(message)
        return {k: v for k, v in tensors.items() if k != "token_type_ids"}

    def _predict(
        self, batch: Batch, group: list[int], out: Any, tensors: Tensors, contexts: Contexts
    ) -> None:
        mask = tensors.get("attention_mask")
        if self.head is Head.none:
            hidden = out.last_hidden_state.float()
            m = (mask if mask is not None else (tensors["input_ids"] * 0 + 1)).unsqueeze(-1).float()
            pooled = ((hidden * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy()
            for n, j in enumerate(group):  # kept for the logged examples' rows only
                if batch.indices[j] < self.keep_below:
                    self.embeddings[batch.indices[j]] = pooled[n]
            self._collect(batch, group, list(pooled[:, None]))
        else:
            self._collect(batch, group, self._head_outputs(group, out, tensors))
        if self.label_ids is not None:  # accuracy over every example, not only the logged ones
            predicted = out.logits.argmax(-1).tolist()
            self.correct += sum(
                p == self.label_ids[batch.indices[j]] for p, j in zip(predicted, group, strict=True)
            )
        wanted = [(n, j) for n, j in enumerate(group) if batch.indices[j] < self.keep_below]
        if not wanted:
            return
        self.rows.extend(self._rows(batch, wanted, out, tensors, contexts))

    def _collect(self, batch: Batch, group: list[int], values: list[np.ndarray]) -> None:
        if self.spool is not None:
            for n, j in enumerate(group):
                self.spool.add(batch.indices[j], values[n])

    def _head_outputs(self, group: list[int], out: Any, tensors: Tensors) -> list[np.ndarray]:
        """Each example's comparable output (outputs.npy / .npz; a body's is its mean-pooled
        hidden state): the logits (sequence classification) as one row; per non-pad token the
        logits (token classification), the start/end logits (question answering); masked LM: the
        logits at the mask positions."""
        ids = tensors["input_ids"]
        mask = tensors.get("attention_mask")
        real = (mask if mask is not None else ids * 0 + 1).bool().cpu().numpy()
        if self.head is Head.sequence_classification:
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
        return values

    def finish_outputs(self) -> Path | None:
        """outputs.npy or outputs.npz (runner.model.outputs), written; None without a spool."""
        return self.spool.finish() if self.spool is not None else None

    def _rows(
        self, batch: Batch, wanted: list[tuple[int, int]], out: Any, tensors: Tensors, contexts: Contexts
    ) -> list[dict]:
        """The reported examples' answers: outputs to numpy, then the head's pure function."""
        config = self.loaded.model.config
        at = [n for n, _ in wanted]
        indices = [batch.indices[j] for _, j in wanted]
        if self.head is Head.none:
            return heads.body_rows(indices, np.stack([self.embeddings[i] for i in indices]))
        if self.head is Head.question_answering:
            return heads.answer_rows(
                [self._span(batch, n, j, tensors, contexts) for n, j in wanted],
                _numpy(out.start_logits)[at],
                _numpy(out.end_logits)[at],
                self.predict.max_answer_len,
            )
        logits = _numpy(out.logits)[at]
        ids = tensors["input_ids"].cpu().numpy()[at]
        if self.head is Head.sequence_classification:
            labels = heads.Labels(config.id2label, config.problem_type, config.num_labels)
            return heads.sequence_rows(indices, logits, labels, self.predict.top_k, self.predict.threshold)
        if self.head is Head.token_classification:
            examples = [
                heads.TokenExample(batch.indices[j], ids[k], batch.word_ids(j), batch.special_row(j))
                for k, (_, j) in enumerate(wanted)
            ]
            return heads.token_rows(examples, logits, config.id2label, self.tok.convert_ids_to_tokens)
        return heads.fill_rows(
            indices, logits, ids, self.tok.mask_token_id, self.predict.top_k, self.tok.decode
        )

    def _span(self, batch: Batch, n: int, j: int, tensors: Tensors, contexts: Contexts) -> heads.SpanExample:
        if contexts is None:
            raise ModelError(
                "model.head=question_answering",
                "needs question/context pairs",
                "set dataset.text_pair_column (text = question, pair = context)",
            )
        seq = batch.sequence_ids(j)
        mask = tensors.get("attention_mask")
        attention = mask[n].cpu().numpy() if mask is not None else np.ones(len(seq), dtype=np.int64)
        return heads.SpanExample(batch.indices[j], seq, attention, batch.offset_row(j), contexts[j])

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


def _numpy(tensor: Any) -> np.ndarray:
    return tensor.float().cpu().numpy()
