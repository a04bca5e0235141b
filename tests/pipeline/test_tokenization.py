"""Logged ids, tokens, masks, types and decodes equal a direct call of the same tokenizer;
the summary metrics equal an independent per-example computation."""

from __future__ import annotations

import re

import numpy as np
import pytest
from transformers import AutoTokenizer

from runner.engine import pipeline
from runner.errors import ModelError
from runner.model import tiny
from tests.helpers.invoking import compose
from tests.helpers.paths import HUB
from tests.helpers.texts import tokenize_run

KOREAN = [
    "오늘 날씨가 정말 좋네요.",
    "저는 자연어 처리를 공부하고 있습니다.",
    "서울은 대한민국의 수도입니다.",
]
ENGLISH = [
    "Hello, my dog is cute",
    "Tokenizers split unbelievably long words, don't they?",
    "A [MASK] token and an unknown ☃ snowman",
]
PAIRS = [
    ["첫번째 문장", "두번째 문장"],
    ["Hello, my dog is cute", "My cat is lazy and sleeps all day."],
    ["Seoul", "서울은 대한민국의 수도입니다."],
]


def direct(tok, texts, **kwargs):
    if isinstance(texts[0], list):
        return tok([a for a, _ in texts], [b for _, b in texts], **kwargs)
    return tok(texts, **kwargs)


@pytest.fixture(scope="module", params=["bert-base-uncased", "roberta-base"])
def hub_tokenizer(request, fixtures):
    path = HUB / request.param
    return str(path), AutoTokenizer.from_pretrained(str(path))


CASES = [
    ([], {"padding": "longest", "truncation": True, "max_length": 512}),
    (
        ["padding=max_length", "tokenizer.max_length=24"],
        {"padding": "max_length", "truncation": True, "max_length": 24},
    ),
    (["padding=do_not_pad"], {"padding": False, "truncation": True, "max_length": 512}),
    (["tokenizer.max_length=6"], {"padding": "longest", "truncation": True, "max_length": 6}),
    (["tokenizer.truncation=false"], {"padding": "longest", "truncation": False}),
    (
        ["padding.side=left", "padding.pad_to_multiple_of=8"],
        {
            "padding": "longest",
            "truncation": True,
            "max_length": 512,
            "padding_side": "left",
            "pad_to_multiple_of": 8,
        },
    ),
    (
        ["tokenizer.add_special_tokens=false"],
        {"padding": "longest", "truncation": True, "max_length": 512, "add_special_tokens": False},
    ),
    (
        ["tokenizer.return_token_type_ids=true"],
        {
            "padding": "longest",
            "truncation": True,
            "max_length": 512,
            "return_token_type_ids": True,
        },
    ),
]


@pytest.mark.parametrize("batch_size", [None, 2], ids=["one-batch", "batches-of-2"])
@pytest.mark.parametrize("texts", [KOREAN + ENGLISH, PAIRS], ids=["singles", "pairs"])
@pytest.mark.parametrize(("overrides", "kwargs"), CASES, ids=[" ".join(o) or "default" for o, _ in CASES])
def test_rows_equal_direct_call(hub_tokenizer, texts, overrides, kwargs, batch_size):
    """Each batch's arrays equal a direct call on that batch (the runner tokenizes a chunk of
    batches in one call and pads each batch itself)."""
    path, tok = hub_tokenizer
    result = tokenize_run(path, texts, *overrides, batch_size=batch_size)
    assert len(result.token_rows) == len(texts)
    size = batch_size or len(texts)
    for start in range(0, len(texts), size):
        expected = direct(tok, texts[start : start + size], **kwargs)
        for n, ids in enumerate(expected["input_ids"]):
            row = result.token_rows[start + n]
            assert row["input_ids"] == ids
            assert row["tokens"] == tok.convert_ids_to_tokens(ids)
            assert row["attention_mask"] == expected["attention_mask"][n]
            if "token_type_ids" in expected:
                assert row["token_type_ids"] == expected["token_type_ids"][n]
            else:
                assert "token_type_ids" not in row
            assert row["decoded"] == tok.decode(ids)
            assert row["decoded_skip_special"] == tok.decode(ids, skip_special_tokens=True)
            assert row["n_pad"] == len(ids) - sum(expected["attention_mask"][n])
            if isinstance(texts[0], list):
                assert (row["text"], row["text_pair"]) == tuple(texts[start + n])


