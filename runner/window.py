"""One window of encoded examples as flat numpy arrays (built by runner.encoding): every
example's real tokens laid end to end, read once from the tokenizer's output, and the slices a
batch of the window's rows takes from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RUST_FIELDS = {"input_ids": "ids", "token_type_ids": "type_ids", "attention_mask": "attention_mask"}


@dataclass
class Window:
    """Rows `first … first + len(n_tokens) - 1` of the input, unpadded."""

    first: int  # input position of the window's row 0
    texts: list[str]  # the window's texts (and pairs' second texts)
    pairs: list[str] | None
    n_tokens: np.ndarray  # real tokens per row
    ids: np.ndarray  # flat token ids
    special: np.ndarray  # flat: 1 for template tokens
    truncated: np.ndarray  # per row
    offsets: np.ndarray | None  # flat [tokens, 2] char spans (fast tokenizers)
    second: np.ndarray | None  # flat: True for a pair's second text (fast tokenizers, pairs)
    encodings: list | None  # Rust encodings (fast tokenizers)
    lists: dict[str, list] | None  # the call's per-row lists (slow tokenizers)
    returned: list[str]  # keys the direct call returns (input_ids, attention_mask, ...)

    def __post_init__(self) -> None:
        self.starts = np.concatenate(([0], np.cumsum(self.n_tokens)[:-1])).astype(np.int64)

    def select(self, rows: np.ndarray) -> slice | np.ndarray:
        """Flat positions of `rows`' tokens, in that order: a slice (a view) for a run of
        consecutive rows, else an index array."""
        if len(rows) and rows[-1] - rows[0] == len(rows) - 1 and (np.diff(rows) == 1).all():
            start = int(self.starts[rows[0]])
            return slice(start, start + int(self.n_tokens[rows].sum()))
        n = self.n_tokens[rows]
        shift = self.starts[rows] - (np.cumsum(n) - n)  # each row's start minus its place here
        return np.repeat(shift, n) + np.arange(int(n.sum()))

    def rows(self, key: str, rows: np.ndarray) -> list[list[int]]:
        """Per-row lists of one returned key (input_ids, token_type_ids, attention_mask), as
        the direct call returns them."""
        if self.encodings is not None:
            name = RUST_FIELDS[key]
            return [getattr(self.encodings[r], name) for r in rows]
        assert self.lists is not None
        return [self.lists[key][r] for r in rows]

    def encodings_of(self, rows: np.ndarray) -> list[Any] | None:
        return None if self.encodings is None else [self.encodings[r] for r in rows]
