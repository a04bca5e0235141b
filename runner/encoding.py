"""Encoding a run's batches exactly as a direct per-batch tokenizer call would.

Examples are tokenized in chunks: one tokenizer call per CHUNK_ROWS examples with the config's
arguments minus padding. Batches are then cut (in input order, or by token length within a
window when runtime.sort_by_length) and each is padded as a direct call on it would pad it:
the arrays equal those of `tokenizer(batch_texts, **kwargs)` (the tests compare them for every
option, batch by batch). Why: the bigger call lets Rust's threads work, no pad token is
converted to Python only to be thrown away, and batches can be sorted by their real length.
Statistics (runner.token_stats) read the unpadded encodings.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

import numpy as np

from runner.batch import Batch
from runner.errors import ModelError, first_line
from runner.schema import PaddingStrategy

PAD_KEYS = ("padding", "pad_to_multiple_of", "padding_side")
CHUNK_ROWS = 256  # examples per tokenizer call: enough for Rust's threads, small in memory
WINDOW_ROWS = 4096  # examples ordered together by token length: near-global order, bounded memory


class Encoder:
    """Encodes a run's batches (see the module docstring); built once per run."""

    def __init__(self, tok: Any, kwargs: dict[str, Any], pad_only_below: int | None = None) -> None:
        """`pad_only_below`: when no model consumes the batches (tokenization only), build padded
        arrays only for batches holding an example below this index (the logged rows show them);
        the others keep their widths, which is all the statistics read."""
        self.tok, self.kwargs, self.pad_only_below = tok, kwargs, pad_only_below
        self.call = {k: v for k, v in kwargs.items() if k not in PAD_KEYS}
        self.padded = kwargs["padding"] != PaddingStrategy.do_not_pad.value
        self.pad_values = {"input_ids": tok.pad_token_id, "token_type_ids": tok.pad_token_type_id}
        self.left = kwargs.get("padding_side", tok.padding_side) == "left"
        self.template = _template_tokens(tok, kwargs["add_special_tokens"]) if tok.is_fast else None

    def stream(
        self, texts: list[str], pairs: list[str] | None, batch_size: int, sort: bool
    ) -> Iterator[Batch]:
        """The run's batches. With `sort`, each window of WINDOW_ROWS examples is ordered by
        token length (longest first) before it is cut into batches, so a batch holds
        similar lengths and little padding; `Batch.indices` keep the input positions."""
        window = max((WINDOW_ROWS if sort else CHUNK_ROWS) // batch_size, 1) * batch_size
        for first in range(0, len(texts), window):
            positions = range(first, min(first + window, len(texts)))
            enc, encodings = self._encode(positions, texts, pairs)
            order = list(range(len(positions)))
            if sort:
                lengths = np.fromiter(map(len, enc["input_ids"]), dtype=np.int64, count=len(order))
                order = np.argsort(-lengths, kind="stable").tolist()
            for b in range(0, len(order), batch_size):
                rows = order[b : b + batch_size]
                part = {k: [v[r] for r in rows] for k, v in enc.items()}
                chosen = [encodings[r] for r in rows] if encodings is not None else None
                yield self._batch(part, chosen, [first + r for r in rows], texts, pairs)

    def _encode(
        self, positions: range, texts: list[str], pairs: list[str] | None
    ) -> tuple[dict[str, list], list | None]:
        """The examples at `positions`, unpadded, one tokenizer call per CHUNK_ROWS of them."""
        enc: dict[str, list] = {}
        encodings: list | None = [] if self.tok.is_fast else None
        for c in range(positions.start, positions.stop, CHUNK_ROWS):
            chunk = range(c, min(c + CHUNK_ROWS, positions.stop))
            out = self._call([texts[i] for i in chunk], [pairs[i] for i in chunk] if pairs else None)
            for k, v in out.items():
                enc.setdefault(k, []).extend(v)
            if encodings is not None:
                encodings.extend(out.encodings)
        return enc, encodings

    def _call(self, texts: list[str], pairs: list[str] | None) -> Any:
        extras = {} if self.tok.is_fast else {"return_special_tokens_mask": True}
        try:
            return self.tok(texts, pairs, **self.call, **extras)
        except Exception as exc:  # the Rust tokenizer's own truncation errors
            if "Truncation error" not in str(exc):
                raise
            raise ModelError(
                f"tokenizer.truncation={self.kwargs['truncation']}",
                f"{first_line(exc)} (max_length {self.kwargs.get('max_length')})",
                "use tokenizer.truncation=longest_first or a larger tokenizer.max_length",
            ) from exc

    def _batch(
        self,
        part: dict[str, list],
        encodings: list | None,
        indices: list[int],
        texts: list[str],
        pairs: list[str] | None,
    ) -> Batch:
        from transformers import BatchEncoding

        special_lists = part.pop("special_tokens_mask", None)  # slow tokenizers only
        n_tokens = np.fromiter(map(len, part["input_ids"]), dtype=np.int64, count=len(indices))
        total = int(n_tokens.sum())
        ids = np.fromiter(chain.from_iterable(part["input_ids"]), dtype=np.int64, count=total)
        if self.padded:
            width = self._width(n_tokens)
            below = self.pad_only_below
            wanted = below is None or min(indices, default=below) < below
            encoding = BatchEncoding(self._pad(part, ids, n_tokens, width) if wanted else part)
            widths = np.full(len(indices), width)
        else:
            encoding, widths = BatchEncoding(part), n_tokens
        batch_texts = [texts[i] for i in indices]
        batch_pairs = [pairs[i] for i in indices] if pairs else None
        if self.tok.is_fast:
            facts = self._fast_facts(encodings or [], ids, batch_texts, batch_pairs, total)
        else:
            special = np.fromiter(chain.from_iterable(special_lists or []), dtype=np.int8, count=total)
            truncated = _truncated_slow(self.tok, n_tokens, batch_texts, batch_pairs, self.kwargs)
            facts = (special, truncated, None, None, None)
        return Batch(
            indices,
            batch_texts,
            batch_pairs,
            encoding,
            list(encoding),
            n_tokens,
            widths,
            self.left,
            ids,
            *facts,
        )

    def _fast_facts(
        self, encodings: list, ids: np.ndarray, texts: list[str], pairs: list[str] | None, total: int
    ) -> tuple:
        """special, truncated, offsets, second and the encodings, read from Rust's encodings."""
        spans = chain.from_iterable(chain.from_iterable(e.offsets for e in encodings))
        offsets = np.fromiter(spans, dtype=np.int32, count=2 * total).reshape(total, 2)
        second = None
        if pairs:
            seq = chain.from_iterable(e.sequence_ids for e in encodings)
            second = np.fromiter((s == 1 for s in seq), dtype=bool, count=total)
        # Rust keeps what truncation cut off as `overflowing`: no second encoding needed.
        truncated = np.fromiter((len(e.overflowing) > 0 for e in encodings), bool, len(encodings))
        special = self._special(encodings, ids, texts, pairs, total)
        return special, truncated, offsets, second, encodings

    def _width(self, n_tokens: np.ndarray) -> int:
        """The padded width a direct call gives: longest or max_length, rounded up to
        pad_to_multiple_of; a sequence longer than max_length padding allows is an error."""
        longest = int(n_tokens.max(initial=0))
        width = self.kwargs["max_length"] if self.kwargs["padding"] == "max_length" else longest
        multiple = self.kwargs.get("pad_to_multiple_of")
        if multiple and width % multiple:
            width += multiple - width % multiple
        if longest > width:
            raise ModelError(
                "tokenizer.truncation",
                f"a sequence of {longest} tokens is longer than the {width} positions "
                "padding.strategy=max_length pads to",
                "set tokenizer.truncation=true, or a larger tokenizer.max_length",
            )
        return width

    def _pad(
        self, part: dict[str, list], ids: np.ndarray, n_tokens: np.ndarray, width: int
    ) -> dict[str, np.ndarray]:
        """The arrays `tokenizer(..., padding=…, return_tensors="np")` returns: same width, side
        and pad values. Not `tokenizer.pad`: it spends ~20 µs of Python per example, a third of
        the whole tokenization budget (benchmarks/run.py). Tests compare with a direct call per
        option."""
        cols = np.arange(width)
        real = cols >= (width - n_tokens)[:, None] if self.left else cols < n_tokens[:, None]
        out = {}
        for key, rows in part.items():
            if key == "attention_mask":  # 1 on every real token, 0 on pads: no need to read it
                out[key] = real.astype(np.int64)
                continue
            arr = np.full(real.shape, self.pad_values.get(key, 0), dtype=np.int64)
            flat = chain.from_iterable(rows)
            arr[real] = ids if key == "input_ids" else np.fromiter(flat, np.int64, len(ids))
            out[key] = arr
        return out

    def _special(
        self, encodings: list, ids: np.ndarray, texts: list[str], pairs: list[str] | None, total: int
    ) -> np.ndarray:
        """Rust's special-tokens mask, looked up by id when no text spells a template token
        out (a literal "[SEP]" in a text is content to Rust, so then the mask is read)."""
        if self.template is not None:
            lookup, spelled = self.template
            joined = "\n".join(texts if pairs is None else texts + pairs).lower()
            if not any(s in joined for s in spelled):
                return lookup[ids].view(np.int8)
        flat = chain.from_iterable(e.special_tokens_mask for e in encodings)
        return np.fromiter(flat, dtype=np.int8, count=total)


def _template_tokens(tok: Any, add_special_tokens: bool) -> tuple[np.ndarray, list[str]] | None:
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


def _truncated_slow(
    tok: Any, n_tokens: np.ndarray, texts: list[str], pairs: list[str] | None, kwargs: dict[str, Any]
) -> np.ndarray:
    """Slow (Python) tokenizers keep no overflow: re-encode, untruncated, the rows at the limit."""
    limit = kwargs.get("max_length")
    flags = np.zeros(len(texts), dtype=bool)
    if kwargs["truncation"] is False or limit is None:
        return flags
    at_limit = np.flatnonzero(n_tokens >= limit)
    if len(at_limit):
        full = tok(
            [texts[i] for i in at_limit],
            [pairs[i] for i in at_limit] if pairs else None,
            add_special_tokens=kwargs["add_special_tokens"],
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        flags[at_limit] = [len(ids) > limit for ids in full["input_ids"]]
    return flags
