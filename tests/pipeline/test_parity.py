"""Parity on parallel text (Petrov et al. 2023) equals a direct count with the tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from runner.config.schema import check
from runner.engine import pipeline
from runner.errors import ConfigError
from tests.helpers.invoking import compose
from tests.helpers.paths import HUB

UDHR = Path(__file__).resolve().parents[2] / "runner" / "assets" / "udhr" / "udhr-parallel-12.jsonl"


def test_udhr_parity_equals_a_direct_count(fixtures):
    path = HUB / "bert-base-uncased"
    cfg = compose(
        "model=none",
        "dataset=udhr_parallel",
        f"tokenizer.name_or_path={path}",
        "tokenizer.truncation=false",
        "padding=do_not_pad",
    )
    result = pipeline.run(cfg)
    rows = [json.loads(line) for line in UDHR.read_text(encoding="utf-8").splitlines()]
    columns = cfg.dataset.parallel_columns
    assert len(columns) == 12 and len(rows) == 31
    tok = AutoTokenizer.from_pretrained(str(path))
    content = {}
    for column in columns:
        enc = tok([r[column] for r in rows], return_special_tokens_mask=True)
        content[column] = sum(len(m) - sum(m) for m in enc["special_tokens_mask"])
    for column in columns:
        assert result.metrics[f"parity/{column}"] == content[column] / content["eng"], column
    assert result.metrics["parity/eng"] == 1.0
    worst = max(columns, key=content.get)
    assert result.tags["parity.max_column"] == worst
    assert result.metrics["parity/max"] == content[worst] / content["eng"]
    costs = list(content.values())  # Gini of the columns' costs, from its definition
    mean = sum(costs) / len(costs)
    gini = sum(abs(a - b) for a in costs for b in costs) / (2 * len(costs) ** 2 * mean)
    assert result.metrics["parity/gini"] == pytest.approx(gini, rel=1e-12) and 0 < gini < 1
    logged = {(r["column"], r["index"]) for r in result.token_rows}
    assert len(logged) == 12 * 31 == len(result.token_rows)
    assert {"script/Hangul/words", "script/Thai/words", "script/Devanagari/words"} <= set(result.metrics)


def test_parallel_columns_need_two_and_no_pair():
    with pytest.raises(ConfigError) as info:
        check(compose("model=none", "dataset.parallel_columns=[eng]"))
    assert str(info.value).startswith("dataset.parallel_columns")
