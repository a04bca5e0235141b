"""What a tokenizer loses, and what each token is, recomputed independently from direct calls of
the two real tokenizers: round trips, split characters, partial tokens, the distribution of
token ids, and tokens.json's pieces (UNK, jamo, bytes) on Korean, English, Japanese and Thai."""

from __future__ import annotations

import math
import unicodedata
from collections import Counter

import pytest
import regex
from transformers import AutoTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

from tests.helpers.paths import HUB
from tests.helpers.texts import PAIRS, TEXTS, tokenize_run

SCRIPTS = ["Latin", "Hangul", "Han", "Hiragana", "Katakana", "Thai"]


def script_of(text: str) -> str:
    votes = Counter()
    for char in text:
        if unicodedata.category(char).startswith(("L", "M")):
            votes.update(s for s in SCRIPTS if regex.fullmatch(rf"\p{{sc={s}}}", char))
    return votes.most_common(1)[0][0] if votes else "Common"


def char_script(char: str) -> str:
    if not unicodedata.category(char).startswith(("L", "M")):
        return "Common"
    return next((s for s in SCRIPTS if regex.fullmatch(rf"\p{{sc={s}}}", char)), "Common")


def segments(tok, example):
    """Per text of the example (one, or two for a pair): its text and its content tokens' ids
    and spans, from a direct call."""
    text, pair = (example, None) if isinstance(example, str) else example
    enc = tok(text, pair, return_offsets_mapping=True, return_special_tokens_mask=True)
    out = []
    for s, part in enumerate([text] if pair is None else [text, pair]):
        tokens = [
            (i, span)
            for i, span, special, seq in zip(
                enc["input_ids"],
                enc["offset_mapping"],
                enc["special_tokens_mask"],
                enc.sequence_ids(),
                strict=True,
            )
            if not special and seq == s
        ]
        out.append((part, tokens))
    return out


def expected(tok, examples, byte_level):
    table = {c: b for b, c in bytes_to_unicode().items()}
    norm = tok.backend_tokenizer.normalizer
    rows, exact, normalized = Counter(), Counter(), Counter()
    chars, split = Counter(), Counter()
    content = partial = 0
    ids = Counter()
    for example in examples:
        ok_exact = ok_norm = True
        parts = segments(tok, example)
        for text, tokens in parts:
            decoded = tok.decode([i for i, _ in tokens], skip_special_tokens=True)
            ok_exact &= decoded == text
            ok_norm &= decoded == text or (norm is not None and decoded == norm.normalize_str(text))
            cover = [sum(a <= c < b for _, (a, b) in tokens) for c in range(len(text))]
            for c, char in enumerate(text):
                if not char.isspace():
                    chars[char_script(char)] += 1
                    split[char_script(char)] += cover[c] >= 2
            for i, (a, b) in tokens:
                content += 1
                ids[i] += 1
                if byte_level:
                    data = bytes(table[c] for c in tok.convert_ids_to_tokens(i))
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError:
                        partial += 1
                else:
                    partial += any(cover[c] >= 2 for c in range(a, b))
        script = script_of(" ".join(t for t, _ in parts))
        rows[script] += 1
        exact[script] += ok_exact
        normalized[script] += ok_norm
    out = {
        "tokens/roundtrip_exact": sum(exact.values()) / len(examples),
        "tokens/roundtrip_normalized": sum(normalized.values()) / len(examples),
        "tokens/split_char_rate": sum(split.values()) / sum(chars.values()),
        "tokens/partial_token_share": partial / content,
    }
    for s in rows:
        out[f"script/{s}/roundtrip_exact"] = exact[s] / rows[s]
        out[f"script/{s}/roundtrip_normalized"] = normalized[s] / rows[s]
    for s in chars:
        out[f"script/{s}/split_char_rate"] = split[s] / chars[s]
    total = sum(ids.values())
    p = [n / total for n in ids.values()]
    alpha, size = 2.5, len(tok)
    out["tokens/shannon_entropy"] = -sum(x * math.log2(x) for x in p)
    out["tokens/renyi_efficiency"] = math.log2(sum(x**alpha for x in p)) / (1 - alpha) / math.log2(size)
    out["tokens/vocab_used"] = len(ids)
    out["tokens/vocab_utilization"] = len(ids) / size
    return out


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base"])
@pytest.mark.parametrize("examples", [TEXTS, PAIRS], ids=["texts", "pairs"])
def test_losses_and_distribution_equal_a_direct_computation(name, examples):
    path = HUB / name
    tok = AutoTokenizer.from_pretrained(str(path))
    result = tokenize_run(path, examples, "tokenizer.truncation=false", "stats.roundtrip=true", batch_size=2)
    want = expected(tok, examples, byte_level=name == "roberta-base")
    logged = {
        k
        for k in result.metrics
        if k.endswith(("roundtrip_exact", "roundtrip_normalized", "split_char_rate"))
        or k.startswith(("tokens/partial", "tokens/shannon", "tokens/renyi", "tokens/vocab_"))
    }
    assert logged == set(want)
    for key, value in want.items():
        assert result.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    flags = {r["index"]: r["roundtrip"] for r in result.token_rows}
    assert len(flags) == len(examples)
    for index, example in enumerate(examples):
        parts = segments(tok, example)
        direct = all(tok.decode([i for i, _ in t], skip_special_tokens=True) == s for s, t in parts)
        assert flags[index] is direct