def test_sorted_batches_group_token_lengths_and_equal_direct_calls(hub_tokenizer):
    """runtime.sort_by_length orders by token length (not characters: Korean and English
    differ widely), then each batch is exactly a direct call on its texts."""
    path, tok = hub_tokenizer
    texts = (KOREAN + ENGLISH) * 3
    run = compose("model=none", f"tokenizer.name_or_path={path}", "runtime.sort_by_length=true")
    run.dataset.texts, run.runtime.batch_size = texts, 4
    result = pipeline.run(run)
    lengths = [len(ids) for ids in tok(texts)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])  # stable, like the runner
    for start in range(0, len(order), 4):
        batch = order[start : start + 4]
        expected = tok([texts[i] for i in batch], padding="longest", truncation=True, max_length=512)
        for n, i in enumerate(batch):
            assert result.token_rows[i]["input_ids"] == expected["input_ids"][n]
    plain = tokenize_run(path, texts, batch_size=4)
    assert result.metrics["tokens/pad_fraction"] < plain.metrics["tokens/pad_fraction"]
    assert result.metrics["tokens/total"] == plain.metrics["tokens/total"]


def test_untruncated_text_longer_than_max_length_padding_names_truncation():
    overrides = ("padding=max_length", "tokenizer.max_length=8", "tokenizer.truncation=false")
    with pytest.raises(ModelError) as info:
        tokenize_run("${tiny:bert}", ["a b", "word " * 40], *overrides)
    assert str(info.value).startswith("tokenizer.truncation")


def test_max_length_not_a_multiple_of_pad_to_multiple_of_names_the_key():
    with pytest.raises(ModelError) as info:
        tokenize_run("${tiny:bert}", ["some text"], "tokenizer.max_length=20", "padding.pad_to_multiple_of=8")
    assert str(info.value).startswith("padding.pad_to_multiple_of")


def test_bert_returns_token_type_ids_roberta_does_not(fixtures):
    bert = tokenize_run(HUB / "bert-base-uncased", PAIRS)
    roberta = tokenize_run(HUB / "roberta-base", PAIRS)
    assert 1 in bert.token_rows[0]["token_type_ids"]
    assert "token_type_ids" not in roberta.token_rows[0]
    assert bert.tags["tokenizer.returns_token_type_ids"] == "true"
    assert roberta.tags["tokenizer.returns_token_type_ids"] == "false"
    assert bert.token_rows[0]["tokens"][0] == "[CLS]" and "[SEP]" in bert.token_rows[0]["tokens"]
    joined = roberta.token_rows[0]["tokens"]
    assert joined[0] == "<s>" and any(a == b == "</s>" for a, b in zip(joined, joined[1:], strict=True))
    assert bert.tags["tokenizer.special.cls"] == "[CLS] (101)"
    assert roberta.tags["tokenizer.special.pad"] == "<pad> (1)"


def test_batched_rows_equal_direct_call_per_batch(fixtures):
    path = HUB / "bert-base-uncased"
    tok = AutoTokenizer.from_pretrained(str(path))
    texts = KOREAN + ENGLISH
    result = tokenize_run(path, texts, batch_size=4)
    for start in range(0, len(texts), 4):
        expected = tok(texts[start : start + 4], padding="longest", truncation=True, max_length=512)
        for n, ids in enumerate(expected["input_ids"]):
            assert result.token_rows[start + n]["input_ids"] == ids


