"""Boundary agreement between two real tokenizers, recomputed from direct tokenizer calls."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from runner.analysis import agreement, report
from runner.analysis.report import RunTokens
from tests.helpers.paths import HUB
from tests.helpers.texts import PAIRS, TEXTS, tokenize_run


def direct_ends(tok, example) -> set[int]:
    """Token ends (content tokens with a span), the pair's second text after `text + ' '`."""
    text, pair = (example, None) if isinstance(example, str) else example
    enc = tok(text, pair, return_offsets_mapping=True, return_special_tokens_mask=True)
    ends = set()
    for (a, b), special, seq in zip(
        enc["offset_mapping"], enc["special_tokens_mask"], enc.sequence_ids(), strict=True
    ):
        if not special and b > a:
            ends.add(b + (len(text) + 1 if seq == 1 else 0))
    return ends


@pytest.mark.parametrize("examples", [TEXTS, PAIRS], ids=["texts", "pairs"])
def test_boundary_f1_equals_a_direct_computation(examples):
    names = ["bert-base-uncased", "roberta-base"]
    runs = []
    for n, name in enumerate(names):
        rows = tokenize_run(HUB / name, examples, batch_size=2).token_rows
        runs.append(RunTokens(str(n), name, {}, report.keyed(rows)))
    pairs, lowest = agreement.pairwise(runs)
    bert, roberta = (AutoTokenizer.from_pretrained(str(HUB / n)) for n in names)
    both = sizes = 0
    per_example = []
    for example in examples:
        a, b = direct_ends(bert, example), direct_ends(roberta, example)
        both += len(a & b)
        sizes += len(a) + len(b)
        per_example.append(2 * len(a & b) / (len(a) + len(b)))
    assert len(pairs) == 1 and pairs[0]["examples"] == len(examples)
    assert pairs[0]["boundary_f1"] == pytest.approx(2 * both / sizes, rel=1e-12)
    keys = list(runs[0].rows)  # the examples in order, keyed by their text
    assert len(keys) == len(examples)
    assert [lowest[k] for k in keys] == pytest.approx(per_example, rel=1e-12)
    assert 0 < pairs[0]["boundary_f1"] < 1  # the two tokenizers cut Korean differently
    order = agreement.disagreeing_first(keys, lowest)
    assert [lowest[k] for k in order] == sorted(per_example)  # lowest agreement first


def test_a_run_agrees_with_itself_and_runs_on_other_texts_are_not_paired():
    rows = report.keyed(tokenize_run(HUB / "roberta-base", TEXTS[:2]).token_rows)
    other = report.keyed(tokenize_run(HUB / "roberta-base", TEXTS[2:4]).token_rows)
    same, _ = agreement.pairwise([RunTokens("a", "a", {}, rows), RunTokens("b", "b", {}, rows)])
    assert same[0]["boundary_f1"] == 1.0
    apart, _ = agreement.pairwise([RunTokens("a", "a", {}, rows), RunTokens("c", "c", {}, other)])
    assert apart == []
