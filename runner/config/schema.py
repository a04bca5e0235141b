"""The typed schema of every config group, and the cross-field checks that raise.

Hydra validates YAML and overrides against these dataclasses at compose time (unknown key,
wrong type, unknown enum value). `to_run_config` turns the composed DictConfig into plain typed
objects once, at the edge; nothing past this module reads a DictConfig.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from enum import Enum
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from runner.errors import ConfigError


class DType(Enum):
    auto = "auto"  # what the checkpoint was saved in
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


class PaddingStrategy(Enum):
    longest = "longest"  # pad each batch to its longest example
    max_length = "max_length"  # pad every example to tokenizer.max_length
    do_not_pad = "do_not_pad"  # no padding (forward passes then run one example at a time)


class Side(Enum):
    right = "right"
    left = "left"


class Device(Enum):
    auto = "auto"  # cuda, then mps, then cpu
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Algorithm(Enum):
    """tokenizer.train.algorithm (runner.tokenization.training.RECIPES: one recipe each)."""

    bpe = "bpe"
    byte_bpe = "byte_bpe"  # byte-level, like roberta-base
    wordpiece = "wordpiece"
    unigram = "unigram"


class PreTokenizer(Enum):
    """tokenizer.train.pre_tokenizer: how text is cut into words before the model sees it."""

    auto = "auto"  # the algorithm's usual one
    whitespace = "whitespace"  # words and punctuation
    whitespace_split = "whitespace_split"
    byte_level = "byte_level"
    metaspace = "metaspace"  # ▁ marks spaces, as sentencepiece
    morphemes = "morphemes"  # Kiwi's morpheme cuts inside words, then metaspace
    bert = "bert"
    none = "none"


class Template(Enum):
    """tokenizer.train.template: the special tokens and how a pair is joined."""

    bert = "bert"  # [CLS] A [SEP] B [SEP] with token_type_ids
    roberta = "roberta"  # <s> A </s></s> B </s>


class Normalizer(Enum):
    """The parts tokenizer.train.normalizer joins by + (nfkc+lowercase), checked as the config types."""

    nfc = "nfc"
    nfd = "nfd"  # Hangul into jamo
    nfkc = "nfkc"
    nfkd = "nfkd"
    lowercase = "lowercase"
    strip_accents = "strip_accents"
    bert = "bert"


TRUNCATION_VALUES = ("true", "false", "longest_first", "only_first", "only_second")


@dataclass
class ModelConfig:
    name_or_path: str = MISSING  # local folder or hub id; also the tokenizer's source by default
    revision: str | None = None  # hub branch, tag or commit; null = the default branch
    # none = the body via AutoModel; sequence_classification, token_classification,
    # question_answering, masked_lm: the matching AutoModelFor… class (runner.model.heads.HEADS)
    head: str = "none"
    forward: bool = True  # false = tokenization only: the weights are never loaded (model=none)
    num_labels: int | None = None  # heads only; null = the checkpoint's
    id2label: dict[int, str] | None = None  # heads only; null = the checkpoint's
    problem_type: str | None = None  # e.g. multi_label_classification (sigmoid, not softmax)
    trust_remote_code: bool = False  # run Python code shipped with a hub checkpoint
    dtype: DType = DType.auto  # weights' dtype after loading


# GPT-4's cl100k_base split regex, as tiktoken's tiktoken_ext/openai_public.py gives it
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)


@dataclass
class TiktokenConfig:
    """tokenizer.tiktoken: how to read a `.tiktoken` ranks file given as tokenizer.name_or_path."""

    pattern: str = CL100K_PATTERN  # the split regex applied before the byte-level BPE
    special_tokens: dict[str, int] = _field(default_factory=dict)  # token → its id in the encoding
    eos_token: str | None = None
    pad_token: str | None = None  # tiktoken encodings have none; the runner pads with this one
    model_max_length: int | None = None  # null = no limit


@dataclass
class TrainConfig:
    """tokenizer.train: a tokenizer trained by the run (runner.tokenization.training)."""

    algorithm: Algorithm = Algorithm.bpe
    vocab_size: int = 8000  # an upper bound: the vocabulary reached is tagged
    min_frequency: int = 2  # bpe, wordpiece: merges seen fewer times are not learnt
    normalizer: str = "nfc"  # none, or Normalizer parts joined by + (nfkc+lowercase)
    pre_tokenizer: PreTokenizer = PreTokenizer.auto
    template: Template = Template.bert
    max_length: int = 512  # the trained tokenizer's model_max_length
    # the training texts, declared like the evaluation dataset (any source); null = the run's own
    # dataset, split by holdout: training on the rest, evaluation on the held-out part
    dataset: DatasetConfig | None = None
    holdout: float = 0.2  # with dataset=null: the fraction held out for evaluation (runtime.seed)
    allow_overlap: bool = False  # false: evaluation texts are dropped from training (train/overlap 0)


@dataclass
class TokenizerConfig:
    name_or_path: str | None = None  # null = the model's
    revision: str | None = None  # null = model.revision when the tokenizer is the model's
    max_length: int | None = None  # tokens; null = the tokenizer's model_max_length
    truncation: str = "true"  # true, false, longest_first, only_first, only_second
    add_special_tokens: bool = True  # [CLS]/[SEP] or <s>/</s>
    return_token_type_ids: bool | None = None  # null = the tokenizer's default
    return_attention_mask: bool | None = None  # null = the tokenizer's default
    use_fast: bool = True  # Rust tokenizer; the slow one lacks offsets, so fewer statistics
    train: TrainConfig | None = None  # train one instead of loading it (tokenizer=train)
    tiktoken: TiktokenConfig = _field(default_factory=TiktokenConfig)  # a .tiktoken name_or_path


@dataclass
class PaddingConfig:
    strategy: PaddingStrategy = PaddingStrategy.longest
    pad_to_multiple_of: int | None = None  # round padded length up (8 suits tensor cores)
    side: Side | None = None  # null = the tokenizer's padding side


@dataclass
class DatasetConfig:
    # inline (dataset.texts or dataset.columns), csv, json (lines or an array; dataset.field for a
    # nested list), parquet, text (one example per line), hub (load_dataset), pandas (any file
    # pandas reads): runner.data.sources.SOURCES
    source: str = "inline"
    path: str | None = None  # file path or hub dataset id
    name: str | None = None  # hub configuration name (e.g. mrc for klue)
    split: str = "train"
    revision: str | None = None  # hub dataset revision
    data_files: Any = None  # str, list or {split: files}; default: path
    field: str | None = None  # json: the key holding the list of records
    read_kwargs: dict[str, Any] = _field(default_factory=dict)  # pandas: extra reader arguments
    texts: list[Any] | None = None  # inline: strings, or [text, pair] two-element lists
    columns: dict[str, Any] = _field(default_factory=dict)  # inline: a dict of columns; wins over texts
    text_column: str = "text"  # dotted paths reach nested fields
    text_pair_column: str | None = None
    label_column: str | None = None
    # Columns holding translations of the same text, the first the reference: each is tokenized
    # and parity/<column> = its content tokens / the reference's (Petrov et al. 2023).
    parallel_columns: list[str] | None = None
    limit: int | None = None  # keep the first N rows (after shuffling); null = all
    shuffle: bool = False  # shuffle with runtime.seed before limit
    distinct: bool = False  # keep each text (and pair) once, its first row (not with streaming)
    streaming: bool = False  # hub or files: stream rows; only the `limit` kept rows are materialised


@dataclass
class PredictConfig:
    top_k: int = 3  # labels (or mask fills) kept per example
    threshold: float = 0.5  # multi-label: labels scoring over this are predicted
    max_answer_len: int = 30  # question answering: longest answer span, in tokens


@dataclass
class TrackingConfig:
    uri: str | None = None  # null = MLFLOW_TRACKING_URI, else sqlite under outputs/
    experiment: str = "runner"
    run_name: str | None = None  # null = "<model> · <padding> · <dataset>"
    max_logged_examples: int = 100  # rows of tokens.json / predictions.json


@dataclass
class InvarianceConfig:
    tolerance: float = 1e-4  # largest |output difference| a child may show against the reference
    fail: bool = False  # true: a child over tolerance or with label flips makes the sweep exit 1


@dataclass
class RuntimeConfig:
    device: Device = Device.auto
    batch_size: int = 32
    sort_by_length: bool = True  # batch similar token lengths together; results keep input order
    seed: int = 0


@dataclass
class StatsConfig:
    # the built-in families (docs/statistics.md), each on unless switched off
    counts: bool = True  # tokens/total, …_len, pad_fraction, unk_rate, chars_ and bytes_per_token
    scripts: bool = True  # tokens/fertility, continued_word_ratio, script/<Script>/…
    fidelity: bool = True  # tokens/roundtrip_*, split_char_rate, partial_token_share
    distribution: bool = True  # tokens/shannon_entropy, renyi_efficiency, vocab_used, vocab_utilization
    renyi_alpha: float = 2.5  # order of tokens/renyi_efficiency (Zouhar et al. 2023 use 2.5)
    # decode every example for tokens/roundtrip_* and tokens.json's `roundtrip`: 12–78 % more
    # tokenize time in make bench (docs/performance.md), so on where it is asked for
    # (experiment=bert_vs_roberta turns it on); off, the report says it was not checked
    roundtrip: bool = False
    # kiwi: tokens against Korean morpheme boundaries (runner.tokenization.morphemes; Kiwi reads a
    # few hundred to a few thousand sentences a second, once per dataset and process); none: off
    morphemes: str = "none"


class ProbeKind(Enum):
    none = "none"  # no probe
    bag_of_tokens = "bag_of_tokens"  # L1 logistic regression on counts of each content token
    embedding = "embedding"  # L2 logistic regression on the body's pooled outputs (needs a model)


@dataclass
class ProbeConfig:
    """probe: how well a linear reader predicts the label from the run's tokens or embeddings
    (runner.task; docs/probe.md)."""

    kind: ProbeKind = ProbeKind.none
    label_column: str | None = None  # null = dataset.label_column
    c: float = 0.4  # inverse regularisation strength (Wegmann et al. 2025: 0.4 with L1)
    folds: int = 5  # stratified k-fold, rows that share a text kept in one fold
    seed: int | None = None  # the folds' shuffle and the bootstrap; null = runtime.seed
    pair_cutoff: int = 50  # sentence pairs: the first N content tokens of each side are crossed
    bootstrap: int = 1000  # resamples of the examples for probe/accuracy_low and _high (95 %)
    # examples without a label: drop (counted in probe/dropped_unlabelled) or refuse (exit 2)
    missing_labels: str = "refuse"


@dataclass
class SweepConfig:
    fail_fast: bool = False  # stop the sweep at the first failing job
    skip_finished: bool = False  # skip a job whose resolved config already FINISHED
    # a grid run inside each launched job, in Hydra's sweep syntax (runner.config.packing), e.g.
    # 'sweep.inner="padding=longest,max_length tokenizer.max_length=64,128"'
    inner: str = ""


class Engine(Enum):
    """execution.engine: where one run's data path runs."""

    local = "local"  # in the run's process (the default)
    ray = "ray"  # tokenization and every statistic in Ray Data workers, merged exactly (docs/scale.md)