def independent_stats(tok, texts, batch_size, kwargs):
    """Per example, plain Python: the README's definitions computed a second way."""
    lengths, positions, content, unk, chars, truncated = [], 0, 0, 0, 0, 0
    word_tokens = words = continued = 0
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        enc = tok(
            chunk,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_attention_mask=True,
            **kwargs,
        )
        for i, text in enumerate(chunk):
            mask = enc["attention_mask"][i]
            lengths.append(sum(mask))
            positions += len(mask)
            full = tok(text, truncation=False, add_special_tokens=kwargs.get("add_special_tokens", True))
            truncated += len(full["input_ids"]) > sum(mask)
            chars += len(text)
            spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
            per_word = [0] * len(spans)
            for pos, (a, b) in enumerate(enc["offset_mapping"][i]):
                if not mask[pos] or enc["special_tokens_mask"][i][pos]:
                    continue
                content += 1
                unk += enc["input_ids"][i][pos] == tok.unk_token_id
                if b > a and not text[b - 1].isspace():
                    per_word[next(w for w, (s, e) in enumerate(spans) if s <= b - 1 < e)] += 1
            word_tokens += sum(per_word)
            words += sum(c > 0 for c in per_word)
            continued += sum(c >= 2 for c in per_word)
    lengths = np.array(lengths)
    return {
        "tokens/total": lengths.sum(),
        "tokens/mean_len": lengths.mean(),
        "tokens/p50_len": np.percentile(lengths, 50),
        "tokens/p95_len": np.percentile(lengths, 95),
        "tokens/max_len": lengths.max(),
        "tokens/pad_fraction": 1 - lengths.sum() / positions,
        "tokens/unk_rate": unk / content,
        "tokens/chars_per_token": chars / content,
        "tokens/truncated_fraction": truncated / len(texts),
        "tokens/fertility": word_tokens / words,
        "tokens/continued_word_ratio": continued / words,
    }


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base"])
@pytest.mark.parametrize("max_length", [512, 8])
def test_metrics_equal_independent_computation(fixtures, name, max_length):
    path = HUB / name
    tok = AutoTokenizer.from_pretrained(str(path))
    texts = KOREAN + ENGLISH + ["  spaced   out\ttext \n", "ünïcödé combining é"]
    result = tokenize_run(path, texts, f"tokenizer.max_length={max_length}", batch_size=3)
    expected = independent_stats(
        tok, texts, 3, {"padding": "longest", "truncation": True, "max_length": max_length}
    )
    for key, value in expected.items():
        assert result.metrics[key] == pytest.approx(float(value), abs=1e-9), key
    if max_length == 512:
        assert 0 < result.metrics["tokens/pad_fraction"] < 1
    else:
        assert result.metrics["tokens/truncated_fraction"] > 0


def test_klue_text_through_bert_uncased_fertility_is_high(fixtures):
    """Korean is split far more finely by an English WordPiece vocab than English is."""
    path = HUB / "bert-base-uncased"
    korean = tokenize_run(path, KOREAN).metrics["tokens/fertility"]
    english = tokenize_run(path, ENGLISH[:2]).metrics["tokens/fertility"]
    assert korean > english


def test_max_length_above_model_max_is_an_error():
    with pytest.raises(ModelError) as info:
        tokenize_run("${tiny:bert}", ENGLISH, "tokenizer.max_length=100000")
    assert str(info.value).startswith("tokenizer.max_length=100000")


def test_truncation_warning_is_captured_as_data():
    result = tokenize_run("${tiny:bert}", ["word " * 400], "tokenizer.truncation=false")
    assert result.metrics["warnings/count"] >= 1
    too_long = [w for w in result.warnings if w.startswith("tokenizer.truncation=false: 1 example(s)")]
    assert len(too_long) == 1
    assert f"up to {int(result.metrics['tokens/max_len'])})" in too_long[0]
    direct_len = len(AutoTokenizer.from_pretrained(tiny.ensure("bert"))("word " * 400)["input_ids"])
    assert result.metrics["tokens/max_len"] == direct_len


