"""One combination from start to end: data → tokenizer → (model) → batches → RunResult.

Timings are measured around each step and returned as data. Loads go through a per-process
cache so that later jobs of a sweep reuse what earlier ones loaded; a hit still reports its
real (tiny) cost.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from runner import data, encoding, interrupt, models, token_stats, tokenization
from runner.inference import Predictor
from runner.schema import Head, ModelConfig, RunConfig

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Everything a run produced, as plain data (no tensors, no library objects but `texts`)."""

    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    token_rows: list[dict[str, Any]] = field(default_factory=list)
    prediction_rows: list[dict[str, Any]] = field(default_factory=list)
    shapes: dict[str, Any] | None = None
    outputs: tuple[np.ndarray, np.ndarray] | None = None  # values [rows, dims], offsets [examples + 1]
    token_hashes: np.ndarray | None = None  # per example: a hash of its non-pad token ids (uint64)
    model_config: dict[str, Any] | None = None
    missing_keys: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    texts: data.Texts | None = None


_warmed: set[str] = set()  # what this process has warmed up


def warm_up(model: ModelConfig | None) -> float | None:
    """Pay the process's one-off costs (lazy imports of transformers' tokenizer and model
    machinery and of the model's architecture, torch's first op) before the job's timers, so that
    load times compare like with like across the jobs of a sweep whatever their order. Returns
    the seconds the process's first warm-up took; None for later jobs (their part is small)."""
    start, first = time.perf_counter(), not _warmed
    _warmed.add("process")
    if "tokenizer" not in _warmed:
        import transformers.tokenization_utils_tokenizers  # noqa: F401

        _warmed.add("tokenizer")
    if model is not None and "model" not in _warmed:
        import torch
        import transformers.modeling_utils  # noqa: F401

        torch.zeros(2, 2) @ torch.zeros(2, 2)
        try:  # the weight-name mapping from_pretrained builds once per process (~950 regexes)
            from transformers.conversion_mapping import get_checkpoint_conversion_mapping

            get_checkpoint_conversion_mapping("bert")
        except ImportError:  # another transformers version: its first load pays instead
            pass
        _warmed.add("model")
    if model is not None:
        _import_architecture(model)
    return time.perf_counter() - start if first else None


def _import_architecture(model: ModelConfig) -> None:
    """Import a local checkpoint's model code (transformers loads it lazily on first use)."""
    from runner import hub

    if not hub.looks_local(model.name_or_path) or model.name_or_path in _warmed:
        return  # hub ids: nothing is fetched outside the load's own timer and checks
    _warmed.add(model.name_or_path)
    import transformers
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load itself reports the config's warnings, captured
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            transformers.MODEL_MAPPING[type(AutoConfig.from_pretrained(model.name_or_path))]
    except Exception:  # not a model folder, custom code: the load reports it, timed
        pass
    finally:
        hf_logging.set_verbosity(level)


class Cache:
    """Loaded datasets, tokenizers and models of this process, keyed by their load config."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Any] = {}

    def get(self, kind: str, key: Any, build: Callable[[], Any], result: RunResult) -> Any:
        k = (kind, json.dumps(key, sort_keys=True, default=str))
        hit = k in self._items
        if not hit:
            self._items[k] = build()
        result.tags[f"cache/{kind}"] = "hit" if hit else "miss"
        return self._items[k]


@contextmanager
def timed(result: RunResult, name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        result.metrics[f"time/{name}_s"] = result.metrics.get(f"time/{name}_s", 0.0) + (
            time.perf_counter() - start
        )


@contextmanager
def captured_warnings(result: RunResult) -> Iterator[None]:
    """Route transformers' logger warnings and Python warnings into result.warnings."""
    from transformers.utils import logging as hf_logging

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            result.warnings.append(record.getMessage())

    logger = hf_logging.get_logger()  # the root "transformers" logger
    handler, saved = Collect(logging.WARNING), list(logger.handlers)
    logger.handlers = [handler]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        result.warnings.extend(
            str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)
        )
    finally:
        logger.handlers = saved


def run(cfg: RunConfig, cache: Cache | None = None, progress: Callable | None = None) -> RunResult:
    """Run one combination. On failure the exception carries what was done as `partial_result`."""
    result = RunResult()
    try:
        with timed(result, "total"), captured_warnings(result):
            _run(cfg, cache or Cache(), result, progress)
    except BaseException as exc:
        exc.partial_result = result  # type: ignore[attr-defined]
        raise
    result.metrics["warnings/count"] = float(len(result.warnings))
    return result


