"""The end of a sweep, written on its parent run: the jobs table (sweep_summary.json), the
comparison (runner.analysis.compare), the invariance verdict and the description that holds all
three. The sweep's end, runner-sync (a kept parent reaching its server) and runner-compare (an
older sweep rendered again) write it through `rebuild`/`record`, so the description always holds
the verdict, the jobs table and the metrics side by side.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner import console
from runner.errors import RunnerError
from runner.tracking.base import Tracker


def rebuild(tracker: Tracker, parent: str, out_dir: Path | None = None) -> tuple[str, str, Path]:
    """The whole end of an existing sweep again: comparison, invariance check at the tolerance
    its jobs ran with, jobs table, counts, description. Returns (side by side, verdict, report)."""
    from runner.analysis import compare, invariance  # read back only here: a sweep's start skips them

    children = tracker.children(parent)  # read once, for the tolerance and the jobs table
    side_by_side, page, _ = compare.build(tracker, parent, out_dir)
    verdict = invariance.check(tracker, parent, tolerance(children))[1]
    rows, text = summary(children)
    record(tracker, parent, rows, text, verdict, side_by_side)
    return side_by_side, verdict, page


def tolerance(children: list) -> float:
    """The invariance tolerance the sweep's jobs ran with (each logs its config)."""
    from runner.config.schema import InvarianceConfig

    logged = [c.data.params.get("invariance.tolerance") for c in children]
    return max((float(v) for v in logged if v), default=InvarianceConfig.tolerance)


def job_order(num: str) -> tuple[int, ...]:
    """3 < 3.1 < 10: launched jobs, then their inner combinations."""
    return tuple(int(p) for p in num.split(".") if p.isdigit())


def summary(children: list, unopened: Sequence[dict[str, Any]] = ()) -> tuple[list[dict[str, Any]], str]:
    """The jobs table: one row per child (job, run, status, what the runs measured, error), in
    job order. The terminal's copy shows the verdict's headline measures under short names (a
    legend below), or the key metrics where the runs logged none, and fits 120 columns."""
    from runner.analysis import verdict

    names = verdict.headline([verdict.Run(c.info.run_name, dict(c.data.metrics)) for c in children])
    if len(names) < 2:
        names = {k: k for k in console.KEY_METRICS}
    rows = [
        {
            "job": c.data.tags.get("sweep.job_num", "?"),
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


def record(tracker: Tracker, parent: str, rows: list, text: str, verdict: str, side_by_side: str) -> int:
    """What a sweep's end logs on its parent (here, or runner-sync once the parent's runs reach
    the server): the jobs table, the description, the job counts. Returns the failed count."""
    failed = sum(r["status"] != "FINISHED" for r in rows)
    tracker.log_table(parent, rows or [{"job": "none"}], "sweep_summary.json")
    tracker.set_description(parent, _description(verdict, text, side_by_side))
    tracker.log(parent, metrics={"sweep/jobs": len(rows), "sweep/failed": failed})
    return failed


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


COMPARE_DOC = """Render an older sweep's end again: its runs side by side (comparison/tokens.json and
comparison/report.html on the parent run, with plots), the invariance check, the jobs table and
the description — what the sweep's own end writes."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="runner-compare", description=console.first_paragraph(COMPARE_DOC))
    parser.add_argument("--parent", help="the sweep's parent run id (default: the latest sweep)")
    parser.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, else outputs/mlflow.db")
    parser.add_argument(
        "--experiment", help="MLflow experiment (default: the parent's own, or runner for the latest sweep)"
    )
    parser.add_argument("--out", default="outputs/compare", help="folder for report.html and PNGs")
    args = parser.parse_args(argv)
    from runner.analysis import compare

    try:
        tracker = compare.parent_tracker(args.tracking_uri, args.experiment, args.parent)
        text, verdict, page = rebuild(tracker, args.parent or compare.latest_sweep(tracker), Path(args.out))
    except RunnerError as exc:
        console.error(exc)
        sys.exit(1)
    print(text)
    print(verdict)
    print(f"report: {page.resolve()}")


if __name__ == "__main__":
    main()
