"""Loading the texts (and pairs, labels) from every source the `datasets` library offers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner import errors, hub
from runner.config.schema import DatasetConfig
from runner.data import data_files
from runner.errors import ConfigError, DataError, first_line
from runner.registry import Registry

if TYPE_CHECKING:
    from datasets import Dataset

log = logging.getLogger(__name__)


@dataclass
class Texts:
    """The examples a run sees, in input order, plus what lineage needs to name them."""

    texts: Sequence[str]  # a TextColumn, a list for inline data; parallel data: the reference column
    pairs: Sequence[str] | None
    labels: list[Any] | None
    dataset: Any  # the datasets.Dataset of exactly these rows (for MLflow lineage)
    rows_read: int
    dropped_empty: int
    lineage: dict[str, str] = field(default_factory=dict)
    parallel: dict[str, list[str]] | None = None  # dataset.parallel_columns: column → texts
    digest: str | None = None  # the rows' sha256 (runner.tokenization.fingerprints), where the reader made it

    def select(self, indices: Sequence[int], part: str) -> Texts:
        """These examples only, in this order (a held-out part of the dataset), lineage saying so."""

        def pick(values: Sequence[Any] | None) -> list[Any] | None:
            return None if values is None else [values[i] for i in indices]

        parallel = {c: pick(v) or [] for c, v in self.parallel.items()} if self.parallel else None
        return Texts(
            pick(self.texts) or [],
            pick(self.pairs),
            pick(self.labels),
            self.dataset.select(indices),
            self.rows_read,
            self.dropped_empty,
            {**self.lineage, "part": part},
            parallel,
        )

    def strings(self) -> list[str]:
        """Every text of the examples, a pair's second text too (what a tokenizer trains on)."""
        if self.parallel:
            return [t for column in self.parallel.values() for t in column]
        return [*self.texts, *(self.pairs or [])]

    def __len__(self) -> int:
        return len(self.texts)


def load(cfg: DatasetConfig, seed: int, reachable: Callable[[], bool] | None = None) -> Texts:
    """Load, select columns, drop empty texts, shuffle and limit, as the config says."""
    from datasets import IterableDataset

    ds = _read(cfg, reachable or hub.Probe())
    if isinstance(ds, IterableDataset):  # dataset.streaming: only the kept rows are materialised
        ds, rows_read, dropped = _stream(ds, cfg, seed)
        ds = _columns(ds, cfg)
    else:
        rows_read = ds.num_rows
        ds = _columns(ds, cfg)
        if cfg.shuffle:
            ds = ds.shuffle(seed=seed)
        ds, dropped = _drop_empty(ds, cfg)
        ds = _distinct(ds, cfg)
        if cfg.limit is not None and ds.num_rows > cfg.limit:
            ds = ds.select(range(cfg.limit))
    if ds.num_rows == 0:
        raise DataError(
            f"dataset.text_column={cfg.text_column}",
            f"no non-empty texts left ({rows_read} rows read, {dropped} empty)",
            "point dataset.text_column at a column holding text, or use another file/split",
        )
    parallel = {c: data_files.column(ds, c) for c in cfg.parallel_columns} if cfg.parallel_columns else None
    texts: Sequence[str] = next(iter(parallel.values())) if parallel else _texts(ds, cfg.text_column, cfg)
    pairs = _texts(ds, cfg.text_pair_column, cfg) if cfg.text_pair_column else None
    labels = data_files.column(ds, cfg.label_column) if cfg.label_column else None
    lineage = {
        k: str(v)
        for k, v in dict(
            source=cfg.source,
            path=cfg.path,
            name=cfg.name,
            split=cfg.split,
            revision=cfg.revision,
        ).items()
        if v is not None
    }
    return Texts(texts, pairs, labels, ds, rows_read, dropped, lineage, parallel)


def _texts(ds: Dataset, name: str, cfg: DatasetConfig) -> Sequence[str]:
    """Inline data is in memory already: a list; any other source is read as the run goes."""
    return data_files.column(ds, name) if cfg.source == "inline" else data_files.TextColumn(ds, name)


def _read(cfg: DatasetConfig, reachable: Callable[[], bool]) -> Dataset:
    return check(cfg.source)(cfg, reachable)


def _inline(cfg: DatasetConfig, reachable: Callable[[], bool]) -> Dataset:
    from datasets import Dataset

    if cfg.columns:
        try:
            return Dataset.from_dict(dict(cfg.columns))
        except Exception as exc:
            raise DataError("dataset.columns", first_line(exc), "give a dict of equally long lists") from exc
    items = list(cfg.texts or [])
    if not items:
        raise DataError("dataset.texts", "is empty", "list at least one text (or use dataset.columns)")
    is_pair = [isinstance(x, (list, tuple)) for x in items]
    if any(is_pair) and not all(is_pair):
        raise DataError(
            "dataset.texts",
            "mixes single texts and [text, pair] lists",
            "make every item a string, or every item a two-element list",
        )
    if all(is_pair):
        if any(len(x) != 2 for x in items):
            raise DataError(
                "dataset.texts",
                "a pair item has not exactly two elements",
                "write each pair as [text, text_pair]",
            )
        cfg.text_column, cfg.text_pair_column = "text", "text_pair"
        return Dataset.from_dict(
            {"text": [str(a) for a, _ in items], "text_pair": [str(b) for _, b in items]}
        )
    cfg.text_column = "text"
    return Dataset.from_dict({"text": [str(x) for x in items]})


