"""Token statistics of a run, accumulated over its batches (definitions in docs/statistics.md).

Batches wait in `pending` until about `chunk_rows` examples have arrived and are then reduced
together: a few numpy passes per chunk rather than per batch. Only flat arrays of real tokens
are kept (never encodings), so memory is bounded by the chunk, plus one int per example for
the length percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from runner.tokenization import unicode_scripts
from runner.tokenization.batch import Batch
from runner.tokenization.unicode_scripts import COMMON, SCRIPTS, UNSPACED_IDS

# str.isspace() code points: Python's notion of whitespace, which str.split() uses for words.
SPACE_TABLE = np.array([chr(c).isspace() for c in range(0x3100)])  # all whitespace is below U+3100


class Pending(NamedTuple):
    """One batch's flat token arrays (see batch.Batch), kept until the next reduction."""

    ids: np.ndarray
    special: np.ndarray
    offsets: np.ndarray | None
    second: np.ndarray | None
    n_tokens: np.ndarray
    texts: list[str]
    pairs: list[str] | None
    roundtrip: tuple[np.ndarray, np.ndarray] | None  # per row: exact, up to the normalizer


class Layout(NamedTuple):
    """A chunk's texts (and pairs) laid end to end, one space between them: the code points,
    where the whitespace is, and each token's span in that one string."""

    codes: np.ndarray
    space: np.ndarray
    segment: np.ndarray  # per code point: its text's number (pairs: 2 per row)
    start: np.ndarray  # per token: first code point, in the joined string
    end: np.ndarray  # per token: one past its last code point


def _zeros() -> np.ndarray:
    return np.zeros(len(SCRIPTS), np.int64)