def test_what_each_tokenizer_loses_on_korean():
    bert = tokenize_run(HUB / "bert-base-uncased", TEXTS[:2], "stats.roundtrip=true").metrics
    roberta = tokenize_run(HUB / "roberta-base", TEXTS[:2], "stats.roundtrip=true").metrics
    assert bert["script/Hangul/roundtrip_exact"] == 0.0  # jamo (NFD) and [UNK] come back
    assert roberta["script/Hangul/roundtrip_exact"] == 1.0  # bytes always come back
    assert roberta["script/Hangul/split_char_rate"] > 0.9  # nearly every syllable is 2-3 byte tokens
    assert 0 < bert["script/Hangul/split_char_rate"] < 1  # jamo split; the UNK word is not


def pieces_of(name, text):
    result = tokenize_run(HUB / name, [text], "stats.roundtrip=true")
    (row,) = result.token_rows
    keep = [k for k, s in enumerate(row["special"]) if not s]
    return {key: [row[key][k] for k in keep] for key in ("pieces", "partial", "unk", "covers", "tokens")}


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base"])
def test_no_character_is_shown_more_often_than_the_text_holds_it(name):
    for text in TEXTS:
        row = pieces_of(name, text)
        shown, held = Counter("".join(row["pieces"])), Counter(text)
        for char, n in held.items():
            if char not in "<>0123456789ABCDEFx":  # the spelling of a byte: <0xEC>
                assert shown[char] <= n, (text, char)
        # every character goes to exactly one token: what they cover is the text without spaces
        assert "".join(c or "" for c in row["covers"]) == "".join(text.split())


def test_unk_shows_the_literal_and_the_word_it_replaced():
    row = pieces_of("bert-base-uncased", "이 영화는 정말 재미있습니다!")
    k = row["pieces"].index("[UNK]")
    assert row["unk"][k] and row["tokens"][k] == "[UNK]" and row["covers"][k] == "재미있습니다"
    assert sum(row["unk"]) == row["tokens"].count("[UNK]")
    assert "재미있습니다" not in "".join(row["pieces"])


def test_bert_shows_jamo_and_roberta_shows_bytes_for_one_syllable():
    bert = pieces_of("bert-base-uncased", "서울")
    assert bert["pieces"] == ["ᄉ", "ᅥ", "ᄋ", "ᅮ", "ᆯ"] and all(bert["partial"])
    assert bert["covers"] == ["", "서", "", "", "울"]
    roberta = pieces_of("roberta-base", "서울")
    assert "".join(roberta["pieces"]) == "".join(f"<0x{b:02X}>" for b in "서울".encode())
    assert all(roberta["partial"]) and "".join(roberta["covers"]) == "서울"
    english = pieces_of("roberta-base", "Hello world")
    assert english["pieces"] == ["Hello", "world"] and not any(english["partial"])


def test_round_trip_is_on_where_asked_and_the_report_says_when_it_was_not():
    from runner.analysis import report
    from runner.analysis.report import RunTokens

    off = tokenize_run(HUB / "bert-base-uncased", TEXTS[:2])  # the default: stats.roundtrip=false
    assert not [k for k in off.metrics if "roundtrip" in k]
    assert all(row.get("roundtrip") is None for row in off.token_rows)
    on = tokenize_run(HUB / "bert-base-uncased", TEXTS[:2], "stats.roundtrip=true")
    assert on.metrics["tokens/roundtrip_exact"] == 0.0
    runs = [
        RunTokens("a", "checked", on.metrics, report.keyed(on.token_rows)),
        RunTokens("b", "unchecked", off.metrics, report.keyed(off.token_rows)),
    ]
    section = report._losses(runs)
    assert "Not checked for unchecked" in section and "stats.roundtrip=true" in section
    assert "checked: 2 of 2 logged examples" in section
