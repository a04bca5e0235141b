"""A sweep's runs side by side, read back from MLflow: the terminal table, and on the parent
run `comparison/tokens.json` (one row per example, each run's pieces) and a self-contained
`comparison/report.html` with plots. Called by a sweep's conclusion (runner.analysis.conclusion),
at the end of every sweep and by `runner-compare` and `runner-sync` for an older one. Everything
is keyed by run id; run names only head columns.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any, NamedTuple, cast

from runner import console
from runner.analysis import agreement, report, verdict
from runner.analysis.report import RunTokens
from runner.config.tags import ROLE, SWEEP_ROLE
from runner.errors import RunnerError
from runner.tracking import readback
from runner.tracking import tracker as mlflow_store
from runner.tracking.base import Tracker

METRICS = (
    "tokens/mean_len",
    "tokens/p95_len",
    "tokens/fertility",
    "tokens/continued_word_ratio",
    "tokens/bytes_per_token",
    "tokens/unk_rate",
    "tokens/roundtrip_exact",
    "tokens/roundtrip_normalized",
    "tokens/split_char_rate",
    "tokens/partial_token_share",
    "tokens/shannon_entropy",
    "tokens/renyi_efficiency",
    "tokens/vocab_used",
    "tokens/vocab_utilization",
    "parity/gini",
    "tokens/pad_fraction",
    "time/tokenize_s",
    "time/forward_s",
    "time/total_s",
    "time/train_tokenizer_s",
    "train/vocab_size_reached",
    "throughput/samples_per_s",
)
CURVES = (  # each measure against a numeric sweep axis (tokenizer.train.vocab_size, …)
    "tokens/fertility",
    "tokens/chars_per_token",
    "tokens/bytes_per_token",
    "tokens/unk_rate",
    "tokens/split_char_rate",
    "tokens/renyi_efficiency",
    "tokens/roundtrip_exact",
    "tokens/vocab_utilization",
    "time/train_tokenizer_s",
)
GENERIC_DATASETS = ("inline", "json_file", "csv_file", "sample")  # presets that name no dataset of their own
TIMES = ("time/tokenize_s", "time/forward_s")  # steps comparable across jobs (loads may be cache hits)


def latest_sweep(tracker: Tracker) -> str:
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        f"tags.`{ROLE}` = '{SWEEP_ROLE}'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    if not runs:
        raise RunnerError(
            f"experiment {tracker.experiment}", "has no sweep", "run `runner -m …` first, or pass --parent"
        )
    return cast("str", runs[0].info.run_id)


def parent_tracker(uri: str | None, experiment: str | None, parent: str | None) -> Tracker:
    """The tracker of the parent's own experiment (a sweep of experiment=bert_vs_roberta logs to
    its own), else of --experiment (default: runner)."""
    if parent and not experiment:
        experiment = mlflow_store.Tracker.experiment_of(uri, parent)
        if experiment is None:
            raise RunnerError(
                f"--parent {parent}", "no such run in this store", "check the id and --tracking-uri"
            )
    return mlflow_store.Tracker(uri, experiment or "runner")


def token_rows(tracker: Tracker, run_id: str, dataset: str = "") -> dict[tuple[Any, ...], dict[str, Any]]:
    """A run's tokens.json rows keyed by what they hold (report.keyed); empty when it logged none
    (a run that failed before tokenizing)."""
    return report.keyed(readback.table_rows(tracker.client, run_id, "tokens.json") or [], dataset)


def dataset_labels(children: list[Any]) -> dict[str, str]:
    """run id → the dataset it ran on: its name (`sample`, a file's name), with the digest of its
    texts where two datasets of one name differ. Runs join only with runs of the same label."""

    def name(c: Any) -> str:
        tags = c.data.tags
        return tags.get("data.label") or tags.get("choice.dataset") or "dataset"

    digests: dict[str, set[str]] = {}
    for c in children:
        digests.setdefault(name(c), set()).add(c.data.tags.get("data.digest", ""))
    return {
        c.info.run_id: name(c)
        if len(digests[name(c)]) == 1
        else f"{name(c)} ({c.data.tags.get('data.digest', '')[:8]})"
        for c in children
    }


def table_name(dataset: str, several: bool) -> str:
    """comparison/tokens.json for one dataset; comparison/tokens/<dataset>.json, one each, for more."""
    if not several:
        return "comparison/tokens.json"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset)
    return f"comparison/tokens/{safe}.json"


def _loads(run: Any) -> str:
    """Which loads were cache hits (their times are the cache's, not a load's)."""
    tags = run.data.tags
    return " ".join(f"{k.split('/')[1]}={v}" for k, v in sorted(tags.items()) if k.startswith("cache/"))


def distinct_names(children: list[Any]) -> dict[str, str]:
    """run id → its name, suffixed with the id's start where two names are equal."""
    names = [c.info.run_name for c in children]
    return {
        c.info.run_id: c.info.run_name
        if names.count(c.info.run_name) == 1
        else f"{c.info.run_name} ({c.info.run_id[:6]})"
        for c in children
    }


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def plots(runs: list[RunTokens]) -> dict[str, bytes]:
    """PNG bytes by file name: token lengths, pad fraction, comparable step times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.family": font_families()}):
        return _plots(runs, plt)


def font_families() -> list[str]:
    """matplotlib's DejaVu Sans, then a CJK face where the system has one (Debian's
    fonts-noto-cjk), so run names and labels in Hangul, kana or Han draw as text, not boxes."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    if not any(n.startswith("Noto Sans CJK") for n in names):  # once: the cache may predate it
        found = [f for f in font_manager.findSystemFonts() if "NotoSansCJK-Regular" in f]
        for path in found[:1]:
            font_manager.fontManager.addfont(path)
        names = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [n for n in ("Noto Sans CJK KR", "Noto Sans CJK JP", "Noto Sans CJK SC") if n in names]
    return ["DejaVu Sans", *cjk[:1]]


