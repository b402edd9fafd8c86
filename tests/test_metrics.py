import math

import pytest

from rag.eval import metrics as m
from rag.eval.run import gate_failures, is_relevant, summarize


def test_hit_at_k_perfect_worst_and_duplicates():
    assert m.hit_at_k(["a", "b"], {"a"}, 1) == 1.0
    assert m.hit_at_k(["x", "y", "a"], {"a"}, 2) == 0.0
    # a repeated relevant id still counts one hit, never more than 1
    assert m.hit_at_k(["a", "a", "a"], {"a"}, 3) == 1.0
    # repeats do not push a relevant id out of the top k
    assert m.hit_at_k(["x", "x", "a"], {"a"}, 2) == 1.0


def test_empty_lists():
    assert m.hit_at_k([], {"a"}, 5) == 0.0
    assert m.reciprocal_rank([], {"a"}) == 0.0
    assert m.ndcg_at_k([], {"a"}, 5) == 0.0
    assert m.ndcg_at_k(["a"], set(), 5) == 0.0
    assert m.percentile([], 50) is None and m.mean([]) is None


def test_reciprocal_rank_hand_computed():
    assert m.reciprocal_rank(["a", "b", "c"], {"c"}) == pytest.approx(1 / 3)
    assert m.reciprocal_rank(["b", "b", "c"], {"c"}) == pytest.approx(1 / 2)  # duplicate b counted once
    assert m.reciprocal_rank(["x"], {"c"}) == 0.0


def test_ndcg_uses_the_ideal_ordering():
    # perfect ranking
    assert m.ndcg_at_k(["a", "b", "x"], {"a", "b"}, 3) == pytest.approx(1.0)
    # relevant at ranks 2 and 3: (1/log2 3 + 1/log2 4) / (1 + 1/log2 3)
    expected = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert m.ndcg_at_k(["x", "a", "b"], {"a", "b"}, 3) == pytest.approx(expected)
    # more relevant ids than k: ideal DCG has only k terms, so a full top-k scores 1
    assert m.ndcg_at_k(["a", "b"], {"a", "b", "c", "d"}, 2) == pytest.approx(1.0)
    # duplicates do not inflate DCG above the ideal
    assert m.ndcg_at_k(["a", "a", "a"], {"a"}, 3) == pytest.approx(1.0)
    # worst: no relevant id retrieved
    assert m.ndcg_at_k(["x", "y"], {"a"}, 2) == 0.0


def test_answer_matching():
    assert m.exact_match("The Soufan Group.", "soufan group") == 1.0
    assert m.token_f1("the Soufan Group in New York", "Soufan Group") == pytest.approx(2 * (2 / 5) * 1 / (2 / 5 + 1))
    assert m.token_f1("", "x") == 0.0
    assert m.accept_match("He works at the Soufan Group [1].", "Soufan Group", []) == 1.0
    assert m.accept_match("In 2014 they took it.", "since 2014", ["2014"]) == 1.0
    assert m.accept_match("In 20145 they took it.", "2014", []) == 0.0  # whole words only
    assert m.accept_match("Arab states await Donald Trump’s second term [2].", "Donald Trump", []) == 1.0
    assert m.accept_match("It is Russia's.", "Russia", []) == 1.0


def test_refusal_precision_recall():
    predicted = [True, True, False, False]
    actual = [True, False, True, False]
    assert m.precision_recall(predicted, actual) == (0.5, 0.5)
    assert m.precision_recall([False], [False]) == (1.0, 1.0)


def test_citation_overlap_precision_recall():
    gold = [("a.txt", 10, 20), ("b.txt", 0, 5)]
    assert m.citation_precision_recall([("a.txt", 15, 30), ("a.txt", 20, 25)], gold) == (0.5, 0.5)
    assert m.citation_precision_recall([], gold) == (0.0, 0.0)


def test_passage_relevance_by_evidence():
    assert is_relevant(("a.txt", 0, 100), [("a.txt", 10, 20)])
    assert is_relevant(("a.txt", 15, 100), [("a.txt", 10, 20)])  # holds half the span
    assert not is_relevant(("a.txt", 18, 100), [("a.txt", 10, 20)])
    assert not is_relevant(("b.txt", 0, 100), [("a.txt", 10, 20)])


def test_percentile_interpolates():
    assert m.percentile([1, 2, 3, 4], 50) == 2.5
    assert m.percentile([5], 95) == 5


def test_gate_reports_each_failure():
    assert gate_failures({"accept": 0.9, "false_refusal_rate": 0.02}, {"accept": 0.85, "false_refusal_rate": {"max": 0.05}}) == []
    failures = gate_failures({"accept": 0.8, "false_refusal_rate": 0.1}, {"accept": 0.85, "false_refusal_rate": {"max": 0.05}})
    assert len(failures) == 2 and "accept" in failures[0]


def test_summary_counts_answers_only_on_answerable_items():
    rows = [
        {"answerable": True, "refused": False, "accept": 1.0, "citations": 2, "cited_overlapping": 1, "gold_spans": 1,
         "gold_cited": 1, "grounding": 1.0, "first_token_ms": 100, "total_ms": 1100, "completion_tokens": 10,
         **{k: 1.0 for k in ("hit@1", "hit@3", "hit@5", "hit@10", "mrr", "ndcg@10", "exact_match", "f1")}},
        {"answerable": False, "refused": True, "citations": 0, "cited_overlapping": 0, "gold_spans": 0, "gold_cited": 0,
         "grounding": None, "first_token_ms": 100, "total_ms": 300, "completion_tokens": 3},
    ]
    s = summarize(rows)
    assert s["accept"] == 1.0 and s["citation_precision"] == 0.5 and s["citation_recall"] == 1.0
    assert s["refusal_recall"] == 1.0 and s["refusal_precision"] == 1.0 and s["false_refusal_rate"] == 0.0
    assert s["tokens_per_s"] == pytest.approx((10 / 1.0 + 3 / 0.2) / 2)