@dataclass
class ExecutionConfig:
    """execution: one run's data path in this process, or on Ray (docs/scale.md)."""

    engine: Engine = Engine.local
    # ray: null starts a local Ray instance for the run and stops it after; `auto` joins the
    # cluster this machine belongs to; host:port or ray://host:port joins that one
    address: str | None = None
    num_workers: int = 2  # actors, each holding the tokenizer (and Kiwi)
    batch_size: int = 16384  # rows per Ray block (rounded up to whole encoding windows)
    num_gpus: float = 0.0  # per actor, with a model's forward (a fraction shares one GPU)
    # with a model's forward: the folder the workers write their Parquet shards of outputs to,
    # which every node must see; null: the run's own scratch folder (one machine)
    output_dir: str | None = None
    verbose: bool = False  # true: Ray's own messages on the console (else kept in a file)


@dataclass
class RunConfig:
    model: ModelConfig = _field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = _field(default_factory=TokenizerConfig)
    padding: PaddingConfig = _field(default_factory=PaddingConfig)
    dataset: DatasetConfig = _field(default_factory=DatasetConfig)
    predict: PredictConfig = _field(default_factory=PredictConfig)
    tracking: TrackingConfig = _field(default_factory=TrackingConfig)
    runtime: RuntimeConfig = _field(default_factory=RuntimeConfig)
    sweep: SweepConfig = _field(default_factory=SweepConfig)
    invariance: InvarianceConfig = _field(default_factory=InvarianceConfig)  # checked at a sweep's end
    stats: StatsConfig = _field(default_factory=StatsConfig)
    probe: ProbeConfig = _field(default_factory=ProbeConfig)
    execution: ExecutionConfig = _field(default_factory=ExecutionConfig)


