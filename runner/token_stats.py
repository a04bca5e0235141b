"""Token statistics of a run, accumulated over its batches (definitions in the README).

Batches wait in `pending` until about `chunk_rows` examples have arrived and are then reduced
together: a few numpy passes per chunk rather than per batch. Only flat arrays of real tokens
are kept (never encodings), so memory is bounded by the chunk, plus one int per example for
the length percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runner.encoding import Batch

# str.isspace() code points: Python's notion of whitespace, which str.split() uses for words.
SPACE_TABLE = np.array([chr(c).isspace() for c in range(0x3100)])  # all whitespace is below U+3100


@dataclass
class TokenStats:
    unk_id: int | None
    chunk_rows: int = 256  # measured: much bigger chunks fall out of the CPU cache
    lengths: list[np.ndarray] = field(default_factory=list)
    positions: int = 0  # padded positions
    content: int = 0  # real tokens that are not template (special) tokens
    unk: int = 0
    chars: int = 0
    word_tokens: int = 0  # content tokens that fall inside a whitespace word
    words: int = 0  # whitespace words that received at least one token
    continued: int = 0  # words split into two or more tokens
    truncated: int = 0
    has_offsets: bool = True
    pending: list[tuple] = field(default_factory=list)
    pending_rows: int = 0

    def update(self, batch: Batch, texts: list[str], pairs: list[str] | None) -> None:
        self.lengths.append(batch.n_tokens.astype(np.int32))
        self.positions += int(batch.widths.sum())
        self.truncated += int(batch.truncated.sum())
        self.chars += sum(map(len, texts)) + (sum(map(len, pairs)) if pairs else 0)
        self.has_offsets &= batch.offsets is not None
        flat = (batch.ids, batch.special, batch.offsets, batch.second, batch.n_tokens)
        self.pending.append((*flat, texts, pairs))
        self.pending_rows += len(texts)
        if self.pending_rows >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        """Reduce the pending batches."""
        if not self.pending:
            return
        pending, self.pending, self.pending_rows = self.pending, [], 0
        content = np.concatenate([p[1] for p in pending]) == 0
        self.content += int(np.count_nonzero(content))
        if self.unk_id is not None:
            ids = np.concatenate([p[0] for p in pending])
            self.unk += int(np.count_nonzero(content & (ids == self.unk_id)))
        if self.has_offsets:
            self._words(pending, content)

    def _words(self, pending: list[tuple], content: np.ndarray) -> None:
        # Lay every text (and pair) end to end, separated by a space, and number the
        # whitespace words of that one string; each token then belongs to the word holding its
        # last character (that skips the leading space of byte-level BPE tokens).
        segments: list[str] = []
        for *_, texts, pairs in pending:
            segments += texts if pairs is None else [s for ab in zip(texts, pairs) for s in ab]
        codes = np.frombuffer(" ".join(segments).encode("utf-32-le"), dtype=np.uint32)
        space = np.zeros(len(codes), dtype=bool)
        low = codes < len(SPACE_TABLE)
        space[low] = SPACE_TABLE[codes[low]]
        starts = ~space & np.concatenate(([True], space[:-1]))
        word_of_char = np.cumsum(starts) - 1
        bases = np.cumsum([0] + [len(s) + 1 for s in segments[:-1]])  # where each segment begins
        parts, first = [], 0
        for _, _, _, second, n_tokens, texts, _ in pending:  # each token's segment start
            if second is None:
                parts.append(np.repeat(bases[first : first + len(texts)], n_tokens))
                first += len(texts)
            else:
                own = np.repeat(bases[first : first + 2 * len(texts)].reshape(-1, 2), n_tokens, axis=0)
                parts.append(np.where(second, own[:, 1], own[:, 0]))
                first += 2 * len(texts)
        offsets = np.concatenate([p[2] for p in pending])
        last = offsets[:, 1] - 1 + np.concatenate(parts)
        inside = content & (offsets[:, 1] > offsets[:, 0])
        inside[inside] = ~space[last[inside]]
        counts = np.bincount(word_of_char[last[inside]], minlength=int(starts.sum()))
        self.word_tokens += int(counts.sum())
        self.words += int(np.count_nonzero(counts))
        self.continued += int(np.count_nonzero(counts >= 2))

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
            "tokens/truncated_fraction": self.truncated / len(lengths),
        }
        if self.has_offsets:
            metrics["tokens/fertility"] = self.word_tokens / self.words if self.words else 0.0
            metrics["tokens/continued_word_ratio"] = self.continued / self.words if self.words else 0.0
        return metrics
