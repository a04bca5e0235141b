"""`runner-compare`: a sweep's runs side by side — terminal table, HTML report, PNG plots.

Reads the parent run (default: the latest sweep in the experiment) and its children back from
MLflow, then logs the report and plots to the parent and sets the table as its description.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from runner import console
from runner.errors import RunnerError
from runner.tracking import Tracker

METRICS = (
    "tokens/mean_len",
    "tokens/p95_len",
    "tokens/fertility",
    "tokens/continued_word_ratio",
    "tokens/unk_rate",
    "tokens/pad_fraction",
    "time/tokenize_s",
    "time/forward_s",
    "time/total_s",
    "throughput/samples_per_s",
)
TIMES = ("time/load_tokenizer_s", "time/load_model_s", "time/tokenize_s", "time/forward_s")


def latest_sweep(tracker: Tracker) -> str:
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        "tags.`runner.role` = 'sweep'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    if not runs:
        raise SystemExit("error: no sweep in this experiment — run `runner -m …` first, or pass --parent")
    return runs[0].info.run_id


def token_table(tracker: Tracker, run_id: str, out: Path) -> dict[int, dict[str, Any]]:
    path = tracker.client.download_artifacts(run_id, "tokens.json", str(out))
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    cols = table["columns"]
    return {row[cols.index("index")]: dict(zip(cols, row)) for row in table["data"]}


def plots(children: list, tables: dict[str, dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.info.run_name for c in children]
    files = []
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, table in tables.items():
        ax.hist([r["n_tokens"] for r in table.values()], bins=20, alpha=0.5, label=name)
    ax.set(title="Token length per example", xlabel="tokens", ylabel="examples")
    ax.legend(fontsize=7)
    files.append(out / "token_lengths.png")
    fig.tight_layout(), fig.savefig(files[-1]), plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(names, [c.data.metrics.get("tokens/pad_fraction", 0.0) for c in children])
    ax.set(title="Pad fraction per run", xlabel="pad positions / all positions")
    files.append(out / "pad_fraction.png")
    fig.tight_layout(), fig.savefig(files[-1]), plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    left = [0.0] * len(children)
    for key in TIMES:
        values = [c.data.metrics.get(key, 0.0) for c in children]
        ax.barh(names, values, left=left, label=key.split("/")[1])
        left = [a + b for a, b in zip(left, values)]
    ax.set(title="Time per step", xlabel="seconds")
    ax.legend(fontsize=7)
    files.append(out / "time_breakdown.png")
    fig.tight_layout(), fig.savefig(files[-1]), plt.close(fig)
    return files


def render_html(rows: list[dict], tables: dict[str, dict], images: list[Path]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(console._fmt(v))}</td>" for v in r.values()) + "</tr>"
        for r in rows
    )
    diff = []
    indices = sorted(set.intersection(*(set(t) for t in tables.values()))) if tables else []
    for i in indices[:50]:
        text = next(iter(tables.values()))[i]
        pair = f" ‖ {html.escape(str(text['text_pair']))}" if text.get("text_pair") else ""
        diff.append(f"<h3>#{i}: {html.escape(str(text['text']))}{pair}</h3><table class='diff'>")
        for name, table in tables.items():
            tokens = " ".join(f"<span>{html.escape(str(t))}</span>" for t in table[i]["tokens"])
            diff.append(f"<tr><th>{html.escape(name)}</th><td>{tokens}</td></tr>")
        diff.append("</table>")
    imgs = "".join(f"<img src='{p.name}' alt='{p.stem}'>" for p in images)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>runner comparison</title>"
        "<style>td,th{border:1px solid #ccc;padding:2px 6px} table{border-collapse:collapse}"
        " .diff span{background:#eef;margin:1px;padding:0 2px;display:inline-block}</style>"
        f"</head><body><h1>Runs side by side</h1><table id='metrics'><tr>{head}</tr>{body}</table>"
        f"<h2>Plots</h2>{imgs}<h2 id='token-diff'>Token diff</h2>{''.join(diff)}</body></html>"
    )


def compare(uri: str | None, experiment: str, parent: str | None, out_dir: Path) -> Path:
    tracker = Tracker(uri, experiment)
    parent = parent or latest_sweep(tracker)
    children = [c for c in tracker.children(parent) if c.info.status == "FINISHED"]
    if not children:
        raise SystemExit(f"error: sweep {parent} has no FINISHED runs to compare")
    rows = [{"run": c.info.run_name, **{m: c.data.metrics.get(m, "") for m in METRICS}} for c in children]
    text = console.table(rows, list(rows[0]))
    print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tables = {
            c.info.run_name: token_table(tracker, c.info.run_id, Path(tmp) / c.info.run_id) for c in children
        }
    images = plots(children, tables, out_dir)
    report = out_dir / "report.html"
    report.write_text(render_html(rows, tables, images), encoding="utf-8")
    for path in [report, *images]:
        tracker.log_file(parent, str(path), "comparison")
    tracker.set_description(parent, f"```\n{text}\n```")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="runner-compare", description=__doc__.splitlines()[0])
    parser.add_argument("--parent", help="the sweep's parent run id (default: the latest sweep)")
    parser.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, else outputs/mlflow.db")
    parser.add_argument("--experiment", default="runner", help="MLflow experiment (default: runner)")
    parser.add_argument("--out", default="outputs/compare", help="folder for report.html and PNGs")
    args = parser.parse_args(argv)
    try:
        report = compare(args.tracking_uri, args.experiment, args.parent, Path(args.out))
    except RunnerError as exc:
        console.error(exc)
        sys.exit(1)
    print(f"report: {report.resolve()}")


if __name__ == "__main__":
    main()
