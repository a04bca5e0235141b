"""The comparison of a sweep's runs as plain data → one self-contained HTML page and an MLflow
table: one row per example, each run's pieces side by side (see runner.analysis.compare, which reads
the runs back from MLflow).

The page has no external script, style or URL (CSS inline, plots as `data:` images), so it
renders inside MLflow's artifact viewer.
"""

from __future__ import annotations

import base64
import difflib
import html
import unicodedata
from dataclasses import dataclass
from typing import Any

from runner.analysis import verdict
from runner.console import number

SHOWN_CORRELATIONS = 8  # the best predictors of the probe on the page; all of them in comparison/probe.json
SEPARATOR = " | "  # between pieces in comparison/tokens.json
# After a piece, ⟨…⟩ is the text it stands for: the word an [UNK] replaced, or the character that
# a token holding part of it completes (`<0xEC><0x84> | <0x9C>⟨서⟩`, `ᄉ | ᅥ⟨서⟩`).


@dataclass
class RunTokens:
    """One run of the sweep: its name, metrics, tokens.json rows keyed by what they hold (see
    `keyed`) and the dataset it ran on (runs on different datasets share no row)."""

    run_id: str
    name: str
    metrics: dict[str, float]
    rows: dict[Any, dict[str, Any]]
    dataset: str = ""


@dataclass
class Finding:
    """One dataset's runs as the verdict reads them, and the probe's correlations with each
    intrinsic measure (comparison/probe.json; empty without a probe or under three runs)."""

    runs: list[verdict.Run]
    correlations: list[dict[str, Any]]


@dataclass
class Tokens:
    """One example's real tokens (pads aside) as tokens.json describes them."""

    pieces: list[str]
    partial: list[bool]
    special: list[bool]
    unk: list[bool]
    covers: list[str | None]
    crosses: list[bool] | None = None  # stats.morphemes: the token spans a morpheme boundary

    def labelled(self) -> list[str]:
        """Each piece followed by ⟨the text it stands for⟩ where that is not the piece itself."""
        return [
            f"{visible_space(p)}⟨{c}⟩" if c and (u or part) else visible_space(p)
            for p, part, u, c in zip(self.pieces, self.partial, self.unk, self.covers, strict=True)
        ]


SPACES = str.maketrans({" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍", "\u00a0": "⍽"})


def visible_space(piece: str) -> str:
    """A piece with its whitespace drawn (`␣`, `⏎`, `⇥`): a token that is a space is not a blank cell."""
    return piece.translate(SPACES)


def content(row: dict[str, Any]) -> Tokens:
    """A row's tokens without its pad positions."""
    pieces = row.get("pieces") or [str(t) for t in row["tokens"]]
    partial = row.get("partial") or [False] * len(pieces)
    tokens = row["tokens"]
    if "attention_mask" in row:
        keep = [m == 1 for m in row["attention_mask"]]
    else:  # no mask returned: pads are the n_pad positions at the padded end
        n_pad, left = int(row.get("n_pad") or 0), row.get("pad_side") == "left"
        keep = [not (k < n_pad if left else k >= len(tokens) - n_pad) for k in range(len(tokens))]
    special = row.get("special") or [False] * len(pieces)
    unk = row.get("unk") or [False] * len(pieces)
    covers = row.get("covers") or [None] * len(pieces)
    crosses = row.get("crosses")
    pick = [k for k, flag in enumerate(keep) if flag]
    return Tokens(
        [pieces[k] for k in pick],
        [bool(partial[k]) for k in pick],
        [bool(special[k]) for k in pick],
        [bool(unk[k]) for k in pick],
        [covers[k] for k in pick],
        [bool(crosses[k]) for k in pick] if crosses and len(crosses) == len(pieces) else None,
    )


def column(name: str) -> str:
    """A run name as a column of comparison/tokens.json: MLflow's table viewer reads a dot in a
    column name as a path into the row and shows every cell of it empty, so a dot is written as
    the one-dot leader (U+2024), which looks the same. Brackets, quotes and Hangul render as they
    are (checked in Chromium, tests/integration/test_dashboard.py)."""
    return name.replace(".", "\u2024")