def _hub(cfg: DatasetConfig, reachable: Callable[[], bool]) -> Dataset:
    from datasets import load_dataset

    if not cfg.path:
        raise DataError("dataset.path", "is empty", "set it to a hub dataset id, e.g. klue")
    if not hub.offline(datasets=True) and not reachable():  # one probe, as for hub models
        raise DataError(
            f"dataset.path={cfg.path}",
            f"the hub ({hub.endpoint()}) cannot be reached",
            "set HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 to load it from the local cache, or load "
            "a local copy with dataset.source=json/csv/parquet",
        )
    try:
        ds = load_dataset(cfg.path, cfg.name, split=cfg.split, revision=cfg.revision, streaming=cfg.streaming)
    except ValueError as exc:
        data_files.raise_unknown_split(exc, cfg)
        raise DataError("dataset.path", first_line(exc), "check dataset.path and dataset.name") from exc
    except Exception as exc:
        if hub.offline(datasets=True):
            raise DataError(
                f"dataset.path={cfg.path}",
                "is not in the local cache and the hub is offline (HF_HUB_OFFLINE/"
                "HF_DATASETS_OFFLINE is set)",
                "unset the offline flags with network access, or load a local copy "
                "with dataset.source=json/csv/parquet",
            ) from exc
        raise DataError(
            f"dataset.path={cfg.path}",
            f"cannot load from the hub: {first_line(exc)}",
            "check the id, dataset.name and your network",
        ) from exc
    return ds


def _stream(ds: Any, cfg: DatasetConfig, seed: int) -> tuple[Dataset, int, int]:
    """A streamed split, as `load` treats a downloaded one: shuffled once with runtime.seed,
    empty texts dropped, then the first `limit` kept rows (limit counts kept rows in both modes)."""
    from datasets import Dataset

    if cfg.shuffle:
        ds = ds.shuffle(seed=seed, buffer_size=10_000)
    columns = [c for _, c in text_columns(cfg) if c]
    kept: list[dict[str, Any]] = []
    dropped = 0
    for row in ds:
        if cfg.limit is not None and len(kept) >= cfg.limit:
            break
        if all(isinstance(row.get(c), str) and row[c].strip() for c in columns):
            kept.append(row)
        else:
            dropped += 1
    if not kept:
        raise DataError(
            f"dataset.text_column={cfg.text_column}",
            f"no non-empty texts in the stream ({dropped} empty)",
            "point dataset.text_column at a column holding text, or use another file/split",
        )
    return Dataset.from_list(kept), len(kept) + dropped, dropped


def text_columns(cfg: DatasetConfig) -> list[tuple[str, str | None]]:
    """(config key, column) of every text column the run reads."""
    if cfg.parallel_columns:
        return [("dataset.parallel_columns", c) for c in cfg.parallel_columns]
    return [("dataset.text_column", cfg.text_column), ("dataset.text_pair_column", cfg.text_pair_column)]


def _columns(ds: Dataset, cfg: DatasetConfig) -> Dataset:
    keyed = [*text_columns(cfg), ("dataset.label_column", cfg.label_column)]
    wanted = [c for _, c in keyed if c]
    if any("." in c and c not in ds.column_names for c in wanted):
        ds = ds.flatten()  # struct fields become dotted columns: labels.label
    for key, column in keyed:
        if column and column not in ds.column_names:
            options = ", ".join(errors.pasteable(key, c) for c in ds.column_names)
            raise DataError(f"{key}={column}", "no such column", f"use one of: {options}")
    return ds.select_columns(wanted)


def _drop_empty(ds: Dataset, cfg: DatasetConfig) -> tuple[Dataset, int]:
    columns = [c for _, c in text_columns(cfg) if c]

    def keep(batch: dict[str, list[Any]]) -> list[bool]:
        return [
            all(isinstance(v, str) and v.strip() for v in values)
            for values in zip(*(batch[c] for c in columns), strict=True)
        ]

    before = ds.num_rows
    kept = ds.filter(keep, batched=True, batch_size=10_000, keep_in_memory=True)
    dropped = before - kept.num_rows
    if dropped:
        log.info("dropped %d empty or whitespace-only texts", dropped)
    return kept, dropped


def _distinct(ds: Dataset, cfg: DatasetConfig) -> Dataset:
    """dataset.distinct: each text (with its pair) once, its first row kept."""
    if not cfg.distinct:
        return ds
    columns = [c for _, c in text_columns(cfg) if c]
    seen: set[tuple[str, ...]] = set()

    def first(row: dict[str, Any]) -> bool:
        k = tuple(row[c] for c in columns)
        if k in seen:
            return False
        seen.add(k)
        return True

    return ds.filter(first, keep_in_memory=True)


def _file(cfg: DatasetConfig, reachable: Callable[[], bool]) -> Dataset:
    return data_files.read(cfg)


Loader = Callable[[DatasetConfig, Callable[[], bool]], "Dataset"]
# dataset.source → its loader: the config in, a datasets.Dataset (or IterableDataset) out. The
# second argument asks whether the hub answers (probed once per Session). Adding a source is one
# entry and its function (docs: "Adding a head or a data source").
SOURCES: Registry[Loader] = Registry(
    "runner.sources",
    "source",
    {
        "inline": _inline,
        "csv": _file,
        "json": _file,
        "parquet": _file,
        "text": _file,
        "pandas": _file,
        "hub": _hub,
    },
)
register_source = SOURCES.register


def check(source: str) -> Loader:
    """The registered loader for `dataset.source`, or one line naming the key and the sources."""
    if source not in SOURCES:
        raise ConfigError(
            "dataset.source", f"'{source}' is not a source", f"use one of: {', '.join(SOURCES)}"
        )
    return SOURCES[source]


def check_path(cfg: DatasetConfig, key: str = "dataset.path") -> None:
    """A local file source's path exists (checked before anything loads)."""
    if SOURCES.get(cfg.source) is _file:
        data_files.check_path(cfg, key)
