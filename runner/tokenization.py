"""Loading the tokenizer, encoding batches exactly as a direct call would, and token statistics.

Every batch is one direct call `tokenizer(texts, pairs, **call_kwargs(...))`; statistics are
accumulated batch by batch (a few numbers per example), so memory does not grow with the data
beyond one int per example for the length percentiles.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from runner.errors import ModelError, first_line
from runner.schema import ModelConfig, PaddingConfig, PaddingStrategy, TokenizerConfig

log = logging.getLogger(__name__)

HUGE = 1_000_000  # transformers' "no limit" model_max_length is ~1e30
# str.isspace() code points: Python's notion of whitespace, which str.split() uses for words.
SPACE_TABLE = np.array([chr(c).isspace() for c in range(0x3100)])  # all whitespace is below U+3100
SPECIAL_ROLES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")


def load_tokenizer(cfg: TokenizerConfig, model: ModelConfig):
    """AutoTokenizer from tokenizer.name_or_path, or the model's checkpoint when that is null."""
    from transformers import AutoTokenizer

    source = cfg.name_or_path or model.name_or_path
    revision = cfg.revision or (None if cfg.name_or_path else model.revision)
    key = "tokenizer.name_or_path" if cfg.name_or_path else "model.name_or_path"
    try:
        return AutoTokenizer.from_pretrained(
            source,
            revision=revision,
            use_fast=cfg.use_fast,
            trust_remote_code=model.trust_remote_code,
        )
    except Exception as exc:
        raise ModelError(
            f"{key}={source}", f"cannot load a tokenizer: {first_line(exc)}", _load_fix()
        ) from exc


def _load_fix() -> str:
    import os

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return (
            "HF_HUB_OFFLINE is set, so only local folders and cached hub ids load: give a local "
            "path, or unset HF_HUB_OFFLINE with network access"
        )
    return "give a local folder holding tokenizer files, or a hub id reachable from here"


def effective_max_length(tok, cfg: TokenizerConfig) -> int | None:
    """The length truncation applies: tokenizer.max_length, else the tokenizer's own maximum."""
    if cfg.max_length is not None:
        return cfg.max_length
    return tok.model_max_length if tok.model_max_length < HUGE else None


def check(tok, cfg: TokenizerConfig, padding: PaddingConfig) -> None:
    """Pre-flight: fail before any batch runs, with the key and the fix."""
    limit = tok.model_max_length
    if cfg.max_length is not None and limit < HUGE and cfg.max_length > limit:
        raise ModelError(
            f"tokenizer.max_length={cfg.max_length}",
            f"exceeds the tokenizer's model_max_length {limit}: longer sequences "
            "cannot be embedded by the model",
            f"use tokenizer.max_length={limit} or less",
        )
    if padding.strategy is not PaddingStrategy.do_not_pad and tok.pad_token is None:
        raise ModelError(
            "padding.strategy",
            f"'{padding.strategy.value}' needs a pad token and {type(tok).__name__} has none",
            "use padding=do_not_pad, or a tokenizer that defines pad_token",
        )


def call_kwargs(tok, cfg: TokenizerConfig, padding: PaddingConfig) -> dict[str, Any]:
    """The tokenizer arguments the config asks for: what a user would pass to a direct call."""
    truncation: bool | str = {"true": True, "false": False}.get(cfg.truncation, cfg.truncation)
    kwargs: dict[str, Any] = {
        "padding": padding.strategy.value,
        "truncation": truncation,
        "max_length": cfg.max_length,
        "add_special_tokens": cfg.add_special_tokens,
    }
    if truncation is not False and cfg.max_length is None:
        kwargs["max_length"] = effective_max_length(tok, cfg)
    if padding.pad_to_multiple_of:
        kwargs["pad_to_multiple_of"] = padding.pad_to_multiple_of
    if padding.side is not None:
        kwargs["padding_side"] = padding.side.value
    if cfg.return_token_type_ids is not None:
        kwargs["return_token_type_ids"] = cfg.return_token_type_ids
    if cfg.return_attention_mask is not None:
        kwargs["return_attention_mask"] = cfg.return_attention_mask
    return kwargs


@dataclass
class Batch:
    """One batch as the tokenizer returned it (`encoding`), plus what statistics need."""

    indices: list[int]  # positions of these examples in the input
    encoding: Any  # BatchEncoding: numpy arrays, or lists when do_not_pad
    returned: list[str]  # keys the user's call returns (input_ids, attention_mask, ...)
    n_tokens: np.ndarray  # non-pad tokens per example
    widths: np.ndarray  # positions per example (padded length)
    ids: np.ndarray  # [examples, positions] input ids (0 past a ragged row's end)
    mask: np.ndarray  # [examples, positions] attention mask
    special: np.ndarray  # [examples, positions] 1 for special and pad tokens
    offsets: np.ndarray | None  # [examples, positions, 2] char spans; None for slow tokenizers


