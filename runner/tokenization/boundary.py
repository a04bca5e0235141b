"""Boundary agreement, one convention for every caller: the morpheme statistic (a tokenizer's
cuts against Kiwi's, runner.tokenization.morphemes) and the sweep's pairwise agreement (two
tokenizers' token ends, runner.analysis.agreement)."""

from __future__ import annotations


def scores(shared: int, found: int, truth: int) -> tuple[float, float, float]:
    """Precision, recall and F1 of `found` boundaries against `truth`, `shared` of them in both.
    A side with no boundary has nothing wrong (precision) or nothing missed (recall): 1.0; two
    sides with none agree: F1 1.0. F1 = 2·shared / (found + truth), summed over texts by callers."""
    precision = shared / found if found else 1.0
    recall = shared / truth if truth else 1.0
    f1 = 2 * shared / (found + truth) if found + truth else 1.0
    return precision, recall, f1


def f1(a: set[int], b: set[int]) -> float:
    """F1 of two boundary sets (symmetric)."""
    return scores(len(a & b), len(a), len(b))[2]
