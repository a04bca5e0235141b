"""One combination from start to end: data → tokenizer → (model) → batches → RunResult.

Timings are measured around each step and returned as data. Loads go through a per-process
cache so that later jobs of a sweep reuse what earlier ones loaded; a hit still reports its
real (tiny) cost.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np

from runner import hub
from runner.config.schema import DatasetConfig, Engine, ProbeKind, RunConfig, probe_label_column
from runner.data import sources
from runner.engine import batches, distributed, interrupt
from runner.engine.batches import Progress
from runner.engine.result import RunResult, captured_warnings, index_of, timed
from runner.errors import DataError, ModelError, RunnerError, first_line
from runner.model import heads, models
from runner.model import outputs as model_outputs
from runner.model.inference import Predictor
from runner.model.outputs import OutputSpool
from runner.task import features as probe_features
from runner.task import probe
from runner.tokenization import morphemes, tokenizer, training
from runner.tokenization.fingerprints import comparability_key, texts_digest

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase as Tokenizer

log = logging.getLogger(__name__)
T = TypeVar("T")


class Cache:
    """Loaded datasets, tokenizers and models of this process, keyed by their load config."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], object] = {}
        self._early: set[tuple[str, str]] = set()  # built by a preflight for the run that follows
        self._preflight = False
        self.preflight_s = 0.0  # time spent in preflights, reported by the next run (time/preflight_s)
        self.reachable = hub.Probe()  # whether the hub answers, asked once for all loads

    def get(self, kind: str, key: object, build: Callable[[], T], result: RunResult) -> T:
        k = (kind, json.dumps(key, sort_keys=True, default=str))
        hit = k in self._items and k not in self._early
        if k not in self._items:
            self._items[k] = build()
            if self._preflight:
                self._early.add(k)
        elif not self._preflight:
            self._early.discard(k)  # the run's own load: a miss once, a hit for later runs
        result.tags[f"cache/{kind}"] = "hit" if hit else "miss"
        return cast(T, self._items[k])  # built by `build` for this key

    @contextmanager
    def preflight(self) -> Iterator[None]:
        """Loads made before a run opens, on the run's behalf: the run reports them as misses."""
        self._preflight, start = True, time.perf_counter()
        try:
            yield
        finally:
            self._preflight = False
            self.preflight_s += time.perf_counter() - start


def run(
    cfg: RunConfig,
    cache: Cache | None = None,
    progress: Progress | None = None,
    result: RunResult | None = None,
) -> RunResult:
    """Run one combination, filling `result` (the caller's, so that what was done is still there
    when a step fails: the job logs it)."""
    result = result if result is not None else RunResult()
    with timed(result, "total"), captured_warnings(result):
        _run(cfg, cache or Cache(), result, progress)
    result.metrics["time/total_s"] += result.metrics.get(
        "time/preflight_s", 0.0
    )  # its loads, before it opened
    result.metrics["warnings/count"] = float(len(result.warnings))
    return result


def _run(cfg: RunConfig, cache: Cache, result: RunResult, progress: Progress | None) -> None:
    if cache.preflight_s:  # what the preflight loaded or trained for this run, before it opened
        result.metrics["time/preflight_s"], cache.preflight_s = cache.preflight_s, 0.0
    ray = cfg.execution.engine is Engine.ray
    with distributed.session(cfg) if ray else contextlib.nullcontext():  # ray: for the read too
        _data_path(cfg, cache, result, progress)


