"""Encoding a run's batches exactly as a direct per-batch tokenizer call would.

Examples are tokenized a window of WINDOW_ROWS at a time with the config's arguments minus
padding, and read once into flat arrays (runner.tokenization.window). Batches are then cut (in input order,
or by token length within the window when runtime.sort_by_length) and each is padded as a direct
call on it would pad it: the arrays equal those of `tokenizer(batch_texts, **kwargs)` (the tests
compare them for every option, batch by batch). Why: the bigger call lets Rust's threads work,
no pad token is converted to Python only to be thrown away, and batches can be sorted by their
real length. Fast tokenizers are called through their Rust backend, one call per window, once a
direct call on the window's first example has set the backend's truncation exactly as the
direct call on the window would: transformers' conversion of every encoding into Python lists
(a third of a direct call's time at corpus scale) is skipped. Python (slow) tokenizers are
called directly, CHUNK_ROWS examples per call. Statistics (runner.tokenization.token_stats) read the arrays.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Any

import numpy as np

from runner.config.schema import PaddingStrategy
from runner.errors import ModelError, first_line
from runner.tokenization.batch import Batch
from runner.tokenization.fidelity import RoundTrip
from runner.tokenization.window import Window, from_lists, from_rust, template_tokens

PAD_KEYS = ("padding", "pad_to_multiple_of", "padding_side")
CHUNK_ROWS = 256  # examples per call of a Python (slow) tokenizer
WINDOW_ROWS = 4096  # examples ordered together by token length: near-global order, bounded memory


def window_rows(batch_size: int) -> int:
    """Rows ordered and cut into batches together: whole batches, about WINDOW_ROWS. Blocks of
    whole windows give the same batches wherever they are encoded (execution=ray)."""
    return max(WINDOW_ROWS // batch_size, 1) * batch_size


class Encoder:
    """Encodes a run's batches (see the module docstring); built once per run."""

    def __init__(
        self, tok: Any, kwargs: dict[str, Any], pad_only_below: int | None = None, roundtrip: bool = True
    ) -> None:
        """`pad_only_below`: when no model consumes the batches (tokenization only), build the
        model's arrays only for batches holding an example below this index (the logged rows
        show them); the others keep their widths, which is all the statistics read."""
        self.tok, self.kwargs, self.pad_only_below = tok, kwargs, pad_only_below
        self.call = {k: v for k, v in kwargs.items() if k not in PAD_KEYS}
        self.padded = kwargs["padding"] != PaddingStrategy.do_not_pad.value
        self.pad_values = {"input_ids": tok.pad_token_id, "token_type_ids": tok.pad_token_type_id}
        self.left = kwargs.get("padding_side", tok.padding_side) == "left"
        self.template = template_tokens(tok, kwargs["add_special_tokens"]) if tok.is_fast else None
        self.returned = _returned_keys(tok, kwargs)
        self.roundtrip = RoundTrip(tok) if roundtrip else None

    def stream(
        self, texts: Sequence[str], pairs: Sequence[str] | None, batch_size: int, sort: bool, offset: int = 0
    ) -> Generator[Batch, None, None]:
        """The run's batches. With `sort`, each window of window_rows(batch_size) examples is
        ordered by token length (longest first) before it is cut into batches, so a batch holds
        similar lengths and little padding; `Batch.indices` keep the input positions (counted
        from `offset`: the first text's position in the whole input)."""
        size = window_rows(batch_size)
        for window in self._windows(texts, pairs, size):
            window.first += offset
            # one decode per window: Rust's threads work while the next window is encoded
            window.roundtrip = self.roundtrip.check(window) if self.roundtrip else None
            n = len(window.n_tokens)
            order = np.argsort(-window.n_tokens, kind="stable") if sort else np.arange(n)
            for b in range(0, n, batch_size):
                yield self._batch(window, order[b : b + batch_size])

    def _windows(self, texts: Sequence[str], pairs: Sequence[str] | None, size: int) -> Iterator[Window]:
        """The windows of `size` examples in order, each read from the texts once. With a fast
        tokenizer the next window's Rust encoding runs on a worker thread while this one is read
        into arrays: Rust releases the GIL, so its threads and this Python work share the cores
        instead of taking turns."""

        def part(first: int) -> tuple[list[str], list[str] | None]:
            stop = min(first + size, len(texts))
            return list(texts[first:stop]), list(pairs[first:stop]) if pairs else None

        firsts = range(0, len(texts), size)
        if not self.tok.is_fast:  # Python tokenizers hold the GIL: nothing to overlap
            yield from (self._slow_window(first, *part(first)) for first in firsts)
            return
        if not firsts:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="runner-encode") as pool:
            current = part(0)
            ahead = pool.submit(self._rust_call, *current)
            for n, first in enumerate(firsts):
                encodings = ahead.result()
                following = part(firsts[n + 1]) if n + 1 < len(firsts) else None
                if following is not None:
                    ahead = pool.submit(self._rust_call, *following)
                yield from_rust(first, *current, encodings, self.template, self.returned)
                current = following or current

    def _slow_window(self, first: int, texts: list[str], pairs: list[str] | None) -> Window:
        chunks = [
            (texts[c : c + CHUNK_ROWS], pairs[c : c + CHUNK_ROWS] if pairs else None)
            for c in range(0, len(texts), CHUNK_ROWS)
        ]
        lists: dict[str, list[Any]] = {}
        for chunk in chunks:
            out = self._call(*chunk, return_special_tokens_mask=True)
            for k, v in out.items():
                lists.setdefault(k, []).extend(v)
        truncated = _truncated_slow(self.tok, lists["input_ids"], texts, pairs, self.kwargs)
        return from_lists(first, texts, pairs, lists, truncated)

    def _rust_call(self, texts: list[str], pairs: list[str] | None) -> list[Any]:
        """The window's Rust encodings, as the direct call on it makes them: that call on the
        first example sets the backend's truncation and special-token splitting (and checks the
        arguments), then the window goes to the backend without the conversion to lists."""
        self._call(texts[:1], pairs[:1] if pairs else None, verbose=False)
        inputs = list(zip(texts, pairs, strict=True)) if pairs else texts
        encoded: list[Any] = self._checked(
            self.tok.backend_tokenizer.encode_batch,
            inputs,
            add_special_tokens=self.kwargs["add_special_tokens"],
        )
        return encoded

    def _call(self, texts: list[str], pairs: list[str] | None, **extras: Any) -> Any:
        return self._checked(self.tok, texts, pairs, **self.call, **extras)

    def _checked(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # the Rust tokenizer's own truncation errors
            if "Truncation error" not in str(exc):
                raise
            raise ModelError(
                f"tokenizer.truncation={self.kwargs['truncation']}",
                f"{first_line(exc)} (max_length {self.kwargs.get('max_length')})",
                "use tokenizer.truncation=longest_first or a larger tokenizer.max_length",
            ) from exc

    def _batch(self, window: Window, rows: np.ndarray) -> Batch:
        """The batch of the window's `rows`; its arrays (`encoding`) are built only when
        something reads them (see `pad_only_below`)."""
        from transformers import BatchEncoding

        indices = (window.first + rows).tolist()
        flat, n_tokens = window.select(rows), window.n_tokens[rows]
        ids = window.ids[flat]
        wanted = self.pad_only_below is None or min(indices) < self.pad_only_below
        encoding = None
        if self.padded:
            width = self._width(n_tokens)
            widths = np.full(len(rows), width)
            if wanted:
                encoding = BatchEncoding(self._pad(window, rows, ids, n_tokens, width))
        else:
            widths = n_tokens
            if wanted:
                encoding = BatchEncoding({k: window.rows(k, rows) for k in window.returned})
        return Batch(
            indices=indices,
            texts=[window.texts[r] for r in rows],
            pairs=[window.pairs[r] for r in rows] if window.pairs else None,
            encoding=encoding,
            returned=window.returned,
            n_tokens=n_tokens,
            widths=widths,
            left=self.left,
            ids=ids,
            special=window.special[flat],
            truncated=window.truncated[rows],
            offsets=None if window.offsets is None else window.offsets[flat],
            second=None if window.second is None else window.second[flat],
            encodings=window.encodings_of(rows),
            roundtrip=None
            if window.roundtrip is None
            else (window.roundtrip[0][rows], window.roundtrip[1][rows]),
        )

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
        self, window: Window, rows: np.ndarray, ids: np.ndarray, n_tokens: np.ndarray, width: int
    ) -> dict[str, np.ndarray]:
        """The arrays `tokenizer(..., padding=…, return_tensors="np")` returns: same width, side
        and pad values. Not `tokenizer.pad`: it spends ~20 µs of Python per example, a third of
        the whole tokenization budget (benchmarks/run.py). Tests compare with a direct call per
        option."""
        cols = np.arange(width)
        real = cols >= (width - n_tokens)[:, None] if self.left else cols < n_tokens[:, None]
        out = {}
        for key in window.returned:
            if key == "attention_mask":  # 1 on every real token, 0 on pads: no need to read it
                out[key] = real.astype(np.int64)
                continue
            arr = np.full(real.shape, self.pad_values.get(key, 0), dtype=np.int64)
            if key == "input_ids":
                arr[real] = ids
            else:
                arr[real] = np.fromiter(chain.from_iterable(window.rows(key, rows)), np.int64, len(ids))
            out[key] = arr
        return out


def _returned_keys(tok: Any, kwargs: dict[str, Any]) -> list[str]:
    """The keys a direct call returns (transformers' rule: what the call asks for, else what
    the tokenizer's model takes)."""
    keys = ["input_ids"]
    for key in ("token_type_ids", "attention_mask"):
        asked = kwargs.get(f"return_{key}")
        if asked if asked is not None else key in tok.model_input_names:
            keys.append(key)
    return keys


def _truncated_slow(
    tok: Any, ids: list[list[int]], texts: list[str], pairs: list[str] | None, kwargs: dict[str, Any]
) -> np.ndarray:
    """Slow (Python) tokenizers keep no overflow: re-encode, untruncated, the rows at the limit."""
    limit = kwargs.get("max_length")
    flags = np.zeros(len(texts), dtype=bool)
    if kwargs["truncation"] is False or limit is None:
        return flags
    n_tokens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
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