def key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What an example is: (column, text, text_pair) — column is None unless data is parallel.
    Runs are joined on it, never on position, so a row only ever sets the same text side by side."""
    return (row.get("column"), row["text"], row.get("text_pair"))


def keyed(rows: list[dict[str, Any]], dataset: str = "") -> dict[tuple[Any, ...], dict[str, Any]]:
    """A run's tokens.json rows by (dataset, column, text, text_pair, occurrence): the n-th
    repeat of the same text in one dataset meets the n-th repeat in another run of it."""
    seen: dict[tuple[Any, ...], int] = {}
    out = {}
    for row in sorted(rows, key=lambda r: int(r["index"])):
        k = key(row)
        seen[k] = seen.get(k, -1) + 1
        out[(dataset, *k, seen[k])] = row
    return out


def datasets(runs: list[RunTokens]) -> list[str]:
    """The datasets the runs ran on, in first-seen order."""
    return list(dict.fromkeys(r.dataset for r in runs))


def comparison_rows(runs: list[RunTokens]) -> list[dict[str, Any]]:
    """comparison/tokens.json: index, text (text_pair, column), then per run its pieces and count.
    Give it the runs of one dataset (`by_dataset`): each row's cells are that text's tokens."""
    out = []
    for k in example_keys(runs):
        first = next(r.rows[k] for r in runs if k in r.rows)
        row: dict[str, Any] = {"index": first["index"], "text": first["text"]}
        for extra in ("text_pair", "column", "morphemes"):  # morphemes: the reference (stats.morphemes)
            if first.get(extra) is not None:
                row[extra] = first[extra]
        for run in runs:
            if k in run.rows:
                tokens = content(run.rows[k])
                row[column(run.name)] = SEPARATOR.join(tokens.labelled())
                row[column(f"{run.name} · n")] = len(tokens.pieces)
        out.append(row)
    return out


def by_dataset(runs: list[RunTokens]) -> dict[str, list[RunTokens]]:
    """The runs grouped by the dataset they ran on (one comparison table each)."""
    return {d: [r for r in runs if r.dataset == d] for d in datasets(runs)}


def example_keys(runs: list[RunTokens]) -> list[tuple[Any, ...]]:
    """Every example's key, in the order comparison_rows lists them."""
    order = {
        k: (r.dataset, str(row.get("column")), int(row["index"])) for r in runs for k, row in r.rows.items()
    }
    return sorted(order, key=lambda k: order[k])


def differing_first(keys: list[tuple[Any, ...]], runs: list[RunTokens]) -> list[tuple[Any, ...]]:
    """Examples whose segmentations (special tokens aside) differ most across runs come first."""

    def spread(k: tuple[Any, ...]) -> int:
        segmentations = set()
        for run in runs:
            if k in run.rows:
                tokens = content(run.rows[k])
                segmentations.add(
                    tuple(p for p, s in zip(tokens.pieces, tokens.special, strict=True) if not s)
                )
        return len(segmentations)

    return sorted(keys, key=lambda k: -spread(k))


def _spans(tokens: Tokens) -> str:
    """Each token drawn over what it is; an UNK in red with the word it replaced beside it, the
    character that split tokens build after the last of them."""
    out = []
    for k, (p, part, spec, unk, cover) in enumerate(
        zip(tokens.pieces, tokens.partial, tokens.special, tokens.unk, tokens.covers, strict=True)
    ):
        cls = "sp" if spec else "unk" if unk else ("a" if k % 2 == 0 else "b")
        if tokens.crosses and tokens.crosses[k]:
            cls += " cross"
        title = (
            " title='crosses a morpheme boundary'"
            if tokens.crosses and tokens.crosses[k] and not (unk or part)
            else f" title='unknown token for {html.escape(cover or '', quote=True)}'"
            if unk
            else " title='part of a character'"
            if part
            else ""
        )
        out.append(
            f"<span class='{cls}{' part' if part else ''}'{title}>{html.escape(visible_space(p))}</span>"
        )
        if cover and (unk or part):
            out.append(f"<span class='covers'>{html.escape(cover)}</span>")
    return "".join(out)


