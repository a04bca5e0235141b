"""Loading a body (AutoModel) or a body + head (AutoModelFor…) on a device and dtype, and what
its config says: model_type, id2label, positions, gold label ids. The forward pass lives in
runner.model.inference, each head's answers in runner.model.heads."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from runner import hub
from runner.config.schema import Device, DType, ModelConfig
from runner.errors import DataError, ModelError, first_line
from runner.model.heads import HEADS

log = logging.getLogger(__name__)


def pick_device(device: Device) -> str:
    """`auto` is cuda, then mps, then cpu; an explicit choice that is absent is an error."""
    import torch

    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if device is Device.auto:
        return next((d for d in ("cuda", "mps") if available[d]), "cpu")
    if device is not Device.cpu and not available[device.value]:
        raise ModelError(
            f"runtime.device={device.value}",
            "is not available on this machine",
            "use runtime.device=auto or cpu",
        )
    return cast("str", device.value)


@dataclass
class Loaded:
    model: Any
    device: str
    missing_keys: list[str] = field(default_factory=list)

    @property
    def head_initialized(self) -> bool:
        """True when head weights were missing from the checkpoint and freshly initialised."""
        prefix = getattr(self.model, "base_model_prefix", "")
        return any(not k.startswith(prefix + ".") for k in self.missing_keys)


def load(cfg: ModelConfig, device: str, reachable: Callable[[], bool] | None = None) -> Loaded:
    import transformers

    cls = getattr(transformers, HEADS[cfg.head].auto_class)
    kwargs: dict[str, Any] = {
        "revision": cfg.revision,
        "trust_remote_code": cfg.trust_remote_code,
        "output_loading_info": True,
    }
    if cfg.dtype is not DType.auto:
        kwargs["dtype"] = getattr(__import__("torch"), cfg.dtype.value)
    if HEADS[cfg.head].labelled:
        if cfg.id2label is not None:
            kwargs["id2label"] = {int(k): v for k, v in cfg.id2label.items()}
            kwargs["label2id"] = {v: int(k) for k, v in cfg.id2label.items()}
        if cfg.num_labels is not None:
            kwargs["num_labels"] = cfg.num_labels
        if cfg.problem_type is not None:
            kwargs["problem_type"] = cfg.problem_type
    hub.check_source("model.name_or_path", cfg.name_or_path, weights=True, reachable=reachable)
    try:
        model, info = cls.from_pretrained(cfg.name_or_path, **kwargs)
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise ModelError(
                f"model.head={cfg.head}",
                f"{_model_type(cfg)} has no {cfg.head} head in transformers",
                f"use one of: {', '.join(_supported_heads(cfg))}",
            ) from exc
        raise _load_error(cfg, exc) from exc
    except Exception as exc:
        raise _load_error(cfg, exc) from exc
    model.to(device).eval()
    return Loaded(model, device, list(info.get("missing_keys", [])))


def _load_error(cfg: ModelConfig, exc: Exception) -> ModelError:
    if "trust_remote_code" in str(exc):
        return ModelError(
            f"model.name_or_path={cfg.name_or_path}",
            "needs code from the hub checkpoint to load",
            "set model.trust_remote_code=true if you trust that code",
        )
    return ModelError(
        f"model.name_or_path={cfg.name_or_path}", f"cannot load: {first_line(exc)}", hub.load_fix()
    )


def _model_type(cfg: ModelConfig) -> str:
    from transformers import AutoConfig

    try:
        return cast("str", AutoConfig.from_pretrained(cfg.name_or_path, revision=cfg.revision).model_type)
    except Exception:
        return cfg.name_or_path


def _supported_heads(cfg: ModelConfig) -> list[str]:
    import transformers
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(cfg.name_or_path, revision=cfg.revision)
    supported = []
    for name, head in HEADS.items():
        if type(config) in getattr(transformers, head.mapping):
            supported.append(name)
    return supported


def facts(loaded: Loaded, labelled: bool) -> dict[str, str]:
    """Model facts logged as tags: type, architecture, sizes, labels (heads whose outputs are
    labels only: a body has none, whatever its config's default says), parameters, dtype, device."""
    model, c = loaded.model, loaded.model.config
    out = {
        "model.model_type": c.model_type,
        "model.architectures": ",".join(c.architectures or []),
        "model.class": type(model).__name__,
        "model.hidden_size": c.hidden_size,
        "model.num_hidden_layers": c.num_hidden_layers,
        "model.num_attention_heads": c.num_attention_heads,
        "model.vocab_size": c.vocab_size,
        "model.max_position_embeddings": getattr(c, "max_position_embeddings", None),
        "model.type_vocab_size": getattr(c, "type_vocab_size", None),
        "model.num_labels": c.num_labels if labelled else None,
        "model.problem_type": c.problem_type if labelled else None,
        "model.parameters": sum(p.numel() for p in model.parameters()),
        "model.dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "model.device": loaded.device,
        "model.head_initialized": str(loaded.head_initialized).lower(),
    }
    return {k: str(v) for k, v in out.items() if v is not None}


def max_positions(loaded: Loaded) -> int | None:
    """Longest sequence the position embeddings hold (RoBERTa reserves pad_token_id + 1 slots)."""
    c = loaded.model.config
    n = getattr(c, "max_position_embeddings", None)
    if n is None:
        return None
    return cast("int | None", n - (c.pad_token_id + 1) if positions_skip_padding(loaded) else n)


# Models whose position ids are counted from the input ids, skipping pad tokens (and reserving
# pad_token_id + 1 slots): left padding leaves their positions, and outputs, unchanged.
PAD_AWARE_POSITIONS = ("roberta", "xlm-roberta", "camembert", "roberta-prelayernorm", "xmod", "data2vec-text")


def positions_skip_padding(loaded: Loaded) -> bool:
    return loaded.model.config.model_type in PAD_AWARE_POSITIONS


def label_ids(labels: list[Any], config: Any, column: str) -> list[int] | None:
    """Gold labels as class ids for a single-label classifier; an out-of-range label is an error.

    Returns None where accuracy does not apply (multi-label, regression).
    """
    if config.problem_type in ("multi_label_classification", "regression") or config.num_labels == 1:
        return None
    names = {str(v): int(k) for k, v in config.id2label.items()}
    ids = []
    for value in labels:
        if isinstance(value, str) and value in names:
            ids.append(names[value])
        elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < config.num_labels:
            ids.append(value)
        else:
            raise DataError(
                f"dataset.label_column={column}",
                f"label {value!r} is not one of the model's {config.num_labels} labels "
                f"(ids 0-{config.num_labels - 1} or {', '.join(list(names)[:8])})",
                "fix the labels, set model.num_labels/model.id2label, or drop dataset.label_column",
            )
    return ids


def check_positions(loaded: Loaded, kwargs: dict[str, Any]) -> None:
    """The tokenizer's max_length must fit the model's position embeddings."""
    limit, length = max_positions(loaded), kwargs.get("max_length")
    if limit is not None and length is not None and length > limit:
        raise ModelError(
            f"tokenizer.max_length={length}",
            f"exceeds the {limit} positions the model can embed",
            f"use tokenizer.max_length={limit} or less",
        )
    if limit is not None and kwargs["truncation"] is False:
        log.info("truncation is off: texts longer than %d tokens will fail in the model", limit)


def left_padding_warning(loaded: Loaded, tok: Any, kwargs: dict[str, Any]) -> str | None:
    """Why left padding changes this model's outputs, or None where it does not."""
    left = kwargs.get("padding_side", tok.padding_side) == "left" and kwargs["padding"] != "do_not_pad"
    if not left or positions_skip_padding(loaded):
        return None
    return (
        f"padding.side=left on {loaded.model.config.model_type}: its position ids count pad "
        "positions, so a left-padded example sits at shifted positions and its outputs differ "
        "from the same example padded on the right (RoBERTa-family models skip padding; "
        "experiment=invariance measures the difference)"
    )
