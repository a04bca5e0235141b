"""Partial states merge exactly: a family (or the morpheme statistic) fed two halves of a run's
batches and merged equals the one fed them all — what execution=ray relies on — and length
percentiles read from a histogram equal numpy's over the lengths themselves."""

from __future__ import annotations

import numpy as np
import pytest

from runner.tokenization import encoding, token_stats, tokenizer
from runner.tokenization.statistic import BaseStatistic, mergeable
from tests.helpers.invoking import compose
from tests.helpers.paths import HUB
from tests.helpers.texts import sentences


@pytest.fixture(scope="module")
def batches():
    cfg = compose("model=none", f"tokenizer.name_or_path={HUB / 'roberta-base'}")
    tok = tokenizer.load_tokenizer(cfg.tokenizer, cfg.model)
    kwargs = tokenizer.call_kwargs(tok, cfg.tokenizer, cfg.padding)
    texts = sentences(1200)
    return tok, list(encoding.Encoder(tok, kwargs, 0).stream(texts, None, 16, True))


def test_families_fed_in_two_parts_merge_into_the_whole(batches):
    tok, feed = batches
    whole, first, second = (token_stats.all_families(tok) for _ in range(3))
    for batch in feed:
        whole.update(batch)
    cut = len(feed) // 3
    for batch in feed[:cut]:
        first.update(batch)
    for batch in feed[cut:]:
        second.update(batch)
    first.merge(second)
    expected, merged = whole.metrics(), first.metrics()
    assert len(expected) > 20 and merged.keys() == expected.keys()
    for key, value in expected.items():
        assert merged[key] == value, key
    assert whole.tags() == first.tags()


def test_percentiles_from_a_histogram_equal_numpy():
    rng = np.random.default_rng(0)
    for _ in range(500):
        values = rng.integers(0, int(rng.integers(1, 700)), int(rng.integers(1, 400))).astype(np.int32)
        histogram = np.bincount(values)
        for q in (0, 5, 50, 95, 99.9, 100):
            assert token_stats.percentile(histogram, q) == np.percentile(values, q)


def test_a_statistic_without_merge_is_known_as_one():
    class Plain(BaseStatistic):
        pass

    class Merging(BaseStatistic):
        def merge(self, other):
            pass

    assert not mergeable(Plain()) and mergeable(Merging())
    assert mergeable(token_stats.Chunked([]))
