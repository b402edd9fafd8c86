"""Fit the refusal decision (rag/answer/decision.json) on evaluation rows, with cross-validation.

Run `rag eval calibrate`: the evaluation runs with every checked answer kept
(threshold 0), each row carrying the decision's signals; then

- the label is whether the documents answer the question (the QA item is
  answerable): refusing is for questions the documents are silent on, not for
  answers the model got partly wrong;
- for each candidate set of signals, a logistic model is fitted in K folds
  (repeated with several shuffles), so every row gets a probability from models
  that never saw it;
- the threshold is the one that, on those held-out probabilities, keeps the most
  answerable questions minus `UNANSWERABLE_COST` for each unanswerable one kept
  (a confident answer to a question the documents cannot answer is worse than a
  refusal);
- the signal set with the best held-out value wins; its weights are refitted on
  all rows, its threshold is the held-out one.
"""
from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

from rag.answer.decide import FEATURES, Signals

FOLDS = 5
REPEATS = 5  # shuffles of the folds, averaged: 100-odd rows give noisy single splits
UNANSWERABLE_COST = 2.0  # keeping an answer to an unanswerable question costs two kept answerable ones
REGULARIZATION = 1.0  # inverse strength (scikit-learn's C): few rows, so keep the weights small


def training_rows(rows: list[dict]) -> tuple[list[dict], list[int]]:
    """(signals, labels) of the rows whose answer reached the decision; label 1: answerable."""
    kept = [row for row in rows if row.get("signals")]  # refused before any decision: nothing to learn
    return [row["signals"] for row in kept], [int(row["answerable"]) for row in kept]


def _matrix(signals: list[dict], features: tuple[str, ...]) -> list[list[float]]:
    return [Signals(**s).vector(features) for s in signals]


def _fit(x: list[list[float]], labels: list[int]) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=REGULARIZATION).fit(x, labels)


def held_out_probabilities(x: list[list[float]], labels: list[int]) -> list[float]:
    """Each row's probability from models fitted without it (K folds, averaged over shuffles)."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(FOLDS, labels.count(0), labels.count(1))
    probabilities = [0.0] * len(labels)
    for seed in range(REPEATS):
        for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, labels):
            model = _fit([x[i] for i in train], [labels[i] for i in train])
            for i, p in zip(test, model.predict_proba([x[i] for i in test])[:, 1]):
                probabilities[i] += float(p) / REPEATS
    return probabilities


def utility(probabilities: list[float], labels: list[int], threshold: float) -> float:
    kept = [label for p, label in zip(probabilities, labels) if p >= threshold]
    return sum(kept) - UNANSWERABLE_COST * (len(kept) - sum(kept))


def best_threshold(probabilities: list[float], labels: list[int]) -> tuple[float, float]:
    """(threshold, utility) with the best utility; of equal ones the lowest threshold (refuse less)."""
    scored = [(utility(probabilities, labels, t), -t) for t in sorted({0.0, *probabilities})]
    value, negative_t = max(scored)
    return -negative_t, value


def candidate_feature_sets() -> list[tuple[str, ...]]:
    return [subset for size in range(1, len(FEATURES) + 1) for subset in combinations(FEATURES, size)]


def calibrate(rows: list[dict], model: str) -> dict:
    """The decision record for decision.json (for the LLM `model`), with what cross-validation measured.

    Rows may come from several corpora (`row["corpus"]`): they are pooled, and the
    record also says how the chosen signals did on each corpus when fitted on the others."""
    signals, labels = training_rows(rows)
    if len(set(labels)) < 2:
        raise ValueError("calibration needs kept answers to both answerable and unanswerable questions")
    tried = []
    for features in candidate_feature_sets():
        held_out = held_out_probabilities(_matrix(signals, features), labels)
        threshold, value = best_threshold(held_out, labels)
        tried.append((value, -len(features), features, threshold, held_out))
    value, _, features, threshold, held_out = max(tried, key=lambda t: (t[0], t[1]))
    kept = [label for p, label in zip(held_out, labels) if p >= threshold]
    fitted = _fit(_matrix(signals, features), labels)
    return {
        "_comment": "Refusal decision fitted by `rag eval calibrate` (rag/eval/calibrate.py); features and threshold "
        "chosen on held-out probabilities.",
        "model": model,  # the probabilities of another model are not on this scale
        "features": list(features),
        "weights": dict(zip(features, (round(float(w), 4) for w in fitted.coef_[0]))),
        "bias": round(float(fitted.intercept_[0]), 4),
        "threshold": round(threshold, 4),
        "cross_validation": {
            "folds": FOLDS, "repeats": REPEATS, "unanswerable_cost": UNANSWERABLE_COST, "rows": len(labels),
            "answerable": sum(labels), "kept_answerable": sum(kept), "kept_unanswerable": len(kept) - sum(kept),
            "utility": value,
            "feature_sets": {"+".join(f): v for v, _, f, _, _ in sorted(tried, key=lambda t: -t[0])},
            "corpora": sorted({row.get("corpus", "seeds") for row in rows}),
            "other_corpus": leave_one_corpus_out(rows, features),
        },
    }


def leave_one_corpus_out(rows: list[dict], features: tuple[str, ...]) -> dict:
    """Per corpus: kept answers on it by a decision fitted (weights and threshold) on the other corpora,
    the nearest this set gets to documents the decision never saw. Empty for one corpus."""
    corpora = sorted({row.get("corpus", "seeds") for row in rows})
    results = {}
    for held in corpora if len(corpora) > 1 else []:
        train_signals, train_labels = training_rows([r for r in rows if r.get("corpus", "seeds") != held])
        test_signals, test_labels = training_rows([r for r in rows if r.get("corpus", "seeds") == held])
        if min(train_labels.count(0), train_labels.count(1)) < 2 or not test_labels:
            continue  # too few of one kind to fit on (cross-validation needs two folds)
        threshold, _ = best_threshold(held_out_probabilities(_matrix(train_signals, features), train_labels),
                                      train_labels)
        fitted = _fit(_matrix(train_signals, features), train_labels)
        probabilities = fitted.predict_proba(_matrix(test_signals, features))[:, 1]
        kept = [label for p, label in zip(probabilities, test_labels) if p >= threshold]
        results[held] = {"rows": len(test_labels), "answerable": sum(test_labels), "kept_answerable": sum(kept),
                         "kept_unanswerable": len(kept) - sum(kept),
                         "utility": round(utility(list(probabilities), test_labels, threshold), 4)}
    return results


def write_decision(record: dict, path: Path) -> Path:
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path
