"""The probe's fit: stratified k-fold, grouped so that rows sharing a text (either side of a pair)
stay in one fold, a logistic regression per fold (scikit-learn), and what the run logs of it.

Without the grouping a probe sees a text in training and again in testing: KLUE-NLI pairs every
premise with three hypotheses, one per label, and ungrouped folds score below chance there.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
from scipy import sparse

from runner.config.schema import ProbeConfig, ProbeKind
from runner.errors import ConfigError

Features: TypeAlias = "np.ndarray | sparse.csr_matrix"  # [examples, features]


@dataclass
class Outcome:
    """What the run logs: probe/* metrics, probe.* tags and probe.json (per class, per fold)."""

    metrics: dict[str, float]
    tags: dict[str, str]
    report: dict[str, object] = field(default_factory=dict)


def groups(texts: Sequence[str], pairs: Sequence[str] | None) -> np.ndarray:
    """Per row, its group: rows connected through a shared text (first or second) form one."""
    from scipy.sparse.csgraph import connected_components

    ids: dict[str, int] = {}
    rows = len(texts)
    edges = [(r, ids.setdefault(t, len(ids))) for r, t in enumerate(texts)]
    if pairs is not None:
        edges += [(r, ids.setdefault(t, len(ids))) for r, t in enumerate(pairs)]
    a = np.asarray([e[0] for e in edges])
    b = np.asarray([rows + e[1] for e in edges])
    size = rows + len(ids)
    graph = sparse.coo_matrix((np.ones(len(edges)), (a, b)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return np.unique(labels[:rows], return_inverse=True)[1]


def missing(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def labelled(labels: Sequence[object], cfg: ProbeConfig, key: str) -> np.ndarray:
    """The rows that have a label (all of them, or missing_labels=refuse says which do not)."""
    keep = np.asarray([not missing(v) for v in labels], dtype=bool)
    absent = int((~keep).sum())
    if absent and cfg.missing_labels == "refuse":
        raise ConfigError(
            key,
            f"{absent} of {len(labels)} rows have no label",
            "fill them, or set probe.missing_labels=drop to leave those rows out of the probe",
        )
    return keep


def check(labels: Sequence[object], folds: int, key: str) -> None:
    """Enough of every class for the folds: two classes or more, each with `folds` rows."""
    counts = Counter(str(v) for v in labels if not missing(v))
    if len(counts) < 2:
        found = ", ".join(counts) or "none"
        raise ConfigError(
            key, f"holds one class only ({found}): nothing to predict", "use a column with 2+ classes"
        )
    thin = {c: n for c, n in counts.items() if n < folds}
    if thin:
        shown = ", ".join(f"{c!r} ({n})" for c, n in sorted(thin.items())[:5])
        raise ConfigError(
            key,
            f"class {shown} has fewer rows than probe.folds={folds}",
            f"lower probe.folds to {min(thin.values())} or more data"
            if min(thin.values()) >= 2
            else "drop those rows, or use more data",
        )


def estimator(cfg: ProbeConfig, seed: int) -> object:
    """bag_of_tokens: L1, liblinear, one-vs-rest (Wegmann et al. 2025); embedding: L2 on
    standardised pooled outputs."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if cfg.kind is ProbeKind.bag_of_tokens:
        return OneVsRestClassifier(
            LogisticRegression(C=cfg.c, l1_ratio=1.0, solver="liblinear", random_state=seed)
        )
    return make_pipeline(StandardScaler(), LogisticRegression(C=cfg.c, max_iter=1000, random_state=seed))


def folds(cfg: ProbeConfig, seed: int) -> object:
    from sklearn.model_selection import StratifiedGroupKFold

    return StratifiedGroupKFold(n_splits=cfg.folds, shuffle=True, random_state=seed)


def fit(x: Features, y: np.ndarray, group: np.ndarray, cfg: ProbeConfig, seed: int) -> Outcome:
    """Cross-validated accuracy and macro F1 (mean and spread over folds), the majority rate,
    a bootstrap interval over the out-of-fold predictions, per-class F1 and the confusion matrix."""
    from scipy.stats import bootstrap
    from sklearn.metrics import confusion_matrix, f1_score
    from sklearn.model_selection import cross_validate

    n_groups = int(len(np.unique(group)))
    if n_groups < cfg.folds:
        raise ConfigError(
            "probe.folds",
            f"{cfg.folds} folds but only {n_groups} groups of rows that share no text",
            f"lower probe.folds to {max(n_groups, 2)} or use more distinct texts",
        )
    cv = cross_validate(
        estimator(cfg, seed), x, y, groups=group, cv=folds(cfg, seed),
        scoring=("accuracy", "f1_macro"), return_estimator=True, return_indices=True,
    )  # fmt: skip
    predicted = np.empty_like(y)
    for model, test in zip(cv["estimator"], cv["indices"]["test"], strict=True):
        predicted[test] = model.predict(x[test])
    correct = (predicted == y).astype(np.float64)
    low = high = float(correct.mean())  # every example right (or wrong): no spread to resample
    if 0 < low < 1:
        interval = bootstrap(
            (correct,),
            np.mean,
            n_resamples=cfg.bootstrap,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = float(interval.low), float(interval.high)
    classes = sorted(set(y.tolist()))
    counts = Counter(y.tolist())
    metrics = {
        "probe/accuracy": float(np.mean(cv["test_accuracy"])),
        "probe/accuracy_std": float(np.std(cv["test_accuracy"])),
        "probe/macro_f1": float(np.mean(cv["test_f1_macro"])),
        "probe/majority": max(counts.values()) / len(y),
        "probe/accuracy_low": low,  # 95 % percentile bootstrap over the examples' out-of-fold hits
        "probe/accuracy_high": high,
        "probe/examples": float(len(y)),
        "probe/classes": float(len(classes)),
        "probe/groups": float(n_groups),
        "probe/features": float(x.shape[1]),
    }
    report = {
        "classes": classes,
        "per_class_f1": dict(
            zip(classes, f1_score(y, predicted, labels=classes, average=None).tolist(), strict=True)
        ),
        "confusion_matrix": confusion_matrix(y, predicted, labels=classes).tolist(),
        "fold_accuracy": [float(a) for a in cv["test_accuracy"]],
        "support": {c: counts[c] for c in classes},
    }
    return Outcome(metrics, {}, report)


def run(
    x: Features,
    labels: Sequence[object],
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    cfg: ProbeConfig,
    seed: int,
    key: str,
) -> Outcome:
    """The probe over a run's examples: labelled rows only (missing_labels), checked, grouped by
    shared texts, fitted fold by fold. `key` names the label column in errors."""
    if len(labels) != x.shape[0]:
        raise ValueError(f"{len(labels)} labels for {x.shape[0]} examples")
    keep = labelled(labels, cfg, key)
    y = np.asarray([str(v) for v in labels])[keep]
    check(y.tolist(), cfg.folds, key)
    outcome = fit(x[keep], y, groups(texts, pairs)[keep], cfg, seed)
    outcome.metrics["probe/dropped_unlabelled"] = float((~keep).sum())
    return outcome
