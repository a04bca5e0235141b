"""What a run produced, as plain data, and the helpers that fill it while the run goes: step
timers and the library warnings it raised."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import numpy as np

from runner.data import sources

Row: TypeAlias = dict[str, object]  # one row of tokens.json or predictions.json: column → JSON-able value
Hashes: TypeAlias = "np.ndarray[tuple[int, ...], np.dtype[np.uint64]]"


@dataclass
class RunResult:
    """Everything a run produced, as plain data (no tensors, no library objects but `texts`)."""

    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    token_rows: list[Row] = field(default_factory=list)
    prediction_rows: list[Row] = field(default_factory=list)
    shapes: dict[str, object] | None = None
    outputs: Path | None = None  # outputs.npy / outputs.npz (runner.model.outputs) in scratch()
    token_hashes: Hashes | None = None  # per example: a hash of its non-pad token ids (uint64)
    model_config: dict[str, object] | None = None
    missing_keys: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    texts: sources.Texts | None = None
    trained: Path | None = None  # tokenizer.train: the trained tokenizer's files (the tokenizer/ artifact)
    train_texts: sources.Texts | None = None  # tokenizer.train: what it was trained on (lineage)
    probe: dict[str, object] | None = None  # probe=…: per-class F1, confusion matrix, folds (probe.json)
    _scratch: Path | None = field(default=None, repr=False)

    def scratch(self) -> Path:
        """A folder for the files the run writes before they are logged (outputs.npy); it is
        removed when this result is garbage-collected."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="runner-"))
            weakref.finalize(self, shutil.rmtree, self._scratch, ignore_errors=True)
        return self._scratch


def index_of(row: Row) -> int:
    """A row's example index (every row of tokens.json and predictions.json has one)."""
    index = row["index"]
    if not isinstance(index, int):
        raise TypeError(f"a row's index is {index!r}, not an example number")
    return index


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
