"""Whether to answer: one calibrated decision from measured signals, recorded with its reason.

Small models refuse with the answer in front of them and answer when the
documents are silent, so the model's own "The documents do not say." is one
signal among others, not the decision:

- `answerable`: the model's P(yes) that the passages state the answer to the question;
- `entailment`: the lowest P(yes), over the answer's kept sentences, that the cited
  passage states the sentence;
- `new_share`: the share of the answer's content words that are not in the question
  (restating the question adds nothing);
- `support`: the lowest word-overlap support of the kept sentences (1.0: verbatim).

A logistic model over the signals that earn their place gives the probability
that the documents answer the question; below `threshold` the answer is refused.
The signals, weights and threshold are chosen on eval/qa.jsonl with
cross-validation (`rag eval calibrate`, rag/eval/calibrate.py) and shipped in decision.json,
for the one LLM they were fitted on; another model's probabilities are on another
scale, so with it only the checks decide (recalibrate to give it a decision).

    >>> decide(Signals(answerable=0.9, entailment=0.8, new_share=0.5, support=1.0))
    Decision(answer=True, probability=0.93, reason='supported: ...')
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

FEATURES = ("answerable", "entailment", "new_share", "support")
NEUTRAL = 0.5  # a signal the backend cannot give (a server without log-probabilities)


@dataclass(frozen=True)
class Signals:
    answerable: float | None = None
    entailment: float | None = None
    new_share: float = 0.0
    support: float = 0.0

    def vector(self, features: tuple[str, ...] = FEATURES) -> list[float]:
        return [NEUTRAL if v is None else float(v) for v in (getattr(self, name) for name in features)]


@dataclass(frozen=True)
class Decision:
    answer: bool
    probability: float | None  # that the answer is supported; None when nothing was there to weigh
    reason: str
    signals: dict | None = None


@dataclass(frozen=True)
class Model:
    """Logistic weights over some FEATURES, and the probability below which the answer is refused."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    llm: str = ""  # the model whose probabilities it was fitted on

    def probability(self, signals: Signals) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, signals.vector(self.features)))
        return 1.0 / (1.0 + math.exp(-z))


# Where `rag eval calibrate` writes the fitted decision: beside this module, which reads it.
DECISION_PATH = Path(__file__).resolve().parent / "decision.json"


def model_of(record: dict) -> Model:
    """The Model of a decision record (decision.json's shape)."""
    features = tuple(record["features"])
    return Model(features, tuple(record["weights"][name] for name in features), record["bias"], record["threshold"],
                 record["model"])


@lru_cache(maxsize=1)
def shipped_model() -> Model:
    return model_of(json.loads(resources.files("rag.answer").joinpath("decision.json").read_text(encoding="utf-8")))


def calibrated_for(llm: str) -> Model | None:
    """The shipped decision when it was fitted on `llm`'s probabilities, else None."""
    model = shipped_model()
    return model if model.llm == llm else None


def decide(signals: Signals, model: Model | None = None, threshold: float | None = None) -> Decision:
    model = model or shipped_model()
    limit = model.threshold if threshold is None else threshold
    probability = model.probability(signals)
    weakest = min(model.features, key=lambda name: _contribution(model, signals, name))
    if probability >= limit:
        reason = f"supported: {probability:.0%} (≥ {limit:.0%})"
    else:
        reason = f"not supported enough: {probability:.0%} (< {limit:.0%}); weakest signal: {_describe(weakest)}"
    return Decision(probability >= limit, round(probability, 4), reason, asdict(signals))


def _contribution(model: Model, signals: Signals, name: str) -> float:
    i = model.features.index(name)
    return model.weights[i] * signals.vector(model.features)[i]


def _describe(name: str) -> str:
    return {
        "answerable": "the model doubts the passages answer the question",
        "entailment": "the model doubts a cited passage states the sentence",
        "new_share": "the answer mostly restates the question",
        "support": "few of the answer's words are in the cited passage",
    }[name]
