"""execution=ray: one run's tokenization, statistics, bag-of-tokens features and the model's
forward on Ray Data (docs/scale.md).

The run's rows are cut into blocks of whole encoding windows, so that every batch is the one the
local path makes. An actor pool (`execution.num_workers` actors, each holding the tokenizer, the
model with a forward and, for stats.morphemes=kiwi, Kiwi) runs each block through the same batch
loop as a local run (runner.engine.batches) and sends back the block's partial state: every
statistic (merged by its own `merge`, exactly), the logged examples' tokens.json and
predictions.json rows, the token hashes and the counts. Every example's model outputs stay with
the workers, which write them as Parquet shards (runner.model.outputs). The driver adds the
states up; nothing a worker computes is an approximation of the local run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from runner import reach
from runner.config.schema import DatasetConfig, ProbeKind, RunConfig
from runner.data import sources
from runner.engine import batches
from runner.engine.result import Hashes, Row, RunResult
from runner.errors import ConfigError, RunnerError, first_line
from runner.model import models
from runner.model.inference import Predictor
from runner.model.outputs import OutputSpool
from runner.task import features as probe_features
from runner.tokenization import encoding, fingerprints, morphemes, statistics, tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase as Tokenizer

log = logging.getLogger(__name__)
Column = np.ndarray[tuple[int], np.dtype[np.object_]]  # a Ray Data batch's column (numpy format)
# Ray's own messages stay out of the console (its logs stay in its session folder)
QUIET = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
}


ACTORS_START_S = 600  # the actor pool's start: the slowest actor loads its model, or Kiwi


@dataclass
class Predicted:
    """What one block's forward gave: the logged examples' predictions rows, how many examples
    it got right, each batch's output shapes (in the block's order) and its warnings."""

    rows: list[Row]
    correct: int
    shapes: list[dict[str, list[int]]]
    warnings: list[str]


@dataclass
class Part:
    """What one block gave: its statistics (partial states), its logged examples' rows, its
    token hashes (from input position `start` on), its counts, and the worker that made it."""

    start: int
    stats: list[statistics.Statistic]
    rows: list[Row]
    hashes: Hashes
    content: int = 0
    real: int = 0
    longer: int = 0
    longest: int = 0
    pid: int = 0
    bag: probe_features.BagOfTokens | None = None  # probe=bag_of_tokens: this block's features
    predicted: Predicted | None = None  # with a model's forward


def check(cfg: RunConfig) -> None:
    """What execution=ray refuses before a run opens (exit 2, no run): what it does not run in
    workers, a missing Ray, an address nothing answers at."""
    refused = [
        (bool(cfg.dataset.parallel_columns), "dataset.parallel_columns=null"),
        (not cfg.tokenizer.use_fast, "tokenizer.use_fast=true"),
    ]
    for wrong, fix in refused:
        if wrong:
            raise ConfigError(
                "execution=ray",
                "runs one column through a fast (Rust) tokenizer in its workers; parallel columns "
                "and Python tokenizers run with execution=local",
                f"use {fix}, or execution=local",
            )
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "execution=ray", "needs Ray, which is not installed", "pip install 'ray[data]'"
        ) from exc
    address, gpus = cfg.execution.address, cfg.execution.num_gpus
    here = _local_gpus() if gpus and not address else None
    if here is not None and here < gpus:
        raise ConfigError(
            f"execution.num_gpus={gpus}",
            f"asks for GPUs per worker, and this machine has {here}",
            "use execution.num_gpus=0, or join a cluster with GPUs (execution.address)",
        )
    silent = reach.ray_head(address) if address else None
    if silent:
        raise ConfigError(
            f"execution.address={address}",
            silent,
            "start the cluster (`ray start --head` prints its address), fix the address, or use "
            "execution.address=null for a local Ray instance",
        )


def _local_gpus() -> int:
    import torch

    return int(torch.cuda.device_count())


def run(loop: batches.Loop, texts: sources.Texts, folder: Path | None) -> tuple[int, int]:
    """The local batch loop's effect, made by Ray workers: `loop.stats`, the result's token
    rows, `loop.hashes`, the longest example; returns (content tokens, all real tokens)."""
    cfg, result = loop.cfg, loop.result
    refused = unmergeable(cfg, loop.tok, texts)
    if refused:
        raise ConfigError(
            f"stats.{refused[0]}",
            f"execution=ray merges every statistic's partial states, and {', '.join(refused)} has no merge",
            f"give it a merge (docs/extending.md), switch it off with stats.{refused[0]}=false, "
            "or use execution=local",
        )
    start = time.perf_counter()
    _enough_gpus(cfg, loop.predictor is not None)
    shared = _shared(loop, texts, folder)
    content, real = _merge(loop, _parts(cfg, loop.kwargs, shared, len(texts)), result)
    seconds = time.perf_counter() - start  # the whole data path: every worker's batches, wall clock
    result.metrics["time/tokenize_s"] += seconds
    if shared.outputs is not None:  # a forward ran
        result.metrics["time/forward_s"] += seconds
        result.outputs = shared.outputs if any(shared.outputs.iterdir()) else None
    return content, real


@contextlib.contextmanager
def session(cfg: RunConfig) -> Iterator[None]:
    """Ray for one run: the cluster execution.address names joined, or a local instance started
    for the run and stopped after it; Ray's own messages kept out of the console."""
    with _quiet(cfg.execution.verbose), _environment(cfg.execution.address is None):
        started = _init(cfg)
        try:
            yield
        finally:
            if started:
                import ray

                ray.shutdown()