def _data_path(cfg: RunConfig, cache: Cache, result: RunResult, progress: Progress | None) -> None:
    texts, tok, kwargs = _load_inputs(cfg, cache, result)
    predictor = _load_model(cfg, cache, result, texts, tok, kwargs)
    ray = cfg.execution.engine is Engine.ray
    with timed(result, "statistics_setup"):  # e.g. the morpheme analysis, once per dataset
        cached = functools.partial(cache.get, result=result)
        stats = [] if ray else batches.start_statistics(cfg, tok, texts, cached)  # ray: in the workers
    result.metrics["time/tokenize_s"] = result.metrics["time/forward_s"] = 0.0
    columns: dict[str | None, Sequence[str]] = {None: texts.texts}
    if texts.parallel:
        columns = dict(texts.parallel.items())
    result.tags["invariance.group"] = comparability_key(cfg, texts)
    result.tags["data.digest"] = texts_digest(texts)
    loop = batches.Loop(cfg, result, tok, kwargs, stats, predictor, progress, np.zeros(len(texts), np.uint64))
    if cfg.probe.kind is ProbeKind.bag_of_tokens:
        loop.bag = probe_features.BagOfTokens(len(tok), cfg.probe.pair_cutoff)
    counts: dict[str | None, tuple[int, int]] = {}
    if ray:  # the reference column only (execution=ray refuses parallel columns)
        counts[None] = distributed.run(loop, texts, result.trained)
    else:
        for column, values in columns.items():
            counts[column] = batches.run(loop, values, texts.pairs, column)
        result.tags.update({"execution.engine": "local", "execution.workers": "1"})  # this process
    if not texts.parallel:
        result.token_hashes = loop.hashes
    with timed(result, "tokenize"):  # the last chunk of statistics
        for statistic in loop.stats:
            result.metrics.update(statistic.metrics())
            result.tags.update(statistic.tags())
            for row in result.token_rows:
                row.update(statistic.columns(index_of(row)))
    _warn(result, tokenizer.too_long_warning(tok, kwargs, loop.longer, loop.longest))
    if texts.parallel:
        _parity(result, counts)
    result.token_rows.sort(key=lambda r: (str(r.get("column") or ""), index_of(r)))
    if predictor is not None:
        _predictions(result, predictor, len(texts))
    if cfg.probe.kind is not ProbeKind.none:
        with timed(result, "probe"):
            _probe(cfg, result, texts, loop.bag)
    seconds = result.metrics["time/forward_s"] or result.metrics["time/tokenize_s"]
    result.metrics["throughput/samples_per_s"] = len(texts) / seconds if seconds else 0.0


def _load_inputs(
    cfg: RunConfig, cache: Cache, result: RunResult
) -> tuple[sources.Texts, Tokenizer, dict[str, object]]:
    """The data and the tokenizer (through the cache), checked, and the tokenizer call's arguments."""
    with timed(result, "load_data"):
        texts = load_data(cfg, cache, result)
    interrupt.check()
    if cfg.tokenizer.train is not None:
        texts, tok = trained_tokenizer(cfg, cache, result, texts)
    else:
        with timed(result, "load_tokenizer"):
            tok = cache.get(
                "tokenizer",
                (asdict(cfg.tokenizer), cfg.model.name_or_path, cfg.model.revision),
                lambda: tokenizer.load_tokenizer(cfg.tokenizer, cfg.model, cache.reachable, _fetched(cfg)),
                result,
            )
    result.texts = texts
    result.metrics.update({"data/rows": float(len(texts)), "data/dropped_empty": float(texts.dropped_empty)})
    interrupt.check()
    tokenizer.check(tok, cfg.tokenizer, cfg.padding)
    result.tags.update(tokenizer.facts(tok))
    kwargs = tokenizer.call_kwargs(tok, cfg.tokenizer, cfg.padding)
    result.tags["tokenizer.call"] = json.dumps({k: v for k, v in kwargs.items()})
    if texts.parallel and kwargs["truncation"] is not False:
        log.warning(
            "dataset.parallel_columns with tokenizer.truncation on: a truncated row biases parity; "
            "use tokenizer.truncation=false to count whole texts"
        )
    return texts, tok, kwargs


def load_data(cfg: RunConfig, cache: Cache, result: RunResult) -> sources.Texts:
    """The evaluation dataset through the cache, its labels from the probe's column if the
    dataset names none (probe.label_column)."""
    declared = cfg.dataset
    if cfg.probe.kind is not ProbeKind.none and declared.label_column is None:
        declared = replace(declared, label_column=probe_label_column(cfg))
    if cfg.execution.engine is Engine.ray:  # read in a Ray task: not in this process
        build = functools.partial(distributed.read, declared, cfg.runtime.seed)
    else:
        build = functools.partial(sources.load, declared, cfg.runtime.seed, cache.reachable)
    return cache.get("dataset", (asdict(declared), cfg.runtime.seed), build, result)


