"""The benchmark suite: every figure printed as a ratio against a baseline measured in the same run.

Run with `make bench` (or `python benchmarks/run.py [--quick]`). Uses the vendored tests/fixtures (KLUE text,
the bert-base-uncased tokenizer); the model is a random 6-layer, 384-hidden BERT built from
config. Not part of the test suite: timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "tests" / "fixtures"  # vendored KLUE samples
HUB = ROOT / "runner" / "assets" / "hub"  # the bundled real tokenizers
KLUE_NER = ROOT / "runner" / "assets" / "klue-ner" / "klue-ner-v1.1_dev.sentences.jsonl"
RUNNER = [sys.executable, "-m", "runner"]


def klue_sentences() -> list[str]:
    nli = SHARED / "datasets" / "klue-nli" / "klue-nli-v1.1_dev.first1000.jsonl"
    sts = SHARED / "datasets" / "klue-sts" / "klue-sts-v1.1_dev.json"
    rows = [json.loads(x) for x in nli.read_text(encoding="utf-8").splitlines()]
    out = [r[k] for r in rows for k in ("premise", "hypothesis")]
    out += [r[k] for r in json.loads(sts.read_text(encoding="utf-8")) for k in ("sentence1", "sentence2")]
    return out


def build_model(folder: Path) -> str:
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(str(HUB / "bert-base-uncased"))
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=6,
        intermediate_size=1536,
    )
    BertModel(config).eval().save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def runner_config(model: str, texts: list[str], *overrides: str):
    from runner.cli import compose

    run = compose(
        f"model.name_or_path={model}",
        "tokenizer.max_length=128",
        "tracking.max_logged_examples=50",
        *overrides,
    )
    run.dataset.texts = texts
    return run


def inference(model: str, texts: list[str], batch: int) -> list[tuple]:
    import torch
    from transformers import AutoModel, AutoTokenizer, pipeline

    from runner.engine import pipeline as runner_pipeline

    torch.set_num_threads(os.cpu_count() or 1)
    tok, net = AutoTokenizer.from_pretrained(model), AutoModel.from_pretrained(model).eval()
    lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=128)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])  # the runner's sorted batches

    def compute_rate(positions: list[int]) -> float:
        """Forward only, over batches tokenized beforehand: zero runner overhead."""
        batches = [
            tok(
                [texts[i] for i in positions[s : s + batch]],
                padding="longest",
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            for s in range(0, len(texts), batch)
        ]
        best = float("inf")
        with torch.inference_mode():
            net(**batches[0])  # warm-up: the first forward pays one-off allocations
            for _ in range(2):  # best of 2: the bound should not be a slow outlier
                start = time.perf_counter()
                for b in batches:
                    net(**b)
                best = min(best, time.perf_counter() - start)
        return len(texts) / best

    compute = compute_rate(order)
    compute_file = compute_rate(list(range(len(texts))))

    def runner_rate(*overrides):
        result = runner_pipeline.run(runner_config(model, texts, f"runtime.batch_size={batch}", *overrides))
        return len(texts) / (result.metrics["time/tokenize_s"] + result.metrics["time/forward_s"])

    def pipeline_rate() -> float:
        extractor = pipeline("feature-extraction", model=net, tokenizer=tok, truncation=True, max_length=128)
        start = time.perf_counter()
        for _ in extractor(texts, batch_size=batch):
            pass
        return len(texts) / (time.perf_counter() - start)

    # every side best of 2: single passes of these 15–45 s loops swing by ±10 % on this machine
    sorted_rate = max(runner_rate("runtime.sort_by_length=true") for _ in range(2))
    file_order = max(runner_rate("runtime.sort_by_length=false") for _ in range(2))
    pipe = max(pipeline_rate() for _ in range(2))
    return [
        ("inference: runner (longest, sorted) vs pure compute", sorted_rate, compute, 0.9),
        ("inference: sorted vs file order", sorted_rate, file_order, 1.8),
        ("  bound: pure compute, sorted vs file-order batches", compute, compute_file, None),
        ("inference: runner vs transformers.pipeline", sorted_rate, pipe, 3.0),
        ("  bound: pure compute (sorted) vs transformers.pipeline", compute, pipe, None),
    ]


def wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def startup(tmp: Path) -> list[tuple]:
    base = min(wall([sys.executable, "-c", "import torch, transformers, mlflow"], tmp) for _ in range(2))
    helps = min(wall(RUNNER + ["--help"], tmp) for _ in range(2))
    cfg = min(wall(RUNNER + ["--cfg", "job"], tmp) for _ in range(2))
    return [
        ("start-up: runner --help vs heavy imports (lower is better)", helps, base, 0.25),
        ("start-up: runner --cfg job vs heavy imports (lower is better)", cfg, base, 0.25),
    ]


def startup_floor(tmp: Path) -> list[tuple]:
    """A tokenization-only run of the sample, end to end, vs the fair floor any script that logs
    there pays: importing transformers and mlflow, loading the same tokenizer and opening the same
    sqlite MLflow store. For context: the floor without the store; the floor with its collector
    paused and frozen as the runner's is (like for like); the run without that pause (what the
    pause is worth). Best of 5 each, interleaved (single starts swing by ±0.3 s on this machine);
    the store exists (its migration is a one-off)."""
    from runner.model import tiny

    path = tiny.ensure("roberta")
    uri = f"sqlite:///{tmp}/floor.db"
    run = [*RUNNER, "model=none", "tokenizer=tiny_roberta", f"tracking.uri={uri}"]
    wall(run, tmp)  # creates the store: its migration is a one-off
    load = f"import transformers, mlflow; transformers.AutoTokenizer.from_pretrained({path!r})"
    opened = f"{load}; mlflow.MlflowClient({uri!r}).get_experiment_by_name('runner')"
    commands = {
        "runner": run,
        "store": [sys.executable, "-c", opened],
        "floor": [sys.executable, "-c", load],
        "paused": [sys.executable, "-c", f"import gc; gc.disable(); {opened}; gc.freeze(); gc.enable()"],
        # Session.for_process's gc.disable() made a no-op: the collector runs through the imports
        "unpaused": [
            sys.executable,
            "-c",
            "import gc; gc.disable = lambda: None; import runpy; "
            "runpy.run_module('runner', run_name='__main__')",
            *run[3:],
        ],
    }
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(5):
        for key, command in commands.items():
            best[key] = min(best[key], wall(command, tmp))
    name = "start-up: tokenization-only run of the sample vs imports + tokenizer load + the same store"
    return [
        (f"{name} (lower is better)", best["runner"], best["store"], 1.2),
        (
            "  context: the same run vs the floor without opening the store",
            best["runner"],
            best["floor"],
            None,
        ),
        (
            "  context: the same run vs that floor, its collector paused as the runner's",
            best["runner"],
            best["paused"],
            None,
        ),
        (
            "  context: the same run, the collector not paused (gc.disable a no-op)",
            best["unpaused"],
            best["store"],
            None,
        ),
    ]


def sweeps(tmp: Path) -> list[tuple]:
    grid = [(p, n) for p in ("longest", "max_length") for n in (64, 128)]
    uri = f"tracking.uri=sqlite:///{tmp}/sweep.db"
    separate = sum(wall(RUNNER + [uri, f"padding={p}", f"tokenizer.max_length={n}"], tmp) for p, n in grid)
    one = wall(RUNNER + ["-m", uri, "padding=longest,max_length", "tokenizer.max_length=64,128"], tmp)
    return [("sweeps: 4 jobs in one process vs 4 processes, s (lower is better)", one, separate, 0.6)]


def packed(tmp: Path) -> list[tuple]:
    """2 models × 3 paddings on submitit_local: 6 launched jobs vs 2 packed jobs (sweep.inner),
    wall time and model loads (the children's cache/model=miss tags)."""
    from runner.tracking.tracker import Tracker

    grid, paddings = ["model=tiny_bert,tiny_roberta"], "longest,max_length,do_not_pad"
    launch = [*RUNNER, "-m", "hydra/launcher=submitit_local"]
    cost = {}
    for kind, axes in (
        ("unpacked", [f"padding={paddings}"]),
        ("packed", [f'sweep.inner="padding={paddings}"']),
    ):
        uri = f"sqlite:///{tmp}/{kind}.db"
        Tracker(uri, "runner")  # a new store's schema migration is a one-off
        seconds = wall([*launch, f"tracking.uri={uri}", *grid, *axes], tmp)
        tracker = Tracker(uri, "runner")
        runs = tracker.client.search_runs([tracker.experiment_id], "tags.`cache/model` = 'miss'")
        cost[kind] = (seconds, len(runs))
    return [
        (
            "scale-out: 2 models × 3 paddings, submitit_local, packed vs not, s (lower is better)",
            cost["packed"][0],
            cost["unpacked"][0],
            0.6,
        ),
        (
            "scale-out: model loads, packed vs not (lower is better)",
            cost["packed"][1],
            cost["unpacked"][1],
            0.5,
        ),
    ]


def tracking(tmp: Path) -> list[tuple]:
    """MLflow calls of a default job (start, params, config, result, finish) vs the job's wall time."""
    from omegaconf import OmegaConf

    from runner.engine import job, pipeline
    from runner.tracking.tracker import Tracker

    run = runner_config_default()
    result = pipeline.run(run)
    Tracker(f"sqlite:///{tmp}/tracking.db", "bench")  # a new store's schema migration is a one-off
    start = time.perf_counter()
    tracker = Tracker(f"sqlite:///{tmp}/tracking.db", "bench")
    run_id = tracker.start("bench", {"k": "v"})
    resolved = OmegaConf.to_container(OmegaConf.structured(run), enum_to_str=True)
    tracker.log_config(run_id, resolved)
    tracker.log_result(run_id, result, job.dataset_name(run))
    tracker.finish(run_id, "FINISHED")
    logging_s = time.perf_counter() - start
    default = [*RUNNER, f"tracking.uri=sqlite:///{tmp}/default.db"]
    wall(default, tmp)  # creates the store
    job_wall = wall(default, tmp)
    return [
        (
            "tracking: MLflow logging of a default job vs its wall time, s (lower is better)",
            logging_s,
            job_wall,
            0.05,
        )
    ]


def runner_config_default():
    from runner.cli import compose

    return compose()


def tokenization(model: str, texts: list[str], batch: int) -> list[tuple]:
    from transformers import AutoTokenizer

    from runner.engine import pipeline as runner_pipeline

    tok = AutoTokenizer.from_pretrained(model)
    config = runner_config(
        model, texts, "model.forward=false", f"runtime.batch_size={batch}", "runtime.sort_by_length=false"
    )

    def direct_call() -> float:
        start = time.perf_counter()
        for s in range(0, len(texts), batch):
            tok(texts[s : s + batch], padding="longest", truncation=True, max_length=128, return_tensors="np")
        return time.perf_counter() - start

    decoding = runner_config(
        model, texts, "model.forward=false", f"runtime.batch_size={batch}", "runtime.sort_by_length=false"
    )
    decoding.stats.roundtrip = True
    # best of 3 each, interleaved: single timings of a 0.2 s step swing by ±15 % here
    runner_s = decoding_s = direct = float("inf")
    for _ in range(3):
        runner_s = min(runner_s, runner_pipeline.run(config).metrics["time/tokenize_s"])
        decoding_s = min(decoding_s, runner_pipeline.run(decoding).metrics["time/tokenize_s"])
        direct = min(direct, direct_call())
    name = "tokenization: runner step vs direct call"
    return [
        (f"{name} (lower is better)", runner_s, direct, 1.2),
        ("  context: with stats.roundtrip=true (every example decoded)", decoding_s, direct, None),
    ]


def corpus(texts: list[str], rows: int) -> list[tuple]:
    """Tokenization only at corpus scale: the runner's tokenize step (encoding, widths, every
    statistic, token hashes, logged rows) vs the bare chunked encode of the same rows."""
    from transformers import AutoTokenizer

    from runner.cli import compose
    from runner.engine import pipeline as runner_pipeline

    tokenizer = str(HUB / "bert-base-uncased")
    tok = AutoTokenizer.from_pretrained(tokenizer)
    corpus_rows = [texts[i % len(texts)] for i in range(rows)]
    config = compose("model=none", f"tokenizer.name_or_path={tokenizer}", "tokenizer.max_length=128")
    config.dataset.texts = corpus_rows

    def bare() -> float:
        start = time.perf_counter()
        for s in range(0, rows, 256):
            tok(corpus_rows[s : s + 256], truncation=True, max_length=128)
        return time.perf_counter() - start

    decoding = compose("model=none", f"tokenizer.name_or_path={tokenizer}", "tokenizer.max_length=128")
    decoding.dataset.texts, decoding.stats.roundtrip = corpus_rows, True
    runner_s = decoding_s = bare_s = float("inf")
    for _ in range(2 if rows <= 100_000 else 1):  # interleaved: drift hits both alike
        runner_s = min(runner_s, runner_pipeline.run(config).metrics["time/tokenize_s"])
        decoding_s = min(decoding_s, runner_pipeline.run(decoding).metrics["time/tokenize_s"])
        bare_s = min(bare_s, bare())
    name = f"tokenization only, {rows:,} rows: tokenize step vs bare chunked encode"
    return [
        (f"{name} (lower is better)", runner_s, bare_s, 1.2),
        ("  context: with stats.roundtrip=true (every example decoded)", decoding_s, bare_s, None),
    ]


def statistics(texts: list[str]) -> list[tuple]:
    """What the statistics cost inside the tokenize step: every built-in family switched off, and
    the morpheme analysis (stats.morphemes=kiwi: Kiwi's load and one pass over the texts, paid
    once per dataset and process) against the step without it."""
    from runner.cli import compose
    from runner.engine import pipeline as runner_pipeline

    tokenizer = f"tokenizer.name_or_path={HUB / 'bert-base-uncased'}"
    plain, bare, kiwi = (
        compose("model=none", tokenizer, "tokenizer.max_length=128", *overrides)
        for overrides in (
            (),
            ("stats.counts=false", "stats.scripts=false", "stats.fidelity=false", "stats.distribution=false"),
            ("stats.morphemes=kiwi",),
        )
    )
    for config in (plain, bare, kiwi):
        config.dataset.texts = texts
    plain_s = bare_s = float("inf")
    for _ in range(3):  # interleaved, best of 3
        plain_s = min(plain_s, runner_pipeline.run(plain).metrics["time/tokenize_s"])
        bare_s = min(bare_s, runner_pipeline.run(bare).metrics["time/tokenize_s"])
    analysis = runner_pipeline.run(kiwi).metrics["time/statistics_setup_s"]  # a fresh cache: analysed
    return [
        ("  context: tokenize step, every statistics family off vs all on", bare_s, plain_s, None),
        (
            f"  context: morpheme analysis of {len(texts):,} texts (Kiwi) vs tokenize step",
            analysis,
            plain_s,
            None,
        ),
    ]


KLUE_NLI = ROOT / "runner" / "assets" / "klue-nli" / "klue-nli-v1.1_dev.jsonl"


def probe(rows: int) -> list[tuple]:
    """probe=bag_of_tokens on KLUE-NLI pairs (cross pairs of each side's first 50 tokens, L1
    logistic regression, 5 grouped folds): the probe's time beside the tokenize step, and the
    runner's probe (features from its batches, folds, fits, out-of-fold predictions, bootstrap)
    against the same scikit-learn pipeline called directly on the tokenizer's own output."""
    from runner.cli import compose
    from runner.engine import pipeline as runner_pipeline

    config = compose(
        "model=none", f"tokenizer.name_or_path={HUB / 'bert-base-uncased'}", "probe=bag_of_tokens",
        "dataset=klue_nli_pairs", f"dataset.limit={rows}",
    )  # fmt: skip
    metrics, direct_s = {"time/probe_s": float("inf")}, float("inf")
    for _ in range(2):  # interleaved, best of 2 (each is tens of seconds of liblinear)
        run = runner_pipeline.run(config).metrics
        metrics = run if run["time/probe_s"] < metrics["time/probe_s"] else metrics
        direct_s = min(direct_s, _probe_directly(rows))
    name = f"probe (bag of tokens, {rows:,} NLI pairs)"
    return [
        (
            f"  context: {name} vs the tokenize step",
            metrics["time/probe_s"],
            metrics["time/tokenize_s"],
            None,
        ),
        (
            f"{name}: runner vs scikit-learn directly (lower is better)",
            metrics["time/probe_s"],
            direct_s,
            1.1,
        ),
    ]


def _probe_directly(rows: int) -> float:
    """The same features, groups and cross-validation written directly (the tokenizer's call
    outside the timing, as the runner's tokenize step is outside its probe's)."""
    import numpy as np
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_validate
    from sklearn.multiclass import OneVsRestClassifier
    from transformers import AutoTokenizer

    data = [json.loads(x) for x in KLUE_NLI.read_text(encoding="utf-8").splitlines()[:rows]]
    tok = AutoTokenizer.from_pretrained(str(HUB / "bert-base-uncased"))
    premises, hypotheses = [r["premise"] for r in data], [r["hypothesis"] for r in data]
    enc = tok(premises, hypotheses, truncation=True, return_special_tokens_mask=True)
    start = time.perf_counter()
    vocab, keys = len(tok), []
    for ids, mask, types in zip(
        enc["input_ids"], enc["special_tokens_mask"], enc["token_type_ids"], strict=True
    ):
        ids, content, second = np.asarray(ids), np.asarray(mask) == 0, np.asarray(types) == 1
        a, b = ids[content & ~second][:50], ids[content & second][:50]
        keys.append(np.unique((a[:, None] * vocab + b[None, :]).ravel(), return_counts=True))
    columns, inverse = np.unique(np.concatenate([k for k, _ in keys]), return_inverse=True)
    row_of = np.repeat(np.arange(rows), [len(k) for k, _ in keys])
    values = np.concatenate([c for _, c in keys]).astype(float)
    x = sparse.csr_matrix((values, (row_of, inverse)), shape=(rows, len(columns)))
    texts = {t: n for n, t in enumerate(dict.fromkeys(premises + hypotheses))}
    edges = [(r, rows + texts[t]) for r, t in enumerate(premises)] + [
        (r, rows + texts[t]) for r, t in enumerate(hypotheses)
    ]
    size = rows + len(texts)
    graph = sparse.coo_matrix((np.ones(len(edges)), tuple(np.asarray(edges).T)), shape=(size, size))
    groups = connected_components(graph, directed=False)[1][:rows]
    model = OneVsRestClassifier(LogisticRegression(C=0.4, l1_ratio=1.0, solver="liblinear", random_state=0))
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    y = np.asarray([r["gold_label"] for r in data])
    cross_validate(model, x, y, groups=groups, cv=cv, scoring=("accuracy", "f1_macro"))
    return time.perf_counter() - start


def training(sentences: int) -> list[tuple]:
    """tokenizer.train inside the runner — the corpus from the bundled KLUE NER sentences less the
    evaluation texts, its digest, the training, the wrap, the saved files — vs the same trainer
    called directly on the same texts (tokenizers' own pieces, nothing saved)."""
    from runner.cli import compose

    texts = [json.loads(x)["sentence"] for x in KLUE_NER.read_text(encoding="utf-8").splitlines()]
    texts = texts[:sentences]
    out = []
    for algorithm in ("bpe", "unigram"):
        config = compose("model=none", "tokenizer=train", f"tokenizer.train.algorithm={algorithm}")
        config.tokenizer.train.vocab_size = 8000
        config.tokenizer.train.dataset.limit = sentences
        runner_s = direct_s = float("inf")
        for _ in range(3):  # interleaved, best of 3
            runner_s = min(runner_s, _train_inside(config))
            direct_s = min(direct_s, _train_directly(algorithm, texts))
        name = f"tokenizer.train ({algorithm}, {sentences:,} sentences): runner vs direct trainer"
        out.append((f"{name} (lower is better)", runner_s, direct_s, 1.1))
    return out


def _train_directly(algorithm: str, texts: list[str]) -> float:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    start = time.perf_counter()
    bpe = algorithm == "bpe"
    tok = Tokenizer(models.BPE(unk_token="[UNK]") if bpe else models.Unigram())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Whitespace() if bpe else pre_tokenizers.Metaspace()
    trainer = (
        trainers.BpeTrainer(vocab_size=8000, min_frequency=2, special_tokens=special)
        if bpe
        else trainers.UnigramTrainer(vocab_size=8000, special_tokens=special, unk_token="[UNK]")
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return time.perf_counter() - start


def _train_inside(config: Any) -> float:
    """The runner's training step, its data already loaded (load times are the data's)."""
    from runner.data import sources
    from runner.engine import pipeline as runner_pipeline
    from runner.engine.result import RunResult

    evaluation = sources.load(config.dataset, 0)
    result = RunResult()
    start = time.perf_counter()
    runner_pipeline.trained_tokenizer(config, runner_pipeline.Cache(), result, evaluation)
    return time.perf_counter() - start - result.metrics.get("time/load_data_s", 0.0)


# In the measured process: the peak of its anonymous memory (the kernel keeps no such peak, so a
# thread samples /proc/self/status every 10 ms), printed after VmHWM.
ANON_SAMPLER = """
import threading, time
anon = [0]
def sample():
    while True:
        for line in open('/proc/self/status'):
            if line.startswith('RssAnon'):
                anon[0] = max(anon[0], int(line.split()[1]))
        time.sleep(0.01)
threading.Thread(target=sample, daemon=True).start()
"""


def peak_rss(tmp: Path, texts: list[str], n: int, *overrides: str) -> float:
    """Peak RSS (MiB) of a whole run of `n` rows (CLI, a text file source) in a fresh process."""
    return peaks(tmp, texts, n, *overrides)[0]


def peaks(tmp: Path, texts: list[str], n: int, *overrides: str) -> tuple[float, float]:
    """(peak RSS, peak anonymous RSS) in MiB of a whole run of `n` rows (CLI, a text file
    source) in a fresh process. RSS also counts the pages of files the process maps — the
    dataset's memory-mapped Arrow file —, which the kernel drops under pressure; anonymous
    memory is what the process itself holds."""
    path = tmp / f"t{n}.txt"
    if not path.exists():
        path.write_text("\n".join(texts[i % len(texts)] for i in range(n)), encoding="utf-8")
    argv = ["runner", *overrides, "dataset.source=text", f"dataset.path={path}"]
    argv.append(f"tracking.uri=sqlite:///{tmp}/mem.db")
    code = (  # cli.main, not the `runner` command: that one leaves before this could print
        f"{ANON_SAMPLER}import sys; from runner.cli import main; sys.argv={argv!r};"
        "\ntry: main()\nexcept SystemExit: pass\n"
        # VmHWM, not ru_maxrss: after fork+exec ru_maxrss still counts the parent's pages
        "print([x.split()[1] for x in open('/proc/self/status') if x.startswith('VmHWM')][0], anon[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True, check=True)
    total, anon = out.stdout.strip().splitlines()[-1].split()
    return float(total) / 1024, float(anon) / 1024


def memory(tmp: Path, texts: list[str], rows: tuple[int, int]) -> list[tuple]:
    """Peak RSS of a whole run (CLI, text file source) at two sizes: tokenization only, and a
    body run of the tiny model (its embeddings go to outputs.npy as they come)."""

    def peak(n: int, *overrides: str) -> float:
        return peak_rss(tmp, texts, n, *overrides)

    small, large = rows
    label = f"{large:,} rows vs {small:,}, MiB (lower is better)"
    out = []
    for kind, overrides in (
        ("tokenization only", ("model=none",)),
        ("body, tiny model", ("model=tiny_bert",)),
    ):
        out.append(
            (f"memory: peak RSS, {kind}, {label}", peak(large, *overrides), peak(small, *overrides), 1.5)
        )
    return out


def scale(tmp: Path, texts: list[str], rows: tuple[int, int]) -> list[tuple]:
    """execution=ray against execution=local on one 2-core machine: the wall time of a whole
    tokenization run (Ray's start and stop included) at the larger size, and the driver's peak
    RSS at two sizes (the same text file, read by the driver)."""

    small, large = rows
    path = tmp / f"scale{large}.txt"
    path.write_text("\n".join(texts[i % len(texts)] for i in range(large)), encoding="utf-8")
    common = ("model=none", "dataset.source=text", f"dataset.path={path}", "tracking.max_logged_examples=10")

    def wall_of(*overrides: str) -> float:
        return _wall(*common, *overrides)

    local_s, ray_s = wall_of(), wall_of("execution=ray")
    name = f"execution=ray vs local, {large:,} rows, 2 workers on this machine, s (lower is better)"
    out = [(name, ray_s, local_s, 1.5)]
    one = wall_of("execution=ray", "execution.num_workers=1")
    out.append(
        (
            f"  context: rows/s of one ray worker (tokenize + every statistic), {large:,} rows",
            large / one,
            1.0,
            None,
        )
    )
    return out + _driver_memory(tmp, texts, rows)


def scale_forward(tmp: Path, texts: list[str], model: str, n: int) -> list[tuple]:
    """A body's forward (the 6-layer, 384-wide BERT) in the workers against the local path, `n`
    rows; the rows/s of one worker doing it, and of one worker analysing 5·n rows with Kiwi
    (whole runs: Ray's start, ~10 s, is in every figure)."""
    common = ("execution=ray", "execution.num_workers=1", "execution.batch_size=512")
    forward = (*_text_file(tmp, texts, n), f"model.name_or_path={model}", "tokenizer.max_length=128")
    local_s, ray_s = _wall(*forward), _wall(*forward, "execution=ray", "execution.batch_size=512")
    one = _wall(*forward, *common)
    kiwi = _wall(*_text_file(tmp, texts, 5 * n), "model=none", "stats.morphemes=kiwi", *common)
    name = f"execution=ray vs local, a body's forward (BERT 6×384), {n:,} rows, s (lower is better)"
    return [
        (name, ray_s, local_s, 1.5),
        (
            f"  context: rows/s of one ray worker (tokenize + statistics + forward), {n:,} rows",
            n / one,
            1.0,
            None,
        ),
        (
            f"  context: rows/s of one ray worker (tokenize + statistics + Kiwi), {5 * n:,} rows",
            5 * n / kiwi,
            1.0,
            None,
        ),
    ]


def _text_file(tmp: Path, texts: list[str], n: int) -> tuple[str, str]:
    """The overrides of a text file of `n` rows (the texts, cycled)."""
    path = tmp / f"rows{n}.txt"
    path.write_text("\n".join(texts[i % len(texts)] for i in range(n)), encoding="utf-8")
    return "dataset.source=text", f"dataset.path={path}"


def _wall(*overrides: str) -> float:
    """The wall time of one whole run (in this process), Ray's start and stop included."""
    from runner.cli import compose
    from runner.engine import pipeline as runner_pipeline

    start = time.perf_counter()
    runner_pipeline.run(compose(*overrides))
    return time.perf_counter() - start


def _driver_memory(tmp: Path, texts: list[str], rows: tuple[int, int]) -> list[tuple]:
    """The driver's peak RSS at two sizes: on the first read of each file (`datasets` builds its
    Arrow cache) and on a second (cached); and its peak anonymous memory."""
    small, large = rows
    ray = ("model=none", "execution=ray")
    first = {n: peaks(tmp, texts, n, *ray) for n in rows}
    again = {n: peaks(tmp, texts, n, *ray) for n in rows}
    label = f"execution=ray, {large:,} rows vs {small:,}, MiB (lower is better)"
    return [
        (f"memory: driver peak RSS, first read, {label}", first[large][0], first[small][0], 1.2),
        (f"memory: driver peak RSS, dataset cached, {label}", again[large][0], again[small][0], 1.2),
        (f"memory: driver peak anonymous memory, first read, {label}", first[large][1], first[small][1], 1.2),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer texts (a smoke run)")
    parser.add_argument("--only", help="one group of figures, e.g. scale")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from runner.engine import job

    job.quiet_libraries()  # library progress bars and INFO lines would bury the table
    texts = klue_sentences()[: 400 if args.quick else None]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sizes = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
        model = build_model(tmp / "bert-6x384")
        forward_rows = 800 if args.quick else 8000
        if args.only == "scale":
            report(scale(tmp, texts, sizes) + scale_forward(tmp, texts, model, forward_rows))
            return
        rows += inference(model, texts, 32)
        rows += tokenization(model, texts, 32)
        rows += statistics(texts[:400] if args.quick else texts)
        rows += training(2000 if args.quick else 5000)
        rows += probe(1000 if args.quick else 3000)
        for n in (10_000,) if args.quick else (100_000, 1_000_000):
            rows += corpus(texts, n)
        rows += startup(tmp)
        rows += startup_floor(tmp)
        rows += sweeps(tmp)
        rows += packed(tmp)
        rows += tracking(tmp)
        rows += memory(tmp, texts, (1_000, 10_000) if args.quick else (100_000, 1_000_000))
        rows += scale(tmp, texts, sizes)
        rows += scale_forward(tmp, texts, model, forward_rows)
    report(rows)


def report(rows: list[tuple]) -> None:
    print(f"\n{'figure':78} {'value':>10} {'baseline':>10} {'ratio':>7} {'target':>7}  met")
    for name, value, baseline, target in rows:
        ratio = value / baseline
        if target is None:  # what zero overhead would reach on this machine: the physical bound
            note = "(bound)" if name.strip().startswith("bound") else "(context)"
            print(f"{name:78} {value:10.3f} {baseline:10.3f} {ratio:7.2f} {'':>7}  {note}")
            continue
        lower = "lower is better" in name
        met = ratio <= target if lower else ratio >= target
        bound = ("≤" if lower else "≥") + str(target)
        print(f"{name:78} {value:10.3f} {baseline:10.3f} {ratio:7.2f} {bound:>7}  {'yes' if met else 'NO'}")
    print(
        f"\nmachine: {os.cpu_count()} cores, {sys.platform}, Python {sys.version.split()[0]}; "
        f"max RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
