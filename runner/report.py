"""The comparison of a sweep's runs as plain data → one self-contained HTML page and an MLflow
table: one row per example, each run's pieces side by side (see runner.compare, which reads
the runs back from MLflow).

The page has no external script, style or URL (CSS inline, plots as `data:` images), so it
renders inside MLflow's artifact viewer.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any

SEPARATOR = " | "  # between pieces in comparison/tokens.json; ⟨가⟩ marks a token covering part of 가


@dataclass
class RunTokens:
    """One run of the sweep: its name, metrics and tokens.json rows keyed by example index."""

    run_id: str
    name: str
    metrics: dict[str, float]
    rows: dict[Any, dict[str, Any]]


def content(row: dict[str, Any]) -> tuple[list[str], list[bool], list[bool]]:
    """A row's pieces, partial flags and special flags without its pad positions."""
    pieces = row.get("pieces") or [str(t) for t in row["tokens"]]
    partial = row.get("partial") or [False] * len(pieces)
    tokens = row["tokens"]
    if "attention_mask" in row:
        keep = [m == 1 for m in row["attention_mask"]]
    else:  # no mask returned: pads are the n_pad positions at the padded end
        n_pad, left = int(row.get("n_pad") or 0), row.get("pad_side") == "left"
        keep = [not (k < n_pad if left else k >= len(tokens) - n_pad) for k in range(len(tokens))]
    special = row.get("special") or [False] * len(pieces)
    pick = [k for k, flag in enumerate(keep) if flag]
    return [pieces[k] for k in pick], [bool(partial[k]) for k in pick], [bool(special[k]) for k in pick]


def key(row: dict[str, Any]) -> tuple:
    """Examples are joined across runs by (column, index): column is None unless data is parallel."""
    return (row.get("column"), row["index"])


def comparison_rows(runs: list[RunTokens]) -> list[dict[str, Any]]:
    """comparison/tokens.json: index, text (text_pair, column), then per run its pieces and count."""
    keys = sorted({k for r in runs for k in r.rows}, key=lambda k: (str(k[0]), k[1]))
    out = []
    for k in keys:
        first = next(r.rows[k] for r in runs if k in r.rows)
        row: dict[str, Any] = {"index": first["index"], "text": first["text"]}
        for extra in ("text_pair", "column"):
            if first.get(extra) is not None:
                row[extra] = first[extra]
        for run in runs:
            if k in run.rows:
                pieces, partial, _ = content(run.rows[k])
                row[run.name] = SEPARATOR.join(
                    f"⟨{p}⟩" if part else p for p, part in zip(pieces, partial, strict=True)
                )
                row[f"{run.name} · n"] = len(pieces)
        out.append(row)
    return out


def differing_first(rows: list[dict[str, Any]], runs: list[RunTokens]) -> list[dict[str, Any]]:
    """Examples whose segmentations (special tokens aside) differ most across runs come first."""

    def spread(row: dict[str, Any]) -> int:
        k = key(row)
        segmentations = set()
        for run in runs:
            if k in run.rows:
                pieces, _, special = content(run.rows[k])
                segmentations.add(tuple(p for p, s in zip(pieces, special, strict=True) if not s))
        return len(segmentations)

    return sorted(rows, key=lambda r: -spread(r))


def _spans(pieces: list[str], partial: list[bool], special: list[bool]) -> str:
    out = []
    for k, (p, part, spec) in enumerate(zip(pieces, partial, special, strict=True)):
        cls = "sp" if spec else ("a" if k % 2 == 0 else "b")
        title = " title='part of a character'" if part else ""
        out.append(f"<span class='{cls}{' part' if part else ''}'{title}>{html.escape(p)}</span>")
    return "".join(out)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table id='metrics' class='metrics'><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _example(k: tuple, runs: list[RunTokens]) -> str:
    first = next(r.rows[k] for r in runs if k in r.rows)
    title = html.escape(str(first["text"]))
    if first.get("text_pair"):
        title += f" <span class='pair'>‖ {html.escape(str(first['text_pair']))}</span>"
    column = f"[{html.escape(str(k[0]))}] " if k[0] is not None else ""
    lines = []
    for run in runs:
        if k not in run.rows:
            continue
        row = run.rows[k]
        pieces, partial, special = content(row)
        pad = int(row.get("n_pad") or 0)
        count = f"{len(pieces)} tokens" + (f" + {pad} pad" if pad else "")
        lines.append(
            f"<tr><th>{html.escape(run.name)}</th><td class='n'>{count}</td>"
            f"<td class='toks'>{_spans(pieces, partial, special)}</td></tr>"
        )
    head = f"<h3>{column}#{first['index']}: {title}</h3>"
    return f"<section class='ex'>{head}<table>{''.join(lines)}</table></section>"


STYLE = """
body{font-family:system-ui,'Noto Sans CJK KR','Noto Sans',sans-serif;margin:16px;color:#222}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;
vertical-align:top;font-size:13px} .metrics th{background:#f3f3f3}
.toks span{display:inline-block;margin:1px 0;padding:1px 2px;border-radius:3px;white-space:pre}
.toks .a{background:#cfe3ff} .toks .b{background:#ffe2b8} .toks .sp{background:#e6e6e6;color:#666}
.toks .part{outline:1px dashed #c00} .n{white-space:nowrap;color:#555} .pair{color:#555}
img{max-width:100%;margin:6px 0;border:1px solid #eee} h3{font-size:15px;margin:14px 0 4px}
"""


def render(
    metrics_rows: list[dict[str, Any]], runs: list[RunTokens], images: dict[str, bytes], order: list[tuple]
) -> str:
    """The whole page: metrics table, plots, then every example in the playground view."""
    columns = list(metrics_rows[0]) if metrics_rows else []
    imgs = "".join(
        f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,"
        f"{base64.b64encode(png).decode()}'></figure>"
        for name, png in images.items()
    )
    examples = "".join(_example(k, runs) for k in order)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>runner comparison</title>"
        f"<style>{STYLE}</style></head><body><h1>Runs side by side</h1>"
        f"<h2>Metrics</h2>{_table(metrics_rows, columns)}"
        "<h2 id='token-diff'>Tokens per example</h2><p>Each token is drawn over the text it "
        "covers (alternating colours; grey: special tokens; dashed: part of one character). "
        f"Examples where the runs differ most come first.</p>{examples}<h2>Plots</h2>{imgs}</body></html>"
    )
