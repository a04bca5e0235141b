"""Loading the texts (and pairs, labels) from every source the `datasets` library offers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import hub
from runner.errors import DataError, first_line
from runner.schema import DatasetConfig, Source

log = logging.getLogger(__name__)

FILE_BUILDERS = {
    Source.csv: "csv",
    Source.json: "json",
    Source.parquet: "parquet",
    Source.text: "text",
}
PANDAS_READERS = {
    ".csv": "read_csv",
    ".tsv": "read_csv",
    ".json": "read_json",
    ".jsonl": "read_json",
    ".parquet": "read_parquet",
    ".xlsx": "read_excel",
    ".xls": "read_excel",
    ".feather": "read_feather",
}


@dataclass
class Texts:
    """The examples a run sees, in input order, plus what lineage needs to name them."""

    texts: list[str]  # for parallel data: the reference column
    pairs: list[str] | None
    labels: list[Any] | None
    dataset: Any  # the datasets.Dataset of exactly these rows (for MLflow lineage)
    rows_read: int
    dropped_empty: int
    lineage: dict[str, str] = field(default_factory=dict)
    parallel: dict[str, list[str]] | None = None  # dataset.parallel_columns: column → texts

    def __len__(self) -> int:
        return len(self.texts)


def load(cfg: DatasetConfig, seed: int) -> Texts:
    """Load, select columns, drop empty texts, shuffle and limit, as the config says."""
    from datasets import IterableDataset

    ds = _read(cfg)
    if isinstance(ds, IterableDataset):  # dataset.streaming: only the kept rows are materialised
        ds, rows_read, dropped = _stream(ds, cfg, seed)
        ds = _columns(ds, cfg)
    else:
        rows_read = ds.num_rows
        ds = _columns(ds, cfg)
        if cfg.shuffle:
            ds = ds.shuffle(seed=seed)
        ds, dropped = _drop_empty(ds, cfg)
        if cfg.limit is not None and ds.num_rows > cfg.limit:
            ds = ds.select(range(cfg.limit))
    if ds.num_rows == 0:
        raise DataError(
            f"dataset.text_column={cfg.text_column}",
            f"no non-empty texts left ({rows_read} rows read, {dropped} empty)",
            "point dataset.text_column at a column holding text, or use another file/split",
        )
    # ds[column] is a lazy Column in datasets 4+: indexing it row by row costs ~80 µs per row;
    # [:] materialises a plain list in one pass.
    parallel = {c: ds[c][:] for c in cfg.parallel_columns} if cfg.parallel_columns else None
    texts = parallel[cfg.parallel_columns[0]] if parallel else ds[cfg.text_column][:]
    pairs = ds[cfg.text_pair_column][:] if cfg.text_pair_column else None
    labels = ds[cfg.label_column][:] if cfg.label_column else None
    lineage = {
        k: str(v)
        for k, v in dict(
            source=cfg.source.value,
            path=cfg.path,
            name=cfg.name,
            split=cfg.split,
            revision=cfg.revision,
        ).items()
        if v is not None
    }
    return Texts(texts, pairs, labels, ds, rows_read, dropped, lineage, parallel)


def _read(cfg: DatasetConfig):
    if cfg.source is Source.inline:
        return _inline(cfg)
    if cfg.source is Source.hub:
        return _hub(cfg)
    path = _existing_path(cfg)
    try:
        if cfg.source is Source.pandas:
            return _pandas(cfg, path)
        return _files(cfg, path)
    except DataError:
        raise
    except Exception as exc:  # the libraries' own parse errors: explain, name the file
        _raise_if_not_utf8(path)
        raise DataError(
            "dataset.path",
            f"cannot read {path} as {cfg.source.value}: {first_line(exc)}",
            "check the file format and dataset.source",
        ) from exc


def _inline(cfg: DatasetConfig):
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


def _hub(cfg: DatasetConfig):
    from datasets import load_dataset

    if not cfg.path:
        raise DataError("dataset.path", "is empty", "set it to a hub dataset id, e.g. klue")
    try:
        ds = load_dataset(cfg.path, cfg.name, split=cfg.split, revision=cfg.revision, streaming=cfg.streaming)
    except ValueError as exc:
        _raise_unknown_split(exc, cfg)
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


def _stream(ds, cfg: DatasetConfig, seed: int):
    """A streamed split, as `load` treats a downloaded one: shuffled once with runtime.seed,
    empty texts dropped, then the first `limit` kept rows (limit counts kept rows in both modes)."""
    from datasets import Dataset

    if cfg.shuffle:
        ds = ds.shuffle(seed=seed, buffer_size=10_000)
    columns = [c for _, c in text_columns(cfg) if c]
    kept, dropped = [], 0
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


def _files(cfg: DatasetConfig, path: str):
    from datasets import load_dataset

    data_files = cfg.data_files if cfg.data_files is not None else path
    kwargs = {"field": cfg.field} if cfg.field and cfg.source is Source.json else {}
    builder = FILE_BUILDERS[cfg.source]
    try:
        return load_dataset(
            builder, data_files=data_files, split=cfg.split, streaming=cfg.streaming, **kwargs
        )
    except ValueError as exc:
        _raise_unknown_split(exc, cfg)
        if "corresponds to no data" in str(exc):
            raise DataError(
                f"dataset.path={path}",
                "holds no rows (empty, or only a header/blank lines)",
                "add rows, or point dataset.path at another file",
            ) from exc
        raise


def _pandas(cfg: DatasetConfig, path: str):
    import pandas as pd
    from datasets import Dataset

    suffix = Path(path).suffix.lower()
    reader = getattr(pd, PANDAS_READERS.get(suffix, "read_table"))
    kwargs = dict(cfg.read_kwargs)
    if suffix == ".tsv":
        kwargs.setdefault("sep", "\t")
    if suffix == ".jsonl":
        kwargs.setdefault("lines", True)
    return Dataset.from_pandas(reader(path, **kwargs), preserve_index=False)


def text_columns(cfg: DatasetConfig) -> list[tuple[str, str]]:
    """(config key, column) of every text column the run reads."""
    if cfg.parallel_columns:
        return [("dataset.parallel_columns", c) for c in cfg.parallel_columns]
    return [("dataset.text_column", cfg.text_column), ("dataset.text_pair_column", cfg.text_pair_column)]


def _columns(ds, cfg: DatasetConfig):
    keyed = [*text_columns(cfg), ("dataset.label_column", cfg.label_column)]
    wanted = [c for _, c in keyed if c]
    if any("." in c and c not in ds.column_names for c in wanted):
        ds = ds.flatten()  # struct fields become dotted columns: labels.label
    for key, column in keyed:
        if column and column not in ds.column_names:
            raise DataError(f"{key}={column}", "no such column", f"use one of: {', '.join(ds.column_names)}")
    return ds.select_columns(wanted)


def _drop_empty(ds, cfg: DatasetConfig):
    columns = [c for _, c in text_columns(cfg) if c]

    def keep(batch: dict[str, list]) -> list[bool]:
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


def _existing_path(cfg: DatasetConfig) -> str:
    if cfg.data_files is not None:
        return str(cfg.data_files)
    if not cfg.path:
        raise DataError(
            "dataset.path",
            f"is empty but dataset.source={cfg.source.value} reads a file",
            "set dataset.path to the file",
        )
    path = Path(cfg.path).expanduser()
    if not path.exists():
        raise DataError(
            f"dataset.path={cfg.path}",
            f"no such file ({path.resolve()})",
            "check the path; relative paths start from the directory runner runs in",
        )
    return str(path)


def _raise_if_not_utf8(path: str) -> None:
    p = Path(path)
    if not p.is_file() or p.suffix.lower() in (".parquet", ".xlsx", ".xls", ".feather"):
        return
    with open(p, "rb") as f:
        offset = 0
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.start < len(chunk) - 4:  # not just a character cut by the chunk edge
                    raise DataError(
                        f"dataset.path={path}",
                        f"is not valid UTF-8 (byte 0x{chunk[exc.start]:02x} at offset {offset + exc.start})",
                        "re-save it as UTF-8, e.g. iconv -f cp949 -t utf-8",
                    ) from None
            offset += len(chunk)


def _raise_unknown_split(exc: Exception, cfg: DatasetConfig) -> None:
    message = str(exc)
    if "split" in message.lower() and ("unknown" in message.lower() or "should be one of" in message):
        raise DataError(
            f"dataset.split={cfg.split}", first_line(exc), "use one of the splits listed"
        ) from exc
