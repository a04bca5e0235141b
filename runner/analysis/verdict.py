"""What a sweep found, chosen by what its runs computed, for the places a reviewer looks first:
the terminal and the parent's description (a table that fits 120 columns, with a legend for the
shortened names), the report's first table (every measure the runs share, per dataset, ranked by
a stated measure), and — where the runs probed a task — how well each intrinsic measure predicts
the probe (comparison/probe.json: Spearman and Kendall over the runs of one dataset and label).
Plain data in, plain data out: the runs arrive as (name, metrics) and nothing here reads MLflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runner import console

WIDTH = 120  # the terminal table's columns
FAMILIES = ("probe/", "tokens/", "morph/", "script/", "parity/", "train/")  # the built-in measures
NOT_SHOWN = ("time/", "data/", "warnings/", "throughput/", "sweep/", "invariance/")  # costs and counts

NOT_MEASURES = (
    "tokens/total",
    "tokens/vocab_used",
    "morph/boundaries",
    "tokens/max_len",
)  # sizes, not quality
RANKS = (  # the first measure the runs share ranks them: (measure, higher is better)
    ("probe/accuracy", True),
    ("morph/boundary_f1", True),
    ("tokens/fertility", False),
    ("tokens/mean_len", False),
)


@dataclass
class Run:
    """One run as the verdict reads it."""

    name: str
    metrics: dict[str, float]


def main_script(runs: Sequence[Run]) -> str | None:
    """The script with the most whitespace words in the data (Common, digits and punctuation aside)."""
    words: dict[str, float] = {}
    for run in runs:
        for key, value in run.metrics.items():
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == "script" and parts[2] == "words" and parts[1] != "Common":
                words[parts[1]] = max(words.get(parts[1], 0.0), value)
    return max(words, key=lambda s: words[s]) if words else None


def headline(runs: Sequence[Run]) -> dict[str, str]:
    """The measures shown first, those any run logged, each with its short name: the probe, then
    fertility, the main script's split characters and round trip, unknowns, morpheme boundaries,
    the vocabulary a training reached."""
    script = main_script(runs)
    wanted = [
        ("probe/accuracy", "probe acc"),
        ("probe/majority", "majority"),
        ("tokens/fertility", "fert"),
        (f"script/{script}/split_char_rate", f"split {script}"),
        (f"script/{script}/roundtrip_exact", f"rt {script}"),
        ("tokens/split_char_rate", "split"),
        ("tokens/roundtrip_exact", "rt"),
        ("tokens/unk_rate", "unk"),
        ("morph/boundary_precision", "mP"),
        ("morph/boundary_recall", "mR"),
        ("morph/boundary_f1", "mF1"),
        ("morph/aligned_token_share", "aligned"),
        ("train/vocab_size_reached", "vocab"),
        ("tokens/mean_len", "len"),
    ]
    present = {k: short for k, short in wanted if any(k in r.metrics for r in runs)}
    if script is not None:  # the main script's measures stand for the whole text's
        for k in ("tokens/split_char_rate", "tokens/roundtrip_exact"):
            if f"script/{script}/{k.split('/')[1]}" in present:
                present.pop(k, None)
    if len(present) > 1:
        present.pop("tokens/mean_len", None)
    return present


def rank(runs: Sequence[Run]) -> tuple[str, bool] | None:
    """The measure that ranks the runs (the first of RANKS every run logged) and its direction."""
    for measure, higher in RANKS:
        if runs and all(measure in r.metrics for r in runs):
            return measure, higher
    return None


def ranked(runs: Sequence[Run]) -> list[Run]:
    by = rank(runs)
    if by is None:
        return list(runs)
    measure, higher = by
    return sorted(runs, key=lambda r: -r.metrics[measure] if higher else r.metrics[measure])


def stated(runs: Sequence[Run]) -> str:
    by = rank(runs)
    if by is None:
        return "in job order"
    return f"ranked by {by[0]}, {'highest' if by[1] else 'lowest'} first"


def shared(runs: Sequence[Run]) -> list[str]:
    """Every measure of FAMILIES that all the runs logged: the headline first, then by name."""
    first = list(headline(runs))
    common = set.intersection(*(set(r.metrics) for r in runs)) if runs else set()
    rest = sorted(k for k in common if _measure(k) and k not in first)
    return [k for k in first if k in common] + rest


def _measure(key: str) -> bool:
    """A measure a verdict shows: a built-in family's, or an installed statistic's (any metric
    that is not a time, a count of the data or a sweep's bookkeeping)."""
    return key.startswith(FAMILIES) or not key.startswith(NOT_SHOWN)


def first_table(runs: Sequence[Run]) -> tuple[list[str], list[dict[str, object]]]:
    """The report's first table for one dataset: columns and rows (run, then every shared measure);
    run names without the ` · ` parts every run of the dataset shares."""
    columns = shared(runs)
    order = ranked(runs)
    names = distinct_parts([r.name for r in order])
    return columns, [
        {"run": n, **{k: r.metrics[k] for k in columns}} for n, r in zip(names, order, strict=True)
    ]


def distinct_parts(names: list[str]) -> list[str]:
    """Each name without the ` · ` parts that every name shares (`klue_nli_genre · bert` → `bert`)."""
    parts = [n.split(" · ") for n in names]
    common = set.intersection(*(set(p) for p in parts)) if len(parts) > 1 else set()
    return [" · ".join(x for x in p if x not in common) or n for p, n in zip(parts, names, strict=True)]


def terminal(runs: Sequence[Run], title: str = "") -> str:
    """The headline measures as a table that fits WIDTH columns, ranked, with a legend."""
    names = headline(runs)
    if not names or not runs:
        return ""
    cells = [[console.number(r.metrics[k]) if k in r.metrics else "—" for k in names] for r in ranked(runs)]
    widths = [max(len(short), *(len(row[i]) for row in cells)) for i, short in enumerate(names.values())]
    room = max(WIDTH - sum(w + 2 for w in widths), 12)
    run_names = [fit(n, room) for n in distinct_parts([r.name for r in ranked(runs)])]
    first = max(len("run"), *(len(n) for n in run_names))
    lines = [
        "  ".join(["run".ljust(first), *(s.rjust(w) for s, w in zip(names.values(), widths, strict=True))])
    ]
    lines += [
        "  ".join([n.ljust(first), *(c.rjust(w) for c, w in zip(row, widths, strict=True))])
        for n, row in zip(run_names, cells, strict=True)
    ]
    legend = "; ".join(f"{short} = {k}" for k, short in names.items() if short != k)
    head = f"{title}: " if title else ""
    return f"{head}{stated(runs)}\n" + "\n".join(lines) + f"\n({legend})"


def fit(text: str, width: int) -> str:
    """A run name cut to `width` in its middle, where sweep names repeat least."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def correlations(runs: Sequence[Run], target: str = "probe/accuracy") -> list[dict[str, object]]:
    """comparison/probe.json rows: each intrinsic measure every run logged and that varies,
    against the probe's accuracy over the runs (Spearman's ρ, Kendall's τ-b, their p-values, n).
    Best predictors (largest |ρ|) first. Empty under three runs: no ranking to correlate."""
    from scipy.stats import kendalltau, spearmanr

    runs = [r for r in runs if target in r.metrics]
    if len(runs) < 3:
        return []
    y = [r.metrics[target] for r in runs]
    common = set.intersection(*(set(r.metrics) for r in runs))
    out: list[dict[str, object]] = []
    intrinsic = [k for k in common if _measure(k) and not k.startswith(("probe/", "train/", "predict/"))]
    for measure in sorted(k for k in intrinsic if k not in NOT_MEASURES):
        x = [r.metrics[measure] for r in runs]
        if len(set(x)) < 2 or len(set(y)) < 2:
            continue
        rho, tau = spearmanr(x, y), kendalltau(x, y)
        out.append(
            {
                "measure": measure,
                "spearman": float(rho.statistic),
                "kendall": float(tau.statistic),
                "spearman_p": float(rho.pvalue),
                "kendall_p": float(tau.pvalue),
                "n": len(runs),
            }
        )
    out.sort(key=lambda row: -abs(float(str(row["spearman"]))))
    return out
