"""Fit the refusal decision (rag/decision.json) on evaluation rows, with cross-validation.

Run `rag eval --calibrate`: the evaluation runs with every checked answer kept
(threshold 0), each row carrying the decision's signals; then

- the label is whether keeping that answer is right: an answerable question
  answered correctly (accepted), against a wrong answer or an answer to an
  unanswerable question;
- a logistic model over `rag.decide.FEATURES` is fitted in K folds, so every row
  gets a probability from a model that never saw it;
- the threshold is the one that, on those held-out probabilities, keeps the most
  right answers minus wrong ones (`WRONG_COST` each);
- the weights written are fitted on all rows; the threshold is the held-out one.
"""

from __future__ import annotations

import json
from pathlib import Path

from .decide import FEATURES, Model, Signals

FOLDS = 5
WRONG_COST = 1.0  # a kept wrong answer costs as much as a kept right answer gains
REGULARIZATION = 1.0  # inverse strength (scikit-learn's C): few rows, so keep the weights small


def training_rows(rows: list[dict]) -> tuple[list[list[float]], list[int]]:
    """(features, labels) of the rows whose answer reached the decision."""
    features, labels = [], []
    for row in rows:
        if not row.get("signals"):
            continue  # refused before any decision: nothing to learn from
        features.append(Signals(**row["signals"]).vector())
        labels.append(int(row["answerable"] and bool(row.get("accept"))))
    return features, labels


def _fit(features, labels):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=REGULARIZATION).fit(features, labels)


def held_out_probabilities(features, labels, folds: int = FOLDS) -> list[float]:
    from sklearn.model_selection import StratifiedKFold

    probabilities = [0.0] * len(labels)
    splitter = StratifiedKFold(n_splits=min(folds, min(labels.count(0), labels.count(1))), shuffle=True, random_state=0)
    for train, test in splitter.split(features, labels):
        model = _fit([features[i] for i in train], [labels[i] for i in train])
        for i, p in zip(test, model.predict_proba([features[i] for i in test])[:, 1]):
            probabilities[i] = float(p)
    return probabilities


def best_threshold(probabilities: list[float], labels: list[int]) -> tuple[float, float]:
    """(threshold, utility): keep answers at or above it; utility = right kept - WRONG_COST * wrong kept."""
    candidates = sorted({0.0, *probabilities})
    scored = []
    for t in candidates:
        kept = [label for p, label in zip(probabilities, labels) if p >= t]
        scored.append((sum(kept) - WRONG_COST * (len(kept) - sum(kept)), -t))
    utility, negative_t = max(scored)
    return -negative_t, utility


def calibrate(rows: list[dict]) -> dict:
    """The decision record for decision.json, with what cross-validation measured."""
    features, labels = training_rows(rows)
    if len(set(labels)) < 2:
        raise ValueError("calibration needs both right and wrong kept answers")
    held_out = held_out_probabilities(features, labels)
    threshold, utility = best_threshold(held_out, labels)
    kept = [label for p, label in zip(held_out, labels) if p >= threshold]
    model = _fit(features, labels)
    return {
        "_comment": "Refusal decision fitted by `rag eval --calibrate` (rag/calibrate.py); the threshold is chosen "
        "on held-out probabilities.",
        "weights": dict(zip(FEATURES, (round(float(w), 4) for w in model.coef_[0]))),
        "bias": round(float(model.intercept_[0]), 4),
        "threshold": round(threshold, 4),
        "cross_validation": {
            "folds": FOLDS, "rows": len(labels), "right": sum(labels),
            "kept_right": sum(kept), "kept_wrong": len(kept) - sum(kept), "utility": utility,
        },
    }


def model_of(record: dict) -> Model:
    return Model(tuple(record["weights"][name] for name in FEATURES), record["bias"], record["threshold"])


def write_decision(record: dict, path: Path) -> Path:
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path