def test_inline_pair_item_is_one_example():
    result = tokenize_run("${tiny:bert}", [["첫번째문장", "두번째문장"]])
    assert result.metrics["data/rows"] == 1
    assert result.token_rows[0]["text_pair"] == "두번째문장"


LONG = "a very long sentence that goes on and on for many more words than twelve tokens"
PAIR_CASES = [
    ("longest_first", [[LONG, LONG]]),
    ("only_first", [[LONG, "short"], [LONG + " and more", "tiny one"]]),
    ("only_second", [["short", LONG], ["tiny one", LONG + " and more"]]),
]


@pytest.mark.parametrize(("value", "pairs"), PAIR_CASES, ids=[v for v, _ in PAIR_CASES])
def test_pair_truncation_strategies_equal_direct_call(hub_tokenizer, value, pairs):
    path, tok = hub_tokenizer
    result = tokenize_run(path, pairs, f"tokenizer.truncation={value}", "tokenizer.max_length=12")
    expected = direct(tok, pairs, padding="longest", max_length=12, truncation=value)
    assert [r["input_ids"] for r in result.token_rows] == expected["input_ids"]
    assert all(r["truncated"] for r in result.token_rows)


def test_return_attention_mask_false_is_honoured(hub_tokenizer):
    path, tok = hub_tokenizer
    result = tokenize_run(path, ENGLISH, "tokenizer.return_attention_mask=false")
    expected = tok(ENGLISH, padding="longest", truncation=True, max_length=512, return_attention_mask=False)
    assert "attention_mask" not in result.token_rows[0]
    assert [r["input_ids"] for r in result.token_rows] == expected["input_ids"]
    assert result.metrics["tokens/pad_fraction"] > 0  # statistics still see the padding


def test_impossible_only_second_truncation_is_a_clear_error(fixtures):
    pairs = [["a rather long first sentence that goes on and on and on", "tiny"]]
    with pytest.raises(ModelError) as info:
        tokenize_run(
            HUB / "bert-base-uncased",
            pairs,
            "tokenizer.truncation=only_second",
            "tokenizer.max_length=8",
        )
    assert str(info.value).startswith("tokenizer.truncation=only_second")


def test_a_file_read_window_by_window_gives_the_inline_run(tmp_path, monkeypatch):
    """Texts from a file are read a window at a time (data_files.TextColumn, small blocks here),
    sorted within windows and cut into batches: rows, hashes and statistics equal those of the
    same texts given inline."""
    from runner.data import data_files
    from runner.tokenization import encoding

    monkeypatch.setattr(data_files.TextColumn, "BLOCK_ROWS", 5)
    monkeypatch.setattr(encoding, "WINDOW_ROWS", 8)  # several windows, sorted within each
    texts = [t for _ in range(4) for t in KOREAN + ENGLISH]
    (tmp_path / "t.txt").write_text("\n".join(texts), encoding="utf-8")
    common = (
        "model=none",
        "tokenizer=tiny_roberta",
        "runtime.batch_size=3",
        "tracking.max_logged_examples=100",
    )
    from_file = compose(*common, "dataset.source=text", f"dataset.path={tmp_path / 't.txt'}")
    inline = compose(*common)
    inline.dataset.texts = texts
    a, b = pipeline.run(from_file), pipeline.run(inline)
    assert len(a.token_rows) == len(b.token_rows) == len(texts)
    assert [r["input_ids"] for r in a.token_rows] == [r["input_ids"] for r in b.token_rows]
    assert a.token_hashes.tolist() == b.token_hashes.tolist()
    assert {k: v for k, v in a.metrics.items() if k.startswith(("tokens/", "script/"))} == {
        k: v for k, v in b.metrics.items() if k.startswith(("tokens/", "script/"))
    }
