"""The probe (probe=bag_of_tokens|embedding) against scikit-learn called directly on the same
tokens and folds; a planted signal is found, shuffled labels stay at chance, pairs are crossed,
and rows that share a text stay in one fold (KLUE-NLI, where ungrouped folds fall below chance)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from scipy import sparse
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_score, cross_validate
from transformers import AutoTokenizer

from runner.config.schema import ProbeConfig, ProbeKind
from runner.engine import pipeline
from runner.task import probe
from tests.helpers.invoking import compose
from tests.helpers.paths import FIXTURES, HUB

NLI = FIXTURES / "datasets" / "klue-nli" / "klue-nli-v1.1_dev.first1000.jsonl"
BERT = HUB / "bert-base-uncased"
WORDS = ["the", "a", "cat", "dog", "runs", "sleeps", "near", "far"]
WORDS += ["house", "tree", "blue", "green", "small", "large", "river", "stone"]
MARGIN = 0.15  # shuffled labels: accuracy at most the majority rate plus this


def _inline(texts: list[str], labels: list[str], *overrides: str):
    base = (
        "model=none",
        f"tokenizer.name_or_path={BERT}",
        "probe=bag_of_tokens",
        "dataset.label_column=label",
    )
    cfg = compose(*overrides or base)
    cfg.dataset.columns, cfg.dataset.label_column = {"text": texts, "label": labels}, "label"
    return cfg


def _planted(n: int = 120, seed: int = 1) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        words = rng.sample(WORDS, 6)
        if i % 2:
            words.insert(rng.randrange(6), "zebra")
        texts.append(" ".join(words) + f" {i}")  # every text distinct: one group each
        labels.append("zebra" if i % 2 else "plain")
    return texts, labels


def test_a_planted_signal_is_found():
    texts, labels = _planted()
    result = pipeline.run(_inline(texts, labels))
    assert result.metrics["probe/examples"] == 120 and result.metrics["probe/groups"] == 120
    assert result.metrics["probe/accuracy"] >= 0.95
    assert result.metrics["probe/majority"] == 0.5
    assert result.metrics["probe/accuracy_low"] <= result.metrics["probe/accuracy_high"]
    assert result.tags["probe.kind"] == "bag_of_tokens" and result.tags["probe.features"] == "token counts"
    assert result.probe is not None and result.probe["classes"] == ["plain", "zebra"]
    matrix = np.asarray(result.probe["confusion_matrix"])
    assert matrix.shape == (2, 2) and matrix.sum() == 120
    assert result.metrics["time/probe_s"] > 0


def test_shuffled_labels_stay_at_chance():
    texts, labels = _planted()
    random.Random(7).shuffle(labels)
    result = pipeline.run(_inline(texts, labels))
    assert result.metrics["probe/accuracy"] <= result.metrics["probe/majority"] + MARGIN


def _nli(limit: int) -> list[dict]:
    return [json.loads(line) for line in NLI.read_text(encoding="utf-8").splitlines()[:limit]]


def _direct_features(ids: list[list[int]], masks: list[list[int]], types: list[list[int]] | None, vocab: int):
    """The bag (or the cross pairs of the first 50 of each side) built here from the tokenizer's
    own output, columns in ascending key order as the runner lays them."""
    rows = []
    for n, (row, mask) in enumerate(zip(ids, masks, strict=True)):
        content = [t for t, m in zip(row, mask, strict=True) if not m]
        if types is None:
            keys = content
        else:
            kinds = [k for k, m in zip(types[n], mask, strict=True) if not m]
            a = [t for t, k in zip(content, kinds, strict=True) if k == 0][:50]
            b = [t for t, k in zip(content, kinds, strict=True) if k == 1][:50]
            keys = [x * vocab + y for x in a for y in b]
        rows.append(keys)
    columns = sorted({k for keys in rows for k in keys})
    at = {k: i for i, k in enumerate(columns)}
    matrix = sparse.lil_matrix((len(rows), len(columns)))
    for n, keys in enumerate(rows):
        for k in keys:
            matrix[n, at[k]] += 1
    return matrix.tocsr()


def _direct_groups(premises: list[str], hypotheses: list[str] | None) -> np.ndarray:
    """Rows joined through a shared text, by repeated relabelling (independent of scipy's graph)."""
    group = list(range(len(premises)))
    texts = [premises] + ([hypotheses] if hypotheses else [])
    changed = True
    while changed:
        changed = False
        first: dict[str, int] = {}
        for column in texts:
            for row, text in enumerate(column):
                g = first.setdefault(text, group[row])
                if group[row] != g:
                    low = min(group[row], g)
                    changed = changed or low != group[row]
                    group = [low if x in (group[row], g) else x for x in group]
                    first[text] = low
    return np.asarray(group)


@pytest.mark.parametrize("pairs", [False, True], ids=["genre", "nli-pairs"])
def test_accuracy_equals_scikit_learn_called_directly(pairs):
    rows = _nli(300)
    extra = ["dataset.text_pair_column=hypothesis"] if pairs else []
    label = "gold_label" if pairs else "source"
    cfg = compose(
        "model=none", f"tokenizer.name_or_path={BERT}", "probe=bag_of_tokens", "dataset=json_file",
        f"dataset.path={NLI}", "dataset.text_column=premise", f"dataset.label_column={label}",
        "dataset.limit=300", "tokenizer.truncation=false", *extra,
    )  # fmt: skip
    result = pipeline.run(cfg)
    tok = AutoTokenizer.from_pretrained(str(BERT))
    premises = [r["premise"] for r in rows]
    hypotheses = [r["hypothesis"] for r in rows] if pairs else None
    enc = tok(premises, hypotheses, return_special_tokens_mask=True, return_token_type_ids=True)
    x = _direct_features(
        enc["input_ids"], enc["special_tokens_mask"], enc["token_type_ids"] if pairs else None, len(tok)
    )
    y = np.asarray([r[label] for r in rows])
    groups = _direct_groups(premises, hypotheses)
    assert len(y) == x.shape[0] == 300
    assert result.metrics["probe/features"] == x.shape[1]
    assert result.metrics["probe/groups"] == len(set(groups.tolist()))
    config = ProbeConfig(kind=ProbeKind.bag_of_tokens)
    cv = cross_validate(
        probe.estimator(config, 0), x, y, groups=groups,
        cv=StratifiedGroupKFold(5, shuffle=True, random_state=0), scoring=("accuracy", "f1_macro"),
    )  # fmt: skip
    assert result.metrics["probe/accuracy"] == pytest.approx(float(np.mean(cv["test_accuracy"])), abs=1e-12)
    assert result.metrics["probe/macro_f1"] == pytest.approx(float(np.mean(cv["test_f1_macro"])), abs=1e-12)
    assert result.metrics["probe/majority"] == max(np.unique(y, return_counts=True)[1]) / len(y)
    if pairs:
        assert result.tags["probe.features"] == "cross pairs of each side's first 50 tokens"


def test_grouped_folds_where_ungrouped_ones_fall_below_chance():
    """KLUE-NLI pairs each premise with three hypotheses, one per label: ungrouped folds see the
    premise's other rows in training and score below the majority rate; grouped ones do not."""
    cfg = compose(
        "model=none", f"tokenizer.name_or_path={BERT}", "probe=bag_of_tokens", "dataset=json_file",
        f"dataset.path={NLI}", "dataset.text_column=premise", "dataset.text_pair_column=hypothesis",
        "dataset.label_column=gold_label",
    )  # fmt: skip
    result = pipeline.run(cfg)
    rows = _nli(1000)
    assert result.metrics["probe/groups"] == len({r["premise"] for r in rows}) == 334
    tok = AutoTokenizer.from_pretrained(str(BERT))
    enc = tok([r["premise"] for r in rows], [r["hypothesis"] for r in rows], return_special_tokens_mask=True)
    x = _direct_features(enc["input_ids"], enc["special_tokens_mask"], enc["token_type_ids"], len(tok))
    y = np.asarray([r["gold_label"] for r in rows])
    config = ProbeConfig(kind=ProbeKind.bag_of_tokens)
    ungrouped = cross_val_score(
        probe.estimator(config, 0), x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)
    )
    majority = result.metrics["probe/majority"]
    assert float(ungrouped.mean()) < majority - 0.05
    assert result.metrics["probe/accuracy"] > majority - 0.02 > float(ungrouped.mean())


def test_embedding_probe_on_a_body(assets_dir):
    texts, labels = _planted(60)
    result = pipeline.run(
        _inline(texts, labels, "model=tiny_bert", "probe=embedding", "dataset.label_column=label")
    )
    assert result.metrics["probe/examples"] == 60
    assert result.tags["probe.kind"] == "embedding"
    assert result.tags["probe.features"].startswith("pooled outputs [60×")
    assert 0.0 <= result.metrics["probe/accuracy"] <= 1.0
