"""A sweep's conclusion, written on its parent run: the jobs table (sweep_summary.json), the
comparison (runner.analysis.compare), the invariance verdict (runner.analysis.invariance) and the
description that holds all three. One function, `conclude`, serves the sweep's end, runner-compare
(an older sweep rendered again) and runner-sync (a kept parent reaching its server): the children
are read once by the caller and passed in, and one failure policy holds — a comparison or an
invariance check that fails is a warning line (kept in `Conclusion.problems`), never an exception,
and the jobs table and the description are written whatever happened before them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from runner import console
from runner.config.tags import JOB_NUM
from runner.errors import describe
from runner.tracking.base import Tracker


@dataclass
class Conclusion:
    """What a sweep's conclusion found and wrote."""

    rows: list[dict[str, Any]]  # sweep_summary.json: one row per job
    jobs: str  # the jobs table as the terminal shows it
    side_by_side: str  # the verdict per dataset (runner.analysis.verdict), or "" when not compared
    verdict: str  # the invariance line
    invariant: bool | None  # None: not checked
    failed: int  # jobs that did not finish
    written: list[str] = field(default_factory=list)  # the parent's comparison files
    page: Path | None = None  # the report, as written locally
    problems: list[str] = field(default_factory=list)  # what could not be done, worded


def conclude(
    tracker: Tracker,
    parent: str,
    children: list[Any],
    tolerance: float,
    unopened: Sequence[dict[str, Any]] = (),
    out_dir: Path | None = None,
    why: Callable[[BaseException], str] = describe,
) -> Conclusion:
    """The whole conclusion of a sweep on its parent: comparison, invariance check, jobs table,
    counts, description. `why` words a failure (the sweep's end says when its server went away)."""
    from runner.analysis import compare, invariance  # read back only here: a sweep's start skips them

    rows, jobs = summary(children, unopened)
    found = Conclusion(rows, jobs, "", "invariance: not checked", None, 0)
    try:
        built = compare.build(tracker, parent, children, out_dir)
        found.side_by_side, found.page, found.written = built.text, built.page, built.written
    except Exception as exc:
        found.problems.append(f"comparison not logged: {why(exc)}")
    try:
        _, found.verdict, found.invariant = invariance.check(tracker, parent, tolerance, children)
    except Exception as exc:
        found.problems.append(f"invariance not checked: {why(exc)}")
    found.failed = record(tracker, parent, rows, jobs, found.verdict, found.side_by_side)
    return found


def tolerance(children: list[Any]) -> float:
    """The invariance tolerance the sweep's jobs ran with (each logs its config)."""
    from runner.config.schema import InvarianceConfig

    logged = [c.data.params.get("invariance.tolerance") for c in children]
    return max((float(v) for v in logged if v), default=InvarianceConfig.tolerance)


def job_order(num: str) -> tuple[int, ...]:
    """3 < 3.1 < 10: launched jobs, then their inner combinations."""
    return tuple(int(p) for p in num.split(".") if p.isdigit())


def summary(children: list[Any], unopened: Sequence[dict[str, Any]] = ()) -> tuple[list[dict[str, Any]], str]:
    """The jobs table: one row per child (job, run, status, what the runs measured, error), in
    job order. The terminal's copy shows the verdict's headline measures under short names (a
    legend below), or the key metrics where the runs logged none, and fits 120 columns."""
    from runner.analysis import verdict

    names = verdict.headline([verdict.Run(c.info.run_name, dict(c.data.metrics)) for c in children])
    if len(names) < 2:
        names = {k: k for k in console.KEY_METRICS}
    rows = [
        {
            "job": c.data.tags.get(JOB_NUM, "?"),
            "run": c.info.run_name,
            "status": c.info.status,
            "error": c.data.tags.get("error", "")[:80],
            **{k: c.data.metrics[k] for k in names if k in c.data.metrics},
        }
        for c in children
    ]
    rows += [{**row, "error": str(row.get("error", ""))[:80]} for row in unopened]
    rows.sort(key=lambda r: job_order(str(r["job"])))
    shown = {k: short for k, short in names.items() if any(k in r for r in rows)}
    return rows, _jobs_table(rows, shown)


def _jobs_table(rows: list[dict[str, Any]], shown: dict[str, str]) -> str:
    """The jobs table as the terminal shows it: short measure names, run names and errors cut so
    that a row fits verdict.WIDTH where it can, a legend for the short names."""
    from runner.analysis import verdict

    short = [{**{shown.get(k, k): v for k, v in r.items()}} for r in rows]
    numbers = sum(
        max(len(s), *(len(console.number(r.get(k, ""))) for r in rows)) + 2 for k, s in shown.items()
    )
    status = max(len("status"), *(len(str(r["status"])) for r in rows)) + 2
    job = max(len("job"), *(len(str(r["job"])) for r in rows)) + 2
    room = max(verdict.WIDTH - numbers - status - job, 24)
    failed = any(r["error"] for r in rows)
    for r in short:
        r["run"] = verdict.fit(str(r["run"]), room // 2 if failed else room)
        r["error"] = verdict.fit(str(r["error"]), room - room // 2)
    columns = ["job", "run", "status", *shown.values(), *(["error"] if failed else [])]
    legend = "; ".join(f"{s} = {k}" for k, s in shown.items() if s != k)
    return console.table(short, columns) + (f"\n({legend})" if legend else "")


def record(tracker: Tracker, parent: str, rows: list[Any], text: str, verdict: str, side_by_side: str) -> int:
    """What a sweep's end logs on its parent (here, or runner-sync once the parent's runs reach
    the server): the jobs table, the description, the job counts. Returns the failed count."""
    failed = sum(r["status"] != "FINISHED" for r in rows)
    tracker.log_table(parent, rows or [{"job": "none"}], "sweep_summary.json")
    tracker.set_description(parent, _description(verdict, text, side_by_side))
    tracker.log(parent, metrics={"sweep/jobs": len(rows), "sweep/failed": failed})
    return cast("int", failed)


def _description(verdict: str, summary: str, side_by_side: str) -> str:
    """The parent's description: the verdict, the jobs table, the metrics side by side — the
    tables that fit; the rest is in sweep_summary.json and comparison/report.html."""
    from runner.tracking.tracker import limits

    limit = limits()[2] - 100  # MLflow truncates a tag value (the description is one) at this length
    parts, dropped = [f"**{verdict}**"], False
    for table in (summary, side_by_side):
        block = f"```\n{table}\n```"
        if table and sum(map(len, parts)) + len(block) + 2 <= limit:
            parts.append(block)
        dropped |= bool(table) and block not in parts
    if dropped:
        parts.append("(larger tables: sweep_summary.json and comparison/report.html)")
    return "\n\n".join(parts)
