"""Does padding change the answer? At the end of a sweep, every child is compared example by
example with a reference child that saw the same rows, tokenizer source, model weights and head
(tag `invariance.group`): the one with no padding and batch size 1 where the sweep has one,
else the group's first. Runs of different models or data are never compared.

Per child: `invariance/max_abs_diff` (max over examples of the max |difference| of the outputs),
`invariance/mean_abs_diff`, `invariance/label_flips` (labelled heads: examples whose top label differs),
`invariance/token_diff_rows` (examples whose non-pad token ids differ). The parent gets the
maxima, `invariance/report.json` and a verdict line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runner.analysis.compare import token_rows
from runner.model import heads
from runner.model import outputs as model_outputs
from runner.tracking import readback
from runner.tracking.base import Tracker

AXES = (
    "padding.strategy",
    "padding.side",
    "runtime.batch_size",
    "runtime.sort_by_length",
    "tokenizer.use_fast",
)


@dataclass
class Loaded:
    """One child's outputs: values [rows, dims] with offsets, token hashes, and its head."""

    run: Any
    values: np.ndarray | None
    offsets: np.ndarray | None
    hashes: np.ndarray | None

    @property
    def labelled(self) -> bool:
        """Its outputs are labels (a head of that kind), so a different argmax is a label flip."""
        head = heads.of(self.run.data.params.get("model.head"))
        return head is not None and head.labelled

    def example(self, i: int) -> np.ndarray:
        if self.values is None or self.offsets is None:
            raise ValueError(f"run {self.run.info.run_id} logged no outputs")
        return self.values[self.offsets[i] : self.offsets[i + 1]]


def _download(tracker: Tracker, run: Any) -> Loaded:
    run_id = run.info.run_id
    logged = readback.outputs(tracker.client, run_id, model_outputs.load)
    values, offsets = logged if logged is not None else (None, None)
    return Loaded(run, values, offsets, readback.hashes(tracker.client, run_id))


def reference_of(group: list[Any]) -> Any:
    """No padding and batch size 1 when the group has such a run, else its first."""
    for run in group:
        p = run.data.params
        if p.get("padding.strategy") == "do_not_pad" and p.get("runtime.batch_size") == "1":
            return run
    return group[0]


def compare(ref: Loaded, other: Loaded) -> dict[str, float]:
    """The four metrics of `other` against `ref`, and its worst example's index."""
    out = {"invariance/token_diff_rows": 0.0}
    if ref.hashes is not None and other.hashes is not None and len(ref.hashes) == len(other.hashes):
        same_tokens = ref.hashes == other.hashes
        out["invariance/token_diff_rows"] = float(np.count_nonzero(~same_tokens))
    else:
        same_tokens = None
    if ref.offsets is None or other.offsets is None or len(ref.offsets) != len(other.offsets):
        return out  # (offsets are logged with values)
    n = len(ref.offsets) - 1
    worst, worst_i, total, count, flips = 0.0, -1, 0.0, 0, 0
    for i in range(n):
        a, b = ref.example(i), other.example(i)
        if a.shape != b.shape or (same_tokens is not None and not same_tokens[i]):
            continue  # other tokens: counted in token_diff_rows, not compared value by value
        if a.size == 0:
            continue
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        if diff.max() > worst or worst_i < 0:
            worst, worst_i = float(diff.max()), i
        total, count = total + float(diff.sum()), count + diff.size
        if ref.labelled and a.shape[-1] > 1:
            flips += bool((a.argmax(-1) != b.argmax(-1)).any())
    out["invariance/max_abs_diff"] = worst
    out["invariance/mean_abs_diff"] = total / count if count else 0.0
    if ref.labelled:
        out["invariance/label_flips"] = float(flips)
    out["worst_index"] = float(worst_i)
    return out


def _axes(run: Any) -> str:
    p = run.data.params
    return " ".join(f"{k.split('.')[-1]}={p[k]}" for k in AXES if k in p)


def check(
    tracker: Tracker, parent: str, tolerance: float, children: list[Any]
) -> tuple[list[dict[str, Any]], str, bool]:
    """Compare the parent's FINISHED children (read once by the caller); log metrics to each, the
    table and maxima to the parent. Returns the table, the verdict line and whether every
    compared child is within tolerance."""
    children = [c for c in children if c.info.status == "FINISHED"]
    groups: dict[str, list[Any]] = {}
    for child in children:
        groups.setdefault(child.data.tags.get("invariance.group", child.info.run_id), []).append(child)
    rows: list[dict[str, Any]] = []
    maxima: dict[str, float] = {}
    for members in groups.values():
        ref_run = reference_of(members)
        ref = _download(tracker, ref_run)
        logged = token_rows(tracker, ref_run.info.run_id)
        texts = {row["index"]: row["text"] for row in logged.values()}
        if len(members) == 1:
            rows.append(_row(ref_run, ref_run, None, "not comparable: no other run with this model and data"))
            continue
        for run in members:
            if run is ref_run:
                rows.append(_row(run, ref_run, None, "reference"))
                continue
            metrics = compare(ref, _download(tracker, run))
            worst = int(metrics.pop("worst_index", -1))
            tracker.log(run.info.run_id, metrics=metrics)
            for k, v in metrics.items():
                maxima[k] = max(maxima.get(k, 0.0), v)
            rows.append(_row(run, ref_run, metrics, "compared", worst, texts.get(worst, "")))
    passed = maxima.get("invariance/max_abs_diff", 0.0) <= tolerance and not maxima.get(
        "invariance/label_flips"
    )
    verdict = _verdict(rows, maxima, tolerance, passed, len(groups))
    only_tokens = all(c.data.params.get("model.forward", "").lower() == "false" for c in children)
    if children and only_tokens and not any(r["status"] == "compared" for r in rows):
        verdict = (
            "invariance: not applicable — tokenization only, and no two runs share a tokenizer and "
            "texts (what padding or batching could change)"
        )
    if maxima:
        tracker.log(parent, metrics=maxima)
    tracker.log_table(parent, rows or [{"run": "none"}], "invariance/report.json")
    return rows, verdict, passed


def _row(
    run: Any, ref: Any, metrics: dict[str, float] | None, status: str, worst: int = -1, text: str = ""
) -> dict[str, Any]:
    row = {
        "run": run.info.run_name,
        "run_id": run.info.run_id,
        "overrides": _axes(run),
        "reference": ref.info.run_name,
        "status": status,
    }
    for key in ("max_abs_diff", "mean_abs_diff", "label_flips", "token_diff_rows"):
        row[key] = (metrics or {}).get(f"invariance/{key}")
    row["worst_index"] = worst if worst >= 0 else None
    row["worst_text"] = text  # where the reference logged that example (tokens.json)
    return row


def _verdict(
    rows: list[dict[str, Any]], maxima: dict[str, float], tolerance: float, passed: bool, groups: int
) -> str:
    compared = sum(r["status"] == "compared" for r in rows)
    skipped = sum(r["status"].startswith("not comparable") for r in rows)
    if not compared:
        return f"invariance: nothing compared ({skipped} run(s) with no other run of the same model and data)"
    worst = maxima.get("invariance/max_abs_diff", 0.0)
    state = "INVARIANT" if passed else "NOT INVARIANT"
    return (
        f"invariance: {state} — {compared} run(s) compared in {groups} group(s), max |Δ| {worst:.3g} "
        f"(tolerance {tolerance:g}), {int(maxima.get('invariance/label_flips', 0))} label flip(s), "
        f"{int(maxima.get('invariance/token_diff_rows', 0))} row(s) with other tokens"
        + (f"; {skipped} not comparable" if skipped else "")
    )
