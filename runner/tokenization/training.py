"""A tokenizer designed from config (`tokenizer.train`): built from the `tokenizers` library's
parts — normalizer, pre-tokenizer, model, trainer, decoder, special-token template — trained on
a list of texts and wrapped as the `PreTrainedTokenizerFast` every other step of a run uses.

The trained files are the source of truth: `tokenizers` 0.23's WordPiece and Unigram trainers
are not deterministic across processes (hash-map order: huggingface/tokenizers#1794), so the
runner logs the files as the run's `tokenizer/` artifact and reloads them by
`tokenizer.name_or_path=runs:/<run_id>/tokenizer`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from runner.config.schema import Algorithm, Normalizer, PreTokenizer, Template, TrainConfig, normalizer_parts
from runner.data import sources
from runner.errors import ConfigError, DataError
from runner.tokenization import morphemes


@dataclass(frozen=True)
class Recipe:
    """One algorithm, whole: its `tokenizers` model (given the unknown token), its trainer
    (given the vocabulary size, special tokens, min_frequency), the pre-tokenizer it usually
    runs after, its decoder when the pre-tokenizer does not decide one, and whether the same
    config trained twice gives the same files."""

    model: Callable[[str], Any]
    trainer: Callable[[dict[str, Any], str], Any]
    usual_pre_tokenizer: PreTokenizer
    decoder: Callable[[], Any]
    deterministic: bool  # measured: tests/unit/tokenization/test_training.py, docs/design.md


def _bpe_trainer(common: dict[str, Any], unk: str) -> Any:
    from tokenizers import trainers

    return trainers.BpeTrainer(**common)


def _byte_bpe_trainer(common: dict[str, Any], unk: str) -> Any:
    from tokenizers import pre_tokenizers, trainers

    return trainers.BpeTrainer(initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), **common)


def _wordpiece_trainer(common: dict[str, Any], unk: str) -> Any:
    from tokenizers import trainers

    return trainers.WordPieceTrainer(**common)


def _unigram_trainer(common: dict[str, Any], unk: str) -> Any:
    from tokenizers import trainers

    common = {k: v for k, v in common.items() if k != "min_frequency"}  # unigram prunes by likelihood
    return trainers.UnigramTrainer(unk_token=unk, **common)


def _models() -> Any:
    from tokenizers import models

    return models


def _decoders() -> Any:
    from tokenizers import decoders

    return decoders


# tokenizer.train.algorithm → its recipe. wordpiece and unigram do not train the same files twice
# (huggingface/tokenizers#1794).
RECIPES: dict[Algorithm, Recipe] = {
    Algorithm.bpe: Recipe(
        lambda unk: _models().BPE(unk_token=unk), _bpe_trainer, PreTokenizer.whitespace,
        lambda: _decoders().BPEDecoder(), deterministic=True,
    ),
    Algorithm.byte_bpe: Recipe(
        lambda unk: _models().BPE(), _byte_bpe_trainer, PreTokenizer.byte_level,
        lambda: _decoders().ByteLevel(), deterministic=True,
    ),
    Algorithm.wordpiece: Recipe(
        lambda unk: _models().WordPiece(unk_token=unk), _wordpiece_trainer, PreTokenizer.bert,
        lambda: _decoders().WordPiece(), deterministic=False,
    ),
    Algorithm.unigram: Recipe(
        lambda unk: _models().Unigram(), _unigram_trainer, PreTokenizer.metaspace,
        lambda: _decoders().BPEDecoder(), deterministic=False,
    ),
}  # fmt: skip
TEMPLATES: dict[Template, dict[str, str]] = {
    Template.bert: {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
    Template.roberta: {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"},
}


@dataclass
class Trained:
    """A trained tokenizer, the folder its files were saved to, and what training saw and took."""

    tokenizer: Any  # transformers.PreTrainedTokenizerFast
    folder: Path
    texts: int
    chars: int
    seconds: float

    @functools.cached_property
    def vocab_hash(self) -> str:
        """sha256 of the vocabulary (token → id, sorted): equal vocabularies, equal hashes."""
        vocab = json.dumps(sorted(self.tokenizer.get_vocab().items()), ensure_ascii=False)
        return hashlib.sha256(vocab.encode()).hexdigest()[:16]


def check(cfg: TrainConfig) -> None:
    """What the keys' types cannot say (each value is checked as the config types: the Enums of
    runner.config.schema), before any data loads: one line naming the key."""
    pre = pre_tokenizer_name(cfg)
    if (cfg.algorithm is Algorithm.byte_bpe) != (pre is PreTokenizer.byte_level):
        raise ConfigError(
            "tokenizer.train.pre_tokenizer",
            f"{pre.value} with algorithm {cfg.algorithm.value}: byte-level BPE and the byte-level "
            "pre-tokenizer go together",
            "use tokenizer.train.pre_tokenizer=auto, or algorithm=byte_bpe with pre_tokenizer=byte_level",
        )
    if cfg.vocab_size <= len(TEMPLATES[cfg.template]):
        raise ConfigError(
            "tokenizer.train.vocab_size",
            f"{cfg.vocab_size} leaves no room beside the {len(TEMPLATES[cfg.template])} special tokens",
            "use a vocabulary of hundreds or thousands (e.g. 4000)",
        )
    if cfg.min_frequency < 1:
        raise ConfigError("tokenizer.train.min_frequency", f"{cfg.min_frequency} is below 1", "use 1 or more")
    if not 0 < cfg.holdout < 1:
        raise ConfigError(
            "tokenizer.train.holdout", f"{cfg.holdout} is not a fraction between 0 and 1", "use e.g. 0.1"
        )


def pre_tokenizer_name(cfg: TrainConfig) -> PreTokenizer:
    """The pre-tokenizer the config asks for, `auto` read as the algorithm's usual one."""
    pre = cfg.pre_tokenizer
    return RECIPES[cfg.algorithm].usual_pre_tokenizer if pre is PreTokenizer.auto else pre


