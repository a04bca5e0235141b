"""The runner's console scripts beside `runner` (runner.cli): `runner-compare` renders an older
sweep's conclusion again, `runner-sync` sends the runs kept while a tracking server was away and
concludes the sweeps they complete. Both conclude through runner.analysis.conclusion."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runner import console
from runner.errors import RunnerError

COMPARE_DOC = """Render an older sweep's end again: its runs side by side (comparison/tokens.json and
comparison/report.html on the parent run, with plots), the invariance check, the jobs table and
the description — what the sweep's own end writes."""


def compare(argv: list[str] | None = None) -> None:
    """`runner-compare`: an older sweep's conclusion rendered again (exit 1 when a part failed)."""
    parser = argparse.ArgumentParser(prog="runner-compare", description=console.first_paragraph(COMPARE_DOC))
    parser.add_argument("--parent", help="the sweep's parent run id (default: the latest sweep)")
    parser.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, else outputs/mlflow.db")
    parser.add_argument(
        "--experiment", help="MLflow experiment (default: the parent's own, or runner for the latest sweep)"
    )
    parser.add_argument("--out", default="outputs/compare", help="folder for report.html and PNGs")
    args = parser.parse_args(argv)
    from runner.analysis import compare as comparison
    from runner.analysis import conclusion

    try:
        tracker = comparison.parent_tracker(args.tracking_uri, args.experiment, args.parent)
        parent = args.parent or comparison.latest_sweep(tracker)
        children = tracker.children(parent)
        found = conclusion.conclude(
            tracker, parent, children, conclusion.tolerance(children), out_dir=Path(args.out)
        )
    except RunnerError as exc:
        console.error(exc)
        sys.exit(1)
    for problem in found.problems:
        console.line(f"error: {problem}")
    print(found.side_by_side)
    print(found.verdict)
    if found.page is not None:
        print(f"report: {found.page.resolve()}")
    if found.problems:
        sys.exit(1)


def sync(argv: list[str] | None = None) -> None:
    """`runner-sync`: send the kept runs, then conclude every sweep they reached."""
    from runner.tracking import keep
    from runner.tracking import sync as syncing

    parser = argparse.ArgumentParser(prog="runner-sync", description=console.first_paragraph(syncing.__doc__))
    parser.add_argument("--dry-run", action="store_true", help="say what would be sent, send nothing")
    parser.add_argument("--store", default=None, help=f"the local store (default: sqlite:///{keep.KEPT_DB})")
    args = parser.parse_args(argv)
    try:
        synced = syncing.sync(args.store or keep.kept_uri(), args.dry_run)
    except RunnerError as exc:
        console.error(exc)
        sys.exit(1)
    if not synced.lines:
        print("nothing to send: no runs are kept locally")
    _conclude(synced.parents)


def _conclude(parents: list[Any]) -> None:
    """A sweep whose children (or itself) arrived gets its conclusion rebuilt on its parent: the
    comparison, the invariance check at the tolerance its jobs ran with, the jobs table and the
    description."""
    from runner.analysis import conclusion

    for tracker, parent in parents:
        children = tracker.children(parent)
        found = conclusion.conclude(tracker, parent, children, conclusion.tolerance(children))
        for problem in found.problems:
            console.line(f"warning: {problem} (on {parent})")
        print(f"comparison rebuilt on sweep parent {parent}", flush=True)
        print(found.verdict, flush=True)


if __name__ == "__main__":  # python -m runner.commands compare|sync ARGS (what the scripts run)
    {"compare": compare, "sync": sync}[sys.argv[1]](sys.argv[2:])