def _plots(runs: list[RunTokens], plt: Any) -> dict[str, bytes]:
    import dataclasses

    labels = verdict.distinct_parts([r.name for r in runs])
    runs = [dataclasses.replace(r, name=label) for r, label in zip(runs, labels, strict=True)]
    names = [r.name for r in runs]
    out = {}
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for run in runs:
        ax.hist(
            [len(report.content(row).pieces) for row in run.rows.values()],
            bins=20,
            histtype="step",
            linewidth=1.5,
            label=run.name,
        )
    logged = max(len(r.rows) for r in runs)
    rows = max(int(r.metrics.get("data/rows", logged)) for r in runs)
    shown = f"the {logged} logged examples of {rows}" if logged < rows else "every example"
    ax.set(title=f"Tokens per example (no padding; {shown})", xlabel="tokens", ylabel="examples")
    ax.legend(fontsize=7)
    out["token_lengths.png"] = _png(fig)
    plt.close(fig)

    if any(r.metrics.get("tokens/pad_fraction", 0.0) > 0 for r in runs):  # nothing to draw when unpadded
        fig, ax = plt.subplots(figsize=(8, 0.6 + 0.4 * len(runs)))
        ax.barh(names, [r.metrics.get("tokens/pad_fraction", 0.0) for r in runs])
        ax.set(title="Pad fraction per run", xlabel="pad positions / all positions")
        out["pad_fraction.png"] = _png(fig)
        plt.close(fig)

    steps = [k for k in TIMES if any(r.metrics.get(k, 0.0) > 0 for r in runs)]  # no forward: tokenize only
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.4 * len(runs)))
    left = [0.0] * len(runs)
    for key in steps:
        values = [r.metrics.get(key, 0.0) for r in runs]
        ax.barh(names, values, left=left, label=key.split("/")[1])
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set(
        title=f"Time per step ({', '.join(k.split('/')[1].removesuffix('_s') for k in steps)})",
        xlabel="seconds",
    )
    ax.legend(fontsize=7)
    out["time_breakdown.png"] = _png(fig)
    plt.close(fig)
    out.update(language_plots(runs, plt))
    return out


