"""The rows of tokens.json: each logged example as a tokenizer playground shows it — ids, tokens,
what each token is (`pieces`), which text it stands for (`covers`), where it lies (`span`:
[start, end) in `text`, or for a pair's second text in `text + " " + text_pair`; None for
special tokens, pads and empty spans), and decodes with and without special tokens.

A piece is what the tokenizer made, never more: a whole token shows the span of the text it
covers; an unknown token its literal (`[UNK]`, `<unk>`); a token that holds only part of a
character shows that part — BERT's jamo as the jamo (`ᄉ`, `ᅥ`), a byte-level token's bytes as
`<0xEC><0x84>` (complete characters inside it as themselves). `covers` gives each character of
the text to the last content token whose span holds it, so the split syllable `서` is named
once, on the token that completes it, and an UNK covers the word it replaced.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from runner.tokenization.batch import Batch
from runner.tokenization.token_stats import partial_flags


def example_rows(
    tok: Any, batch: Batch, keep: list[int], roundtrip: tuple[np.ndarray, np.ndarray] | None
) -> list[dict[str, Any]]:
    """Rows of tokens.json for the examples at batch positions `keep`."""
    enc, texts, pairs = batch.encoding, batch.texts, batch.pairs
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
        row.update(pieces(tok, batch, j, ids[n], row["tokens"]))
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
        if roundtrip is not None:
            row["roundtrip"] = bool(roundtrip[0][j])
        rows.append(row)
    return rows


def pieces(tok: Any, batch: Batch, j: int, ids: list[int], tokens: list[str]) -> dict[str, list[Any]]:
    """`pieces`, `partial`, `unk` and `covers` of example j (see the module docstring). Special
    tokens and pads show their literal and cover nothing (None). Slow tokenizers have no
    offsets: `decode([id])` per token, partial when that is U+FFFD (a byte, not a character)."""
    special = batch.special_row(j).astype(bool)
    unk = [bool(i == tok.unk_token_id and not s) for i, s in zip(ids, special, strict=True)]
    if batch.offsets is None:
        out = [t if special[k] else tok.decode([i]) for k, (i, t) in enumerate(zip(ids, tokens, strict=True))]
        out = [tok.unk_token if u else p for p, u in zip(out, unk, strict=True)]
        return {
            "pieces": out,
            "partial": ["\ufffd" in p for p in out],
            "unk": unk,
            "covers": [None] * len(ids),
            "span": [None] * len(ids),
        }
    text, pair = batch.texts[j], batch.pairs[j] if batch.pairs is not None else None
    offsets, seq = batch.offset_row(j), batch.sequence_ids(j)
    # one coordinate for both texts of a pair: the second begins after the first and a gap
    shift = np.array([(len(text) + 1) if s == 1 else 0 for s in seq])
    start, end = offsets[:, 0] + shift, offsets[:, 1] + shift
    spans = ~special & (end > start)
    partial = np.zeros(len(ids), dtype=bool)
    partial[spans] = partial_flags(start[spans], end[spans])
    joined = text + " " + (pair or "")
    owner = np.full(len(joined), -1)
    for k in np.flatnonzero(spans).tolist():  # each character goes to the last token holding it
        owner[start[k] : end[k]] = k
    held: list[list[str]] = [[] for _ in tokens]
    for c, k in enumerate(owner.tolist()):
        if k >= 0:
            held[k].append(joined[c])
    shown: list[str] = []
    covers: list[str | None] = []
    for k, token in enumerate(tokens):
        if special[k]:
            shown.append(token)
            covers.append(None)
            continue
        covers.append("".join(held[k]))
        if unk[k]:
            shown.append(tok.unk_token)
        elif partial[k]:
            shown.append(_part(tok, token))
        else:
            shown.append(joined[start[k] : end[k]] or tok.decode([ids[k]]))
    span = [[int(start[k]), int(end[k])] if spans[k] else None for k in range(len(ids))]
    return {"pieces": shown, "partial": partial.tolist(), "unk": unk, "covers": covers, "span": span}


def _part(tok: Any, token: str) -> str:
    """What a token holding part of a character is: its bytes for a byte-level tokenizer, else
    the token without its continuation prefix (WordPiece's `##` before a jamo)."""
    decoder = tok.backend_tokenizer.decoder if tok.is_fast else None
    table = _byte_table(type(decoder).__name__)
    if table is not None and all(c in table for c in token):
        return show_bytes(bytes(table[c] for c in token))
    model = tok.backend_tokenizer.model if tok.is_fast else None
    prefix = getattr(model, "continuing_subword_prefix", None) or ""
    return token[len(prefix) :] if prefix and token.startswith(prefix) else token


def show_bytes(data: bytes) -> str:
    """Bytes as a playground shows them: complete UTF-8 characters as themselves, every other
    byte as `<0xEC>` (SentencePiece's byte-token spelling)."""
    out, i = [], 0
    while i < len(data):
        for width in (1, 2, 3, 4):
            try:
                out.append(data[i : i + width].decode("utf-8"))
            except UnicodeDecodeError:
                continue
            i += width
            break
        else:
            out.append(f"<0x{data[i]:02X}>")
            i += 1
    return "".join(out)


@cache
def _byte_table(decoder: str) -> dict[str, int] | None:
    """Byte-level BPE's printable stand-in for each byte (GPT-2's table), inverted; None for
    other decoders."""
    if decoder != "ByteLevel":
        return None
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {char: byte for byte, char in bytes_to_unicode().items()}  # type: ignore[no-untyped-call]  # an untyped library


def _as_list(x: Any) -> list[int]:
    return x.tolist() if isinstance(x, np.ndarray) else list(x)
