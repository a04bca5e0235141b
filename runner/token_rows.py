"""The rows of tokens.json: each logged example as a tokenizer playground shows it — ids, tokens,
the piece of text each token covers, and decodes with and without special tokens."""

from __future__ import annotations

from typing import Any

import numpy as np

from runner.batch import Batch


def example_rows(
    tok: Any, batch: Batch, keep: list[int], texts: list[str], pairs: list[str] | None
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
            tok, batch, j, ids[n], row["tokens"], texts[j], pairs[j] if pairs is not None else None
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
    tok: Any, batch: Batch, j: int, ids: list[int], tokens: list[str], text: str, pair: str | None
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
            out.append(tokens[k])
            partial.append(False)
            continue
        s, start, end = span
        piece = (pair if s == 1 and pair is not None else text)[start:end]
        out.append(piece or tok.decode([ids[k]]))
        neighbours = [o for m in (k - 1, k + 1) if 0 <= m < len(spans) and (o := spans[m]) is not None]
        partial.append(any(o[0] == s and o[1] < end and start < o[2] for o in neighbours))
    return out, partial


def _as_list(x: Any) -> list[int]:
    return x.tolist() if isinstance(x, np.ndarray) else list(x)