def preflight(cfg: RunConfig, cache: Cache) -> None:
    """What the config asks for that can be refused before a run opens (exit 2, no run): Kiwi
    for stats.morphemes, the training (a vocabulary below the alphabet, a missing Kiwi for the
    morpheme cut), the probe's labels (one class, a class thinner than the folds, missing labels
    under missing_labels=refuse). What it loads or trains stays in the cache for the run, which
    reports it as its own (Cache.preflight)."""
    if cfg.stats.morphemes == "kiwi":
        morphemes.analyzer()  # one line naming the install when kiwipiepy is missing
    if cfg.execution.engine is Engine.ray:
        distributed.check(cfg)
    if cfg.probe.kind is ProbeKind.none and cfg.tokenizer.train is None:
        return
    scratch = RunResult()
    with cache.preflight():
        texts = load_data(cfg, cache, scratch)
        if cfg.tokenizer.train is not None:
            texts, _ = trained_tokenizer(cfg, cache, scratch, texts)
    if cfg.probe.kind is not ProbeKind.none:
        key = f"dataset.label_column={probe_label_column(cfg)}"
        labels = texts.labels or []
        keep = probe.labelled(labels, cfg.probe, key)
        probe.check([v for v, k in zip(labels, keep, strict=True) if k], cfg.probe.folds, key)


def _fetched(cfg: RunConfig) -> str | None:
    """A `runs:/<id>/tokenizer` source fetched from the run's own store into a local folder
    (the tokenization room loads folders; fetching is the tracking room's); None for any other."""
    from runner.tracking import readback, store

    source = cfg.tokenizer.name_or_path or cfg.model.name_or_path
    if not source.startswith("runs:/"):
        return None
    key = "tokenizer.name_or_path" if cfg.tokenizer.name_or_path else "model.name_or_path"
    uri = store.resolve_uri(cfg.tracking.uri)
    try:
        return str(readback.runs_uri(source, uri))
    except Exception as exc:
        raise ModelError(
            f"{key}={source}",
            f"cannot fetch it from {uri}: {first_line(exc)}",
            "give the id of a run that trained a tokenizer (it logged tokenizer/), in this tracking.uri",
        ) from exc


def trained_tokenizer(
    cfg: RunConfig, cache: Cache, result: RunResult, texts: sources.Texts
) -> tuple[sources.Texts, Tokenizer]:
    """tokenizer.train: the training texts (another dataset, or the part of this one not held
    out), less every evaluation text; the tokenizer trained once per corpus and config in this
    process (the load cache). Returns the evaluation texts and the tokenizer."""
    train = cfg.tokenizer.train
    assert train is not None
    other = None
    if train.dataset is not None:
        declared = train.dataset
        with timed(result, "load_data"):
            other = cache.get(
                "training_data",
                (asdict(declared), cfg.runtime.seed),
                lambda: _training_data(declared, cfg.runtime.seed, cache),
                result,
            )
    prepared = training.prepare(train, texts, cfg.runtime.seed, other)
    trained = cache.get(
        "tokenizer",
        (asdict(cfg.tokenizer), training.digest(prepared.corpus)),
        lambda: training.train(train, prepared.corpus),
        result,
    )
    metrics, tags = training.record(train, trained, prepared)
    result.metrics.update(metrics)
    result.tags.update(tags)
    result.trained = trained.folder
    result.train_texts = prepared.training
    return prepared.evaluation, trained.tokenizer


def _training_data(declared: DatasetConfig, seed: int, cache: Cache) -> sources.Texts:
    """The training dataset, its errors naming its own keys (`tokenizer.train.dataset.path`)."""
    try:
        return sources.load(declared, seed, cache.reachable)
    except RunnerError as exc:
        key = exc.key if exc.key.startswith("tokenizer.") else f"tokenizer.train.{exc.key}"
        raise type(exc)(key, exc.problem, exc.fix) from exc


