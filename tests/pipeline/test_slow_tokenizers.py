"""Every head with the fast and the slow (Python) tokenizer: it runs, or is refused up front."""

from __future__ import annotations

import pytest

from runner.engine import pipeline
from runner.errors import ConfigError, ModelError
from tests.helpers.invoking import compose

HEADS = ["none", "sequence_classification", "token_classification", "masked_lm", "question_answering"]
PAIRS = [["Where is Seoul?", "Seoul is in Korea."], ["누가 왔나요?", "철수가 왔어요."]]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "slow"])
@pytest.mark.parametrize("head", HEADS)
def test_every_head_with_fast_and_slow_tokenizers(head, fast):
    overrides = ("model=tiny_bert", f"model.head={head}", f"tokenizer.use_fast={str(fast).lower()}")
    if head == "question_answering" and not fast:
        with pytest.raises(ConfigError) as info:  # refused when the config is composed
            compose(*overrides)
        assert str(info.value).startswith("tokenizer.use_fast=false")
        return
    cfg = compose(*overrides)
    cfg.dataset.texts = (
        PAIRS if head == "question_answering" else ["Hello [MASK] world", "오늘 [MASK] 좋네요"]
    )
    result = pipeline.run(cfg)
    assert result.tags["tokenizer.is_fast"] == str(fast).lower()
    assert len(result.token_rows) == 2 and all(
        len(r["pieces"]) == len(r["tokens"]) for r in result.token_rows
    )
    if head != "none":
        assert len(result.prediction_rows) == 2
    if not fast:
        assert "tokens/fertility" not in result.metrics  # needs offsets


def test_a_tokenizer_without_a_python_version_says_so():
    cfg = compose("model=none", "tokenizer=tiny_roberta", "tokenizer.use_fast=false")
    with pytest.raises(ModelError) as info:
        pipeline.run(cfg)
    assert str(info.value).startswith("tokenizer.use_fast=false") and "RobertaTokenizer" in str(info.value)
