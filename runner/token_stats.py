"""Token statistics of a run, accumulated over its batches (definitions in the README).

Batches wait in `pending` until about `chunk_rows` examples have arrived and are then reduced
together: a few numpy passes per chunk rather than per batch. Only flat arrays of real tokens
are kept (never encodings), so memory is bounded by the chunk, plus one int per example for
the length percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from runner import unicode_scripts
from runner.batch import Batch
from runner.unicode_scripts import SCRIPTS, UNSPACED_IDS

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


@dataclass
class TokenStats:
    unk_id: int | None
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
    truncated: int = 0
    has_offsets: bool = True
    pending: list[Pending] = field(default_factory=list)
    pending_rows: int = 0

    def update(self, batch: Batch, texts: list[str], pairs: list[str] | None) -> None:
        self.lengths.append(batch.n_tokens.astype(np.int32))
        self.positions += int(batch.widths.sum())
        self.truncated += int(batch.truncated.sum())
        self.chars += sum(map(len, texts)) + (sum(map(len, pairs)) if pairs else 0)
        self.utf8_bytes += sum(len(t.encode()) for t in texts) + (
            sum(len(t.encode()) for t in pairs) if pairs else 0
        )
        self.has_offsets &= batch.offsets is not None
        self.pending.append(
            Pending(batch.ids, batch.special, batch.offsets, batch.second, batch.n_tokens, texts, pairs)
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
        unk = np.zeros_like(content)
        if self.unk_id is not None:
            unk = content & (np.concatenate([p.ids for p in pending]) == self.unk_id)
            self.unk += int(np.count_nonzero(unk))
        if self.has_offsets:
            self._words(pending, content, unk)

    def _words(self, pending: list[Pending], content: np.ndarray, unk: np.ndarray) -> None:
        # Lay every text (and pair) end to end, separated by a space, and number the
        # whitespace words of that one string; each token then belongs to the word holding its
        # last character (that skips the leading space of byte-level BPE tokens).
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
        starts = ~space & np.concatenate(([True], space[:-1]))
        word_of_char = np.cumsum(starts) - 1
        bases = np.cumsum([0] + [len(s) + 1 for s in segments[:-1]])  # where each segment begins
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
        last = offsets[:, 1] - 1 + np.concatenate(parts)
        inside = content & (offsets[:, 1] > offsets[:, 0])
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
        }
        if self.has_offsets:
            spaced = ~UNSPACED_IDS  # fertility counts only words of scripts written with spaces
            words = int(self.words[spaced].sum())
            metrics["tokens/fertility"] = int(self.word_tokens[spaced].sum()) / words if words else 0.0
            metrics["tokens/continued_word_ratio"] = (
                int(self.continued[spaced].sum()) / words if words else 0.0
            )
            metrics.update(self._scripts())
        return metrics

    def _scripts(self) -> dict[str, float]:
        """script/<Script>/… for every script with at least one word (definitions in the README)."""
        out = {}
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