def _run(cfg: RunConfig, cache: Cache, result: RunResult, progress: Callable | None) -> None:
    texts, tok, kwargs = _load_inputs(cfg, cache, result)
    predictor = _load_model(cfg, cache, result, texts, tok, kwargs)
    stats = token_stats.TokenStats(unk_id=tok.unk_token_id)
    result.metrics["time/tokenize_s"] = result.metrics["time/forward_s"] = 0.0
    columns = texts.parallel or {None: texts.texts}
    result.tags["invariance.group"] = comparability_key(cfg, texts)
    hashes = np.zeros(len(texts), dtype=np.uint64)
    counts = {}
    for column, column_texts in columns.items():
        counts[column] = _batches(
            cfg, result, tok, kwargs, column_texts, texts.pairs, column, stats, predictor, progress, hashes
        )
    if not texts.parallel:
        result.token_hashes = hashes
    with timed(result, "tokenize"):  # the last chunk of statistics
        result.metrics.update(stats.summary())
        excluded = stats.excluded_from_fertility()
        if excluded:
            result.tags["tokens.fertility_excludes"] = excluded
    if texts.parallel:
        _parity(result, counts)
    result.token_rows.sort(key=lambda r: (r.get("column") or "", r["index"]))
    if predictor is not None:
        _predictions(result, predictor, len(texts))
    seconds = result.metrics["time/forward_s"] or result.metrics["time/tokenize_s"]
    result.metrics["throughput/samples_per_s"] = len(texts) / seconds if seconds else 0.0


def _load_inputs(cfg: RunConfig, cache: Cache, result: RunResult) -> tuple[data.Texts, Any, dict[str, Any]]:
    """The data and the tokenizer (through the cache), checked, and the tokenizer call's arguments."""
    with timed(result, "load_data"):
        texts = cache.get(
            "dataset",
            (asdict(cfg.dataset), cfg.runtime.seed),
            lambda: data.load(cfg.dataset, cfg.runtime.seed),
            result,
        )
    result.texts = texts
    interrupt.check()
    result.metrics.update({"data/rows": float(len(texts)), "data/dropped_empty": float(texts.dropped_empty)})
    with timed(result, "load_tokenizer"):
        tok = cache.get(
            "tokenizer",
            (asdict(cfg.tokenizer), cfg.model.name_or_path, cfg.model.revision),
            lambda: tokenization.load_tokenizer(cfg.tokenizer, cfg.model),
            result,
        )
    interrupt.check()
    tokenization.check(tok, cfg.tokenizer, cfg.padding)
    result.tags.update(tokenization.facts(tok))
    kwargs = tokenization.call_kwargs(tok, cfg.tokenizer, cfg.padding)
    result.tags["tokenizer.call"] = json.dumps({k: v for k, v in kwargs.items()})
    if texts.parallel and kwargs["truncation"] is not False:
        log.warning(
            "dataset.parallel_columns with tokenizer.truncation on: a truncated row biases parity; "
            "use tokenizer.truncation=false to count whole texts"
        )
    return texts, tok, kwargs


def _load_model(
    cfg: RunConfig, cache: Cache, result: RunResult, texts: data.Texts, tok, kwargs
) -> Predictor | None:
    """The model and its Predictor, or None for tokenization only (model=none, parallel data)."""
    if cfg.model.trust_remote_code:
        result.tags["model.trust_remote_code"] = "true"
        log.warning(
            "model.trust_remote_code=true: Python code shipped with %s may run on this machine",
            cfg.model.name_or_path,
        )
    if not cfg.model.forward or texts.parallel:
        if cfg.model.forward:
            log.warning(
                "dataset.parallel_columns: parity is a tokenizer measure, the forward pass is skipped"
            )
        result.metrics["time/load_model_s"] = 0.0
        return None
    device = models.pick_device(cfg.runtime.device)
    with timed(result, "load_model"):
        loaded = cache.get(
            "model", (asdict(cfg.model), device), lambda: models.load(cfg.model, device), result
        )
    _check_positions(loaded, kwargs)
    left = kwargs.get("padding_side", tok.padding_side) == "left" and kwargs["padding"] != "do_not_pad"
    if left and not models.positions_skip_padding(loaded):
        message = (
            f"padding.side=left on {loaded.model.config.model_type}: its position ids count pad "
            "positions, so left-padded examples sit at shifted positions and their outputs change "
            "(RoBERTa-family models skip padding) — use padding.side=right"
        )
        result.warnings.append(message)
        log.warning(message)
    result.tags.update(models.facts(loaded, head=cfg.model.head is not Head.none))
    result.model_config = loaded.model.config.to_dict()
    result.missing_keys = loaded.missing_keys
    if loaded.head_initialized:
        log.warning(
            "model.head=%s: the checkpoint has no weights for this head, so it was "
            "initialised at random — predictions are meaningless until it is trained",
            cfg.model.head.value,
        )
    gold = None
    if texts.labels is not None and cfg.model.head is Head.sequence_classification:
        gold = models.label_ids(texts.labels, loaded.model.config, cfg.dataset.label_column)
    return Predictor(
        loaded, tok, cfg.model.head, cfg.predict, cfg.tracking.max_logged_examples, label_ids=gold
    )


