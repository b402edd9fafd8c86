"""Judge-free metrics for the evaluation: retrieval, answers, refusals, citations.

Ranking metrics take ranked ids and a set of relevant ids; a repeated id counts
once (at its first rank), so hit rates never exceed 1.

    >>> ndcg_at_k(["x", "a"], {"a"}, k=2)   # 1/log2(3) / 1
    0.6309...
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter

from rag.ingest.text import normalize


def _dedup(ranked: list[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def hit_at_k(ranked: list[str], relevant: set[str], k: int) -> float:
    return float(any(item in relevant for item in _dedup(ranked)[:k]))


def reciprocal_rank(ranked: list[str], relevant: set[str]) -> float:
    for rank, item in enumerate(_dedup(ranked), start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: list[str], relevant: set[str], k: int) -> float:
    """Binary-relevance nDCG; the ideal ranking puts min(|relevant|, k) hits first."""
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(_dedup(ranked)[:k], start=1) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")  # "Trump's second term" names "Trump"
_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”—–")


def normalize_answer(text: str) -> str:
    """SQuAD-style: lower case, no punctuation, no articles, single spaces."""
    text = _POSSESSIVE.sub("", normalize(text)).translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def accept_match(prediction: str, gold: str, accept: list[str]) -> float:
    """1 when the gold answer or an accepted variant occurs in the prediction (normalized)."""
    text = f" {normalize_answer(prediction)} "
    variants = [normalize_answer(v) for v in [gold, *accept]]
    return float(any(v and f" {v} " in text for v in variants))


def precision_recall(predicted: list[bool], actual: list[bool]) -> tuple[float, float]:
    """Precision and recall of a yes/no prediction (e.g. refused vs unanswerable)."""
    tp = sum(p and a for p, a in zip(predicted, actual))
    fp = sum(p and not a for p, a in zip(predicted, actual))
    fn = sum(a and not p for p, a in zip(predicted, actual))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def overlaps(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    """Do two (source, start, end) spans share at least one character?"""
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def citation_precision_recall(cited: list[tuple[str, int, int]], gold: list[tuple[str, int, int]]) -> tuple[float, float]:
    """Precision: share of citations overlapping some gold span; recall: share of gold spans cited."""
    precision = sum(any(overlaps(c, g) for g in gold) for c in cited) / len(cited) if cited else 0.0
    recall = sum(any(overlaps(c, g) for c in cited) for g in gold) / len(gold) if gold else 0.0
    return precision, recall


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile, q in [0, 100]; None for no values."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    position = (len(values) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return values[low] + (values[high] - values[low]) * (position - low)


def mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def stats(values: list[float]) -> dict:
    """{"p50", "p95", "mean", "n"} of the values that are not None, rounded to 0.1."""
    values = [v for v in values if v is not None]
    rounded = lambda v: None if v is None else round(v, 1)  # noqa: E731
    return {"p50": rounded(percentile(values, 50)), "p95": rounded(percentile(values, 95)),
            "mean": rounded(mean(values)), "n": len(values)}