def partial_flags(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per token span (content tokens with a span, in order, in one coordinate): True where it
    shares a character with the token before or after it, so it holds only part of it."""
    shared = start[1:] < end[:-1]  # token k+1 begins inside token k
    out = np.zeros(len(start), dtype=bool)
    out[1:] |= shared
    out[:-1] |= shared
    return out


def split_chars(start: np.ndarray, end: np.ndarray, length: int) -> np.ndarray:
    """Per code point of a string of `length`: True where two or more of the spans cover it."""
    shared = start[1:] < end[:-1]
    diff = np.zeros(length + 1, dtype=np.int64)
    np.add.at(diff, start[1:][shared], 1)
    np.add.at(diff, np.minimum(end[:-1], end[1:])[shared], -1)
    return np.cumsum(diff)[:-1] > 0


def distribution(counts: np.ndarray, vocab_size: int, alpha: float) -> dict[str, float]:
    """Entropy and vocabulary use of the unigram distribution of token ids (counts per id)."""
    used = int(np.count_nonzero(counts))
    out = {"tokens/vocab_used": float(used), "tokens/vocab_utilization": used / vocab_size}
    total = int(counts.sum())
    if not total:
        return out
    p = counts[counts > 0] / total
    out["tokens/shannon_entropy"] = float(-(p * np.log2(p)).sum())
    renyi = float(np.log2((p**alpha).sum()) / (1 - alpha))
    out["tokens/renyi_efficiency"] = renyi / float(np.log2(vocab_size)) if vocab_size > 1 else 0.0
    return out


@dataclass
class TokenStats:
    unk_id: int | None
    vocab_size: int = 1  # len(tokenizer): the denominator of vocabulary utilisation
    renyi_alpha: float = 2.5
    chunk_rows: int = 256  # measured: much bigger chunks fall out of the CPU cache
    lengths: list[np.ndarray] = field(default_factory=list)
    positions: int = 0  # padded positions
    content: int = 0  # real tokens that are not template (special) tokens
    unk: int = 0
    chars: int = 0
    utf8_bytes: int = 0
    # Per script (index: unicode_scripts.SCRIPTS), over whitespace words that received a token:
    words: np.ndarray = field(default_factory=lambda: np.zeros(len(SCRIPTS), np.int64))
    word_tokens: np.ndarray = field(default_factory=lambda: np.zeros(len(SCRIPTS), np.int64))
    continued: np.ndarray = field(default_factory=lambda: np.zeros(len(SCRIPTS), np.int64))  # ≥ 2 tokens
    word_unk: np.ndarray = field(default_factory=lambda: np.zeros(len(SCRIPTS), np.int64))
    word_chars: np.ndarray = field(default_factory=lambda: np.zeros(len(SCRIPTS), np.int64))
    # What is lost (runner.tokenization.fidelity): examples that round-trip, per script of the example
    rows: np.ndarray = field(default_factory=_zeros)
    roundtrip_exact: np.ndarray = field(default_factory=_zeros)
    roundtrip_normalized: np.ndarray = field(default_factory=_zeros)
    has_roundtrip: bool = True
    # Non-whitespace characters, and those covered by two or more content tokens, per script
    text_chars: np.ndarray = field(default_factory=_zeros)
    split: np.ndarray = field(default_factory=_zeros)
    partial_tokens: int = 0
    id_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    truncated: int = 0
    has_offsets: bool = True
    pending: list[Pending] = field(default_factory=list)
    pending_rows: int = 0

    def update(
        self,
        batch: Batch,
        texts: list[str],
        pairs: list[str] | None,
        roundtrip: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.lengths.append(batch.n_tokens.astype(np.int32))
        self.positions += int(batch.widths.sum())
        self.truncated += int(batch.truncated.sum())
        self.chars += sum(map(len, texts)) + (sum(map(len, pairs)) if pairs else 0)
        self.utf8_bytes += sum(len(t.encode()) for t in texts) + (
            sum(len(t.encode()) for t in pairs) if pairs else 0
        )
        self.has_offsets &= batch.offsets is not None
        self.has_roundtrip &= roundtrip is not None
        self.pending.append(
            Pending(
                batch.ids, batch.special, batch.offsets, batch.second, batch.n_tokens, texts, pairs, roundtrip
            )
        )
        self.pending_rows += len(texts)
        if self.pending_rows >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        """Reduce the pending batches."""
        if not self.pending:
            return
        pending, self.pending, self.pending_rows = self.pending, [], 0
        content = np.concatenate([p.special for p in pending]) == 0
        self.content += int(np.count_nonzero(content))
        ids = np.concatenate([p.ids for p in pending])
        self._count_ids(ids[content])
        unk = np.zeros_like(content)
        if self.unk_id is not None:
            unk = content & (ids == self.unk_id)
            self.unk += int(np.count_nonzero(unk))
        if not self.has_offsets:
            if self.has_roundtrip:  # no text layout: totals only, under Common
                self._roundtrip(pending, np.zeros(sum(len(p.texts) for p in pending), np.int64))
            return
        layout = _layout(pending)
        self._words(layout, content, unk)
        self._splits(layout, content)
        if self.has_roundtrip:
            self._roundtrip(pending, self._row_scripts(layout, pending))

    def _count_ids(self, ids: np.ndarray) -> None:
        counts = np.bincount(ids, minlength=max(self.vocab_size, len(self.id_counts)))
        if len(counts) > len(self.id_counts):
            counts[: len(self.id_counts)] += self.id_counts
            self.id_counts = counts
        else:
            self.id_counts += counts

    def _splits(self, layout: Layout, content: np.ndarray) -> None:
        """Characters covered by two or more content tokens, and tokens holding part of one."""
        spans = content & (layout.end > layout.start)
        start, end = layout.start[spans], layout.end[spans]
        self.partial_tokens += int(np.count_nonzero(partial_flags(start, end)))
        split = split_chars(start, end, len(layout.codes))
        script = unicode_scripts.char_scripts(layout.codes)
        script = np.where(script < 0, COMMON, script)  # digits, punctuation: Common
        text = ~layout.space
        self.text_chars += np.bincount(script[text], minlength=len(SCRIPTS))
        self.split += np.bincount(script[text & split], minlength=len(SCRIPTS))

    def _row_scripts(self, layout: Layout, pending: list[Pending]) -> np.ndarray:
        """Each example's script: the majority of the letters of its text (and pair)."""
        per_row = 2 if pending[0].pairs is not None else 1
        n_rows = sum(len(p.texts) for p in pending)
        return unicode_scripts.word_scripts(layout.codes, layout.segment // per_row, layout.space, n_rows)

    def _roundtrip(self, pending: list[Pending], scripts: np.ndarray) -> None:
        exact = np.concatenate([p.roundtrip[0] for p in pending if p.roundtrip is not None])
        normalized = np.concatenate([p.roundtrip[1] for p in pending if p.roundtrip is not None])
        k = len(SCRIPTS)
        self.rows += np.bincount(scripts, minlength=k)
        self.roundtrip_exact += np.bincount(scripts, weights=exact, minlength=k).astype(np.int64)
        self.roundtrip_normalized += np.bincount(scripts, weights=normalized, minlength=k).astype(np.int64)

    def _words(self, layout: Layout, content: np.ndarray, unk: np.ndarray) -> None:
        # Number the whitespace words of the joined string; each token then belongs to the word
        # holding its last character (that skips the leading space of byte-level BPE tokens).
        codes, space = layout.codes, layout.space
        starts = ~space & np.concatenate(([True], space[:-1]))
        word_of_char = np.cumsum(starts) - 1
        last = layout.end - 1
        inside = content & (layout.end > layout.start)
        inside[inside] = ~space[last[inside]]
        n_words = int(starts.sum())
        counts = np.bincount(word_of_char[last[inside]], minlength=n_words)
        unks = np.bincount(word_of_char[last[inside & unk]], minlength=n_words)
        chars = np.bincount(word_of_char[~space], minlength=n_words)
        got = counts > 0  # words lost to truncation are not counted
        script = unicode_scripts.word_scripts(codes, word_of_char, space, n_words)[got]
        k = len(SCRIPTS)
        self.words += np.bincount(script, minlength=k)
        self.word_tokens += np.bincount(script, weights=counts[got], minlength=k).astype(np.int64)
        self.continued += np.bincount(script, weights=counts[got] >= 2, minlength=k).astype(np.int64)
        self.word_unk += np.bincount(script, weights=unks[got], minlength=k).astype(np.int64)
        self.word_chars += np.bincount(script, weights=chars[got], minlength=k).astype(np.int64)

    def summary(self) -> dict[str, float]:
        self.flush()
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(1, dtype=np.int32)
        total = float(lengths.sum())
        metrics = {
            "tokens/total": total,
            "tokens/mean_len": float(lengths.mean()),
            "tokens/p50_len": float(np.percentile(lengths, 50)),
            "tokens/p95_len": float(np.percentile(lengths, 95)),
            "tokens/max_len": float(lengths.max()),
            "tokens/pad_fraction": 1.0 - total / self.positions if self.positions else 0.0,
            "tokens/unk_rate": self.unk / self.content if self.content else 0.0,
            "tokens/chars_per_token": self.chars / self.content if self.content else 0.0,
            "tokens/bytes_per_token": self.utf8_bytes / self.content if self.content else 0.0,
            "tokens/truncated_fraction": self.truncated / len(lengths),
            **distribution(self.id_counts, self.vocab_size, self.renyi_alpha),
        }
        metrics.update(self._losses())
        if self.has_offsets:
            spaced = ~UNSPACED_IDS  # fertility counts only words of scripts written with spaces
            words = int(self.words[spaced].sum())
            metrics["tokens/fertility"] = int(self.word_tokens[spaced].sum()) / words if words else 0.0
            metrics["tokens/continued_word_ratio"] = (
                int(self.continued[spaced].sum()) / words if words else 0.0
            )
            metrics.update(self._scripts())
        return metrics

    def _losses(self) -> dict[str, float]:
        """Round trips, split characters and partial tokens (definitions in the docs)."""
        out = {}
        rows = int(self.rows.sum())
        if self.has_roundtrip and rows:
            out["tokens/roundtrip_exact"] = int(self.roundtrip_exact.sum()) / rows
            out["tokens/roundtrip_normalized"] = int(self.roundtrip_normalized.sum()) / rows
        chars = int(self.text_chars.sum())
        if self.has_offsets and chars:
            out["tokens/split_char_rate"] = int(self.split.sum()) / chars
            out["tokens/partial_token_share"] = self.partial_tokens / self.content if self.content else 0.0
        return out

    def _scripts(self) -> dict[str, float]:
        """script/<Script>/… for every script with at least one word (definitions in docs/statistics.md)."""
        out = {}
        for i in np.flatnonzero(self.rows if self.has_roundtrip else []):
            rows = int(self.rows[i])
            out[f"script/{SCRIPTS[i]}/roundtrip_exact"] = int(self.roundtrip_exact[i]) / rows
            out[f"script/{SCRIPTS[i]}/roundtrip_normalized"] = int(self.roundtrip_normalized[i]) / rows
        for i in np.flatnonzero(self.text_chars):
            out[f"script/{SCRIPTS[i]}/split_char_rate"] = int(self.split[i]) / int(self.text_chars[i])
        for i in np.flatnonzero(self.words):
            name, words, tokens = SCRIPTS[i], int(self.words[i]), int(self.word_tokens[i])
            out[f"script/{name}/words"] = float(words)
            out[f"script/{name}/tokens_per_char"] = tokens / int(self.word_chars[i])
            out[f"script/{name}/unk_rate"] = int(self.word_unk[i]) / tokens
            if not UNSPACED_IDS[i]:
                out[f"script/{name}/fertility"] = tokens / words
                out[f"script/{name}/continued_word_ratio"] = int(self.continued[i]) / words
        return out

    def longer_than(self, limit: int) -> int:
        """Examples with more than `limit` real tokens."""
        return sum(int(np.count_nonzero(n > limit)) for n in self.lengths)

    def excluded_from_fertility(self) -> str | None:
        """The unspaced scripts whose words tokens/fertility leaves out, e.g. `Han (12 words)`."""
        left = [
            f"{SCRIPTS[i]} ({int(self.words[i])} words)"
            for i in np.flatnonzero((self.words > 0) & UNSPACED_IDS)
        ]
        return ", ".join(left) or None


def _layout(pending: list[Pending]) -> Layout:
    """Lay every text (and pair) of the chunk end to end, separated by a space."""
    segments: list[str] = []
    for p in pending:
        if p.pairs is None:
            segments += p.texts
        else:
            segments += [s for ab in zip(p.texts, p.pairs, strict=True) for s in ab]
    codes = np.frombuffer(" ".join(segments).encode("utf-32-le"), dtype=np.uint32)
    space = np.zeros(len(codes), dtype=bool)
    low = codes < len(SPACE_TABLE)
    space[low] = SPACE_TABLE[codes[low]]
    lengths = np.fromiter((len(s) + 1 for s in segments), np.int64, len(segments))
    segment = np.repeat(np.arange(len(segments)), lengths)[: len(codes)]
    bases = np.concatenate(([0], np.cumsum(lengths)[:-1]))  # where each segment begins
    parts, first = [], 0
    for p in pending:  # each token's segment start
        rows = len(p.texts)
        if p.second is None:
            parts.append(np.repeat(bases[first : first + rows], p.n_tokens))
            first += rows
        else:
            own = np.repeat(bases[first : first + 2 * rows].reshape(-1, 2), p.n_tokens, axis=0)
            parts.append(np.where(p.second, own[:, 1], own[:, 0]))
            first += 2 * rows
    offsets = np.concatenate([p.offsets for p in pending])
    base = np.concatenate(parts)
    return Layout(codes, space, segment, offsets[:, 0] + base, offsets[:, 1] + base)
