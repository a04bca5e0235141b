"""User-facing console output in one place: one-line errors (worded by runner.errors), the run
summary, the sweep table, progress."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Sequence
from typing import Any

from runner.errors import describe

_UID = f"{secrets.token_hex(3)}"
KEY_METRICS = (
    "predict/accuracy",
    "tokens/total",
    "tokens/mean_len",
    "tokens/pad_fraction",
    "tokens/fertility",
    "time/total_s",
    "throughput/samples_per_s",
)


# what a run was for, shown when it computed it: a training, the morpheme reference, a probe
PURPOSE_METRICS = (
    "train/vocab_size_reached",
    "time/train_tokenizer_s",
    "train/overlap",
    "morph/boundary_precision",
    "morph/boundary_recall",
    "morph/boundary_f1",
    "probe/accuracy",
    "probe/accuracy_low",
    "probe/accuracy_high",
    "probe/majority",
)


def process_uid() -> str:
    """A short id fixed for this process: keeps two runs of the same second apart."""
    return _UID


def line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Stdout:
    """The `runner` command's standard output: once its reader has gone (`runner -m … | head`),
    what is written is dropped instead of raising BrokenPipeError into a job or a sweep's end —
    the runs go on and are tracked; only the lines nobody reads are lost."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self.stream.write(text))
        except BrokenPipeError:
            self._drop()
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._drop()

    def _drop(self) -> None:
        """Point the closed pipe's descriptor at /dev/null: later writes and flushes succeed."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding… of the real stream
        return getattr(self.stream, name)


def error(exc: BaseException) -> None:
    """Print one line naming the key and the fix (no traceback; runner.errors.describe)."""
    line(f"error: {describe(exc)}")


def dashboard(ui: str | None, links: dict[str, str]) -> str:
    """How to open runs: the command that serves the store (none for a server), then each link."""
    width = max(map(len, links)) + 1
    lines = [f"  dashboard: {ui}"] if ui else []
    lines += [f"  {(name + ':').ljust(width)} {url}" for name, url in links.items()]
    return "\n".join(lines)


def summary(run_id: str, uri: str, ui: str | None, url: str, metrics: dict[str, float], status: str) -> None:
    """The short block that ends every single run: id, key metrics, how to open it."""
    shown = "  ".join(f"{k}={number(metrics[k])}" for k in KEY_METRICS if k in metrics)
    purpose = "  ".join(f"{k}={number(metrics[k])}" for k in PURPOSE_METRICS if k in metrics)
    shown += f"\n  {purpose}" if purpose else ""
    print(f"run {run_id} {status}\n  tracking: {uri}\n  {shown}\n{dashboard(ui, {'run': url})}", flush=True)


def predictions(rows: list[dict[str, Any]], texts: Sequence[str], answer: str, n: int = 3) -> None:
    """The first few predictions of a head: text → its answer (the row's `answer` key) (score)."""
    for row in rows[:n]:
        label = row.get(answer, "")
        score = row.get("score")
        text = texts[row["index"]]
        text = text if len(text) <= 50 else text[:47] + "..."
        print(f"  {text} → {label}" + (f" ({number(float(score))})" if score is not None else ""), flush=True)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain fixed-width table (also logged to the sweep's parent run)."""
    cells = [[number(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


def first_paragraph(doc: str | None) -> str:
    """A module docstring's first paragraph as one line (a command's --help description)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def number(value: Any) -> str:
    """A value as every table of the runner shows it: floats to 4 significant digits, whole
    numbers and anything from 10,000 up as whole numbers (38400, not 3.84e+04)."""
    if isinstance(value, float) and abs(value) < 1e15 and (value.is_integer() or abs(value) >= 1e4):
        return str(round(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def interactive() -> bool:
    """Progress bars only for a person at a terminal (not in CI, pipes or log files)."""
    return sys.stderr.isatty() and os.environ.get("CI") is None


class Progress:
    """A tqdm bar on stderr that appears only when interactive(); called as progress(done, total)."""

    def __init__(self, desc: str, unit: str, leave: bool = False) -> None:
        self.desc, self.unit, self.leave = desc, unit, leave  # leave: the finished bar stays
        self.bar: Any = None  # a tqdm bar once shown

    def __call__(self, done: int, total: int) -> None:
        if not interactive():
            return
        if self.bar is None:
            from tqdm import tqdm

            size = _size()
            self.bar = tqdm(
                total=total, desc=self.desc, unit=self.unit, leave=self.leave, file=sys.stderr, **size
            )
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _size() -> dict[str, int]:
    """The bar's size where a pseudo-terminal reports 0 × 0 (`script`, some IDE terminals): tqdm
    then draws nothing at all (its rows come out as -1), so give it 100 × 24; else tqdm's own."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        return {"ncols": 100, "nrows": 24}
    return {} if size.columns and size.lines else {"ncols": 100, "nrows": 24}
