"""Per-script statistics and bytes per token equal an independent per-word computation."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import pytest
import regex
from transformers import AutoTokenizer

from tests.helpers.paths import HUB
from tests.helpers.texts import tokenize_run

MIXED = [
    "오늘 날씨가 정말 좋네요. Hello world!",
    "東京は日本の首都です。 Tokyo is a big city",
    "ひらがな カタカナ 漢字 123 !!",
    "저는 자연어 처리를 공부하고 있습니다 and I study NLP",
    "Привет мир, 서울은 수도입니다",
]
NAMED = ["Latin", "Hangul", "Han", "Hiragana", "Katakana", "Cyrillic"]  # the scripts in MIXED
UNSPACED = {"Han", "Hiragana", "Katakana"}


def script_of_word(word: str) -> str:
    """Majority script of the word's letters, found char by char (Common when none)."""
    votes = Counter()
    for char in word:
        if not unicodedata.category(char).startswith(("L", "M")):
            continue
        votes.update(name for name in NAMED if regex.fullmatch(rf"\p{{sc={name}}}", char))
    return votes.most_common(1)[0][0] if votes else "Common"


def independent(tok, texts: list[str]) -> dict[str, float]:
    words, tokens, continued, unk, chars = Counter(), Counter(), Counter(), Counter(), Counter()
    content = utf8 = 0
    enc = tok(texts, return_offsets_mapping=True, return_special_tokens_mask=True)
    for i, text in enumerate(texts):
        utf8 += len(text.encode("utf-8"))
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        per_word = [0] * len(spans)
        unk_word = [0] * len(spans)
        for pos, (a, b) in enumerate(enc["offset_mapping"][i]):
            if enc["special_tokens_mask"][i][pos]:
                continue
            content += 1
            if b > a and not text[b - 1].isspace():
                w = next(w for w, (s, e) in enumerate(spans) if s <= b - 1 < e)
                per_word[w] += 1
                unk_word[w] += enc["input_ids"][i][pos] == tok.unk_token_id
        for (s, e), n, u in zip(spans, per_word, unk_word, strict=True):
            if n:
                name = script_of_word(text[s:e])
                words[name] += 1
                tokens[name] += n
                continued[name] += n >= 2
                unk[name] += u
                chars[name] += e - s
    out = {"tokens/bytes_per_token": utf8 / content}
    for name in words:
        out[f"script/{name}/words"] = words[name]
        out[f"script/{name}/tokens_per_char"] = tokens[name] / chars[name]
        out[f"script/{name}/unk_rate"] = unk[name] / tokens[name]
        if name not in UNSPACED:
            out[f"script/{name}/fertility"] = tokens[name] / words[name]
            out[f"script/{name}/continued_word_ratio"] = continued[name] / words[name]
    spaced = [n for n in words if n not in UNSPACED]
    out["tokens/fertility"] = sum(tokens[n] for n in spaced) / sum(words[n] for n in spaced)
    return out


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base"])
def test_script_metrics_equal_an_independent_count(fixtures, name):
    path = HUB / name
    result = tokenize_run(path, MIXED, "tokenizer.truncation=false", batch_size=2)
    expected = independent(AutoTokenizer.from_pretrained(str(path)), MIXED)
    assert {"script/Hangul/words", "script/Latin/words", "script/Hiragana/words"} <= set(expected)
    losses = ("roundtrip_exact", "roundtrip_normalized", "split_char_rate")  # tests/unit/test_fidelity.py
    logged = {k for k in result.metrics if k.startswith("script/") and not k.endswith(losses)}
    assert logged == {k for k in expected if k.startswith("script/")}
    for key, value in expected.items():
        assert result.metrics[key] == pytest.approx(value, abs=1e-12), key
    for script in UNSPACED & {k.split("/")[1] for k in logged}:
        assert f"script/{script}/fertility" not in result.metrics
    excluded = {k.split("/")[1] for k in expected if k.startswith("script/")} & UNSPACED
    assert excluded == {"Han", "Hiragana", "Katakana"}
    for script in excluded:
        assert (
            f"{script} ({expected[f'script/{script}/words']} words)"
            in result.tags["tokens.fertility_excludes"]
        )