def _table(rows: list[dict[str, Any]], columns: list[str], table_id: str = "metrics") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(number(r.get(c, '')))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table id='{table_id}' class='metrics'><tr>{head}</tr>{body}</table>"


def _findings(found: dict[str, Finding]) -> str:
    """The page's first section: per dataset, every measure its runs share, ranked (verdict)."""
    out = ["<h2 id='verdict'>What the sweep found</h2>"]
    for dataset, finding in found.items():
        columns, rows = verdict.first_table(finding.runs)
        if not columns:
            continue
        out.append(f"<h3>{html.escape(dataset)} — {html.escape(verdict.stated(finding.runs))}</h3>")
        out.append(_table(rows, ["run", *columns], "verdict-table"))
        out.append(_probe(finding))
    return "".join(out) if len(out) > 1 else ""


def _probe(finding: Finding) -> str:
    """The probe beside the intrinsic measures: each run's accuracy with its interval, whether
    the best run differs from the others, and how well each measure predicts the probe."""
    probed = [r for r in verdict.ranked(finding.runs) if "probe/accuracy" in r.metrics]
    if not probed:
        return ""
    best = probed[0].metrics
    names = dict(zip((r.name for r in probed), verdict.distinct_parts([r.name for r in probed]), strict=True))
    lines = []
    for run in probed:
        m = run.metrics
        overlap = m.get("probe/accuracy_high", 1.0) >= best.get("probe/accuracy_low", 0.0)
        note = "" if run is probed[0] else (" — no difference shown" if overlap else " — lower than the best")
        lines.append(
            f"<li>{html.escape(names[run.name])}: {number(m['probe/accuracy'])} "
            f"[{number(m.get('probe/accuracy_low', 0.0))}, {number(m.get('probe/accuracy_high', 1.0))}]"
            f" (majority {number(m.get('probe/majority', 0.0))}){note}</li>"
        )
    text = (
        "<p class='probe'>Probe accuracy per run with its 95 % bootstrap interval over the "
        "examples; where two intervals overlap, the probe shows no difference between the "
        "tokenizers.</p><ul class='probe'>" + "".join(lines) + "</ul>"
    )
    if finding.correlations:
        n = finding.correlations[0]["n"]
        text += (
            f"<p class='probe'>Does an intrinsic measure predict the probe? Rank correlations "
            f"over {n} runs (comparison/probe.json). With this few tokenizers a rank correlation "
            "is weak evidence: read it as a hint, not a finding.</p>"
        )
        columns = ["measure", "spearman", "kendall", "spearman_p", "n"]
        shown = finding.correlations[:SHOWN_CORRELATIONS]
        text += _table(shown, columns, "probe-correlations")
        if len(finding.correlations) > len(shown):
            more = len(finding.correlations) - len(shown)
            text += f"<p class='probe'>… {more} more in comparison/probe.json.</p>"
    return text


def marked_difference(text: str, decoded: str) -> str:
    """HTML of the text with what decoding lost struck (<del>) and what it added inserted (<ins>)."""
    out = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, text, decoded, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            out.append(f"<del>{html.escape(text[a1:a2])}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins>{html.escape(decoded[b1:b2])}</ins>")
        if look_alike(text[a1:a2], decoded[b1:b2]):
            out.append(f"<span class='cp'>{html.escape(what_differs(text[a1:a2], decoded[b1:b2]))}</span>")
        if op == "equal":
            out.append(html.escape(text[a1:a2]))
    return "".join(out)


def visible(text: str) -> str:
    """The text as it looks: NFC, without invisible format characters (zero-width space, joiners)."""
    return "".join(c for c in unicodedata.normalize("NFC", text) if unicodedata.category(c) != "Cf")


def look_alike(a: str, b: str) -> bool:
    """Two different strings that render alike: another normalization form, an invisible character."""
    return a != b and visible(a) == visible(b)


def what_differs(a: str, b: str) -> str:
    """`[NFC U+C624 U+B298 → NFD U+110B U+1169 U+1102 U+1173 U+11AF]`: the code points of both sides
    with the normalization form each is in, for text whose change cannot be seen."""

    def named(text: str) -> str:
        if not text:
            return "nothing"
        forms = [f for f in ("NFC", "NFD") if unicodedata.normalize(f, text) == text]
        points = " ".join(f"U+{ord(c):04X}" for c in text)
        return f"{'/'.join(forms) or 'mixed'} {points}" if forms != ["NFC", "NFD"] else points

    return f"[{named(a)} → {named(b)}]"


