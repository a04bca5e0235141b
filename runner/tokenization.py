"""Loading the tokenizer, the arguments of its call, checks before any batch, and the
rows of tokens.json (encoding the batches: runner.encoding; statistics: runner.token_stats).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from runner import hub
from runner.encoding import Batch
from runner.errors import ModelError, first_line
from runner.schema import ModelConfig, PaddingConfig, PaddingStrategy, TokenizerConfig

HUGE = 1_000_000  # transformers' "no limit" model_max_length is ~1e30
SPECIAL_ROLES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")


def load_tokenizer(cfg: TokenizerConfig, model: ModelConfig):
    """AutoTokenizer from tokenizer.name_or_path, or the model's checkpoint when that is null."""
    from transformers import AutoTokenizer

    source = cfg.name_or_path or model.name_or_path
    revision = cfg.revision or (None if cfg.name_or_path else model.revision)
    key = "tokenizer.name_or_path" if cfg.name_or_path else "model.name_or_path"
    hub.check_source(key, source, weights=False)
    try:
        tok = AutoTokenizer.from_pretrained(
            source,
            revision=revision,
            use_fast=cfg.use_fast,
            trust_remote_code=model.trust_remote_code,
        )
    except Exception as exc:
        raise ModelError(
            f"{key}={source}", f"cannot load a tokenizer: {first_line(exc)}", hub.load_fix()
        ) from exc
    return tok if cfg.use_fast or not tok.is_fast else _python_tokenizer(tok, source, revision)


def _python_tokenizer(fast, source: str, revision: str | None):
    """tokenizer.use_fast=false: transformers 5 ignores the flag and keeps a Python (slow)
    implementation only as `<Class>Legacy` (BertTokenizerLegacy); load that, or say there is none."""
    import transformers

    legacy = getattr(transformers, f"{type(fast).__name__}Legacy", None)
    if legacy is None:
        raise ModelError(
            "tokenizer.use_fast=false",
            f"transformers {transformers.__version__} has no Python (slow) {type(fast).__name__}",
            "use tokenizer.use_fast=true (only BERT-style WordPiece keeps a Python tokenizer)",
        )
    try:
        return legacy.from_pretrained(source, revision=revision)
    except Exception as exc:
        raise ModelError(
            "tokenizer.use_fast=false",
            f"{legacy.__name__} cannot load {source}: {first_line(exc)}",
            "the Python tokenizer needs vocab.txt; use tokenizer.use_fast=true",
        ) from exc


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

    length = effective_max_length(tok, cfg)
    multiple = padding.pad_to_multiple_of if padding.strategy is not PaddingStrategy.do_not_pad else None
    if multiple and length and cfg.truncation != "false" and length % multiple:
        raise ModelError(
            "padding.pad_to_multiple_of",
            f"truncation to {length} tokens is not a multiple of {multiple}, so padded rows "
            "could not keep both",
            f"use a tokenizer.max_length divisible by {multiple}, or padding.pad_to_multiple_of=null",
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


def example_rows(
    tok, batch: Batch, keep: list[int], texts: list[str], pairs: list[str] | None
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
        row["pieces"], row["partial"] = pieces(
            tok, batch, j, ids[n], row["tokens"], texts[j], pairs and pairs[j]
        )
        row["special"] = batch.special_row(j).astype(bool).tolist()  # template tokens and pads
        for key in ("token_type_ids", "attention_mask"):
            if key in batch.returned:
                row[key] = _as_list(enc[key][j])
        row.update(
            decoded=decoded[n],
            decoded_skip_special=decoded_skip[n],
            n_tokens=int(batch.n_tokens[j]),
            n_pad=int(batch.widths[j] - batch.n_tokens[j]),
            pad_side="left" if batch.left else "right",
            truncated=bool(batch.truncated[j]),
        )
        rows.append(row)
    return rows


def pieces(
    tok, batch: Batch, j: int, ids: list[int], tokens: list[str], text: str, pair: str | None
) -> tuple[list[str], list[bool]]:
    """What each token of example j covers, as a playground shows it: the span of the text (or
    pair) from the offsets; special tokens and pads as their literal. A token that covers part
    of a character (byte-level BPE splitting one Hangul syllable) shows that whole character
    and is flagged partial. Slow tokenizers have no offsets: `decode([id])` per token, flagged
    partial when that decodes to U+FFFD (a byte that is not a whole character)."""
    special = batch.special_row(j)
    if batch.offsets is None:
        out = [t if special[k] else tok.decode([i]) for k, (i, t) in enumerate(zip(ids, tokens, strict=True))]
        return out, ["\ufffd" in p for p in out]
    offsets, seq = batch.offset_row(j).tolist(), batch.sequence_ids(j)
    spans = [None if special[k] else (seq[k], *offsets[k]) for k in range(len(ids))]
    out, partial = [], []
    for k, span in enumerate(spans):
        if span is None:
            out.append(tokens[k]), partial.append(False)
            continue
        s, start, end = span
        piece = (pair if s == 1 and pair is not None else text)[start:end]
        out.append(piece or tok.decode([ids[k]]))
        neighbours = [spans[m] for m in (k - 1, k + 1) if 0 <= m < len(spans) and spans[m] is not None]
        partial.append(any(o[0] == s and o[1] < end and start < o[2] for o in neighbours))
    return out, partial


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
