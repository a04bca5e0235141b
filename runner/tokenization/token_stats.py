"""The built-in token statistics, four families of the statistics registry (definitions in
docs/statistics.md): `counts` (lengths, padding, unknowns, characters and bytes per token),
`scripts` (whitespace words per script: fertility, continued words), `fidelity` (round trips,
split characters, partial tokens) and `distribution` (entropy and vocabulary use of the ids).

Batches wait in a `Chunked` group until about `chunk_rows` examples have arrived and are then
reduced together: a few numpy passes per chunk rather than per batch, and the chunk's text layout
is built once for every family that reads it. Only flat arrays of real tokens are kept (never
encodings), so memory is bounded by the chunk; the length percentiles come from a histogram of
lengths, exactly.

Every family's state is a set of sums (ints, per-script and per-id count arrays, the length
histogram), so two families that saw different examples `merge` into the one that saw both —
exactly: how `execution=ray` joins its workers' partial states (docs/scale.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from runner.tokenization import unicode_scripts
from runner.tokenization.batch import Batch
from runner.tokenization.unicode_scripts import COMMON, SCRIPTS, UNSPACED_IDS

# str.isspace() code points: Python's notion of whitespace, which str.split() uses for words.
SPACE_TABLE = np.array([chr(c).isspace() for c in range(0x3100)])  # all whitespace is below U+3100


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


class Chunk:
    """Batches reduced together: their flat arrays end to end and, built once when a family
    first reads it, the layout of their texts."""

    def __init__(self, batches: list[Batch]) -> None:
        self.batches = batches
        self.ids = np.concatenate([b.ids for b in batches])
        self.content = np.concatenate([b.special for b in batches]) == 0  # not template tokens
        self.rows = sum(len(b.texts) for b in batches)
        self.has_offsets = all(b.offsets is not None for b in batches)
        self.has_roundtrip = all(b.roundtrip is not None for b in batches)

    def unk(self, unk_id: int | None) -> np.ndarray:
        """Content tokens that are the unknown token."""
        return self.content & (self.ids == unk_id) if unk_id is not None else np.zeros_like(self.content)

    @cached_property
    def layout(self) -> Layout:
        return _layout(self.batches)

    @cached_property
    def row_scripts(self) -> np.ndarray:
        """Each example's script: the majority of the letters of its text (and pair)."""
        per_row = 2 if self.batches[0].pairs is not None else 1
        layout = self.layout
        return unicode_scripts.word_scripts(layout.codes, layout.segment // per_row, layout.space, self.rows)


FIXED = frozenset({"unk_id", "vocab_size", "renyi_alpha"})  # a family's settings, not its sums


def _sum(a: Any, b: Any) -> Any:
    """Two partial states of one field added: counts add (arrays padded to the longer), flags
    hold only where both hold, lists join."""
    if isinstance(a, bool):
        return a and b
    if isinstance(a, np.ndarray):
        out = np.zeros(max(len(a), len(b)), dtype=np.result_type(a, b))
        out[: len(a)] += a
        out[: len(b)] += b
        return out
    return a + b


def percentile(histogram: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (its default `linear` method, step for step) of the values whose
    histogram this is (histogram[v]: how many equal v): the two order statistics around the
    virtual index (n − 1)·q/100, read from the cumulative counts, then numpy's interpolation."""
    n = int(histogram.sum())
    virtual = (n - 1) * (q / 100)
    below = int(np.floor(virtual))
    cumulative = np.cumsum(histogram)

    def order(k: int) -> int:  # the k-th smallest value (0-based)
        return int(np.searchsorted(cumulative, min(max(k, 0), n - 1), side="right"))

    if virtual >= n - 1:
        return float(order(n - 1))
    a, b, gamma = order(below), order(below + 1), virtual - below
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


class Family:
    """One family of token statistics: `add` sees every batch, `reduce` every chunk of them;
    `metrics` and `tags` give the run's results once every chunk is in; `merge` adds another
    instance's sums (the same settings, other examples)."""

    def merge(self, other: Family) -> None:
        for name in vars(self):
            if name not in FIXED:
                setattr(self, name, _sum(getattr(self, name), getattr(other, name)))

    def add(self, batch: Batch) -> None:
        """One batch, as it comes (cheap per-example sums)."""

    def reduce(self, chunk: Chunk) -> None:
        """One chunk of batches (numpy passes over their flat arrays)."""

    def metrics(self) -> dict[str, float]:
        raise NotImplementedError

    def tags(self) -> dict[str, str]:
        return {}


@dataclass
class Counts(Family):
    """tokens/total, …_len, pad_fraction, unk_rate, chars_per_token, bytes_per_token, truncated_fraction."""

    unk_id: int | None
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # examples per length
    positions: int = 0  # padded positions
    truncated: int = 0
    chars: int = 0
    utf8_bytes: int = 0
    content: int = 0  # real tokens that are not template (special) tokens
    unk: int = 0

    def add(self, batch: Batch) -> None:
        texts, pairs = batch.texts, batch.pairs
        self.lengths = _sum(self.lengths, np.bincount(batch.n_tokens))
        self.positions += int(batch.widths.sum())
        self.truncated += int(batch.truncated.sum())
        self.chars += sum(map(len, texts)) + (sum(map(len, pairs)) if pairs else 0)
        self.utf8_bytes += sum(len(t.encode()) for t in texts) + (
            sum(len(t.encode()) for t in pairs) if pairs else 0
        )

    def reduce(self, chunk: Chunk) -> None:
        self.content += int(np.count_nonzero(chunk.content))
        self.unk += int(np.count_nonzero(chunk.unk(self.unk_id)))

    def metrics(self) -> dict[str, float]:
        lengths = self.lengths if self.lengths.sum() else np.ones(1, np.int64)  # no example: one of 0
        n, total = int(lengths.sum()), float(np.dot(np.arange(len(lengths)), lengths))
        return {
            "tokens/total": total,
            "tokens/mean_len": total / n,
            "tokens/p50_len": percentile(lengths, 50),
            "tokens/p95_len": percentile(lengths, 95),
            "tokens/max_len": float(np.flatnonzero(lengths)[-1]),
            "tokens/pad_fraction": 1.0 - total / self.positions if self.positions else 0.0,
            "tokens/unk_rate": self.unk / self.content if self.content else 0.0,
            "tokens/chars_per_token": self.chars / self.content if self.content else 0.0,
            "tokens/bytes_per_token": self.utf8_bytes / self.content if self.content else 0.0,
            "tokens/truncated_fraction": self.truncated / n,
        }


@dataclass
class Scripts(Family):
    """Whitespace words per script (index: unicode_scripts.SCRIPTS), over words that received a
    token: tokens/fertility, tokens/continued_word_ratio and script/<Script>/…"""

    unk_id: int | None
    words: np.ndarray = field(default_factory=_zeros)
    word_tokens: np.ndarray = field(default_factory=_zeros)
    continued: np.ndarray = field(default_factory=_zeros)  # words of ≥ 2 tokens
    word_unk: np.ndarray = field(default_factory=_zeros)
    word_chars: np.ndarray = field(default_factory=_zeros)
    has_offsets: bool = True

    def reduce(self, chunk: Chunk) -> None:
        self.has_offsets &= chunk.has_offsets
        if not self.has_offsets:
            return
        # Number the whitespace words of the joined string; each token then belongs to the word
        # holding its last character (that skips the leading space of byte-level BPE tokens).
        layout, content, unk = chunk.layout, chunk.content, chunk.unk(self.unk_id)
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

    def metrics(self) -> dict[str, float]:
        if not self.has_offsets:
            return {}
        spaced = ~UNSPACED_IDS  # fertility counts only words of scripts written with spaces
        words = int(self.words[spaced].sum())
        out = {
            "tokens/fertility": int(self.word_tokens[spaced].sum()) / words if words else 0.0,
            "tokens/continued_word_ratio": int(self.continued[spaced].sum()) / words if words else 0.0,
        }
        for i in np.flatnonzero(self.words):
            name, words, tokens = SCRIPTS[i], int(self.words[i]), int(self.word_tokens[i])
            out[f"script/{name}/words"] = float(words)
            out[f"script/{name}/tokens_per_char"] = tokens / int(self.word_chars[i])
            out[f"script/{name}/unk_rate"] = int(self.word_unk[i]) / tokens
            if not UNSPACED_IDS[i]:
                out[f"script/{name}/fertility"] = tokens / words
                out[f"script/{name}/continued_word_ratio"] = int(self.continued[i]) / words
        return out

    def tags(self) -> dict[str, str]:
        """The unspaced scripts whose words tokens/fertility leaves out, e.g. `Han (12 words)`."""
        left = [
            f"{SCRIPTS[i]} ({int(self.words[i])} words)"
            for i in np.flatnonzero((self.words > 0) & UNSPACED_IDS)
        ]
        return {"tokens.fertility_excludes": ", ".join(left)} if left else {}


@dataclass
class Fidelity(Family):
    """What is lost (runner.tokenization.fidelity): examples that round-trip, per script of the
    example; non-whitespace characters covered by two or more content tokens, per script; and
    content tokens holding part of a character."""

    rows: np.ndarray = field(default_factory=_zeros)
    roundtrip_exact: np.ndarray = field(default_factory=_zeros)
    roundtrip_normalized: np.ndarray = field(default_factory=_zeros)
    text_chars: np.ndarray = field(default_factory=_zeros)
    split: np.ndarray = field(default_factory=_zeros)
    partial_tokens: int = 0
    content: int = 0
    has_offsets: bool = True
    has_roundtrip: bool = True

    def reduce(self, chunk: Chunk) -> None:
        self.content += int(np.count_nonzero(chunk.content))
        self.has_offsets &= chunk.has_offsets
        self.has_roundtrip &= chunk.has_roundtrip
        if not self.has_offsets:
            if self.has_roundtrip:  # no text layout: totals only, under Common
                self._roundtrip(chunk, np.zeros(chunk.rows, np.int64))
            return
        self._splits(chunk)
        if self.has_roundtrip:
            self._roundtrip(chunk, chunk.row_scripts)

    def _splits(self, chunk: Chunk) -> None:
        layout = chunk.layout
        spans = chunk.content & (layout.end > layout.start)
        start, end = layout.start[spans], layout.end[spans]
        self.partial_tokens += int(np.count_nonzero(partial_flags(start, end)))
        split = split_chars(start, end, len(layout.codes))
        script = unicode_scripts.char_scripts(layout.codes)
        script = np.where(script < 0, COMMON, script)  # digits, punctuation: Common
        text = ~layout.space
        self.text_chars += np.bincount(script[text], minlength=len(SCRIPTS))
        self.split += np.bincount(script[text & split], minlength=len(SCRIPTS))

    def _roundtrip(self, chunk: Chunk, scripts: np.ndarray) -> None:
        trips = [b.roundtrip for b in chunk.batches if b.roundtrip is not None]
        exact = np.concatenate([t[0] for t in trips])
        normalized = np.concatenate([t[1] for t in trips])
        k = len(SCRIPTS)
        self.rows += np.bincount(scripts, minlength=k)
        self.roundtrip_exact += np.bincount(scripts, weights=exact, minlength=k).astype(np.int64)
        self.roundtrip_normalized += np.bincount(scripts, weights=normalized, minlength=k).astype(np.int64)

    def metrics(self) -> dict[str, float]:
        out = {}
        rows = int(self.rows.sum())
        if self.has_roundtrip and rows:
            out["tokens/roundtrip_exact"] = int(self.roundtrip_exact.sum()) / rows
            out["tokens/roundtrip_normalized"] = int(self.roundtrip_normalized.sum()) / rows
        chars = int(self.text_chars.sum())
        if self.has_offsets and chars:
            out["tokens/split_char_rate"] = int(self.split.sum()) / chars
            out["tokens/partial_token_share"] = self.partial_tokens / self.content if self.content else 0.0
        if not self.has_offsets:
            return out
        for i in np.flatnonzero(self.rows if self.has_roundtrip else []):
            rows = int(self.rows[i])
            out[f"script/{SCRIPTS[i]}/roundtrip_exact"] = int(self.roundtrip_exact[i]) / rows
            out[f"script/{SCRIPTS[i]}/roundtrip_normalized"] = int(self.roundtrip_normalized[i]) / rows
        for i in np.flatnonzero(self.text_chars):
            out[f"script/{SCRIPTS[i]}/split_char_rate"] = int(self.split[i]) / int(self.text_chars[i])
        return out


@dataclass
class Distribution(Family):
    """The unigram distribution of content token ids: entropy and vocabulary use."""

    vocab_size: int = 1  # len(tokenizer): the denominator of vocabulary utilisation
    renyi_alpha: float = 2.5
    id_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def reduce(self, chunk: Chunk) -> None:
        ids = chunk.ids[chunk.content]
        counts = np.bincount(ids, minlength=max(self.vocab_size, len(self.id_counts)))
        if len(counts) > len(self.id_counts):
            counts[: len(self.id_counts)] += self.id_counts
            self.id_counts = counts
        else:
            self.id_counts += counts

    def metrics(self) -> dict[str, float]:
        return distribution(self.id_counts, self.vocab_size, self.renyi_alpha)


@dataclass
class Chunked:
    """The families a run switched on, fed together: one pending list, one chunk (and its
    layout) per `chunk_rows` examples. A statistic of the registry like any other."""

    families: list[Family]
    chunk_rows: int = 256  # measured: much bigger chunks fall out of the CPU cache
    pending: list[Batch] = field(default_factory=list)
    pending_rows: int = 0

    def update(self, batch: Batch, keep: int = 0) -> None:
        for family in self.families:
            family.add(batch)
        self.pending.append(batch)
        self.pending_rows += len(batch.texts)
        if self.pending_rows >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        chunk = Chunk(self.pending)
        self.pending, self.pending_rows = [], 0
        for family in self.families:
            family.reduce(chunk)

    def metrics(self) -> dict[str, float]:
        self.flush()
        return {k: v for family in self.families for k, v in family.metrics().items()}

    def columns(self, index: int) -> dict[str, Any]:
        return {}

    def tags(self) -> dict[str, str]:
        self.flush()
        return {k: v for family in self.families for k, v in family.tags().items()}

    def merge(self, other: Chunked) -> None:
        """Another group's sums (the same families, other examples) added to these."""
        self.flush()
        other.flush()
        for mine, theirs in zip(self.families, other.families, strict=True):
            mine.merge(theirs)

    def family(self, kind: type[Family]) -> Any:
        """The family of that class (tests read its sums)."""
        return next(f for f in self.families if isinstance(f, kind))


def together(statistics: list[Any]) -> list[Any]:
    """The statistics with every Chunked group among them joined into one, first (its families
    then share each chunk and its layout); the others after it, in order."""
    groups = [s for s in statistics if isinstance(s, Chunked)]
    others = [s for s in statistics if not isinstance(s, Chunked)]
    joined = [Chunked([f for g in groups for f in g.families])] if groups else []
    return joined + others


def all_families(tok: Any, renyi_alpha: float = 2.5) -> Chunked:
    """Every built-in family for a tokenizer, fed together."""
    unk = tok.unk_token_id
    return Chunked([Counts(unk), Scripts(unk), Fidelity(), Distribution(len(tok), renyi_alpha)])


def _layout(batches: Sequence[Batch]) -> Layout:
    """Lay every text (and pair) of the chunk end to end, separated by a space."""
    segments: list[str] = []
    for p in batches:
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
    for p in batches:  # each token's segment start
        rows = len(p.texts)
        if p.second is None:
            parts.append(np.repeat(bases[first : first + rows], p.n_tokens))
            first += rows
        else:
            own = np.repeat(bases[first : first + 2 * rows].reshape(-1, 2), p.n_tokens, axis=0)
            parts.append(np.where(p.second, own[:, 1], own[:, 0]))
            first += 2 * rows
    offsets = np.concatenate([p.offsets for p in batches])
    base = np.concatenate(parts)
    return Layout(codes, space, segment, offsets[:, 0] + base, offsets[:, 1] + base)