def _losses(runs: list[RunTokens]) -> str:
    """Per run, the logged examples whose decode is not their text, the difference marked."""
    parts = []
    for run in runs:
        lost = [r for r in run.rows.values() if r.get("roundtrip") is False]
        if not lost:
            continue
        share = run.metrics.get("tokens/roundtrip_exact")
        head = f"{html.escape(run.name)}: {len(lost)} of {len(run.rows)} logged examples"
        if share is not None:
            head += f" (round trip over the whole run: {share:.1%})"
        items = "".join(
            f"<li>#{r['index']}: {marked_difference(_original(r), str(r.get('decoded_skip_special')))}</li>"
            for r in lost
        )
        parts.append(f"<h3>{head}</h3><ul class='losses'>{items}</ul>")
    unchecked = [html.escape(r.name) for r in runs if "tokens/roundtrip_exact" not in r.metrics]
    if unchecked:
        parts.append(
            f"<p class='note'>Not checked for {', '.join(unchecked)}: <code>stats.roundtrip=true</code> "
            "decodes every example (12–78 % more tokenize time in make bench).</p>"
        )
    if not parts:
        return ""
    return (
        "<h2 id='roundtrip'>What does not come back</h2><p><code>decode(input_ids, "
        "skip_special_tokens=True)</code> against the text: <del>struck</del> is lost, "
        f"<ins>marked</ins> is what decoding gives instead.</p>{''.join(parts)}"
    )


def _original(row: dict[str, Any]) -> str:
    """The text as decode would give it back whole: a pair's texts joined by one space (the
    runner decodes them separately; here they are shown together)."""
    return str(row["text"]) if not row.get("text_pair") else f"{row['text']} {row['text_pair']}"


def _agreement(pairs: list[dict[str, Any]], runs: list[RunTokens]) -> str:
    """Boundary F1 between runs: one line for two runs, a matrix for more."""
    if not pairs:
        return ""
    intro = (
        "<h2 id='agreement'>Where the tokenizers cut alike</h2><p>Boundary F1: the token ends "
        "(special tokens aside) two runs share, 2·Σ|A∩B| / (Σ|A| + Σ|B|) over the logged "
        "examples both tokenized; 1 = the same cuts.</p>"
    )
    if len(pairs) == 1:
        p = pairs[0]
        return (
            f"{intro}<p>{html.escape(p['name_a'])} vs {html.escape(p['name_b'])}: "
            f"<b>{p['boundary_f1']:.3f}</b> over {p['examples']} examples</p>"
        )
    value = {(p["run_a"], p["run_b"]): p["boundary_f1"] for p in pairs}
    value.update({(b, a): v for (a, b), v in list(value.items())})
    head = "".join(f"<th>{html.escape(r.name)}</th>" for r in runs)
    body = ""
    for a in runs:
        cells = "".join(
            "<td>1</td>"
            if a is b
            else f"<td>{value[(a.run_id, b.run_id)]:.3f}</td>"
            if (a.run_id, b.run_id) in value
            else "<td></td>"
            for b in runs
        )
        body += f"<tr><th>{html.escape(a.name)}</th>{cells}</tr>"
    return f"{intro}<table id='agreement-matrix' class='metrics'><tr><th></th>{head}</tr>{body}</table>"


def first_dataset(k: tuple[Any, ...], runs: list[RunTokens]) -> str:
    return next(r.dataset for r in runs if k in r.rows)