def holdout(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(evaluation, training) example indices: a seeded `fraction` of n held out, the rest to
    train on, each in input order."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(n)
    held = max(1, round(n * fraction)) if n > 1 else 0
    return sorted(order[:held].tolist()), sorted(order[held:].tolist())


def without(corpus: Sequence[str], evaluation: Sequence[str]) -> tuple[list[str], int]:
    """The training corpus less every text that is also an evaluation text (by content), and
    how many were dropped: the tokenizer never sees what it is scored on."""
    held = set(evaluation)
    kept = [t for t in corpus if t not in held]
    return kept, len(corpus) - len(kept)


def overlap(evaluation: Sequence[str], corpus: Sequence[str]) -> int:
    """How many evaluation texts (a pair's texts each count) are also training texts."""
    seen = set(corpus)
    return sum(t in seen for t in evaluation)


@dataclass
class Prepared:
    """What a run trains on and is scored on: the evaluation texts, the training dataset (for
    the run's inputs), the training corpus less the evaluation texts, and how many were dropped."""

    evaluation: sources.Texts
    training: sources.Texts
    corpus: list[str]
    dropped: int


def prepare(cfg: TrainConfig, texts: sources.Texts, seed: int, other: sources.Texts | None) -> Prepared:
    """The evaluation texts and the training corpus: `other` (tokenizer.train.dataset, loaded by
    the caller) or, when the config names none, the run's own texts split by a seeded holdout;
    then, unless allow_overlap, the corpus less every evaluation text."""
    if other is None:
        held, rest = holdout(len(texts), cfg.holdout, seed)
        other = texts.select(rest, "training")
        texts = texts.select(held, f"held out ({cfg.holdout:g})")
    corpus, dropped = other.strings(), 0
    if not cfg.allow_overlap:
        corpus, dropped = without(corpus, texts.strings())
    if not corpus:
        raise DataError(
            "tokenizer.train.dataset", "no training texts left", "train on another dataset, or lower holdout"
        )
    return Prepared(texts, other, corpus, dropped)


def record(cfg: TrainConfig, trained: Trained, prepared: Prepared) -> tuple[dict[str, float], dict[str, str]]:
    """What a run logs of its training (metrics, tags): time, texts, characters, overlap, the
    vocabulary reached, whether the algorithm trains the same files twice."""
    reached = len(trained.tokenizer)
    metrics = {
        "time/train_tokenizer_s": trained.seconds,
        "time/load_tokenizer_s": 0.0,
        "train/texts": float(trained.texts),
        "train/chars": float(trained.chars),
        "train/overlap": float(overlap(prepared.evaluation.strings(), prepared.corpus)),
        "train/dropped_overlap": float(prepared.dropped),
        "train/vocab_size_reached": float(reached),
    }
    tags = {
        "tokenizer.train.vocab_size_reached": str(reached),
        "tokenizer.train.vocab_hash": trained.vocab_hash,
        "tokenizer.train.deterministic": str(RECIPES[cfg.algorithm].deterministic).lower(),
    }
    return metrics, tags


def digest(corpus: Sequence[str]) -> str:
    """sha256 of the training texts, in order: the same corpus, the same key in the load cache."""
    h = hashlib.sha256()
    for text in corpus:
        h.update(text.encode())
        h.update(b"\x1f")
    return h.hexdigest()


def train(cfg: TrainConfig, texts: Sequence[str]) -> Trained:
    """Train the configured tokenizer on `texts` and save it (the folder is the artifact)."""
    start = time.perf_counter()
    backend, trainer = _backend(cfg), _trainer(cfg)
    cut = pre_tokenizer_name(cfg) is PreTokenizer.morphemes
    known: dict[str, list[tuple[int, int]]] = {}
    if cut:
        backend.pre_tokenizer = morphemes.pre_tokenizer(known)  # one line if kiwipiepy is missing
        known.update(morphemes.analyse(texts))  # the training texts in one batched Kiwi call
    try:
        backend.train_from_iterator(texts, trainer=trainer, length=len(texts))
    except Exception as exc:  # unigram: "The vocabulary is not large enough to contain all chars"
        if "not large enough" not in str(exc):
            raise
        raise _too_small(cfg, _smallest(cfg, backend, texts)) from exc
    reached = backend.get_vocab_size()
    if reached <= len(TEMPLATES[cfg.template]):
        raise ConfigError(
            "tokenizer.train.dataset",
            f"{len(texts)} training texts gave no vocabulary beyond the special tokens",
            "train on more text",
        )
    if reached > cfg.vocab_size:  # bpe, wordpiece: every character (and its ## form) is kept
        raise _too_small(cfg, reached)
    _template(backend, cfg.template)
    seconds = time.perf_counter() - start
    if cut:  # a custom step cannot be copied or saved: the files keep metaspace and a marker
        backend.pre_tokenizer = morphemes.base_pre_tokenizer()
    tok = wrap(backend, cfg)
    folder = Path(tempfile.mkdtemp(prefix="runner-tokenizer-"))
    tok.save_pretrained(folder)
    if cut:
        marker = {"pre_tokenizer": "morphemes", "then": "metaspace", "analyser": "kiwipiepy"}
        (folder / morphemes.MARKER).write_text(json.dumps(marker), encoding="utf-8")
    return Trained(morphemes.restore(tok, folder, known), folder, len(texts), sum(map(len, texts)), seconds)


def alphabet(backend: Any, texts: Sequence[str]) -> int:
    """The characters the trained vocabulary must hold: every non-space character of the
    normalized training texts, and the metaspace mark ▁ where the texts have spaces."""
    normalize = backend.normalizer.normalize_str if backend.normalizer is not None else str
    chars = {c for t in texts for c in normalize(t)}
    return len({c for c in chars if not c.isspace()}) + int(any(c.isspace() for c in chars))


def _smallest(cfg: TrainConfig, backend: Any, texts: Sequence[str]) -> int:
    """The smallest vocabulary a unigram trained on `texts` accepts: trained once more at the
    alphabet's size, it keeps what it must (every character and the special tokens) — its
    size. Only on the error path: the user asked for less than that."""
    import dataclasses

    floor = alphabet(backend, texts) + len(TEMPLATES[cfg.template])
    again, trainer = _backend(cfg), _trainer(dataclasses.replace(cfg, vocab_size=floor))
    again.pre_tokenizer = backend.pre_tokenizer
    try:
        again.train_from_iterator(texts, trainer=trainer, length=len(texts))
    except Exception:  # the estimate itself too small: say what is known
        return floor
    return cast("int", max(floor, again.get_vocab_size()))


def _too_small(cfg: TrainConfig, needed: int) -> ConfigError:
    """The vocabulary cannot hold the training texts' alphabet (Korean has over a thousand
    syllables): how large it is, and the smallest vocabulary that holds it."""
    return ConfigError(
        f"tokenizer.train.vocab_size={cfg.vocab_size}",
        f"is smaller than the alphabet of the training texts: its characters and the special tokens "
        f"alone take {needed} entries",
        f"use tokenizer.train.vocab_size={needed} or more (a few thousand leaves room for subwords)",
    )


def wrap(backend: Any, cfg: TrainConfig) -> Any:
    """The trained `tokenizers.Tokenizer` as transformers' fast tokenizer, its special tokens named."""
    from transformers import PreTrainedTokenizerFast

    names = TEMPLATES[cfg.template]
    bert = cfg.template is Template.bert
    inputs = ["input_ids", "token_type_ids", "attention_mask"] if bert else None
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]  # an untyped library
        tokenizer_object=backend,
        model_max_length=cfg.max_length,
        model_input_names=inputs or ["input_ids", "attention_mask"],
        **{f"{role}_token": token for role, token in names.items()},
        **({} if bert else {"cls_token": names["bos"], "sep_token": names["eos"]}),
    )