def sweep_axes(tracker: Tracker, parent: str) -> list[str]:
    """The sweep's axes as its parent names them (`sweep.axes`)."""
    return [a for a in str(tracker.client.get_run(parent).data.tags.get("sweep.axes", "")).split(" × ") if a]


def axis_value(child: Any, axis: str) -> str:
    """A child's value of a sweep axis: a logged param, or a group's choice."""
    return str(child.data.params.get(axis, child.data.tags.get(f"choice.{axis}", "")))


def numeric_axes(axes: list[str], children: list[Any]) -> list[str]:
    """The sweep's axes whose every child logged a number as its value (vocab_size, max_length)."""
    out = []
    for axis in axes:
        values = [c.data.params.get(axis) for c in children]
        if len(set(values)) > 1 and all(_number(v) is not None for v in values):
            out.append(axis)
    return out


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


REACHED = {
    "tokenizer.train.vocab_size": "train/vocab_size_reached"
}  # an axis asked for, and what a run reached


def curves(children: list[Any], axes: list[str], numeric: list[str]) -> dict[str, bytes]:
    """Per numeric axis, `curves_<axis>.png`: each measure the runs logged against the axis's
    value — where a run reports what it reached (a trained vocabulary's size), at that value,
    the request as its label — one line per value of the other axes."""
    if not numeric:
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.family": font_families()}):
        return {
            f"curves_{axis.rsplit('.', 1)[-1]}.png": _curves(children, axes, axis, plt) for axis in numeric
        }


def _at(child: Any, axis: str) -> float:
    """Where a child's point sits on a numeric axis: what it reached where it says, else its value."""
    reached = REACHED.get(axis)
    if reached and reached in child.data.metrics:
        return float(child.data.metrics[reached])
    return float(child.data.params[axis])