def _example(k: tuple[Any, ...], runs: list[RunTokens], lowest: float | None = None) -> str:
    first = next(r.rows[k] for r in runs if k in r.rows)
    title = html.escape(str(first["text"]))
    if first.get("text_pair"):
        title += f" <span class='pair'>‖ {html.escape(str(first['text_pair']))}</span>"
    column = f"[{html.escape(str(first['column']))}] " if first.get("column") is not None else ""
    if len(datasets(runs)) > 1:  # a sweep over datasets: say which one the example is from
        column = f"<span class='dataset'>{html.escape(first_dataset(k, runs))}</span> {column}"
    lines = []
    for run in runs:
        if k not in run.rows:
            continue
        row = run.rows[k]
        tokens = content(row)
        pad = int(row.get("n_pad") or 0)
        count = f"{len(tokens.pieces)} tokens" + (f" + {pad} pad" if pad else "")
        if row.get("roundtrip") is False:
            decoded = html.escape(str(row.get("decoded_skip_special")), quote=True)
            count += f"<br><span class='lost' title='decode gives: {decoded}'>does not round-trip</span>"
        lines.append(
            f"<tr><th>{html.escape(run.name)}</th><td class='n'>{count}</td>"
            f"<td class='toks'>{_spans(tokens)}</td></tr>"
        )
    if first.get("morphemes"):  # the language's own cuts, above every run's tokens
        lines.insert(
            0,
            f"<tr class='morph'><th>morphemes (Kiwi)</th><td class='n'></td>"
            f"<td>{html.escape(str(first['morphemes']))}</td></tr>",
        )
    agree = f" <span class='n'>(boundary F1 {lowest:.2f})</span>" if lowest is not None else ""
    head = f"<h3>{column}#{first['index']}: {title}{agree}</h3>"
    return f"<section class='ex'>{head}<table>{''.join(lines)}</table></section>"


STYLE = """
body{font-family:system-ui,'Noto Sans CJK KR','Noto Sans',sans-serif;margin:16px;color:#222}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;
vertical-align:top;font-size:13px} .metrics th{background:#f3f3f3}
.toks span{display:inline-block;margin:1px 0;padding:1px 2px;border-radius:3px;white-space:pre}
.toks .a{background:#cfe3ff} .toks .b{background:#ffe2b8} .toks .sp{background:#e6e6e6;color:#666}
.toks .part{outline:1px dashed #c00}
.toks .cross{border-bottom:3px solid #c0392b} .morph td{color:#333}
.n{white-space:nowrap;color:#555} .pair{color:#555}
.toks .unk{background:#ffb3b3;color:#900;font-weight:600} .toks .covers{font-size:11px;color:#777;
margin:0 4px 0 1px;vertical-align:sub} .lost{color:#900;font-size:12px} ins{background:#ffd0d0}
del{background:#d0f0d0} .cp{font:11px monospace;color:#555;margin:0 3px}
img{max-width:100%;margin:6px 0;border:1px solid #eee} h3{font-size:15px;margin:14px 0 4px}
"""


def render(
    metrics_rows: list[dict[str, Any]],
    runs: list[RunTokens],
    images: dict[str, bytes],
    order: list[tuple[Any, ...]],
    agreement: tuple[list[dict[str, Any]], dict[tuple[Any, ...], float]] = ([], {}),
    found: dict[str, Finding] | None = None,
) -> str:
    """The whole page: metrics table, plots, then every example in the playground view."""
    columns = list(metrics_rows[0]) if metrics_rows else []
    imgs = "".join(
        f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,"
        f"{base64.b64encode(png).decode()}'></figure>"
        for name, png in images.items()
    )
    pairs, lowest = agreement
    examples = "".join(_example(k, runs, lowest.get(k)) for k in order)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>runner comparison</title>"
        f"<style>{STYLE}</style></head><body><h1>Runs side by side</h1>{_findings(found or {})}"
        f"<h2>All metrics</h2>{_table(metrics_rows, columns)}{_agreement(pairs, runs)}"
        "<h2 id='token-diff'>Tokens per example</h2><p>Each token is drawn as what it is "
        "(alternating colours; grey: special tokens; red: an unknown token, the word it replaced "
        "beside it; dashed: part of one character — byte-level tokens as their bytes, "
        "<code>&lt;0xEC&gt;</code>, decomposed syllables as their jamo — with the character they "
        "build after the last of them). Examples where the runs disagree most (lowest boundary "
        f"F1) come first.</p>{examples}{_losses(runs)}"
        f"<h2>Plots</h2>{imgs}</body></html>"
    )
