"""`run_eval` and the report on the real QA set, with fakes (fast); the gate uses real models."""

import json

import pytest

from rag.evaluate import EVAL_DIR, gate_failures, run_eval
from rag.pipeline import RAG
from rag.report import write_comparison, write_report
from rag.settings import Settings

from fakes import FakeGenerator


def test_eval_runs_the_pipeline_and_writes_the_report(settings, embedder, tmp_path):
    rag = RAG(settings, embedder=embedder, generator=FakeGenerator("The documents do not say."), progress=False)
    report = run_eval(settings, limit=12, progress=False, rag=rag)
    assert report["overall"]["items"] == 12
    assert report["overall"]["false_refusal_rate"] == 1.0  # the fake refuses everything
    assert 0.0 <= report["overall"]["hit@5"] <= 1.0
    paths = write_report(report, tmp_path / "out")
    names = {p.name for p in paths}
    assert names == {"report.json", "report.md", "accuracy_by_type.png", "latency.png"}
    assert all(p.stat().st_size > 0 for p in paths)
    assert "| all |" in (tmp_path / "out" / "report.md").read_text()
    table = write_comparison([("a", report), ("b", report)], tmp_path / "out").read_text()
    assert "| a |" in table and "| b |" in table


@pytest.mark.models
def test_default_configuration_passes_the_committed_gate(tmp_path_factory, model_cache):
    settings = Settings(index_dir=tmp_path_factory.mktemp("gate-index"), model_cache_dir=model_cache)
    report = run_eval(settings, progress=False)
    write_report(report, tmp_path_factory.mktemp("gate-report"))
    thresholds = json.loads((EVAL_DIR / "thresholds.json").read_text())
    failures = gate_failures(report["overall"], thresholds)
    assert not failures, "; ".join(failures)