def _curves(children: list[Any], axes: list[str], axis: str, plt: Any) -> bytes:
    from runner.config.naming import label

    others = [a for a in axes if a != axis]
    lines: dict[str, list[tuple[float, Any]]] = {}
    for c in children:
        line = " · ".join(axis_value(c, a) for a in others) or "runs"
        lines.setdefault(line, []).append((_at(c, axis), c))
    for points in lines.values():
        points.sort(key=lambda p: p[0])
    measures = [m for m in CURVES if any(m in c.data.metrics for c in children)]
    cols = 3
    rows = -(-len(measures) // cols)
    ticks = sorted({float(c.data.params[axis]) for c in children})
    fig, grid = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, measure in zip(grid.flat, measures, strict=False):
        for line, points in lines.items():
            kept = [(x, c) for x, c in points if measure in c.data.metrics]
            xs, ys = [x for x, _ in kept], [c.data.metrics[measure] for _, c in kept]
            ax.plot(xs, ys, marker="o", label=line)
            if axis in REACHED:  # each point at the size reached, labelled with the size asked for
                for x, y, (_, c) in zip(xs, ys, kept, strict=True):
                    ax.annotate(
                        c.data.params[axis], (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points"
                    )
        reached = f" reached ({REACHED[axis]}; labels: asked)" if axis in REACHED else ""
        ax.set(title=measure, xlabel=label(axis) + reached)
        if ticks[-1] >= 4 * ticks[0] > 0:
            ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [console.number(t) for t in ticks], fontsize=8)
        ax.minorticks_off()
    for ax in list(grid.flat)[len(measures) :]:
        ax.axis("off")
    grid.flat[0].legend(fontsize=7)
    fig.suptitle(f"Every measure against {label(axis)}")
    png = _png(fig)
    plt.close(fig)
    return png


def _suffixed(runs: list[RunTokens], prefix: str, suffix: str) -> list[str]:
    """The middle parts of metric names `prefix<part>suffix` that any run logged, in first-seen order."""
    seen: dict[str, None] = {}
    for run in runs:
        for key in run.metrics:
            if (
                key.startswith(prefix)
                and key.endswith(suffix)
                and key.count("/") == prefix.count("/") + suffix.count("/")
            ):
                seen[key[len(prefix) : len(key) - len(suffix)]] = None
    return list(seen)


def language_plots(runs: list[RunTokens], plt: Any) -> dict[str, bytes]:
    """Parity per tokenizer × language (parallel data) and fertility per script, when logged."""
    import numpy as np

    out = {}
    columns = [c for c in _suffixed(runs, "parity/", "") if c != "max"]
    with_parity = [r for r in runs if any(f"parity/{c}" in r.metrics for c in columns)]
    if columns and with_parity:
        grid = np.array([[r.metrics.get(f"parity/{c}", np.nan) for c in columns] for r in with_parity])
        fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(columns), 1.2 + 0.5 * len(with_parity)))
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(columns)), columns)
        labels = [f"{r.name} (Gini {r.metrics.get('parity/gini', np.nan):.3f})" for r in with_parity]
        ax.set_yticks(range(len(with_parity)), labels, fontsize=7)
        for (i, j), value in np.ndenumerate(grid):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white")
        ax.set_title("Parity: content tokens / the reference language's (same texts)")
        fig.colorbar(image, ax=ax)
        out["parity_heatmap.png"] = _png(fig)
        plt.close(fig)
    scripts = _suffixed(runs, "script/", "/fertility")
    if scripts:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        width = 0.8 / len(runs)
        for n, run in enumerate(runs):
            values = [run.metrics.get(f"script/{s}/fertility", 0.0) for s in scripts]
            ax.bar(np.arange(len(scripts)) + n * width, values, width, label=run.name)
        ax.set_xticks(np.arange(len(scripts)) + 0.4 - width / 2, scripts)
        ax.set(title="Fertility per script (tokens per whitespace word)", ylabel="tokens / word")
        ax.legend(fontsize=7)
        out["script_fertility.png"] = _png(fig)
        plt.close(fig)
    return out


class Built(NamedTuple):
    """What `build` made: the terminal's text, the report's local path, the parent's files it logged."""

    text: str
    page: Path
    written: list[str]


def build(tracker: Tracker, parent: str, children: list[Any], out_dir: Path | None = None) -> Built:
    """Compare the parent's FINISHED children (read once by the caller); log the files to the parent."""
    children = [c for c in children if c.info.status == "FINISHED"]
    if not children:
        raise RunnerError(f"sweep {parent}", "has no FINISHED runs to compare", "run the sweep again")
    names = distinct_names(children)
    logged = [m for m in METRICS if any(m in c.data.metrics for c in children)]
    rows = [
        {"run": names[c.info.run_id], **{m: c.data.metrics.get(m, "") for m in logged}, "loads": _loads(c)}
        for c in children
    ]
    labels = dataset_labels(children)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            RunTokens(
                c.info.run_id,
                names[c.info.run_id],
                c.data.metrics,
                token_rows(tracker, c.info.run_id, labels[c.info.run_id]),
                labels[c.info.run_id],
            )
            for c in children
        ]
        groups = report.by_dataset(runs)
        tables = {d: report.comparison_rows(group) for d, group in groups.items()}
        pairs, lowest = agreement.pairwise(runs)
        spread = report.differing_first(report.example_keys(runs), runs)
        order = agreement.disagreeing_first(spread, lowest)
        found = findings(children, names, labels)
        probe_rows = [{"dataset": d, **row} for d, f in found.items() for row in f.correlations]
        images = plots(runs)
        images.update(probe_plots(found))
        axes = sweep_axes(tracker, parent)
        images.update(curves(children, axes, numeric_axes(axes, children)))
        page = report.render(rows, runs, images, order, (pairs, lowest), found)
        out = out_dir or Path(tmp) / "comparison"
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.html").write_text(page, encoding="utf-8")
        written = ["comparison/report.html"]
        for name, png in images.items():
            (out / name).write_bytes(png)
            tracker.log_file(parent, str(out / name), "comparison")
        tracker.log_file(parent, str(out / "report.html"), "comparison")
        to_log = {table_name(d, len(tables) > 1): t for d, t in tables.items() if t}
        to_log.update({"comparison/agreement.json": pairs, "comparison/probe.json": probe_rows})
        for name, table_rows in to_log.items():
            if table_rows:
                tracker.log_table(parent, table_rows, name)
                written.append(name)
        written += [f"comparison/{name}" for name in images]
    several = len(found) > 1
    text = "\n\n".join(verdict.terminal(f.runs, d if several else "") for d, f in found.items())
    return Built(text.strip() or console.table(rows, list(rows[0])), out / "report.html", written)


