"""Every head's logged predictions match transformers' own pipelines on the same model and texts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    BertConfig,
    pipeline,
)

from runner.engine import pipeline as runner_pipeline
from runner.errors import ModelError
from runner.model import outputs, tiny
from tests.helpers.invoking import compose

TEXTS = [
    "Hello, my dog is cute.",
    "오늘 날씨가 정말 좋네요.",
    "The quick brown fox jumps over the lazy dog.",
    "Seoul is the capital of South Korea.",
]
EMOTIONS = {i: f"emotion_{i}" for i in range(28)}


def build(tmp_path, cls, **config):
    """A small random model of our own with the tiny BERT tokenizer, saved in HF format."""
    tok = AutoTokenizer.from_pretrained(tiny.ensure("bert"))
    torch.manual_seed(1)
    model = cls.from_config(
        BertConfig(
            vocab_size=len(tok),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
            **config,
        )
    )
    out = tmp_path / cls.__name__
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out), model.eval(), tok


def run_head(path, head, texts, *overrides):
    run = compose(f"model.name_or_path={path}", f"model.head={head}", *overrides)
    run.dataset.texts = texts
    return runner_pipeline.run(run)


def test_sequence_classification_matches_pipeline(tmp_path):
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    path, model, tok = build(
        tmp_path,
        AutoModelForSequenceClassification,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    result = run_head(path, "sequence_classification", TEXTS, "predict.top_k=3")
    expected = pipeline("text-classification", model=model, tokenizer=tok, top_k=None)(TEXTS)
    for row, exp in zip(result.prediction_rows, expected, strict=True):
        assert row["label"] == exp[0]["label"]
        assert row["score"] == pytest.approx(exp[0]["score"], abs=1e-4)
        assert [t["label"] for t in row["top_k"]] == [e["label"] for e in exp]
    assert result.tags["model.num_labels"] == "3"
    assert result.tags["model.head_initialized"] == "false"


def test_multi_label_uses_sigmoid_like_pipeline(tmp_path):
    path, model, tok = build(
        tmp_path,
        AutoModelForSequenceClassification,
        id2label=EMOTIONS,
        label2id={v: k for k, v in EMOTIONS.items()},
        problem_type="multi_label_classification",
    )
    result = run_head(path, "sequence_classification", TEXTS, "predict.top_k=5", "predict.threshold=0.5")
    expected = pipeline("text-classification", model=model, tokenizer=tok, top_k=None)(TEXTS)
    for row, exp in zip(result.prediction_rows, expected, strict=True):
        assert [t["label"] for t in row["top_k"]] == [e["label"] for e in exp[:5]]
        for got, want in zip(row["top_k"], exp[:5], strict=True):
            assert got["score"] == pytest.approx(want["score"], abs=1e-4)
        assert row["labels"] == [e["label"] for e in exp if e["score"] > 0.5]
    assert len(result.prediction_rows[0]["labels"]) > 1  # sigmoid: several labels over 0.5


def test_regression_logs_the_raw_value_like_pipeline_with_no_function(tmp_path):
    path, model, tok = build(
        tmp_path, AutoModelForSequenceClassification, num_labels=1, problem_type="regression"
    )
    result = run_head(path, "sequence_classification", TEXTS)
    expected = pipeline("text-classification", model=model, tokenizer=tok, function_to_apply="none")(TEXTS)
    assert len(result.prediction_rows) == len(TEXTS)
    for row, exp in zip(result.prediction_rows, expected, strict=True):
        assert row["score"] == pytest.approx(exp["score"], abs=1e-4)
        assert "label" not in row and len(row["values"]) == 1


def test_token_heads_log_per_token_logits_of_real_tokens(tmp_path):
    path, model, tok = build(tmp_path, AutoModelForTokenClassification, num_labels=5)
    result = run_head(path, "token_classification", TEXTS, "runtime.sort_by_length=false")
    values, offsets = outputs.load(result.outputs)
    assert len(offsets) == len(TEXTS) + 1
    for i, text in enumerate(TEXTS):
        enc = tok(text, return_tensors="pt")
        with torch.inference_mode():
            expected = model(**enc).logits[0].numpy()
        got = values[offsets[i] : offsets[i + 1]]
        assert got.shape == expected.shape == (len(enc["input_ids"][0]), 5)
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_token_classification_matches_pipeline(tmp_path):
    tags = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC"}
    path, model, tok = build(
        tmp_path,
        AutoModelForTokenClassification,
        id2label=tags,
        label2id={v: k for k, v in tags.items()},
    )
    result = run_head(path, "token_classification", TEXTS)
    nlp = pipeline(
        "token-classification",
        model=model,
        tokenizer=tok,
        ignore_labels=[],
        aggregation_strategy="none",
    )
    for row, exp in zip(result.prediction_rows, nlp(TEXTS), strict=True):
        assert [t["token"] for t in row["tokens"]] == [e["word"] for e in exp]
        assert [t["label"] for t in row["tokens"]] == [e["entity"] for e in exp]
        for got, want in zip(row["tokens"], exp, strict=True):
            assert got["score"] == pytest.approx(want["score"], abs=1e-4)
        assert len(row["word_labels"]) >= 1


def test_left_padding_keeps_token_rows_aligned(tmp_path):
    """Left-padded batches put pads first: tokens and words must still line up per example."""
    tags = {0: "O", 1: "B-PER"}
    path, _, _ = build(
        tmp_path, AutoModelForTokenClassification, id2label=tags, label2id={"O": 0, "B-PER": 1}
    )
    right = run_head(path, "token_classification", TEXTS)
    left = run_head(path, "token_classification", TEXTS, "padding.side=left")
    for r, lp in zip(right.prediction_rows, left.prediction_rows, strict=True):
        assert [t["token"] for t in lp["tokens"]] == [t["token"] for t in r["tokens"]]
        assert [t["word"] for t in lp["tokens"]] == [t["word"] for t in r["tokens"]]
        assert len(lp["word_labels"]) == len(r["word_labels"])


def test_masked_lm_matches_fill_mask(tmp_path):
    path, model, tok = build(tmp_path, AutoModelForMaskedLM)
    texts = ["Hello, my [MASK] is cute.", "오늘 [MASK] 정말 좋네요."]
    result = run_head(path, "masked_lm", texts, "predict.top_k=4")
    expected = pipeline("fill-mask", model=model, tokenizer=tok, top_k=4)(texts)
    for row, exp in zip(result.prediction_rows, expected, strict=True):
        assert row["masks"] == 1
        assert [f["token"] for f in row["fills"][0]] == [e["token"] for e in exp]
        for got, want in zip(row["fills"][0], exp, strict=True):
            assert got["score"] == pytest.approx(want["score"], abs=1e-4)
            assert got["token_str"] == want["token_str"]


@pytest.mark.parametrize("side", ["right", "left"])
def test_question_answering_span_is_the_best_context_span(tmp_path, side):
    """transformers 5 has no question-answering pipeline: check against the span rule itself,
    on the batch as the runner builds it (left padding shifts every position)."""
    path, model, tok = build(tmp_path, AutoModelForQuestionAnswering)
    pairs = [
        ["Where is the dog?", "The dog is in the park near the lake."],
        ["수도는 어디입니까?", "서울은 대한민국의 수도입니다."],
    ]
    result = run_head(
        path,
        "question_answering",
        pairs,
        "predict.max_answer_len=30",
        f"padding.side={side}",
        "runtime.sort_by_length=false",
    )
    questions, contexts = [q for q, _ in pairs], [c for _, c in pairs]
    enc = tok(
        questions, contexts, padding=True, padding_side=side, return_offsets_mapping=True, return_tensors="pt"
    )
    offsets = enc.pop("offset_mapping")
    with torch.inference_mode():
        out = model(**enc)
    for i, (row, context) in enumerate(zip(result.prediction_rows, contexts, strict=True)):
        ctx = np.array([s == 1 for s in enc.sequence_ids(i)])
        start = np.where(ctx, out.start_logits[i].numpy(), -1e4)
        end = np.where(ctx, out.end_logits[i].numpy(), -1e4)
        ps, pe = np.exp(start - start.max()), np.exp(end - end.max())
        ps, pe = ps / ps.sum(), pe / pe.sum()
        scores = np.tril(np.triu(np.outer(ps, pe)), 29)
        s, e = np.unravel_index(scores.argmax(), scores.shape)
        assert row["answer"] == context[int(offsets[i][s][0]) : int(offsets[i][e][1])]
        assert row["score"] == pytest.approx(float(scores[s, e]), abs=1e-4)


def test_body_embeddings_match_feature_extraction(tmp_path):
    path = tiny.ensure("bert")
    result = run_head(path, "none", TEXTS)
    nlp = pipeline("feature-extraction", model=path, tokenizer=path)
    expected = np.stack([np.array(nlp(t))[0].mean(axis=0) for t in TEXTS])
    values, offsets = outputs.load(result.outputs)
    assert values.shape == (len(TEXTS), 32) and offsets.tolist() == list(range(len(TEXTS) + 1))
    np.testing.assert_allclose(values, expected, atol=1e-4)
    assert result.prediction_rows[0]["embedding_norm"] == pytest.approx(
        float(np.linalg.norm(expected[0])), abs=1e-4
    )
    assert result.shapes["overall"]["last_hidden_state"][0] == len(TEXTS)
    assert result.shapes["overall"]["pooler_output"] == [len(TEXTS), 32]


def test_body_checkpoint_into_head_is_flagged():
    result = run_head(tiny.ensure("bert"), "sequence_classification", TEXTS, "model.num_labels=2")
    assert result.tags["model.head_initialized"] == "true"
    assert any(k.startswith("classifier") for k in result.missing_keys)
    assert len(result.prediction_rows) == len(TEXTS)


def test_sort_by_length_keeps_order_and_values():
    texts = TEXTS * 5 + ["a", "a much longer sentence than most of the others in this list"]
    runs = []
    for sort in ("true", "false"):
        run = compose("model=tiny_classifier", f"runtime.sort_by_length={sort}", "runtime.batch_size=4")
        run.dataset.texts = texts
        runs.append(runner_pipeline.run(run))
    a, b = runs
    assert [r["index"] for r in a.prediction_rows] == list(range(len(texts)))
    for x, y in zip(a.prediction_rows, b.prediction_rows, strict=True):
        assert x["label"] == y["label"] and x["score"] == pytest.approx(y["score"], abs=1e-5)
    assert [r["text"] for r in a.token_rows] == texts
    assert a.metrics["tokens/pad_fraction"] < b.metrics["tokens/pad_fraction"]


def test_roberta_with_bert_pairs_drops_token_types_with_a_warning():
    """A pair's token_type_ids of 1 would IndexError in RoBERTa's one-row type embedding."""
    run = compose("model=tiny_roberta", "tokenizer=tiny_bert", "dataset=sample_pairs")
    result = runner_pipeline.run(run)
    assert any("token_type_ids" in w and "dropped" in w for w in result.warnings)
    assert len(result.prediction_rows) == len(run.dataset.texts)


def test_tokenizer_ids_beyond_model_vocab_is_a_clear_error():
    run = compose("model=tiny_bert", "tokenizer=tiny_roberta")  # 700 ids into a 600-row embedding
    run.dataset.texts = ["저는 자연어 처리를 공부하고 있습니다. " * 3]
    with pytest.raises(ModelError) as info:
        runner_pipeline.run(run)
    assert str(info.value).startswith("tokenizer.name_or_path")


def test_head_the_architecture_lacks_names_supported_heads(tmp_path):
    from transformers import GPT2Config, GPT2Model

    out = tmp_path / "gpt2"
    GPT2Model(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=600, n_positions=64)).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny.ensure("bert")).save_pretrained(out)
    with pytest.raises(ModelError) as info:
        run_head(str(out), "masked_lm", TEXTS)
    assert str(info.value).startswith("model.head=masked_lm") and "sequence_classification" in str(info.value)


def test_missing_model_path_names_key():
    with pytest.raises(ModelError) as info:
        run_head("/nonexistent/model", "none", TEXTS)
    assert (
        str(info.value).startswith("model.name_or_path=/nonexistent/model")
        or str(info.value).startswith("tokenizer.name_or_path")
        or "model.name_or_path" in str(info.value)
    )


def test_gold_labels_give_accuracy_and_out_of_range_labels_fail():
    from runner.errors import DataError

    run = compose("model=tiny_classifier", "dataset.label_column=label")
    run.dataset.columns = {"text": TEXTS, "label": ["negative", "positive", "positive", "negative"]}
    run.dataset.texts = None
    result = runner_pipeline.run(run)
    predicted = [r["label"] for r in result.prediction_rows]
    gold = ["negative", "positive", "positive", "negative"]
    assert result.metrics["predict/accuracy"] == sum(p == g for p, g in zip(predicted, gold, strict=True)) / 4
    run.dataset.columns = {"text": TEXTS, "label": [0, 1, 2, 7]}
    with pytest.raises(DataError) as info:
        runner_pipeline.run(run)
    assert str(info.value).startswith("dataset.label_column=label") and "7" in str(info.value)


def test_dtype_from_config_is_applied():
    run = compose("model=tiny_bert", "model.dtype=bfloat16")
    result = runner_pipeline.run(run)
    assert result.tags["model.dtype"] == "bfloat16"
    assert np.isfinite(outputs.load(result.outputs)[0]).all()


def test_runtime_device_cuda_runs_there_or_names_the_key():
    run = compose("model=tiny_bert", "runtime.device=cuda")
    if torch.cuda.is_available():
        assert runner_pipeline.run(run).tags["model.device"] == "cuda"
        return
    with pytest.raises(ModelError) as info:
        runner_pipeline.run(run)
    assert str(info.value).startswith("runtime.device=cuda")


def test_a_body_run_logs_no_head_facts():
    run = compose("model=tiny_bert")
    result = runner_pipeline.run(run)
    assert result.tags["model.class"].endswith("Model") and "model.hidden_size" in result.tags
    assert "model.num_labels" not in result.tags and "model.problem_type" not in result.tags


def test_tiny_classifier_answers_depend_on_the_input():
    run = compose("model=tiny_classifier")
    run.dataset.texts = [
        "I love this movie, the acting was wonderful.",
        "This was the worst meal I have ever eaten.",
        "기차는 아침 아홉 시에 출발합니다.",
    ]
    labels = [r["label"] for r in runner_pipeline.run(run).prediction_rows]
    assert labels == [tiny.SENTIMENT[tiny.SENTIMENT_LINES[t]] for t in run.dataset.texts]
    assert labels == ["positive", "negative", "neutral"]
