"""The refusal decision's fit (rag/eval/calibrate.py) on made-up rows whose signals are known."""

import json
import random

from rag.eval.calibrate import calibrate, leave_one_corpus_out


def rows_of(corpus: str, answerable: int, unanswerable: int, seed: int) -> list[dict]:
    """The model's answerability probe separates the two kinds (with overlap); the other signals are noise."""
    rng = random.Random(seed)

    def row(label: bool) -> dict:
        probe = min(1.0, max(0.0, rng.gauss(0.75 if label else 0.3, 0.15)))
        noise = {name: rng.random() for name in ("entailment", "new_share", "support")}
        return {"corpus": corpus, "answerable": label, "signals": {"answerable": probe, **noise}}

    return [row(True) for _ in range(answerable)] + [row(False) for _ in range(unanswerable)]


def test_the_fit_keeps_the_signal_that_separates_and_refuses_below_its_threshold():
    rows = rows_of("seeds", 90, 20, seed=1) + rows_of("legal-md", 50, 10, seed=2)
    rows.append({"corpus": "seeds", "answerable": True, "signals": {}})  # refused before any decision
    record = calibrate(rows, "some-llm")
    assert record["model"] == "some-llm" and json.loads(json.dumps(record)) == record  # what decision.json holds
    assert "answerable" in record["features"] and record["weights"]["answerable"] > 0
    cv = record["cross_validation"]
    assert cv["rows"] == 170 and cv["answerable"] == 140  # pooled, the undecided row left out
    assert cv["corpora"] == ["legal-md", "seeds"]
    assert cv["kept_answerable"] > 100 and cv["kept_unanswerable"] < 10


def test_each_corpus_is_scored_by_a_decision_fitted_on_the_others():
    rows = rows_of("seeds", 90, 20, seed=3) + rows_of("legal-md", 50, 10, seed=4)
    result = leave_one_corpus_out(rows, ("answerable",))
    assert set(result) == {"seeds", "legal-md"}
    assert result["legal-md"]["rows"] == 60 and result["legal-md"]["answerable"] == 50
    assert result["legal-md"]["kept_answerable"] > 30 and result["legal-md"]["kept_unanswerable"] < 5
    assert leave_one_corpus_out(rows_of("seeds", 30, 10, seed=5), ("answerable",)) == {}
    # One unanswerable row elsewhere: nothing to fit on for the other corpus, which is left out.
    lopsided = rows_of("seeds", 30, 10, seed=6) + rows_of("legal-md", 20, 1, seed=7)
    assert set(leave_one_corpus_out(lopsided, ("answerable",))) == {"legal-md"}
