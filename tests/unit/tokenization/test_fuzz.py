"""Property-based: arbitrary unicode texts and pairs through tokenization statistics and logging."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from runner.config.schema import PaddingConfig, PaddingStrategy, TokenizerConfig
from runner.model import tiny
from runner.tokenization import encoding, token_rows, token_stats, tokenizer

# Special tokens spelled out in the text are content to Rust, not template tokens.
SPELLED = st.sampled_from(["[CLS]", "[SEP]", "[MASK]", "[unk]", "<s>", "</s>", "<mask>", "<pad>"])
TEXT = (
    st.lists(st.one_of(st.text(max_size=30), SPELLED), min_size=1, max_size=4)
    .map(" ".join)
    .filter(lambda s: s.strip())
)
PADDINGS = st.sampled_from(list(PaddingStrategy))


@pytest.fixture(scope="module", params=["bert", "roberta"])
def tok(request):
    return AutoTokenizer.from_pretrained(tiny.ensure(request.param))


def encode_all(tok, texts, pairs, strategy, max_length):
    cfg = TokenizerConfig(max_length=max_length)
    kwargs = tokenizer.call_kwargs(tok, cfg, PaddingConfig(strategy=strategy))
    batch = next(encoding.Encoder(tok, kwargs).stream(texts, pairs, len(texts), sort=False))
    stats = token_stats.all_families(tok)
    stats.update(batch)
    rows = token_rows.example_rows(tok, batch, list(range(len(texts))), None)
    return batch, stats, rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(TEXT, min_size=1, max_size=6), strategy=PADDINGS, with_pairs=st.booleans(), data=st.data()
)
def test_statistics_invariants(tok, texts, strategy, with_pairs, data):
    pairs = data.draw(st.lists(TEXT, min_size=len(texts), max_size=len(texts))) if with_pairs else None
    batch, stats, rows = encode_all(tok, texts, pairs, strategy, 32)
    metrics = stats.metrics()
    scripts, counts = stats.family(token_stats.Scripts), stats.family(token_stats.Counts)
    assert 0.0 <= metrics["tokens/pad_fraction"] <= 1.0
    assert 0.0 <= metrics["tokens/unk_rate"] <= 1.0
    assert 0.0 <= metrics["tokens/continued_word_ratio"] <= 1.0
    assert 0.0 <= metrics["tokens/truncated_fraction"] <= 1.0
    assert metrics["tokens/total"] == sum(r["n_tokens"] for r in rows)
    assert metrics["tokens/max_len"] <= 32
    assert scripts.words.sum() <= sum(
        len((t + " " + (p or "")).split()) for t, p in zip(texts, pairs or [None] * len(texts), strict=True)
    )
    assert scripts.word_tokens.sum() <= counts.content
    assert (scripts.word_unk <= scripts.word_tokens).all() and (scripts.continued <= scripts.words).all()
    for key, value in metrics.items():
        if key.endswith(("unk_rate", "continued_word_ratio")):
            assert 0.0 <= value <= 1.0, key
    for row in rows:
        assert row["n_tokens"] + row["n_pad"] == len(row["input_ids"])
        full = tok(row["text"], row.get("text_pair"), truncation=False)["input_ids"]
        assert row["truncated"] == (len(full) > row["n_tokens"])  # Rust's overflow agrees
        assert len(row["tokens"]) == len(row["input_ids"])
        json.dumps(row, ensure_ascii=False)  # every row can be logged as an MLflow table cell
    if strategy is not PaddingStrategy.do_not_pad:
        assert len({len(r["input_ids"]) for r in rows}) == 1
    rust = tok(
        texts, pairs, padding=strategy.value, truncation=True, max_length=32, return_special_tokens_mask=True
    )
    for i, mask in enumerate(rust["special_tokens_mask"]):  # the id lookup agrees with Rust
        assert batch.special_row(i)[: len(mask)].tolist() == mask


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=3))
def test_rows_round_trip_through_an_mlflow_table(tok, texts, tmp_path, tmp_path_factory):
    from runner.tracking.tracker import Tracker

    texts = [t if t.strip() else "x" for t in texts]
    _, _, rows = encode_all(tok, texts, None, PaddingStrategy.longest, 16)
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "fuzz")  # the test's store: one run an example
    run_id = tracker.start("fuzz", {})
    tracker.log_table(run_id, rows, "tokens.json")
    tracker.finish(run_id, "FINISHED")
    path = tracker.client.download_artifacts(run_id, "tokens.json", str(tmp_path_factory.mktemp("dl")))
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    assert [r[table["columns"].index("text")] for r in table["data"]] == texts
    assert np.array_equal(
        [r[table["columns"].index("n_tokens")] for r in table["data"]], [r["n_tokens"] for r in rows]
    )
