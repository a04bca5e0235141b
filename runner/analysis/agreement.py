"""Where two tokenizers cut the same text alike: boundary agreement between a sweep's runs,
read from their tokens.json rows (plain data, no MLflow).

Each content token's end in the text is a boundary (`span` of tokens.json; special tokens, pads
and empty spans aside; the tokens that share one split character end at the same place, so a
character counts once). For two runs and one example, F1 of the two boundary sets is
2·|A∩B| / (|A| + |B|); over the sweep, 2·Σ|A∩B| / (Σ|A| + Σ|B|) over the examples both runs
logged with the same text.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from runner.analysis.report import RunTokens
from runner.tokenization import boundary


def boundaries(row: dict[str, Any]) -> set[int] | None:
    """The row's token ends; None for a row without spans (a Python tokenizer, an older run)."""
    spans = row.get("span")
    if not spans:
        return None
    special = row.get("special") or [False] * len(spans)
    return {s[1] for s, flag in zip(spans, special, strict=True) if s and not flag and s[1] > s[0]}


def pairwise(runs: list[RunTokens]) -> tuple[list[dict[str, Any]], dict[tuple[Any, ...], float]]:
    """One row per pair of runs that share examples (`run_a`, `run_b`, `name_a`, `name_b`,
    `boundary_f1`, `examples`), and per example its lowest F1 over those pairs."""
    rows: list[dict[str, Any]] = []
    lowest: dict[tuple[Any, ...], float] = {}
    for a, b in combinations(runs, 2):
        both, in_a, in_b, examples = 0, 0, 0, 0
        for k in a.rows.keys() & b.rows.keys():
            ra, rb = a.rows[k], b.rows[k]
            if ra.get("text") != rb.get("text") or ra.get("text_pair") != rb.get("text_pair"):
                continue
            ba, bb = boundaries(ra), boundaries(rb)
            if ba is None or bb is None:
                continue
            both += len(ba & bb)
            in_a, in_b = in_a + len(ba), in_b + len(bb)
            examples += 1
            lowest[k] = min(lowest.get(k, 1.0), boundary.f1(ba, bb))
        if examples:
            rows.append(
                {
                    "run_a": a.run_id,
                    "run_b": b.run_id,
                    "name_a": a.name,
                    "name_b": b.name,
                    "boundary_f1": boundary.scores(both, in_a, in_b)[2],
                    "examples": examples,
                }
            )
    return rows, lowest


def disagreeing_first(
    keys: list[tuple[Any, ...]], lowest: dict[tuple[Any, ...], float]
) -> list[tuple[Any, ...]]:
    """Examples by their lowest agreement between any two runs, lowest first (ties: input order)."""
    return sorted(keys, key=lambda k: lowest.get(k, 1.0))
