"""Per-example model outputs spooled to disk as batches produce them, in input order, so a run's
memory does not grow with its dataset. The result is `outputs.npy` (one row per example: a
body's pooled embedding, sequence-classification logits) or `outputs.npz` (`values` and
`offsets`: example i owns rows offsets[i]:offsets[i+1] — per-token and per-mask outputs).

Under execution=ray each worker spools its block of examples (from input position `start` on)
and writes it as one Parquet shard (`part-<start>.parquet`: `index`, `rows` and the example's
flattened `values`); `load` reads a folder of shards as one (values, offsets) in input order."""

from __future__ import annotations

import json
import zipfile
from array import array
from pathlib import Path

import numpy as np

COPY_ROWS = 65_536  # rows copied from the spool per step when the file is finished
TAIL = b"runner.tail"  # a shard's schema metadata: the dims after the row dim (JSON)


class OutputSpool:
    """Takes each example's [rows, ...] float32 output in any order within a window (sorted
    batches) and appends them to a raw file in input order; holds only the out-of-order ones."""

    def __init__(self, folder: Path, start: int = 0) -> None:
        self.folder = folder
        self.start = start  # the input position of the first example (an execution=ray block's)
        self.raw = folder / "values.f32"
        self._file = self.raw.open("wb")
        self.offsets = array("q", [0])
        self.pending: dict[int, np.ndarray] = {}
        self.tail: tuple[int, ...] | None = None  # the dims after the row dim, equal for all

    def add(self, index: int, value: np.ndarray) -> None:
        value = np.ascontiguousarray(value, dtype=np.float32)
        if self.tail is None:
            self.tail = value.shape[1:]
        self.pending[index] = value
        while (n := self.start + len(self.offsets) - 1) in self.pending:
            done = self.pending.pop(n)
            self._file.write(done.tobytes())
            self.offsets.append(self.offsets[-1] + len(done))

    def finish(self) -> Path | None:
        """Write outputs.npy (one row per example) or outputs.npz; None when nothing came."""
        offsets = self._closed()
        if offsets is None:
            return None
        if (np.diff(offsets) == 1).all():
            path = self.folder / "outputs.npy"
            self._values(path)
        else:
            path = self.folder / "outputs.npz"
            values = self._values(self.folder / "values.npy")
            np.save(self.folder / "offsets.npy", offsets)
            with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:  # np.savez's layout
                z.write(values, "values.npy")
                z.write(self.folder / "offsets.npy", "offsets.npy")
        self.raw.unlink()
        return path

    def shard(self, folder: Path) -> Path | None:
        """This block's outputs as one Parquet shard in `folder` (part-<start>.parquet, so that
        the names sort in input order); None when nothing came."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        offsets = self._closed()
        if offsets is None or self.tail is None:
            return None
        width = int(np.prod(self.tail, dtype=np.int64))
        flat = pa.array(np.fromfile(self.raw, dtype=np.float32), pa.float32())
        rows = np.diff(offsets)
        table = pa.table(
            {
                "index": np.arange(self.start, self.start + len(rows), dtype=np.int64),
                "rows": rows,
                "values": pa.LargeListArray.from_arrays(pa.array(offsets * width), flat),
            }
        ).replace_schema_metadata({TAIL: json.dumps(list(self.tail)).encode()})
        path = folder / f"part-{self.start:012d}.parquet"
        pq.write_table(table, path)
        self.raw.unlink()
        return path

    def _closed(self) -> np.ndarray | None:
        """The spool closed: each example's first row (and the end), or None when nothing came."""
        self._file.close()
        if self.tail is None:
            return None
        if self.pending:
            raise RuntimeError(f"outputs of {len(self.pending)} examples arrived without those before them")
        return np.frombuffer(self.offsets, dtype=np.int64)

    def _values(self, path: Path) -> Path:
        """The spooled rows as one .npy array [rows, *tail], copied a slice at a time."""
        rows, tail = int(self.offsets[-1]), self.tail or ()
        if rows == 0:  # e.g. masked LM over texts without a mask token; mmap cannot map 0 bytes
            np.save(path, np.zeros((0, *tail), dtype=np.float32))
            return path
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, *tail))
        flat, width = out.reshape(rows, -1), int(np.prod(tail, dtype=np.int64))
        for start in range(0, rows, COPY_ROWS):
            n = min(COPY_ROWS, rows - start)
            flat[start : start + n] = np.fromfile(
                self.raw, dtype=np.float32, count=n * width, offset=start * width * 4
            ).reshape(n, width)
        out.flush()
        del out, flat
        return path


def load(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets) of an outputs.npy, an outputs.npz or a folder of Parquet shards."""
    if Path(path).is_dir():
        return _shards(sorted(Path(path).glob("part-*.parquet")))
    if str(path).endswith(".npz"):
        with np.load(path) as z:
            return z["values"], z["offsets"]
    values = np.load(path)
    return values, np.arange(len(values) + 1)


def _shards(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """The shards' examples, one after another: (values [rows, *tail], offsets)."""
    import pyarrow.parquet as pq

    values, counts, tail = [], [np.zeros(1, np.int64)], None
    for path in paths:
        table = pq.read_table(path)
        tail = tuple(json.loads((table.schema.metadata or {})[TAIL]))
        values.append(table.column("values").combine_chunks().flatten().to_numpy())
        counts.append(table.column("rows").to_numpy())
    if tail is None:
        raise FileNotFoundError("no part-*.parquet shard of model outputs")
    offsets = np.cumsum(np.concatenate(counts))
    return np.concatenate(values).reshape(-1, *tail), offsets