def read(declared: DatasetConfig, seed: int) -> sources.Texts:
    """The dataset read — `datasets` building its Arrow files — and digested by a Ray task on
    the driver's own machine, so that neither the build nor the pass over every row happens in
    the driver, which maps the files the task wrote (docs/scale.md). Where no Ray session is
    open (a preflight), the driver reads."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if not ray.is_initialized():
        return sources.load(declared, seed)
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    task = ray.remote(num_cpus=1, max_retries=2)(_read).options(scheduling_strategy=here)
    texts: sources.Texts | RunnerError = ray.get(task.remote(declared, seed))
    if isinstance(texts, RunnerError):
        raise texts
    return texts


def _read(declared: DatasetConfig, seed: int) -> sources.Texts | RunnerError:
    """In the task: the Texts (their columns refer to the Arrow files, they do not hold the rows)
    and their digest; a RunnerError comes back as data, whole."""
    try:
        texts = sources.load(declared, seed)
    except RunnerError as exc:
        return exc
    texts.digest = fingerprints.rows_digest(texts)
    return texts


@dataclass
class Shared:
    """What every worker reads, by reference (fetched once per actor; the driver holds the
    references): the tokenizer's files, the rows — a file-backed column travels as its
    memory-mapped dataset, not as text —; with a forward, the model, the gold label ids and the
    folder the workers write their shards of outputs to."""

    files: object
    rows: object
    model: object | None = None
    gold: object | None = None
    outputs: Path | None = None


def _shared(loop: batches.Loop, texts: sources.Texts, folder: Path | None) -> Shared:
    import ray

    shared = Shared(ray.put(_files(loop.tok, folder)), ray.put((texts.texts, texts.pairs)))
    predictor = loop.predictor
    if predictor is not None:
        where = loop.cfg.execution.output_dir
        if where:
            Path(where).mkdir(parents=True, exist_ok=True)
        shared.model = ray.put(predictor.loaded.model)  # the driver's weights, on cpu
        shared.gold = ray.put(predictor.label_ids)
        shared.outputs = Path(tempfile.mkdtemp(prefix="runner-outputs-", dir=where or loop.result.scratch()))
    return shared


@contextlib.contextmanager
def _environment(local: bool) -> Iterator[None]:
    """Ray's settings for this run, put back after it: no usage reports, no progress bars; a
    local instance (loopback only, the run's own) without token authentication, which would
    otherwise write a token file that other Ray clusters on the machine read."""
    wanted = {**QUIET, **({"RAY_AUTH_MODE": "disabled"} if local else {})}
    before = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Ray's own messages — its C++ core writes to the process's stderr directly — kept in
    a file (named at debug level) instead of the console, unless execution.verbose."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.NamedTemporaryFile(prefix="runner-ray-", suffix=".log", delete=False) as kept:
        log.debug("Ray's messages: %s", kept.name)
        os.dup2(kept.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _init(cfg: RunConfig) -> bool:
    """Join the cluster execution.address names, or start a local Ray instance on 127.0.0.1
    (returns True: the run stops it). Ray's own logs stay out of the console."""
    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    if ray.is_initialized():
        return False
    address = cfg.execution.address
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            return True
        cpus = max(cfg.execution.num_workers, os.cpu_count() or 1)
        ray.init(
            address="local",  # a new instance, never a cluster `ray start` left on this machine
            num_cpus=cpus,
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    except Exception as exc:
        raise ConfigError(
            f"execution.address={address}", f"Ray did not start: {first_line(exc)}", "see docs/scale.md"
        ) from exc
    return True


def _enough_gpus(cfg: RunConfig, forward: bool) -> None:
    """A cluster without the GPUs execution.num_gpus asks for would never start the workers."""
    import ray

    wanted = cfg.execution.num_gpus
    if not (forward and wanted):
        return
    has = ray.cluster_resources().get("GPU", 0)  # type: ignore[no-untyped-call]
    if has < wanted:
        raise ConfigError(
            f"execution.num_gpus={wanted}",
            f"asks for GPUs per worker, and the Ray cluster has {has:g}",
            "use execution.num_gpus=0, or a cluster with GPUs",
        )


def _blocks(n: int, cfg: RunConfig) -> list[tuple[int, int]]:
    """[start, stop) of each block: execution.batch_size rows rounded up to whole windows (the
    rows ordered by length together), or whole batches under runtime.sort_by_length=false."""
    batch = cfg.runtime.batch_size
    window = encoding.window_rows(batch) if cfg.runtime.sort_by_length else batch
    size = -(-cfg.execution.batch_size // window) * window
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _parts(cfg: RunConfig, kwargs: dict[str, object], shared: Shared, n: int) -> Iterator[Part]:
    """Each block's Part, as the actor pool finishes it; a worker's RunnerError (a token id
    past the model's vocabulary) raised as itself — it travels as data, since Ray Data keeps
    only the message of an exception raised in a worker."""
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.print_on_execution_start = False
    # every actor up before the first block goes out, so that each takes its share (a pool that
    # cannot start within the time, e.g. a cluster without the resources, fails with Ray's line)
    context.wait_for_min_actors_s = ACTORS_START_S
    items = [{"start": s, "stop": e} for s, e in _blocks(n, cfg)]
    data = ray.data.from_items(items, override_num_blocks=len(items))
    done = data.map_batches(
        Worker,
        fn_constructor_kwargs={"cfg": cfg, "shared": shared, "kwargs": kwargs},
        batch_size=1,
        # one block per actor at a time: an actor that is up first cannot queue the blocks of
        # one still loading its model (with few blocks, one actor would do them all)
        compute=ray.data.ActorPoolStrategy(
            size=min(cfg.execution.num_workers, len(items)), max_tasks_in_flight_per_actor=1
        ),
        num_cpus=1,
        num_gpus=cfg.execution.num_gpus if shared.model is not None else 0,
        max_restarts=-1,  # a worker that dies is replaced, its block retried
        max_task_retries=-1,
    )
    for row in done.iter_rows():
        part: Part | RunnerError = pickle.loads(row["part"])
        if isinstance(part, RunnerError):
            raise part
        yield part


def _files(tok: Tokenizer, folder: Path | None) -> dict[str, bytes]:
    """The tokenizer as files a worker loads (tokenizer.from_folder): a trained one's own folder
    (its morpheme marker too), else what save_pretrained writes."""
    if folder is not None:
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with tempfile.TemporaryDirectory(prefix="runner-ray-tokenizer-") as saved:
        tok.save_pretrained(saved)
        return _files(tok, Path(saved))


def _merge(loop: batches.Loop, parts: Iterator[Part], result: RunResult) -> tuple[int, int]:
    """Every Part added into the loop: statistics by their `merge`, rows, hashes, counts."""
    content = real = 0
    merged: list[statistics.Statistic] | None = None
    workers: set[int] = set()
    shapes: dict[int, list[dict[str, list[int]]]] = {}  # each block's, put in input order after
    for part in parts:
        if merged is None:
            merged = part.stats
        else:
            for mine, theirs in zip(merged, part.stats, strict=True):
                mine.merge(theirs)
        result.token_rows.extend(part.rows)
        loop.hashes[part.start : part.start + len(part.hashes)] = part.hashes
        content, real = content + part.content, real + part.real
        if loop.bag is not None and part.bag is not None:
            loop.bag.merge(part.bag)
        loop.longer += part.longer
        loop.longest = max(loop.longest, part.longest)
        workers.add(part.pid)
        if loop.predictor is not None and part.predicted is not None:
            _predicted(loop.predictor, part.predicted)
            shapes[part.start] = part.predicted.shapes
    if loop.predictor is not None:
        loop.predictor.batch_shapes = [s for start in sorted(shapes) for s in shapes[start]]
    loop.stats = merged or []
    result.tags["execution.engine"] = "ray"
    result.tags["execution.workers"] = str(len(workers))
    return content, real


def _predicted(predictor: Predictor, block: Predicted) -> None:
    """One block's forward added into the driver's predictor (it ran none itself)."""
    predictor.rows.extend(block.rows)
    predictor.correct += block.correct
    predictor.warnings.extend(w for w in block.warnings if w not in predictor.warnings)


class Worker:
    """One actor of the pool: the tokenizer (loaded once from its files), the model with a
    forward (the driver's weights, on the actor's device) and the batch loop."""

    def __init__(self, cfg: RunConfig, shared: Shared, kwargs: dict[str, object]) -> None:
        import ray

        stored: dict[str, bytes] = ray.get(shared.files)  # type: ignore[call-overload]  # an ObjectRef
        self.rows: tuple[Sequence[str], Sequence[str] | None] = ray.get(shared.rows)  # type: ignore[call-overload]
        with tempfile.TemporaryDirectory(prefix="runner-worker-tokenizer-") as folder:
            for name, data in stored.items():
                (Path(folder) / name).write_bytes(data)
            self.tok = tokenizer.from_folder(folder, "execution=ray")
        self.loaded: models.Loaded | None = None
        self.gold: list[int] | None = None
        if shared.model is not None:
            device = models.pick_device(cfg.runtime.device)  # cuda where the actor was given a GPU
            self.loaded = models.Loaded(ray.get(shared.model).to(device), device)  # type: ignore[call-overload]
            self.gold = ray.get(shared.gold)  # type: ignore[call-overload]
        self.cfg, self.kwargs, self.outputs = cfg, kwargs, shared.outputs
        self.cache: dict[tuple[str, str], object] = {}

    def __call__(self, block: dict[str, Column]) -> dict[str, Column]:
        texts, pairs = self.rows
        parts: list[bytes] = []
        for s, e in zip(block["start"].tolist(), block["stop"].tolist(), strict=True):
            try:
                part: Part | RunnerError = self.part(
                    s, list(texts[s:e]), list(pairs[s:e]) if pairs is not None else None
                )
            except RunnerError as exc:  # the user's to fix: to the driver whole, as data
                part = exc
            parts.append(pickle.dumps(part))
        return {"part": np.array(parts, dtype=object)}

    def part(self, start: int, texts: list[str], pairs: list[str] | None) -> Part:
        """One block through the local batch loop, its rows numbered from `start`."""
        block = sources.Texts(texts, pairs, None, None, len(texts), 0)
        result = RunResult()
        cut = morphemes.cut_of(self.tok)
        if cut is not None:  # the analyses of this block only
            cut.known.clear()
        stats = batches.start_statistics(self.cfg, self.tok, block, self._cached)
        hashes = np.zeros(len(texts), np.uint64)
        with tempfile.TemporaryDirectory(prefix="runner-worker-spool-") as spooled:
            predictor = self._predictor(Path(spooled), start)
            loop = batches.Loop(
                self.cfg, result, self.tok, self.kwargs, stats, predictor, None, hashes, offset=start
            )
            if self.cfg.probe.kind is ProbeKind.bag_of_tokens:
                loop.bag = probe_features.BagOfTokens(len(self.tok), self.cfg.probe.pair_cutoff)
            content, real = batches.run(loop, texts, pairs, None)
            predicted = self._predicted(predictor)
        for statistic in stats:  # the last chunk of each, before the state travels
            getattr(statistic, "flush", lambda: None)()
        return Part(
            start,
            stats,
            result.token_rows,
            hashes,
            content,
            real,
            loop.longer,
            loop.longest,
            os.getpid(),
            loop.bag,
            predicted,
        )

    def _predictor(self, spooled: Path, start: int) -> Predictor | None:
        """The forward of one block, its outputs spooled from input position `start` on."""
        if self.loaded is None:
            return None
        cfg = self.cfg
        keep = cfg.tracking.max_logged_examples
        spool = OutputSpool(spooled, start)
        return Predictor(self.loaded, self.tok, cfg.model.head, cfg.predict, keep, self.gold, spool=spool)

    def _predicted(self, predictor: Predictor | None) -> Predicted | None:
        """The block's forward as data; its outputs written as one Parquet shard."""
        if predictor is None:
            return None
        assert predictor.spool is not None and self.outputs is not None
        predictor.spool.shard(self.outputs)
        return Predicted(predictor.rows, predictor.correct, predictor.batch_shapes, predictor.warnings)

    def _cached(self, kind: str, key: object, build: Callable[[], object]) -> object:
        k = (kind, repr(key))
        if k not in self.cache:
            self.cache = {k: build()}  # one block's analyses at a time: memory stays per block
        return self.cache[k]


def unmergeable(cfg: RunConfig, tok: Tokenizer, texts: sources.Texts) -> list[str]:
    """The statistics this run switches on whose partial states cannot merge, by name: built
    on the first row only, before any work."""
    sample = sources.Texts(
        list(texts.texts[:1]), list(texts.pairs[:1]) if texts.pairs else None, None, None, 1, 0
    )
    context = statistics.Context(cfg, tok, sample, lambda kind, key, build: build())
    return statistics.unmergeable(context)
