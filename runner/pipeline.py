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
from runner.schema import Head, RunConfig

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Everything a run produced, as plain data (no tensors, no library objects but `texts`)."""

    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    token_rows: list[dict[str, Any]] = field(default_factory=list)
    prediction_rows: list[dict[str, Any]] = field(default_factory=list)
    shapes: dict[str, Any] | None = None
    embeddings: np.ndarray | None = None
    model_config: dict[str, Any] | None = None
    missing_keys: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    texts: data.Texts | None = None


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

    predictor = None
    if cfg.model.trust_remote_code:
        result.tags["model.trust_remote_code"] = "true"
        log.warning(
            "model.trust_remote_code=true: Python code shipped with %s may run on this machine",
            cfg.model.name_or_path,
        )
    if cfg.model.forward:
        device = models.pick_device(cfg.runtime.device)
        with timed(result, "load_model"):
            loaded = cache.get(
                "model", (asdict(cfg.model), device), lambda: models.load(cfg.model, device), result
            )
        _check_positions(loaded, kwargs)
        result.tags.update(models.facts(loaded))
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
        predictor = Predictor(
            loaded, tok, cfg.model.head, cfg.predict, cfg.tracking.max_logged_examples, label_ids=gold
        )
    else:
        result.metrics["time/load_model_s"] = 0.0

    stats = token_stats.TokenStats(unk_id=tok.unk_token_id)
    keep = cfg.tracking.max_logged_examples
    size = cfg.runtime.batch_size
    total = -(-len(texts) // size)  # batches
    result.metrics["time/tokenize_s"] = result.metrics["time/forward_s"] = 0.0
    with timed(result, "tokenize"):
        encoder = encoding.Encoder(tok, kwargs)
        stream = encoder.stream(texts.texts, texts.pairs, size, cfg.runtime.sort_by_length)
    for n in range(total):
        interrupt.check()  # also right after the model loaded
        with timed(result, "tokenize"):
            batch = next(stream)
            batch_texts = [texts.texts[i] for i in batch.indices]
            batch_pairs = [texts.pairs[i] for i in batch.indices] if texts.pairs is not None else None
            stats.update(batch, batch_texts, batch_pairs)
            logged = [j for j, i in enumerate(batch.indices) if i < keep]
            if logged:
                result.token_rows.extend(
                    tokenization.example_rows(tok, batch, logged, batch_texts, batch_pairs)
                )
        if predictor is not None:
            with timed(result, "forward"):
                predictor.run(batch, contexts=batch_pairs)
        if progress is not None:
            progress(n + 1, total)

    with timed(result, "tokenize"):  # the last chunk of statistics
        result.metrics.update(stats.summary())
    result.token_rows.sort(key=lambda r: r["index"])
    if predictor is not None:
        result.prediction_rows = sorted(predictor.rows, key=lambda r: r["index"])
        result.shapes = predictor.shapes(len(texts))
        result.embeddings = predictor.embedding_matrix()
        result.warnings.extend(predictor.warnings)
        accuracy = predictor.accuracy(len(texts))
        if accuracy is not None:
            result.metrics["predict/accuracy"] = accuracy
    seconds = result.metrics["time/forward_s"] or result.metrics["time/tokenize_s"]
    result.metrics["throughput/samples_per_s"] = len(texts) / seconds if seconds else 0.0


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