def encode(
    tok, texts: list[str], pairs: list[str] | None, kwargs: dict[str, Any], indices: list[int]
) -> Batch:
    """One direct tokenizer call; what statistics need beyond it is read off the Rust encodings."""
    extras: dict[str, Any] = {"return_attention_mask": True}
    if not tok.is_fast:
        extras["return_special_tokens_mask"] = True
    padded = kwargs["padding"] != "do_not_pad"
    try:
        enc = tok(texts, pairs, **{**kwargs, **extras}, return_tensors="np" if padded else None)
    except Exception as exc:  # the Rust tokenizer's own truncation errors
        if "Truncation error" not in str(exc):
            raise
        raise ModelError(
            f"tokenizer.truncation={kwargs['truncation']}",
            f"{first_line(exc)} (max_length {kwargs.get('max_length')})",
            "use tokenizer.truncation=longest_first or a larger tokenizer.max_length",
        ) from exc
    returned = [k for k in enc if k != "special_tokens_mask"]
    if kwargs.get("return_attention_mask") is False:
        returned.remove("attention_mask")
    ids, mask = (enc[k] if padded else _ragged(enc[k]) for k in ("input_ids", "attention_mask"))
    n_tokens = mask.sum(axis=1)
    widths = np.full(len(texts), ids.shape[1]) if padded else np.array([len(r) for r in enc["input_ids"]])
    if tok.is_fast:
        special, offsets = _from_encodings(enc.encodings, ids.shape)
    else:
        special, offsets = _ragged(enc["special_tokens_mask"], fill=1), None
    return Batch(indices, enc, returned, n_tokens, widths, ids, mask, special, offsets)


