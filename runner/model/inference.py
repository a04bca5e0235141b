"""The forward pass over tokenized batches: checks before it, shapes after it; what each head
outputs and answers comes from heads.HEADS."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runner.config.schema import PredictConfig
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
    head: str  # a key of heads.HEADS
    predict: PredictConfig
    keep_below: int  # only examples with index < keep_below get a predictions row
    label_ids: list[int] | None = None  # gold class ids per input index (single-label heads)
    correct: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
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
        head = heads.HEADS[self.head]
        step = heads.Step(
            out, tensors, batch, group, self.tok, self.loaded.model.config, self.predict, contexts
        )
        values = head.outputs(step)
        self._collect(batch, group, values)
        if self.label_ids is not None:  # accuracy over every example, not only the logged ones
            predicted = out.logits.argmax(-1).tolist()
            self.correct += sum(
                p == self.label_ids[batch.indices[j]] for p, j in zip(predicted, group, strict=True)
            )
        wanted = [(n, j) for n, j in enumerate(group) if batch.indices[j] < self.keep_below]
        if wanted:
            self.rows.extend(head.rows(step, wanted, values))

    def _collect(self, batch: Batch, group: list[int], values: list[np.ndarray]) -> None:
        """Each example's comparable output (a body's mean-pooled hidden state, a head's logits
        per example, per token or per mask) to the spool: outputs.npy / outputs.npz."""
        if self.spool is not None:
            for n, j in enumerate(group):
                self.spool.add(batch.indices[j], values[n])

    def finish_outputs(self) -> Path | None:
        """outputs.npy or outputs.npz (runner.model.outputs), written; None without a spool."""
        return self.spool.finish() if self.spool is not None else None

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
