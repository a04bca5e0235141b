"""Morphemes as the reference (`stats.morphemes=kiwi`): where a tokenizer cuts against where the
language does. Kiwi (`kiwipiepy`, its model from PyPI, offline) segments every evaluation text
into morphemes with their surface character spans.

Rules (docs/statistics.md):
- A **unit** is a morpheme, or several whose surface spans overlap: a contraction whose morphemes
  share a syllable (봅시다 = 보 + ᆸ시다, 했 = 하 + 었) is one unit, with no boundary inside it.
- A **morpheme boundary** is a position strictly inside a whitespace word where one unit ends and
  the next begins. A **token boundary** is the cut between two consecutive content tokens
  (special tokens and empty spans aside): at offset i where the first ends at i and the second
  starts there, counted when i lies strictly inside a whitespace word (word edges never count);
  where the two share a character (their spans overlap: bytes or jamo of one syllable) the cut
  lies inside that character — a boundary the tokenizer made that matches no morpheme boundary.
  cl100k_base on `있었습니다.`: ` 있` [15,17), `<0xEC><0x97>` [17,18), `<0x88>습니다` [17,21) cut
  at 17 and inside 었 — not at 18, the morpheme boundary 었|습.
- precision = |T ∩ M| / |T|, recall = |T ∩ M| / |M|, F1 = 2·|T ∩ M| / (|T| + |M|), summed over
  the run's texts (a pair's texts each count). `morph/aligned_token_share`: content tokens whose
  span starts and ends on a unit edge or word edge — a whole number of morphemes — over content
  tokens with a span; a token holding part of one character (a byte of a syllable, a jamo) never is.
- Text in other scripts: Kiwi keeps a Latin word as one morpheme (`cute.` with its final period
  too) and cuts some punctuation off (`Hello,` = Hello + ,), so English text contributes a few
  boundaries only; its tokens count toward precision and the aligned share like any other.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runner.errors import ConfigError
from runner.tokenization import boundary
from runner.tokenization.batch import Batch
from runner.tokenization.fingerprints import texts_digest
from runner.tokenization.statistic import BaseStatistic, Context, Statistic
from runner.tokenization.token_stats import partial_flags

MARKER = "runner_pre_tokenizer.json"  # in a trained tokenizer's folder: its pre-tokenizer is `morphemes`


def analyzer(key: str = "stats.morphemes=kiwi") -> Any:
    """Kiwi (its model loads once per process), or one line naming the key and the install."""
    try:
        return _kiwi()
    except ImportError as exc:
        raise missing(key) from exc


def installed() -> bool:
    """Whether kiwipiepy can be imported (without loading Kiwi's model)."""
    import importlib.util

    return importlib.util.find_spec("kiwipiepy") is not None


def missing(key: str) -> ConfigError:
    return ConfigError(key, "needs kiwipiepy", "pip install kiwipiepy (or 'hf-runner[korean]')")


@functools.cache
def _kiwi() -> Any:
    from kiwipiepy import Kiwi

    return Kiwi()


def units(tokens: Sequence[Any]) -> list[tuple[int, int]]:
    """Kiwi's morphemes (start, len) merged where their surface spans overlap."""
    out: list[tuple[int, int]] = []
    for t in tokens:
        start, end = int(t.start), int(t.start + t.len)
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def analyse(texts: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
    """Each distinct text's units (Kiwi's batch call over the texts)."""
    distinct = list(dict.fromkeys(texts))
    kiwi = analyzer()
    return {text: units(tokens) for text, tokens in zip(distinct, kiwi.tokenize(distinct), strict=True)}


class MorphemeCut:
    """The `morphemes` pre-tokenizer's first step (a `tokenizers` custom pre-tokenizer): each text
    cut at its morpheme boundaries inside whitespace words. The pieces are slices of the
    tokenizer's NormalizedString, so every offset still points into the original text. `known`
    holds the analyses made so far (the training corpus's, in one batched call): a text is
    analysed once per tokenizer."""

    def __init__(self, known: dict[str, list[tuple[int, int]]] | None = None) -> None:
        self.known = known if known is not None else {}

    def pre_tokenize(self, pretok: Any) -> None:
        pretok.split(self._split)

    def _split(self, _: int, normalized: Any) -> list[Any]:
        text = normalized.normalized
        if text not in self.known:
            self.known.update(analyse([text]))
        edges = [0, *sorted(boundaries(text, self.known[text])), len(text)]
        return [normalized[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


def base_pre_tokenizer() -> Any:
    """What follows the cut, and what tokenizer.json keeps (a custom step cannot be saved):
    metaspace, ▁ only where the text has a space (and at its start), so pieces join back."""
    from tokenizers import pre_tokenizers

    return pre_tokenizers.Metaspace(prepend_scheme="first")


def pre_tokenizer(
    known: dict[str, list[tuple[int, int]]] | None = None,
    key: str = "tokenizer.train.pre_tokenizer=morphemes",
) -> Any:
    """Morpheme cuts, then metaspace (tokenizer.train.pre_tokenizer=morphemes). `key`: what the
    user typed that asks for the cut, named when kiwipiepy is missing."""
    return _with_cut(MorphemeCut(known), key)


def _with_cut(cut: MorphemeCut, key: str) -> Any:
    from tokenizers import pre_tokenizers

    analyzer(key)  # one line naming the install when missing
    custom = pre_tokenizers.PreTokenizer.custom(cut)
    return pre_tokenizers.Sequence([custom, base_pre_tokenizer()])


CUTS: weakref.WeakKeyDictionary[Any, MorphemeCut] = weakref.WeakKeyDictionary()  # tokenizer → its cut


def cut_of(tok: Any) -> MorphemeCut | None:
    """The morpheme cut a restored tokenizer runs (None for any other): a run hands it the
    analyses of its evaluation texts, made once in one batched call (`known`), so that the cut
    does not analyse them again one text at a time."""
    return CUTS.get(tok)


def restore(
    tok: Any,
    folder: str | Path,
    known: dict[str, list[tuple[int, int]]] | None = None,
    key: str | None = None,
) -> Any:
    """A trained tokenizer loaded from its files, its morpheme cut put back where the folder
    says it had one (tokenizer.json alone, loaded elsewhere, splits at whitespace only). `key`:
    what the user typed to load it (`tokenizer.name_or_path=runs:/…`), named if Kiwi is missing."""
    marker = Path(folder) / MARKER
    if tok.is_fast and marker.exists() and json.loads(marker.read_text())["pre_tokenizer"] == "morphemes":
        why = f"{key} (a morpheme-aware tokenizer)" if key else "tokenizer.train.pre_tokenizer=morphemes"
        cut = MorphemeCut(known)
        tok.backend_tokenizer.pre_tokenizer = _with_cut(cut, why)
        CUTS[tok] = cut
    return tok


def inside(text: str, position: int) -> bool:
    """A position strictly inside a whitespace word."""
    return 0 < position < len(text) and not text[position - 1].isspace() and not text[position].isspace()


def boundaries(text: str, spans: list[tuple[int, int]]) -> set[int]:
    """Where a unit ends or begins strictly inside a whitespace word."""
    return {e for _, e in spans if inside(text, e)} | {s for s, _ in spans if inside(text, s)}


def token_cuts(text: str, starts: np.ndarray, ends: np.ndarray) -> tuple[set[int], int]:
    """Where a tokenizer cuts a text: between each two consecutive content tokens (spans in
    order). A cut at a character edge is a position, counted where it lies inside a whitespace
    word; two tokens that share a character (bytes, jamo: their spans overlap) cut inside it —
    a cut of its own, at no character edge. Returns (the edge positions, the cuts inside a character)."""
    first_end, next_start = ends[:-1], starts[1:]
    shared = next_start < first_end
    edges = {int(e) for e in first_end[~shared] if inside(text, int(e))}
    return edges, int(np.count_nonzero(shared))


def surface(text: str, spans: list[tuple[int, int]]) -> str:
    """The segmentation as the text shows it: `토크나이저 | 를 공부 | 하 | 고`."""
    out, last = [], 0
    for start, end in spans:
        if start >= last and end > start:  # a morpheme with no surface (Kiwi's 이 in 터라) shows nothing
            gap = text[last:start]
            out.append((" " if gap.strip() == "" and gap else gap) + text[start:end])
            last = end
    joined = ""
    for n, piece in enumerate(out):
        joined += piece if n == 0 or piece.startswith(" ") else " | " + piece
    return joined.strip()


@dataclass
class MorphemeStats:
    """Token boundaries against morpheme boundaries over a run's batches."""

    segmented: dict[str, list[tuple[int, int]]]
    both: int = 0
    token_cuts: int = 0
    morph_cuts: int = 0
    aligned: int = 0
    spanned: int = 0
    crosses: dict[int, list[bool]] = field(default_factory=dict)  # logged examples: per token

    def update(self, batch: Batch, keep: int) -> None:
        if batch.offsets is None:
            return
        start = 0
        for j, index in enumerate(batch.indices):
            n = int(batch.n_tokens[j])
            offsets, special = batch.offsets[start : start + n], batch.special[start : start + n]
            second = batch.second[start : start + n] if batch.second is not None else np.zeros(n, bool)
            start += n
            cross = [False] * n
            sequences = [(batch.texts[j], False)]
            if batch.pairs is not None:
                sequences.append((batch.pairs[j], True))
            for text, is_second in sequences:
                self._sequence(text, offsets, special, second == is_second, cross)
            if index < keep:  # over the padded row, as tokens.json lists tokens
                pad = [False] * int(batch.widths[j] - n)
                self.crosses[index] = pad + cross if batch.left else cross + pad

    def _sequence(
        self, text: str, offsets: np.ndarray, special: np.ndarray, mine: np.ndarray, cross: list[Any]
    ) -> None:
        spans = self.segmented.get(text, [])
        morph = boundaries(text, spans)
        edges = {0, len(text)} | {s for s, _ in spans} | {e for _, e in spans}
        edges |= {k for k in range(len(text) + 1) if not inside(text, k)}
        picked = np.flatnonzero(mine & (special == 0) & (offsets[:, 1] > offsets[:, 0]))
        starts, ends = offsets[picked, 0], offsets[picked, 1]
        partial = partial_flags(starts, ends)
        cuts, split = token_cuts(text, starts, ends)
        self.both += len(cuts & morph)  # a cut inside a character matches no morpheme boundary
        self.token_cuts += len(cuts) + split
        self.morph_cuts += len(morph)
        rows = zip(picked.tolist(), starts.tolist(), ends.tolist(), partial.tolist(), strict=True)
        for k, s, e, part in rows:
            self.spanned += 1
            self.aligned += int(not part and s in edges and e in edges)
            cross[k] = any(s < b < e for b in morph)

    def __getstate__(self) -> dict[str, Any]:
        """A partial state travels (execution=ray) as its sums, without the text analyses."""
        return {**vars(self), "segmented": {}}

    def merge(self, other: MorphemeStats) -> None:
        """Another part's counts added; its logged examples' flags joined."""
        for name in ("both", "token_cuts", "morph_cuts", "aligned", "spanned"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.crosses.update(other.crosses)

    def metrics(self) -> dict[str, float]:
        p, r, f1 = boundary.scores(self.both, self.token_cuts, self.morph_cuts)
        return {
            "morph/boundary_precision": p,
            "morph/boundary_recall": r,
            "morph/boundary_f1": f1,
            "morph/aligned_token_share": self.aligned / self.spanned if self.spanned else 0.0,
            "morph/boundaries": float(self.morph_cuts),
        }


class Morphemes(BaseStatistic):
    """stats.morphemes=kiwi: token boundaries against Kiwi's morpheme boundaries."""

    def __init__(self, segmented: dict[str, list[tuple[int, int]]]) -> None:
        self.stats = MorphemeStats(segmented)
        self.shown: dict[int, str] = {}  # logged examples: the segmentation as the text shows it

    def update(self, batch: Batch, keep: int) -> None:
        self.stats.update(batch, keep)
        for j, index in enumerate(batch.indices):
            if index < keep:
                self.shown[index] = self._surface(batch.texts[j])
                if batch.pairs is not None:
                    self.shown[index] += " ‖ " + self._surface(batch.pairs[j])

    def _surface(self, text: str) -> str:
        return surface(text, self.stats.segmented.get(text, []))

    def metrics(self) -> dict[str, float]:
        return self.stats.metrics()

    def merge(self, other: Morphemes) -> None:
        self.stats.merge(other.stats)
        self.shown.update(other.shown)

    def columns(self, index: int) -> dict[str, Any]:
        return {"morphemes": self.shown[index], "crosses": self.stats.crosses.get(index, [])}


def statistic(context: Context) -> Statistic | None:
    """The registry's factory (stats.morphemes=kiwi): the analyses of the run's texts, once per
    dataset and process (the load cache)."""
    mode = context.cfg.stats.morphemes
    if mode == "none" or context.texts.parallel:
        return None
    texts = context.texts  # read its strings only when the analysis is not cached yet
    segmented = context.cached("morphemes", texts_digest(texts), lambda: analyse(texts.strings()))
    return Morphemes(segmented)
