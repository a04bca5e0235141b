"""Reading a local file into a Dataset: `datasets`' own builders (csv, json, parquet, text) or any
reader pandas has; a missing path, an empty file, a wrong split or a file that is not UTF-8 each
end in one line naming the key to fix. Reading a loaded Dataset's columns a slice at a time."""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

from runner.config.schema import DatasetConfig
from runner.errors import ConfigError, DataError, first_line

if TYPE_CHECKING:
    from datasets import Dataset


def read(cfg: DatasetConfig) -> Dataset:
    """The file at dataset.path (or dataset.data_files) as a Dataset."""
    path = _existing_path(cfg)
    try:
        if cfg.source == "pandas":
            return _pandas(cfg, path)
        return _files(cfg, path)
    except DataError:
        raise
    except Exception as exc:  # the libraries' own parse errors: explain, name the file
        for one in [path] if isinstance(path, str) else path:
            _raise_if_not_utf8(one)
        shown = path if isinstance(path, str) else f"{len(path)} shards ({path[0]} …)"
        raise DataError(
            "dataset.path",
            f"cannot read {shown} as {cfg.source}: {first_line(exc)}",
            "check the file format and dataset.source",
        ) from exc


FILE_BUILDERS = {
    "csv": "csv",
    "json": "json",
    "parquet": "parquet",
    "text": "text",
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


def _files(cfg: DatasetConfig, path: str | list[str]) -> Dataset:
    from datasets import load_dataset

    data_files = cfg.data_files if cfg.data_files is not None else path
    kwargs = {"field": cfg.field} if cfg.field and cfg.source == "json" else {}
    builder = FILE_BUILDERS[cfg.source]
    try:
        return load_dataset(
            builder, data_files=data_files, split=cfg.split, streaming=cfg.streaming, **kwargs
        )
    except ValueError as exc:
        raise_unknown_split(exc, cfg)
        if "corresponds to no data" in str(exc):
            raise DataError(
                f"dataset.path={path}",
                "holds no rows (empty, or only a header/blank lines)",
                "add rows, or point dataset.path at another file",
            ) from exc
        raise


def _pandas(cfg: DatasetConfig, path: str | list[str]) -> Dataset:
    import pandas as pd
    from datasets import Dataset

    if not isinstance(path, str):
        raise DataError(
            "dataset.source=pandas", "reads one file", "use json, csv, parquet or text for shards"
        )
    suffix = Path(path).suffix.lower()
    reader = getattr(pd, PANDAS_READERS.get(suffix, "read_table"))
    kwargs = dict(cfg.read_kwargs)
    if suffix == ".tsv":
        kwargs.setdefault("sep", "\t")
    if suffix == ".jsonl":
        kwargs.setdefault("lines", True)
    return Dataset.from_pandas(reader(path, **kwargs), preserve_index=False)


def check_path(cfg: DatasetConfig, key: str = "dataset.path") -> None:
    """A local file source whose dataset.path does not exist: one line before any import or run
    (a config mistake, exit 2), not after the libraries have loaded."""
    if cfg.data_files is not None or not cfg.path or any(c in cfg.path for c in "*?["):
        return  # data_files and glob patterns are the builders' to expand
    _missing(cfg.path, key, ConfigError)


def _missing(value: str, key: str, error: type[DataError] | type[ConfigError]) -> Path:
    """The path, or the one line saying it does not exist (as `error`)."""
    path = Path(value).expanduser()
    if not path.exists():
        raise error(
            f"{key}={value}",
            f"no such file ({path.resolve()})",
            "check the path; relative paths start from the directory runner runs in",
        )
    return path


SHARD_SUFFIXES = {  # a folder of shards: the files of the source's kind in it
    "json": (".json", ".jsonl"),
    "csv": (".csv", ".tsv"),
    "parquet": (".parquet",),
    "text": (".txt", ".text"),
}


def _existing_path(cfg: DatasetConfig) -> str | list[str]:
    """dataset.data_files as given, else dataset.path: one file, a glob (`shards/*.jsonl`) or a
    folder of shards, as the sorted list of its files (every shard, every row)."""
    if cfg.data_files is not None:
        return str(cfg.data_files)
    if not cfg.path:
        raise DataError(
            "dataset.path",
            f"is empty but dataset.source={cfg.source} reads a file",
            "set dataset.path to the file",
        )
    if any(c in cfg.path for c in "*?["):
        found = sorted(glob.glob(str(Path(cfg.path).expanduser()), recursive=True))
        if not found:
            raise DataError(f"dataset.path={cfg.path}", "matches no file", "check the pattern")
        return found
    path = _missing(cfg.path, "dataset.path", DataError)
    if path.is_dir():
        return _shards(cfg, path)
    return str(path)


def _shards(cfg: DatasetConfig, folder: Path) -> list[str]:
    suffixes = SHARD_SUFFIXES.get(cfg.source, ())
    found = sorted(str(p) for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not found:
        raise DataError(
            f"dataset.path={cfg.path}",
            f"is a folder with no {cfg.source} shards ({', '.join(suffixes) or 'no known suffix'})",
            "point it at the files, or a folder that holds them",
        )
    return found


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


def raise_unknown_split(exc: Exception, cfg: DatasetConfig) -> None:
    message = str(exc)
    if "split" in message.lower() and ("unknown" in message.lower() or "should be one of" in message):
        raise DataError(
            f"dataset.split={cfg.split}", first_line(exc), "use one of the splits listed"
        ) from exc


class TextColumn(Sequence[str]):
    """A text column read from its dataset a slice at a time, so a corpus is never held as
    Python strings (1M KLUE rows: 136 MB); the last BLOCK_ROWS rows read are kept for indexing."""

    BLOCK_ROWS = 4096

    def __init__(self, ds: Dataset, name: str) -> None:
        self.source, self.name = ds, name
        self.ds = ds.select_columns([name])
        self._block: tuple[int, list[str]] = (0, [])

    def __reduce__(self) -> tuple[type[TextColumn], tuple[Dataset, str]]:
        """Pickled as its dataset and name: where the dataset travels too (a Texts), pickle
        keeps one copy, so unpickling maps its Arrow files once, not once per column."""
        return type(self), (self.source, self.name)

    def __len__(self) -> int:
        return cast("int", self.ds.num_rows)

    @overload
    def __getitem__(self, key: int) -> str: ...
    @overload
    def __getitem__(self, key: slice) -> list[str]: ...
    def __getitem__(self, key: int | slice) -> str | list[str]:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            rows = self.ds[start:stop][self.name] if stop > start else []
            return rows[::step] if step != 1 else rows
        i = key + len(self) if key < 0 else key
        if not 0 <= i < len(self):
            raise IndexError(key)
        first, rows = self._block
        if not first <= i < first + len(rows):
            first = i - i % self.BLOCK_ROWS
            self._block = first, self[first : first + self.BLOCK_ROWS]
        return self._block[1][i - first]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), self.BLOCK_ROWS):
            yield from self[start : start + self.BLOCK_ROWS]


def column(ds: Dataset, name: str) -> list[Any]:
    """One column as a plain list, read 10,000 rows at a time. Not `ds[name][:]`: after a
    filter or shuffle that first copies the whole selected table (1M KLUE rows: +550 MB of
    peak memory for 136 MB of strings); nor row by row (a datasets 4+ Column costs ~80 µs per
    indexed row)."""
    out: list[Any] = []
    for batch in ds.select_columns([name]).iter(batch_size=10_000):
        out.extend(batch[name])
    return out
