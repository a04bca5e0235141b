"""Builds the embedded offline models: a tiny BERT (WordPiece) and a tiny RoBERTa (byte-level BPE).

The byte-level BPE is trained with the `tokenizers` library on the small corpus below (its
trainer is deterministic); the WordPiece vocabulary ships as runner/assets/tiny/bert-vocab.txt,
trained once the same way, because the WordPiece trainer is not (three fresh trainings gave
three vocabularies). Models get seeded random weights; everything is saved in Hugging Face
format and loaded back through the same `from_pretrained` path a hub id takes. Every built file
is the same on every machine (tests/unit/test_tiny.py builds twice and pins the tokenizer
files' sha256). The result is cached under RUNNER_ASSETS_DIR (default ~/.cache/runner) and
written atomically, so parallel workers can race to build it safely.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# Bump when the builder changes, so stale caches are never reused.
VERSION = "4"  # bump when the built files change: cached builds of other versions are ignored

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Tokenizers split text into subword units before a model sees it.",
    "BERT uses WordPiece while RoBERTa uses byte-level BPE.",
    "A sentence pair is joined with special tokens between the two texts.",
    "Padding makes every sequence in a batch the same length.",
    "The attention mask tells the model which positions are padding.",
    "Hello, my dog is cute and my cat is lazy.",
    "Experiments are easier to compare when every run is tracked.",
    "The weather is nice today, so we walked to the park.",
    "Machine learning models learn patterns from data.",
    "I love this movie, the acting was wonderful.",
    "This was the worst meal I have ever eaten.",
    "The train leaves the station at nine in the morning.",
    "Seoul is the capital of South Korea.",
    "Natural language processing studies how computers handle human language.",
    "Unbelievably, the unbreakable record was broken again.",
    "오늘 날씨가 정말 좋네요.",
    "저는 자연어 처리를 공부하고 있습니다.",
    "토크나이저는 문장을 작은 단위로 나눕니다.",
    "이 영화는 정말 재미있었어요.",
    "서울은 대한민국의 수도입니다.",
    "한국어 문장과 영어 문장을 함께 비교해 봅시다.",
    "버트와 로버타는 서로 다른 토크나이저를 사용합니다.",
    "패딩은 배치 안의 모든 문장 길이를 맞춥니다.",
    "어텐션 마스크는 패딩 위치를 알려 줍니다.",
    "이 식당의 음식은 별로였습니다.",
    "기차는 아침 아홉 시에 출발합니다.",
    "첫번째 문장과 두번째 문장을 한 쌍으로 묶습니다.",
    "모델은 데이터에서 패턴을 배웁니다.",
    "실험 결과를 기록하면 나중에 비교하기 쉽습니다.",
]

ROBERTA_SPECIAL: list[Any] = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
MAX_POSITIONS = 128
SIZE: dict[str, Any] = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
SENTIMENT = {0: "negative", 1: "neutral", 2: "positive"}
# The classifier's head is fitted on these lines of CORPUS (label ids of SENTIMENT), a few
# full-batch steps from a seeded start: its answers depend on the input, so the head demo shows
# something. A toy, not a sentiment model.
SENTIMENT_LINES = {
    "I love this movie, the acting was wonderful.": 2,
    "이 영화는 정말 재미있었어요.": 2,
    "The weather is nice today, so we walked to the park.": 2,
    "오늘 날씨가 정말 좋네요.": 2,
    "This was the worst meal I have ever eaten.": 0,
    "이 식당의 음식은 별로였습니다.": 0,
    "The train leaves the station at nine in the morning.": 1,
    "기차는 아침 아홉 시에 출발합니다.": 1,
    "Seoul is the capital of South Korea.": 1,
    "서울은 대한민국의 수도입니다.": 1,
}
FIT_STEPS = 60

NAMES = ("bert", "roberta", "bert_classifier")


def assets_dir() -> Path:
    root = os.environ.get("RUNNER_ASSETS_DIR") or Path.home() / ".cache" / "runner"
    return Path(root) / f"tiny-v{VERSION}"


def ensure(name: str) -> str:
    """Return the folder of the embedded model `name`, building it first if needed."""
    if name not in NAMES:
        raise KeyError(f"unknown embedded model '{name}' (known: {', '.join(NAMES)})")
    target = assets_dir() / name
    if (target / "config.json").exists():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        BUILDERS[name](tmp)  # type: ignore[no-untyped-call]  # an untyped library
        os.replace(tmp, target)  # atomic: a concurrent builder either wins or finds it done
    except OSError:
        if not (target / "config.json").exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


BERT_VOCAB = Path(__file__).parents[1] / "assets" / "tiny" / "bert-vocab.txt"


def _bert_tokenizer() -> Any:
    from transformers import BertTokenizer

    tokens = BERT_VOCAB.read_text(encoding="utf-8").splitlines()
    return BertTokenizer(
        vocab={token: i for i, token in enumerate(tokens)},
        do_lower_case=False,
        strip_accents=False,
        model_max_length=MAX_POSITIONS,
    )


def _roberta_tokenizer() -> Any:
    from tokenizers.implementations import ByteLevelBPETokenizer  # type: ignore[attr-defined]  # an untyped library
    from transformers import RobertaTokenizer

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(
        iter(CORPUS),
        vocab_size=700,
        min_frequency=1,
        show_progress=False,
        special_tokens=ROBERTA_SPECIAL,
    )
    state = json.loads(trainer.to_str())["model"]  # the trained BPE, merges in order
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    vocab = state["vocab"]
    # merges as pairs: transformers 5 takes them so, its annotation says str | list[str]
    return RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_POSITIONS)  # type: ignore[arg-type]


def _save(out: Path, tokenizer: Any, model: Any) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # an untyped library
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    if type(tokenizer).__name__ == "BertTokenizer":  # vocab.txt: the Python tokenizer reads it
        tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        (out / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")


def _build_bert(out: Path, head: bool = False) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    tok = _bert_tokenizer()
    torch.manual_seed(0)
    common = dict(
        vocab_size=len(tok),
        max_position_embeddings=MAX_POSITIONS,
        type_vocab_size=2,
        pad_token_id=tok.pad_token_id,
        **SIZE,
    )
    if head:
        config = BertConfig(**common, id2label=SENTIMENT, label2id={v: k for k, v in SENTIMENT.items()})
        _save(out, tok, _fitted(BertForSequenceClassification(config), tok).eval())
    else:
        _save(out, tok, BertModel(BertConfig(**common)).eval())  # type: ignore[no-untyped-call]  # an untyped library


def _fitted(model: Any, tok: Any) -> Any:
    """The classifier after FIT_STEPS full-batch AdamW steps on SENTIMENT_LINES: one thread, so
    the sums run in one order and every build gives the same weights."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        batch = tok(list(SENTIMENT_LINES), padding=True, return_tensors="pt")
        labels = torch.tensor(list(SENTIMENT_LINES.values()))
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(FIT_STEPS):
            optimizer.zero_grad()
            model(**batch, labels=labels).loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model


def _build_roberta(out: Path) -> None:
    import torch
    from transformers import RobertaConfig, RobertaModel

    tok = _roberta_tokenizer()
    torch.manual_seed(0)
    # RoBERTa offsets positions by pad_token_id + 1, so it needs two extra position slots.
    config = RobertaConfig(
        vocab_size=len(tok),
        max_position_embeddings=MAX_POSITIONS + 2,
        type_vocab_size=1,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **SIZE,
    )
    _save(out, tok, RobertaModel(config).eval())  # type: ignore[no-untyped-call]  # an untyped library


BUILDERS = {
    "bert": _build_bert,
    "roberta": _build_roberta,
    "bert_classifier": lambda out: _build_bert(out, head=True),
}
