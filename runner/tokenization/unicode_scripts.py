"""The Unicode script of each whitespace word: the script of the majority of its letters, read
from the `regex` module's script properties (`\\p{Script=…}`), cached per code point.

Only script *names* are listed here; which code points belong to each is Unicode's data, as
`regex` ships it. Letters (`\\p{L}`, `\\p{M}`) of a script not listed count as `Other`; words
without letters (digits, punctuation) and letters of the Common/Inherited scripts are `Common`.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import regex

SCRIPTS = (
    "Common",  # id 0: words with no letters of a named script
    "Other",  # id 1: letters of a script not listed below
    "Latin", "Hangul", "Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar",
    "Cyrillic", "Greek", "Armenian", "Georgian", "Arabic", "Hebrew", "Syriac", "Thaana",
    "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada",
    "Malayalam", "Sinhala", "Tibetan", "Ethiopic", "Mongolian", "Bopomofo", "Yi", "Cherokee",
    "Canadian_Aboriginal", "Tifinagh", "Javanese", "Balinese", "Sundanese", "Tagalog", "Nko",
    "Vai", "Ol_Chiki", "Adlam",
)  # fmt: skip
COMMON, OTHER = 0, 1
# Written without spaces between words: a whitespace "word" is a phrase, so fertility and the
# continued-word ratio mean nothing there (they are not logged for these scripts).
UNSPACED = frozenset({"Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar"})
UNSPACED_IDS = np.array([name in UNSPACED for name in SCRIPTS])

_LETTER = regex.compile(r"[\p{L}\p{M}]")
_PATTERNS = [(i, regex.compile(rf"\p{{Script={name}}}")) for i, name in enumerate(SCRIPTS) if i > OTHER]
UNKNOWN = -2
_TABLE = np.full(0x110000, UNKNOWN, dtype=np.int8)  # code point → script id, -1 non-letter; filled as met


def _script_of(code: int) -> int:
    char = chr(code)
    if not _LETTER.match(char):
        return -1
    for i, pattern in _PATTERNS:
        if pattern.match(char):
            return i
    if regex.match(r"\p{Script=Common}|\p{Script=Inherited}", char):
        return -1  # a letter-like mark shared by scripts (combining accents): no vote
    return OTHER


def char_scripts(codes: np.ndarray) -> np.ndarray:
    """Script id of each code point (-1 for non-letters): a table lookup, the table filled for
    code points not met before."""
    found = _TABLE[codes]
    new = found == UNKNOWN
    if new.any():
        for code in np.unique(codes[new]).tolist():
            _TABLE[code] = _script_of(code)
        found = _TABLE[codes]
    return cast("np.ndarray", found)


def word_scripts(codes: np.ndarray, word_of_char: np.ndarray, space: np.ndarray, n_words: int) -> np.ndarray:
    """Each word's script id: the majority of its letters' scripts (ties: the first listed)."""
    scripts = char_scripts(codes)
    letters = (scripts >= 0) & ~space
    votes = np.bincount(
        word_of_char[letters] * len(SCRIPTS) + scripts[letters], minlength=n_words * len(SCRIPTS)
    ).reshape(n_words, len(SCRIPTS))
    out = votes.argmax(axis=1)
    out[votes.max(axis=1) == 0] = COMMON
    return cast("np.ndarray", out)
