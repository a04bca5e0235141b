"""One window of encoded examples as flat numpy arrays (built by runner.tokenization.encoding): every
example's real tokens laid end to end, read once from the tokenizer's output, and the slices a
batch of the window's rows takes from them."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

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
    encodings: list[Any] | None  # Rust encodings (fast tokenizers)
    lists: dict[str, list[Any]] | None  # the call's per-row lists (slow tokenizers)
    returned: list[str]  # keys the direct call returns (input_ids, attention_mask, ...)
    roundtrip: tuple[np.ndarray, np.ndarray] | None = None  # per row, set by runner.tokenization.fidelity

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


def from_rust(
    first: int,
    texts: list[str],
    pairs: list[str] | None,
    encodings: list[Any],
    template: tuple[np.ndarray, list[str]] | None,
    returned: list[str],
) -> Window:
    """The window's flat arrays, read once from its Rust encodings."""
    n_tokens = np.fromiter(map(len, encodings), dtype=np.int64, count=len(encodings))
    total = int(n_tokens.sum())
    ids = np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=total)
    spans = chain.from_iterable(chain.from_iterable(e.offsets for e in encodings))
    offsets = np.fromiter(spans, dtype=np.int32, count=2 * total).reshape(total, 2)
    second = None
    if pairs:
        seq = chain.from_iterable(e.sequence_ids for e in encodings)
        second = np.fromiter((s == 1 for s in seq), dtype=bool, count=total)
    # Rust keeps what truncation cut off as `overflowing`: no second encoding needed.
    truncated = np.fromiter((len(e.overflowing) > 0 for e in encodings), bool, len(encodings))
    special = _special(encodings, ids, texts, pairs, template)
    return Window(
        first, texts, pairs, n_tokens, ids, special, truncated, offsets, second, encodings, None, returned
    )


def from_lists(
    first: int, texts: list[str], pairs: list[str] | None, lists: dict[str, list[Any]], truncated: np.ndarray
) -> Window:
    """The window's flat arrays from a Python tokenizer's lists (with its special-tokens mask)."""
    marks = lists.pop("special_tokens_mask")
    n_tokens = np.fromiter(map(len, lists["input_ids"]), dtype=np.int64, count=len(texts))
    total = int(n_tokens.sum())
    ids = np.fromiter(chain.from_iterable(lists["input_ids"]), dtype=np.int64, count=total)
    special = np.fromiter(chain.from_iterable(marks), dtype=np.int8, count=total)
    return Window(
        first, texts, pairs, n_tokens, ids, special, truncated, None, None, None, lists, list(lists)
    )


def _special(
    encodings: list[Any],
    ids: np.ndarray,
    texts: list[str],
    pairs: list[str] | None,
    template: tuple[np.ndarray, list[str]] | None,
) -> np.ndarray:
    """Rust's special-tokens mask, looked up by id when no text spells a template token
    out (a literal "[SEP]" in a text is content to Rust, so then the mask is read)."""
    if template is not None:
        lookup, spelled = template
        joined = "\n".join(texts if pairs is None else texts + pairs).lower()
        if not any(s in joined for s in spelled):
            return cast("np.ndarray", lookup[ids].view(np.int8))
    flat = chain.from_iterable(e.special_tokens_mask for e in encodings)
    return np.fromiter(flat, dtype=np.int8, count=len(ids))


def template_tokens(tok: Any, add_special_tokens: bool) -> tuple[np.ndarray, list[str]] | None:
    """The ids the post-processor adds (learnt from two probe encodings) as a lookup table,
    and their spellings. None when the tokenizer cannot be probed: then Rust's mask is read."""
    try:
        probes = [tok(["a"], add_special_tokens=add_special_tokens, return_special_tokens_mask=True)]
        probes.append(
            tok(["a"], ["b"], add_special_tokens=add_special_tokens, return_special_tokens_mask=True)
        )
    except Exception:  # a template without a pair rule, or an unusual tokenizer
        return None
    added = {
        i
        for enc in probes
        for i, flag in zip(enc["input_ids"][0], enc["special_tokens_mask"][0], strict=True)
        if flag
    }
    lookup = np.zeros(max([len(tok), *added]) + 1, dtype=bool)
    lookup[list(added)] = True
    return lookup, [t.lower() for t in tok.convert_ids_to_tokens(sorted(added))]