def _from_encodings(encodings, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Special-token masks and offsets straight from the Rust encodings: far cheaper than
    asking transformers for return_offsets_mapping (which builds Python lists first)."""
    rows, width = shape
    special = np.ones(shape, dtype=np.int64)
    offsets = np.zeros((*shape, 2), dtype=np.int64)
    if all(len(e.ids) == width for e in encodings):
        flat = chain.from_iterable(e.special_tokens_mask for e in encodings)
        special = np.fromiter(flat, dtype=np.int64, count=rows * width).reshape(shape)
        spans = chain.from_iterable(chain.from_iterable(e.offsets for e in encodings))
        offsets = np.fromiter(spans, dtype=np.int64, count=rows * width * 2).reshape(rows, width, 2)
        return special, offsets
    for i, e in enumerate(encodings):  # ragged rows (do_not_pad)
        special[i, : len(e.ids)] = e.special_tokens_mask
        if e.offsets:
            offsets[i, : len(e.ids)] = e.offsets
    return special, offsets


def model_inputs(batch: Batch) -> dict[str, Any]:
    """The arrays a model's forward takes: what the tokenizer returned, minus internal extras."""
    return {k: batch.encoding[k] for k in batch.returned}


def _ragged(rows: list[list[int]], fill: int = 0) -> np.ndarray:
    out = np.full((len(rows), max(map(len, rows), default=0)), fill, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


@dataclass
class TokenStats:
    """Accumulates the summary metrics over all batches (see the README for definitions)."""

    unk_id: int | None
    lengths: list[np.ndarray] = field(default_factory=list)
    positions: int = 0
    content: int = 0  # non-special, non-pad tokens
    unk: int = 0
    chars: int = 0
    word_tokens: int = 0  # content tokens that fall inside a whitespace word
    words: int = 0  # whitespace words that received at least one token
    continued: int = 0  # words split into two or more tokens
    truncated: int = 0
    has_offsets: bool = True

    def update(self, batch: Batch, texts: list[str], pairs: list[str] | None, truncated: np.ndarray) -> None:
        ids, mask, special = batch.ids, batch.mask, batch.special
        content = (mask == 1) & (special == 0)
        self.lengths.append(batch.n_tokens.astype(np.int64))
        self.positions += int(batch.widths.sum())
        self.content += int(content.sum())
        self.unk += int(((ids == self.unk_id) & content).sum()) if self.unk_id is not None else 0
        self.chars += sum(map(len, texts)) + (sum(map(len, pairs)) if pairs else 0)
        self.truncated += int(truncated.sum())
        if batch.offsets is None:
            self.has_offsets = False
            return
        self._words(batch.encoding, batch.offsets, content, texts, pairs)

    def _words(
        self,
        enc,
        offsets: np.ndarray,
        content: np.ndarray,
        texts: list[str],
        pairs: list[str] | None,
    ) -> None:
        # Lay every text (and pair) end to end, separated by a space, and number the
        # whitespace words of that one string; each token then belongs to the word holding its
        # last character (that skips the leading space of byte-level BPE tokens).
        segments = texts if pairs is None else [s for ab in zip(texts, pairs) for s in ab]
        joined = " ".join(segments)
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        space = np.zeros(len(codes), dtype=bool)
        low = codes < len(SPACE_TABLE)
        space[low] = SPACE_TABLE[codes[low]]
        starts = ~space & np.concatenate(([True], space[:-1]))
        word_of_char = np.cumsum(starts) - 1
        bases = np.cumsum([0] + [len(s) + 1 for s in segments[:-1]])
        if pairs is None:
            base = bases[:, None]
        else:
            seq = np.zeros(content.shape, dtype=bool)
            for i in range(len(texts)):
                ids = enc.sequence_ids(i)
                seq[i, : len(ids)] = [s == 1 for s in ids]
            base = np.where(seq, bases[1::2][:, None], bases[0::2][:, None])
        last = offsets[..., 1] - 1 + base
        inside = content & (offsets[..., 1] > offsets[..., 0])
        inside[inside] = ~space[last[inside]]
        counts = np.bincount(word_of_char[last[inside]], minlength=int(starts.sum()))
        self.word_tokens += int(counts.sum())
        self.words += int((counts > 0).sum())
        self.continued += int((counts >= 2).sum())

    def summary(self) -> dict[str, float]:
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(1, dtype=np.int64)
        metrics = {
            "tokens/total": float(lengths.sum()),
            "tokens/mean_len": float(lengths.mean()),
            "tokens/p50_len": float(np.percentile(lengths, 50)),
            "tokens/p95_len": float(np.percentile(lengths, 95)),
            "tokens/max_len": float(lengths.max()),
            "tokens/pad_fraction": 1.0 - float(lengths.sum()) / self.positions if self.positions else 0.0,
            "tokens/unk_rate": self.unk / self.content if self.content else 0.0,
            "tokens/chars_per_token": self.chars / self.content if self.content else 0.0,
            "tokens/truncated_fraction": self.truncated / len(lengths),
        }
        if self.has_offsets:
            metrics["tokens/fertility"] = self.word_tokens / self.words if self.words else 0.0
            metrics["tokens/continued_word_ratio"] = self.continued / self.words if self.words else 0.0
        return metrics


def truncated_flags(
    tok, batch: Batch, texts: list[str], pairs: list[str] | None, kwargs: dict[str, Any]
) -> np.ndarray:
    """Which examples lost tokens to truncation: only those at the limit are re-checked."""
    limit = kwargs.get("max_length")
    flags = np.zeros(len(texts), dtype=bool)
    if kwargs["truncation"] is False or limit is None:
        return flags
    at_limit = np.flatnonzero(batch.n_tokens >= limit)
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


def example_rows(
    tok,
    batch: Batch,
    keep: list[int],
    texts: list[str],
    pairs: list[str] | None,
    truncated: np.ndarray,
) -> list[dict[str, Any]]:
    """Rows of tokens.json for the examples at batch positions `keep`."""
    enc = batch.encoding
    ids = [_as_list(enc["input_ids"][j]) for j in keep]
    decoded = tok.batch_decode(ids)
    decoded_skip = tok.batch_decode(ids, skip_special_tokens=True)
    rows = []
    for n, j in enumerate(keep):
        row: dict[str, Any] = {"index": batch.indices[j], "text": texts[j]}
        if pairs is not None:
            row["text_pair"] = pairs[j]
        row["input_ids"] = ids[n]
        row["tokens"] = tok.convert_ids_to_tokens(ids[n])
        for key in ("token_type_ids", "attention_mask"):
            if key in batch.returned:
                row[key] = _as_list(enc[key][j])
        row.update(
            decoded=decoded[n],
            decoded_skip_special=decoded_skip[n],
            n_tokens=int(batch.n_tokens[j]),
            n_pad=int(batch.widths[j] - batch.n_tokens[j]),
            truncated=bool(truncated[j]),
        )
        rows.append(row)
    return rows


def _as_list(x) -> list[int]:
    return x.tolist() if isinstance(x, np.ndarray) else list(x)


def facts(tok) -> dict[str, str]:
    """Tokenizer facts logged as tags: class, sizes, padding side, special tokens and ids."""
    out = {
        "tokenizer.class": type(tok).__name__,
        "tokenizer.vocab_size": str(len(tok)),
        "tokenizer.model_max_length": str(tok.model_max_length if tok.model_max_length < HUGE else "none"),
        "tokenizer.returns_token_type_ids": str("token_type_ids" in tok.model_input_names).lower(),
        "tokenizer.padding_side": tok.padding_side,
        "tokenizer.is_fast": str(tok.is_fast).lower(),
    }
    for role in SPECIAL_ROLES:
        token = getattr(tok, f"{role}_token", None)
        if token is not None:
            out[f"tokenizer.special.{role}"] = f"{token} ({tok.convert_tokens_to_ids(token)})"
    return out
