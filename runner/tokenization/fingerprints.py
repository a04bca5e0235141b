"""What makes runs comparable example by example (runner.analysis.invariance): a hash of each example's
tokens, and a key over the rows, tokenizer source, weights and head that two runs must share."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from runner.config.schema import RunConfig
from runner.data import sources
from runner.tokenization.batch import Batch


def hash_rows(batch: Batch, out: np.ndarray, offset: int = 0) -> None:
    """Each example's non-pad token ids as one 64-bit hash: runs compare tokenizations cheaply.
    `out` holds the rows from input position `offset` on."""
    from hashlib import blake2b

    view = memoryview(batch.ids.astype("<i8", copy=False).tobytes())  # 8 bytes per token
    ends = np.cumsum(batch.n_tokens) * 8
    starts = (ends - batch.n_tokens * 8).tolist()
    digests = b"".join(
        blake2b(view[a:b], digest_size=8).digest() for a, b in zip(starts, ends.tolist(), strict=True)
    )
    out[np.asarray(batch.indices, dtype=np.int64) - offset] = np.frombuffer(digests, dtype="<u8")


def comparability_key(cfg: RunConfig, texts: sources.Texts) -> str:
    """Runs with equal keys saw the same rows, tokenizer source, model weights and head, so
    their outputs can be compared example by example (runner.analysis.invariance)."""
    import hashlib

    rows = rows_digest(texts)
    m = cfg.model
    model = [
        m.name_or_path,
        m.revision,
        m.head,
        m.dtype.value,
        m.num_labels,
        m.id2label,
        m.problem_type,
    ]
    source: Any = cfg.tokenizer.name_or_path or m.name_or_path
    if cfg.tokenizer.train is not None:  # a trained tokenizer is its training config's
        source = asdict(cfg.tokenizer.train)
    key = json.dumps([rows, source, model if m.forward else None], default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def texts_digest(texts: sources.Texts) -> str:
    """What the run read, by content: the comparison joins only runs with the same digest."""
    return rows_digest(texts)[:16]


def rows_digest(texts: sources.Texts) -> str:
    """The sha256 of the rows (texts, then pairs): the one the reader made (an execution=ray run
    reads in a Ray task), else made here."""
    if texts.digest is not None:
        return texts.digest
    return _joined_digest([texts.texts, *([texts.pairs] if texts.pairs is not None else [])])


def _joined_digest(columns: list[Sequence[str]], step: int = 10_000) -> str:
    """sha256 of "\x1f".join(every item of the columns, one column after the other), fed a
    slice at a time (no copy of the whole corpus)."""
    import hashlib

    digest, first = hashlib.sha256(), True
    for items in columns:
        for start in range(0, len(items), step):
            joined = "\x1f".join(items[start : start + step])
            digest.update((joined if first else "\x1f" + joined).encode())
            first = False
    return digest.hexdigest()
