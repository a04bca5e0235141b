"""The process's one-off costs, paid once before the first job's timers: lazy imports of
transformers' tokenizer and model machinery and of the model's architecture, torch's first op.
A sweep's first model then costs what its later ones cost (logged as time/process_warmup_s)."""

from __future__ import annotations

import logging
import time
import warnings

from runner import hub
from runner.config.schema import ModelConfig

log = logging.getLogger(__name__)


def warm_up(model: ModelConfig | None, warmed: set[str]) -> float | None:
    """Pay the process's one-off costs (lazy imports of transformers' tokenizer and model
    machinery and of the model's architecture, torch's first op) before the job's timers, so that
    load times compare like with like across the jobs of a sweep whatever their order. Returns
    the seconds the process's first warm-up took; None for later jobs (their part is small).
    `warmed` is what the Session has warmed up so far; it is added to."""
    start, first = time.perf_counter(), not warmed
    warmed.add("process")
    if "tokenizer" not in warmed:
        import transformers.tokenization_utils_tokenizers  # noqa: F401

        warmed.add("tokenizer")
    if model is not None and "model" not in warmed:
        import torch
        import transformers.modeling_utils  # noqa: F401

        torch.zeros(2, 2) @ torch.zeros(2, 2)
        try:  # the weight-name mapping from_pretrained builds once per process (~950 regexes)
            from transformers.conversion_mapping import get_checkpoint_conversion_mapping

            get_checkpoint_conversion_mapping("bert")  # type: ignore[no-untyped-call]  # an untyped library
        except ImportError:  # another transformers version: its first load pays instead
            pass
        warmed.add("model")
    if model is not None:
        _import_architecture(model, warmed)
    return time.perf_counter() - start if first else None


def _import_architecture(model: ModelConfig, warmed: set[str]) -> None:
    """Import a local checkpoint's model code (transformers loads it lazily on first use)."""
    if not hub.looks_local(model.name_or_path) or model.name_or_path in warmed:
        return  # hub ids: nothing is fetched outside the load's own timer and checks
    warmed.add(model.name_or_path)
    import transformers
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    # the load itself reports the config's warnings, captured
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # an untyped library
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            transformers.MODEL_MAPPING[type(AutoConfig.from_pretrained(model.name_or_path))]
    except Exception:  # not a model folder, custom code: the load reports it, timed
        pass
    finally:
        hf_logging.set_verbosity(level)