def register() -> None:
    """Store the schema in Hydra's ConfigStore as `run_schema` (conf/config.yaml extends it),
    with a `stats.<name>` switch for every statistic an installed package declares."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="run_schema", node=RunConfig(stats=with_switches()))


def with_switches() -> StatsConfig:
    """StatsConfig plus a `stats.<name>` switch (on by default) for each statistic installed
    packages declare as an entry point (group runner.statistics: names only, nothing loaded), so
    that `stats.<name>=false` turns one off as it turns off a built-in family."""
    import dataclasses
    from importlib.metadata import entry_points

    taken = {f.name for f in dataclasses.fields(StatsConfig)}
    names = sorted({p.name for p in entry_points(group="runner.statistics")} - taken)
    if not names:
        return StatsConfig()
    fields = [(n, bool, dataclasses.field(default=True)) for n in names]
    made: StatsConfig = dataclasses.make_dataclass("StatsConfig", fields, bases=(StatsConfig,))()
    return made


def switched_on(stats: StatsConfig, name: str) -> bool:
    """Whether `stats.<name>` leaves a registered statistic on (one without a switch always is)."""
    import dataclasses

    value = {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)}.get(name, True)
    return value is not False


def to_run_config(cfg: DictConfig) -> RunConfig:
    """Resolve the composed config into typed objects and apply the cross-field checks."""
    run: RunConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    run.tokenizer.truncation = str(run.tokenizer.truncation).lower()  # `True` from YAML reads as true
    check(run)
    return run


def normalizer_parts(value: str | None) -> list[Normalizer]:
    """tokenizer.train.normalizer's parts (`nfkc+lowercase`), each a Normalizer; one line naming
    the key for a part that is none."""
    parts = [p for p in (value or "none").lower().split("+") if p and p != "none"]
    known = {n.value: n for n in Normalizer}
    for part in parts:
        if part not in known:
            raise ConfigError(
                "tokenizer.train.normalizer",
                f"'{part}' is not a normalizer",
                f"use none or one or more of {', '.join(known)} joined by + (e.g. nfkc+lowercase)",
            )
    return [known[p] for p in parts]


def _positive(key: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise ConfigError(key, f"{value} must be a positive integer", f"set {key} to 1 or more")


def check(run: RunConfig) -> None:
    """Cross-field rules that a single field's type cannot express (the config is read, never changed)."""
    tok, pad = run.tokenizer, run.padding
    _positive("runtime.batch_size", run.runtime.batch_size)
    _positive("tokenizer.max_length", tok.max_length)
    _positive("padding.pad_to_multiple_of", pad.pad_to_multiple_of)
    _positive("dataset.limit", run.dataset.limit)
    _positive("predict.top_k", run.predict.top_k)
    _positive("tracking.max_logged_examples", run.tracking.max_logged_examples)
    _positive("execution.num_workers", run.execution.num_workers)
    _positive("execution.batch_size", run.execution.batch_size)
    if run.execution.num_gpus < 0:
        raise ConfigError(
            "execution.num_gpus", f"{run.execution.num_gpus} is below 0", "use 0, a fraction or 1"
        )
    if tok.train is not None:
        normalizer_parts(tok.train.normalizer)
    alpha = run.stats.renyi_alpha
    if alpha <= 0 or alpha == 1:
        raise ConfigError(
            "stats.renyi_alpha",
            f"{alpha} is not a Rényi order (> 0 and not 1)",
            "use e.g. stats.renyi_alpha=2.5 (tokens/shannon_entropy is the order-1 case)",
        )
    if run.stats.morphemes not in ("none", "kiwi"):
        raise ConfigError(
            "stats.morphemes", f"'{run.stats.morphemes}' is not an analyser", "use kiwi (Korean) or none"
        )
    if tok.truncation not in TRUNCATION_VALUES:
        raise ConfigError(
            "tokenizer.truncation",
            f"'{tok.truncation}' is not one of {', '.join(TRUNCATION_VALUES)}",
            "pick one of those",
        )
    if pad.strategy is PaddingStrategy.max_length and tok.max_length is None:
        raise ConfigError(
            "padding.strategy",
            "max_length needs a length to pad to",
            "also set tokenizer.max_length (e.g. tokenizer.max_length=128)",
        )
    _check_train(run)
    _check_probe(run)
    parallel = run.dataset.parallel_columns
    if parallel is not None and (len(parallel) < 2 or run.dataset.text_pair_column):
        raise ConfigError(
            "dataset.parallel_columns",
            f"{list(parallel)} needs two or more columns and no dataset.text_pair_column",
            "list the reference column first, then its translations: [eng, kor, ...]",
        )
    if run.model.id2label is not None and run.model.num_labels is not None:
        if len(run.model.id2label) != run.model.num_labels:
            raise ConfigError(
                "model.id2label",
                f"has {len(run.model.id2label)} labels but model.num_labels is {run.model.num_labels}",
                "make them agree or drop model.num_labels",
            )