def _batches(
    cfg: RunConfig,
    result: RunResult,
    tok,
    kwargs: dict[str, Any],
    texts: list[str],
    pairs: list[str] | None,
    column: str | None,
    stats: token_stats.TokenStats,
    predictor: Predictor | None,
    progress: Callable | None,
    hashes: np.ndarray,
) -> tuple[int, int]:
    """Encode (and run) one column's batches; returns its (content tokens, all real tokens)."""
    keep, size = cfg.tracking.max_logged_examples, cfg.runtime.batch_size
    total = -(-len(texts) // size)  # batches
    content = real = 0
    with timed(result, "tokenize"):
        stream = encoding.Encoder(tok, kwargs).stream(texts, pairs, size, cfg.runtime.sort_by_length)
    for n in range(total):
        interrupt.check()  # also right after the model loaded
        with timed(result, "tokenize"):
            batch = next(stream)
            batch_texts = [texts[i] for i in batch.indices]
            batch_pairs = [pairs[i] for i in batch.indices] if pairs is not None else None
            stats.update(batch, batch_texts, batch_pairs)
            content += int(np.count_nonzero(batch.special == 0))
            hash_rows(batch, hashes)
            real += int(batch.n_tokens.sum())
            logged = [j for j, i in enumerate(batch.indices) if i < keep]
            if logged:
                rows = tokenization.example_rows(tok, batch, logged, batch_texts, batch_pairs)
                result.token_rows.extend({"column": column, **r} if column else r for r in rows)
        if predictor is not None:
            with timed(result, "forward"):
                predictor.run(batch, contexts=batch_pairs)
        if progress is not None:
            progress(n + 1, total)
    return content, real


def hash_rows(batch: encoding.Batch, out: np.ndarray) -> None:
    """Each example's non-pad token ids as one 64-bit hash: runs compare tokenizations cheaply."""
    import hashlib

    ends = np.cumsum(batch.n_tokens)
    for j, (start, end) in enumerate(zip(ends - batch.n_tokens, ends, strict=True)):
        digest = hashlib.blake2b(batch.ids[start:end].astype(np.int64).tobytes(), digest_size=8).digest()
        out[batch.indices[j]] = int.from_bytes(digest, "little")


def comparability_key(cfg: RunConfig, texts: data.Texts) -> str:
    """Runs with equal keys saw the same rows, tokenizer source, model weights and head, so
    their outputs can be compared example by example (runner.invariance)."""
    import hashlib

    rows = hashlib.sha256("\x1f".join(texts.texts + (texts.pairs or [])).encode()).hexdigest()
    m = cfg.model
    model = [
        m.name_or_path,
        m.revision,
        m.head.value,
        m.dtype.value,
        m.num_labels,
        m.id2label,
        m.problem_type,
    ]
    source = cfg.tokenizer.name_or_path or m.name_or_path
    key = json.dumps([rows, source, model if m.forward else None], default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _parity(result: RunResult, counts: dict[Any, tuple[int, int]]) -> None:
    """parity/<column>: content tokens / the reference column's, summed over the same rows."""
    reference = counts[next(iter(counts))][0]
    rows = result.metrics["data/rows"]
    for column, (content, real) in counts.items():
        result.metrics[f"parity/{column}"] = content / reference
        result.metrics[f"parity/{column}/mean_len"] = real / rows
    worst = max(counts, key=lambda c: counts[c][0])
    result.metrics["parity/max"] = counts[worst][0] / reference
    result.tags["parity.max_column"] = str(worst)


def _predictions(result: RunResult, predictor: Predictor, rows: int) -> None:
    result.prediction_rows = sorted(predictor.rows, key=lambda r: r["index"])
    result.shapes = predictor.shapes(rows)
    result.outputs = predictor.output_arrays()
    result.warnings.extend(predictor.warnings)
    accuracy = predictor.accuracy(rows)
    if accuracy is not None:
        result.metrics["predict/accuracy"] = accuracy


def _check_positions(loaded: models.Loaded, kwargs: dict[str, Any]) -> None:
    from runner.errors import ModelError

    limit, length = models.max_positions(loaded), kwargs.get("max_length")
    if limit is not None and length is not None and length > limit:
        raise ModelError(
            f"tokenizer.max_length={length}",
            f"exceeds the {limit} positions the model can embed",
            f"use tokenizer.max_length={limit} or less",
        )
    if limit is not None and kwargs["truncation"] is False:
        log.info("truncation is off: texts longer than %d tokens will fail in the model", limit)