def _backend(cfg: TrainConfig) -> Any:
    """The untrained pipeline: normalizer, pre-tokenizer, model and decoder."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers

    backend = Tokenizer(RECIPES[cfg.algorithm].model(TEMPLATES[cfg.template]["unk"]))
    parts = {
        Normalizer.nfc: normalizers.NFC,
        Normalizer.nfd: normalizers.NFD,
        Normalizer.nfkc: normalizers.NFKC,
        Normalizer.nfkd: normalizers.NFKD,
        Normalizer.lowercase: normalizers.Lowercase,
        Normalizer.strip_accents: normalizers.StripAccents,
        Normalizer.bert: normalizers.BertNormalizer,
    }
    chosen = [parts[p]() for p in normalizer_parts(cfg.normalizer)]
    if chosen:
        backend.normalizer = normalizers.Sequence(chosen)
    pre = pre_tokenizer_name(cfg)
    splitters: dict[PreTokenizer, Callable[[], Any]] = {
        PreTokenizer.whitespace: pre_tokenizers.Whitespace,
        PreTokenizer.whitespace_split: pre_tokenizers.WhitespaceSplit,
        PreTokenizer.byte_level: lambda: pre_tokenizers.ByteLevel(add_prefix_space=False),
        PreTokenizer.metaspace: pre_tokenizers.Metaspace,
        PreTokenizer.morphemes: morphemes.base_pre_tokenizer,
        PreTokenizer.bert: pre_tokenizers.BertPreTokenizer,
    }
    if pre in splitters:
        backend.pre_tokenizer = splitters[pre]()
    backend.decoder = _decoder(cfg.algorithm, pre, decoders)
    return backend


PRE_TOKENIZER_DECODERS: dict[PreTokenizer, Callable[[Any], Any]] = {  # a pre-tokenizer that marks
    PreTokenizer.byte_level: lambda d: d.ByteLevel(),  # spaces decides how ids become text again
    PreTokenizer.metaspace: lambda d: d.Metaspace(),
    PreTokenizer.morphemes: lambda d: d.Metaspace(prepend_scheme="first"),  # ▁ where the text had a space
}


def _decoder(algorithm: Algorithm, pre: PreTokenizer, decoders: Any) -> Any:
    """How ids become text again: byte-level bytes, metaspace's ▁ — else the algorithm's own
    (WordPiece's ##; BPE over whitespace words has no marker for spaces: joined by nothing)."""
    by_pre = PRE_TOKENIZER_DECODERS.get(pre)
    return by_pre(decoders) if by_pre is not None else RECIPES[algorithm].decoder()


def _trainer(cfg: TrainConfig) -> Any:
    special = list(dict.fromkeys(TEMPLATES[cfg.template].values()))
    common: dict[str, Any] = dict(
        vocab_size=cfg.vocab_size,
        special_tokens=special,
        show_progress=False,
        min_frequency=cfg.min_frequency,
    )
    return RECIPES[cfg.algorithm].trainer(common, TEMPLATES[cfg.template]["unk"])


def _template(backend: Any, template: Template) -> None:
    """[CLS] A [SEP] B [SEP] with token_type_ids 0/1, or <s> A </s></s> B </s>."""
    from tokenizers.processors import TemplateProcessing

    names = TEMPLATES[template]
    bert = template is Template.bert
    first, sep = (names["cls"], names["sep"]) if bert else (names["bos"], names["eos"])
    ids = {t: backend.token_to_id(t) for t in (first, sep)}
    if bert:
        single, pair = f"{first} $A {sep}", f"{first} $A {sep} $B:1 {sep}:1"
    else:
        single, pair = f"{first} $A {sep}", f"{first} $A {sep} {sep} $B {sep}"
    backend.post_processor = TemplateProcessing(single=single, pair=pair, special_tokens=list(ids.items()))