def probe_label_column(run: RunConfig) -> str | None:
    """The column the probe predicts: probe.label_column, else dataset.label_column."""
    return run.probe.label_column or run.dataset.label_column


def _check_probe(run: RunConfig) -> None:
    """A probe needs a label column, folds to split by, and a model for the embedding probe."""
    probe = run.probe
    if probe.kind is ProbeKind.none:
        return
    kind = probe.kind.value
    if probe_label_column(run) is None:
        raise ConfigError(
            "probe.label_column",
            f"probe={kind} has no label to predict",
            "set dataset.label_column (or probe.label_column) to the column holding the labels",
        )
    if probe.label_column and run.dataset.label_column and probe.label_column != run.dataset.label_column:
        raise ConfigError(
            "probe.label_column",
            f"'{probe.label_column}' differs from dataset.label_column '{run.dataset.label_column}'",
            "set one of them",
        )
    if probe.folds < 2:
        raise ConfigError("probe.folds", f"{probe.folds} folds cannot test", "use 2 or more (default 5)")
    if probe.c <= 0:
        raise ConfigError("probe.c", f"{probe.c} is not a regularisation strength", "use e.g. probe.c=0.4")
    if probe.pair_cutoff < 1 or probe.bootstrap < 1:
        key = "probe.pair_cutoff" if probe.pair_cutoff < 1 else "probe.bootstrap"
        raise ConfigError(key, "must be 1 or more", f"set {key} to a positive integer")
    if probe.missing_labels not in ("drop", "refuse"):
        raise ConfigError(
            "probe.missing_labels", f"'{probe.missing_labels}' is not a policy", "use drop or refuse"
        )
    if run.dataset.parallel_columns:
        raise ConfigError(
            "probe", "parallel data has no task to probe", "drop probe or dataset.parallel_columns"
        )
    if probe.kind is ProbeKind.embedding and not run.model.forward:
        raise ConfigError(
            "probe",
            "embedding reads the model's pooled outputs, and model=none runs none",
            "pick a body (e.g. model=tiny_bert), or probe=bag_of_tokens",
        )


def _check_train(run: RunConfig) -> None:
    """A trained tokenizer is the run's tokenizer: no checkpoint's, and no model to feed its ids."""
    if run.tokenizer.train is None:
        return
    if run.tokenizer.name_or_path:
        raise ConfigError(
            "tokenizer.train",
            f"set together with tokenizer.name_or_path={run.tokenizer.name_or_path}",
            "train one (tokenizer=train) or load one (tokenizer.name_or_path), not both",
        )
    if run.model.forward:
        raise ConfigError(
            "tokenizer.train",
            f"a trained tokenizer's ids mean nothing to the model {run.model.name_or_path}",
            "add model=none (tokenization only)",
        )
    if not run.tokenizer.use_fast:
        raise ConfigError(
            "tokenizer.use_fast", "false with tokenizer.train", "a trained tokenizer is a fast one: drop it"
        )