def _load_model(
    cfg: RunConfig,
    cache: Cache,
    result: RunResult,
    texts: sources.Texts,
    tok: Tokenizer,
    kwargs: dict[str, object],
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
    ray = cfg.execution.engine is Engine.ray  # the workers move the weights to their own device
    device = "cpu" if ray else models.pick_device(cfg.runtime.device)
    with timed(result, "load_model"):
        loaded = cache.get(
            "model",
            (asdict(cfg.model), device),
            lambda: models.load(cfg.model, device, cache.reachable),
            result,
        )
    models.check_positions(loaded, kwargs)
    _warn(result, models.left_padding_warning(loaded, tok, kwargs))
    result.tags.update(models.facts(loaded, labelled=heads.HEADS[cfg.model.head].labelled))
    result.model_config = loaded.model.config.to_dict()
    result.missing_keys = loaded.missing_keys
    if loaded.head_initialized:
        log.warning(
            "model.head=%s: the checkpoint has no weights for this head, so it was "
            "initialised at random — predictions are meaningless until it is trained",
            cfg.model.head,
        )
    gold = None
    if texts.labels is not None and heads.HEADS[cfg.model.head].accuracy:
        gold = models.label_ids(texts.labels, loaded.model.config, cfg.dataset.label_column or "")
    return Predictor(
        loaded,
        tok,
        cfg.model.head,
        cfg.predict,
        cfg.tracking.max_logged_examples,
        label_ids=gold,
        spool=None if ray else OutputSpool(result.scratch()),  # ray: the workers write shards
    )


def _probe(
    cfg: RunConfig, result: RunResult, texts: sources.Texts, bag: probe_features.BagOfTokens | None
) -> None:
    """probe=bag_of_tokens over the counts the batches gave; probe=embedding over outputs.npy."""
    key = f"dataset.label_column={probe_label_column(cfg)}"
    if texts.labels is None:
        raise DataError(key, "gave no labels", "point it at the column holding the labels")
    if bag is not None:
        x = bag.matrix(len(texts))
        described = (
            "token counts" if texts.pairs is None else f"cross pairs of each side's first {bag.cutoff} tokens"
        )
    else:
        x = _embeddings(cfg, result)
        described = f"pooled outputs [{x.shape[0]}×{x.shape[1]}]"
    seed = cfg.probe.seed if cfg.probe.seed is not None else cfg.runtime.seed
    outcome = probe.run(x, texts.labels, texts.texts, texts.pairs, cfg.probe, seed, key)
    result.metrics.update(outcome.metrics)
    result.tags.update(
        {
            "probe.kind": cfg.probe.kind.value,
            "probe.features": described,
            "probe.label_column": key.split("=")[1],
        }
    )
    result.probe = outcome.report


def _embeddings(cfg: RunConfig, result: RunResult) -> np.ndarray[tuple[int, int], np.dtype[np.float64]]:
    """One pooled output per example (a body's outputs.npy), as the embedding probe reads it."""
    if result.outputs is None:
        raise DataError("probe", "the run has no model outputs to probe", "pick a body, e.g. model=tiny_bert")
    values, offsets = model_outputs.load(result.outputs)
    if len(offsets) - 1 != len(values) or values.ndim != 2:
        raise DataError(
            f"model.head={cfg.model.head}",
            "gives no single vector per example for probe=embedding",
            "use a body (model.head=none), or probe=bag_of_tokens",
        )
    return np.asarray(values, dtype=np.float64)


def _warn(result: RunResult, message: str | None) -> None:
    """A warning the run found itself: kept with the run (warnings.txt) and shown on the console."""
    if message:
        result.warnings.append(message)
        log.warning(message)


def _parity(result: RunResult, counts: dict[str | None, tuple[int, int]]) -> None:
    """parity/<column>: content tokens / the reference column's, summed over the same rows."""
    reference = counts[next(iter(counts))][0]
    rows = result.metrics["data/rows"]
    for column, (content, real) in counts.items():
        result.metrics[f"parity/{column}"] = content / reference
        result.metrics[f"parity/{column}/mean_len"] = real / rows
    worst = max(counts, key=lambda c: counts[c][0])
    result.metrics["parity/max"] = counts[worst][0] / reference
    result.metrics["parity/gini"] = gini([content for content, _ in counts.values()])
    result.tags["parity.max_column"] = str(worst)


def gini(costs: list[int]) -> float:
    """Σᵢ Σⱼ |cᵢ − cⱼ| / (2 n² μ): 0 when every column costs the same number of tokens."""
    c = np.asarray(costs, dtype=np.float64)
    mean = c.mean()
    return float(np.abs(c[:, None] - c[None, :]).sum() / (2 * len(c) ** 2 * mean)) if mean else 0.0


def _predictions(result: RunResult, predictor: Predictor, rows: int) -> None:
    result.prediction_rows = sorted(predictor.rows, key=index_of)
    result.shapes = predictor.shapes(rows)
    if result.outputs is None:  # execution=ray: the workers' shards, already written
        result.outputs = predictor.finish_outputs()
    result.warnings.extend(predictor.warnings)
    accuracy = predictor.accuracy(rows)
    if accuracy is not None:
        result.metrics["predict/accuracy"] = accuracy
