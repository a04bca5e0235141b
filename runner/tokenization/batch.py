"""One batch of encoded examples, padded as a direct tokenizer call pads it, with every
example's unpadded tokens laid end to end for statistics (built by runner.tokenization.encoding)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Batch:
    """One batch: what the model takes (`encoding`, padded as the config says) and, per
    example, the unpadded tokens that statistics read. Flat arrays hold every example's real
    tokens end to end (`n_tokens` long each)."""

    indices: list[int]  # positions of these examples in the input
    texts: list[str]  # these examples' texts (and pairs' second texts)
    pairs: list[str] | None
    encoding: Any  # BatchEncoding: numpy arrays, or lists when do_not_pad; None when unread
    returned: list[str]  # keys the user's call returns (input_ids, attention_mask, ...)
    n_tokens: np.ndarray  # real (non-pad) tokens per example
    widths: np.ndarray  # positions per example (padded length)
    left: bool  # padding sits on the left
    ids: np.ndarray  # flat token ids
    special: np.ndarray  # flat: 1 for tokens the template added (Rust's special-tokens mask)
    truncated: np.ndarray  # per example: True where truncation dropped tokens
    offsets: np.ndarray | None  # flat [tokens, 2] char spans; None for slow tokenizers
    second: np.ndarray | None  # flat: True for tokens of a pair's second text; None without pairs
    encodings: list[Any] | None  # unpadded Rust encodings (fast tokenizers)
    roundtrip: tuple[np.ndarray, np.ndarray] | None = None  # per example: exact, up to the normalizer

    def _pad(self, j: int) -> tuple[int, int]:
        """Pad positions before and after example j's tokens."""
        pad = int(self.widths[j] - self.n_tokens[j])
        return (pad, 0) if self.left else (0, pad)

    def _row(self, flat: np.ndarray, j: int) -> np.ndarray:
        start = int(self.n_tokens[:j].sum())
        return flat[start : start + int(self.n_tokens[j])]

    def special_row(self, j: int) -> np.ndarray:
        """Example j's special-tokens mask over its padded row (padding counts as special)."""
        return np.pad(self._row(self.special, j), self._pad(j), constant_values=1)

    def _aligned(self, values: list[Any], j: int) -> list[Any]:
        before, after = self._pad(j)
        return [None] * before + values + [None] * after

    def word_ids(self, j: int) -> list[int | None]:
        if self.encodings is None:  # slow tokenizers keep no word ids
            return [None] * int(self.widths[j])
        return self._aligned(self.encodings[j].word_ids, j)

    def sequence_ids(self, j: int) -> list[int | None]:
        if self.encodings is None:
            raise ValueError("slow tokenizers keep no sequence ids")
        return self._aligned(self.encodings[j].sequence_ids, j)

    def offset_row(self, j: int) -> np.ndarray:
        if self.offsets is None:
            raise ValueError("slow tokenizers keep no offsets")
        return np.pad(self._row(self.offsets, j), (self._pad(j), (0, 0)))


def model_inputs(batch: Batch) -> dict[str, Any]:
    """The arrays a model's forward takes: exactly what the tokenizer returned."""
    return {k: batch.encoding[k] for k in batch.returned}