def findings(children: list[Any], names: dict[str, str], labels: dict[str, str]) -> dict[str, report.Finding]:
    """Per dataset (and label column), its runs as the verdict reads them and the probe's
    correlations with every intrinsic measure."""
    groups: dict[str, list[verdict.Run]] = {}
    for c in children:
        label = c.data.tags.get("probe.label_column")
        preset = c.data.tags.get("choice.dataset")  # a named dataset (klue_nli_genre) says more than its file
        named = preset if preset and preset not in GENERIC_DATASETS else labels[c.info.run_id]
        key = named + (f" · {label}" if label else "")
        groups.setdefault(key, []).append(verdict.Run(names[c.info.run_id], dict(c.data.metrics)))
    return {d: report.Finding(runs, verdict.correlations(runs)) for d, runs in groups.items()}


def probe_plots(found: dict[str, report.Finding]) -> dict[str, bytes]:
    """Per dataset with probe correlations, `probe_<dataset>.png`: the probe's accuracy (with its
    bootstrap interval) against the measure that predicts it best and the one that predicts it worst."""
    wanted = {d: f for d, f in found.items() if f.correlations}
    if not wanted:
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    with plt.rc_context({"font.family": font_families()}):
        for dataset, finding in wanted.items():
            best, worst = finding.correlations[0], finding.correlations[-1]
            fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
            for ax, row in zip(axes, (best, worst), strict=True):
                _scatter(ax, finding.runs, str(row["measure"]), row)
            fig.suptitle(f"Does an intrinsic measure predict the probe? ({dataset})")
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset)
            out[f"probe_{safe}.png"] = _png(fig)
            plt.close(fig)
    return out


def _scatter(ax: Any, runs: list[verdict.Run], measure: str, row: dict[str, Any]) -> None:
    probed = [r for r in runs if "probe/accuracy" in r.metrics and measure in r.metrics]
    xs = [r.metrics[measure] for r in probed]
    ys = [r.metrics["probe/accuracy"] for r in probed]
    low = [y - r.metrics.get("probe/accuracy_low", y) for r, y in zip(probed, ys, strict=True)]
    high = [r.metrics.get("probe/accuracy_high", y) - y for r, y in zip(probed, ys, strict=True)]
    ax.errorbar(xs, ys, yerr=[low, high], fmt="o", capsize=3)
    for x, y, label in zip(xs, ys, verdict.distinct_parts([r.name for r in probed]), strict=True):
        ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if probed and "probe/majority" in probed[0].metrics:
        ax.axhline(probed[0].metrics["probe/majority"], color="#999", linestyle="--", linewidth=1)
    ax.set(
        xlabel=measure,
        ylabel="probe/accuracy",
        title=f"Spearman {row['spearman']:+.2f}, Kendall {row['kendall']:+.2f} (n={row['n']})",
    )
