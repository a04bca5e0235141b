"""Bag-of-tokens features, collected batch by batch as the run encodes its texts.

A single text gives the count of each content token id (special tokens and padding left out). A
sentence pair gives Wegmann, Nguyen & Jurgens's (2025) cross features: every pair (a, b) of one
of the first `cutoff` content tokens of the first text and one of the first `cutoff` of the
second, counted — what a linear reader needs to see the two sides interact.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from scipy import sparse

from runner.tokenization.batch import Batch


class BagOfTokens:
    """Per example, its feature keys and their counts; `matrix()` lays them out as a sparse
    [examples, features] count matrix, columns in ascending key order."""

    def __init__(self, vocab_size: int, cutoff: int) -> None:
        self.vocab = max(int(vocab_size), 1)
        self.cutoff = cutoff
        self.rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # index → (keys, counts)

    def update(self, batch: Batch) -> None:
        start = 0
        for j, index in enumerate(batch.indices):
            n = int(batch.n_tokens[j])
            ids = batch.ids[start : start + n].astype(np.int64)
            content = batch.special[start : start + n] == 0
            second = batch.second[start : start + n] if batch.second is not None else None
            start += n
            keys = self._keys(ids, content, second, batch.pairs is not None)
            self.rows[index] = np.unique(keys, return_counts=True)

    def _keys(
        self, ids: np.ndarray, content: np.ndarray, second: np.ndarray | None, pair: bool
    ) -> np.ndarray:
        if not pair or second is None:
            return cast("np.ndarray", ids[content])
        a = ids[content & ~second][: self.cutoff]
        b = ids[content & second][: self.cutoff]
        return cast("np.ndarray", (a[:, None] * self.vocab + b[None, :]).ravel())

    def merge(self, other: BagOfTokens) -> None:
        """Another part's examples (execution=ray: a worker's block), added to these."""
        self.rows.update(other.rows)

    def matrix(self, examples: int) -> sparse.csr_matrix:
        """The [examples, features] counts; an example never seen (none should be) is a zero row."""
        indices = sorted(self.rows)
        keys = [self.rows[i][0] for i in indices]
        counts = [self.rows[i][1] for i in indices]
        flat = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        columns, inverse = np.unique(flat, return_inverse=True)
        rows = np.repeat(np.asarray(indices, np.int64), [len(k) for k in keys])
        values = np.concatenate(counts).astype(np.float64) if counts else np.zeros(0)
        return sparse.csr_matrix((values, (rows, inverse)), shape=(examples, max(len(columns), 1)))
