"""The run's tokenizer: loading it (fast, or the Python one for use_fast=false), the arguments
of its call, checks before any batch, and the facts logged as tags. Encoding the batches:
encoding.py; tokens.json rows: token_rows.py; statistics: token_stats.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner import hub
from runner.config.schema import ModelConfig, PaddingConfig, PaddingStrategy, TokenizerConfig
from runner.errors import ModelError, first_line
from runner.tokenization import morphemes, tiktoken_files

HUGE = 1_000_000  # transformers' "no limit" model_max_length is ~1e30
SPECIAL_ROLES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")


def load_tokenizer(
    cfg: TokenizerConfig,
    model: ModelConfig,
    reachable: Callable[[], bool] | None = None,
    fetched: str | None = None,
) -> Any:
    """AutoTokenizer from tokenizer.name_or_path, or the model's checkpoint when that is null.
    `runs:/<run_id>/tokenizer` names a tokenizer a run trained: its caller fetches the folder
    (`fetched`, runner.engine: the tracking room is not this room's to call)."""
    from transformers import AutoTokenizer

    source = typed = cfg.name_or_path or model.name_or_path
    revision = cfg.revision or (None if cfg.name_or_path else model.revision)
    key = "tokenizer.name_or_path" if cfg.name_or_path else "model.name_or_path"
    if source.startswith("runs:/"):
        if fetched is None:
            raise ModelError(f"{key}={source}", "was not fetched from the store", "load it through a run")
        source = fetched
    elif tiktoken_files.is_tiktoken(source):  # a ranks file and its split regex (cl100k_base)
        return tiktoken_files.load(key, source, cfg.tiktoken)
    else:
        hub.check_source(key, source, weights=False, reachable=reachable)
    options = {"revision": revision, "use_fast": cfg.use_fast, "trust_remote_code": model.trust_remote_code}
    try:
        if Path(source).is_dir():
            tok = from_folder(source, f"{key}={typed}", **options)
        else:
            tok = AutoTokenizer.from_pretrained(source, **options)
    except Exception as exc:
        raise ModelError(
            f"{key}={source}", f"cannot load a tokenizer: {first_line(exc)}", hub.load_fix()
        ) from exc
    if not cfg.use_fast and tok.is_fast:
        return _python_tokenizer(tok, source, revision)
    return tok


def from_folder(folder: str | Path, key: str | None = None, **options: Any) -> Any:
    """The tokenizer saved in a folder — a run's trained one (its `tokenizer/` artifact) with its
    morpheme cut put back where it had one: the one way every caller reloads a trained tokenizer.
    `key`: what the user typed to load it, named if the cut needs Kiwi and it is missing."""
    from transformers import AutoTokenizer

    return morphemes.restore(AutoTokenizer.from_pretrained(folder, **options), folder, key=key)


def _python_tokenizer(fast: Any, source: str, revision: str | None) -> Any:
    """tokenizer.use_fast=false: transformers 5 ignores the flag and keeps a Python (slow)
    implementation only as `<Class>Legacy` (BertTokenizerLegacy); load that, or say there is none."""
    import transformers

    legacy = getattr(transformers, f"{type(fast).__name__}Legacy", None)
    if legacy is None:
        raise ModelError(
            "tokenizer.use_fast=false",
            f"transformers {transformers.__version__} has no Python (slow) {type(fast).__name__}",
            "use tokenizer.use_fast=true (only BERT-style WordPiece keeps a Python tokenizer)",
        )
    try:
        return legacy.from_pretrained(source, revision=revision)
    except Exception as exc:
        raise ModelError(
            "tokenizer.use_fast=false",
            f"{legacy.__name__} cannot load {source}: {first_line(exc)}",
            "the Python tokenizer needs vocab.txt; use tokenizer.use_fast=true",
        ) from exc


def effective_max_length(tok: Any, cfg: TokenizerConfig) -> int | None:
    """The length truncation applies: tokenizer.max_length, else the tokenizer's own maximum."""
    if cfg.max_length is not None:
        return cfg.max_length
    return tok.model_max_length if tok.model_max_length < HUGE else None


def check(tok: Any, cfg: TokenizerConfig, padding: PaddingConfig) -> None:
    """Pre-flight: fail before any batch runs, with the key and the fix."""
    limit = tok.model_max_length
    if cfg.max_length is not None and limit < HUGE and cfg.max_length > limit:
        raise ModelError(
            f"tokenizer.max_length={cfg.max_length}",
            f"exceeds the tokenizer's model_max_length {limit}: longer sequences "
            "cannot be embedded by the model",
            f"use tokenizer.max_length={limit} or less",
        )
    if padding.strategy is not PaddingStrategy.do_not_pad and tok.pad_token is None:
        raise ModelError(
            "padding.strategy",
            f"'{padding.strategy.value}' needs a pad token and {type(tok).__name__} has none",
            "use padding=do_not_pad, or a tokenizer that defines pad_token",
        )

    length = effective_max_length(tok, cfg)
    multiple = padding.pad_to_multiple_of if padding.strategy is not PaddingStrategy.do_not_pad else None
    if multiple and length and cfg.truncation != "false" and length % multiple:
        raise ModelError(
            "padding.pad_to_multiple_of",
            f"truncation to {length} tokens is not a multiple of {multiple}, so padded rows "
            "could not keep both",
            f"use a tokenizer.max_length divisible by {multiple}, or padding.pad_to_multiple_of=null",
        )


def call_kwargs(tok: Any, cfg: TokenizerConfig, padding: PaddingConfig) -> dict[str, Any]:
    """The tokenizer arguments the config asks for: what a user would pass to a direct call."""
    truncation: bool | str = {"true": True, "false": False}.get(cfg.truncation, cfg.truncation)
    kwargs: dict[str, Any] = {
        "padding": padding.strategy.value,
        "truncation": truncation,
        "max_length": cfg.max_length,
        "add_special_tokens": cfg.add_special_tokens,
    }
    if truncation is not False and cfg.max_length is None:
        kwargs["max_length"] = effective_max_length(tok, cfg)
    if padding.pad_to_multiple_of:
        kwargs["pad_to_multiple_of"] = padding.pad_to_multiple_of
    if padding.side is not None:
        kwargs["padding_side"] = padding.side.value
    if cfg.return_token_type_ids is not None:
        kwargs["return_token_type_ids"] = cfg.return_token_type_ids
    if cfg.return_attention_mask is not None:
        kwargs["return_attention_mask"] = cfg.return_attention_mask
    return kwargs


def facts(tok: Any) -> dict[str, str]:
    """Tokenizer facts logged as tags: class, sizes, padding side, special tokens and ids."""
    out = {
        "tokenizer.class": type(tok).__name__,
        "tokenizer.vocab_size": str(len(tok)),
        "tokenizer.model_max_length": str(tok.model_max_length if tok.model_max_length < HUGE else "none"),
        "tokenizer.returns_token_type_ids": str("token_type_ids" in tok.model_input_names).lower(),
        "tokenizer.padding_side": tok.padding_side,
        "tokenizer.is_fast": str(tok.is_fast).lower(),
    }
    for role in SPECIAL_ROLES:
        token = getattr(tok, f"{role}_token", None)
        if token is not None:
            out[f"tokenizer.special.{role}"] = f"{token} ({tok.convert_tokens_to_ids(token)})"
    return out


def too_long_warning(tok: Any, kwargs: dict[str, Any], longer: int, longest: int) -> str | None:
    """That `longer` untruncated examples (up to `longest` tokens) run past the tokenizer's
    model_max_length: counted whole, as asked, beyond what a model would see. Information, not
    advice: counting whole texts is what truncation=false is for (parity, corpus statistics)."""
    limit = tok.model_max_length
    if kwargs["truncation"] is not False or limit >= HUGE or not longer:
        return None
    return (
        f"tokenizer.truncation=false: {longer} example(s) are longer than the tokenizer's "
        f"model_max_length {limit} (sequence length up to {longest}); they are counted whole, "
        "beyond what a model would see"
    )
