"""Texts and direct computations that several test modules check against: runs of the pipeline
on given texts (one load cache, as a sweep's jobs share one), texts in six scripts, the bundled
KLUE NER sentences, and a BPE trained by the tokenizers library called directly."""

from __future__ import annotations

import functools
import json
from typing import Any

from tests.helpers.invoking import compose
from tests.helpers.paths import ROOT


@functools.cache
def load_cache() -> Any:
    """One load cache for the test process, as a sweep's jobs share one: each tokenizer is read
    from its files once, later runs with the same load options reuse it (their results must not
    differ)."""
    from runner.engine import pipeline

    return pipeline.Cache()


def tokenize_run(tokenizer_path, texts, *overrides, batch_size=None):
    from runner.engine import pipeline

    run = compose(
        "model=none",
        f"tokenizer.name_or_path={tokenizer_path}",
        "runtime.sort_by_length=false",
        *overrides,
    )
    run.dataset.texts = texts
    run.runtime.batch_size = batch_size or len(texts)
    return pipeline.run(run, load_cache())


TEXTS = [
    "서울은 대한민국의 수도입니다.",
    "이 영화는 정말 재미있습니다!",
    "Hello, my dog is cute. Café au lait?",
    "東京は日本の首都です。",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "Tokenizers split unbelievably long words, don't they?",
]
PAIRS = [["첫번째 문장입니다.", "Second sentence."], ["ภาษาไทย", "日本語のテキスト"], ["Plain", "text"]]

CORPUS = ROOT / "runner" / "assets" / "klue-ner" / "klue-ner-v1.1_dev.sentences.jsonl"


def sentences(n: int) -> list[str]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line)["sentence"] for _, line in zip(range(n), f, strict=False)]


def direct_bpe(texts: list[str], vocab_size: int):
    """The same BPE as tokenizer.train's defaults, built here from the library's parts."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.BPEDecoder()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=special)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok
