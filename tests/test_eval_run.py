"""`run_eval` and the report on the real QA sets of both corpora, with fakes (fast); the gates use real models."""

import json

import pytest

from rag.cli import _eval_corpora, build_parser
from rag.errors import RagError
from rag.eval.report import side_by_side, write_comparison, write_report
from rag.eval.run import CORPORA, EVAL_DIR, gate_failures, load_qa, run_eval
from rag.pipeline import RAG
from rag.settings import Settings

from fakes import FakeGenerator

LEGAL_MD = CORPORA["legal-md"]


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
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| all |" in markdown and "corpus `seeds`" in markdown and "`eval/qa.jsonl`" in markdown
    table = write_comparison([("a", report), ("b", report)], tmp_path / "out").read_text()
    assert "| a |" in table and "| b |" in table and "corpus `seeds`" in table


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_eval_on_the_second_corpus_finds_hard_wrapped_evidence_written_on_one_line(settings, embedder, tmp_path):
    """A model that answers each question with its gold evidence, on one line as a model writes it,
    cited [1] whatever passage that is: the check must find each sentence in the hard-wrapped
    passages, and the report must name the corpus."""
    items = load_qa(LEGAL_MD.qa)
    evidence = {i["question"]: one_line(i["evidence"][0]) for i in items if i["evidence"]}

    def oracle(messages):
        asked = messages[-1]["content"]
        found = [q for q in evidence if q in asked]
        return f"{evidence[max(found, key=len)]} [1]" if found else "The documents do not say."

    corpus_settings = LEGAL_MD.settings(settings)
    assert corpus_settings.index_dir == settings.index_dir / "eval" / "legal-md"
    rag = RAG(corpus_settings, embedder=embedder, generator=FakeGenerator(oracle), progress=False)
    report = run_eval(settings, LEGAL_MD, progress=False, rag=rag)
    overall = report["overall"]
    assert report["settings"]["corpus"] == "legal-md" and overall["items"] == len(items)
    assert report["settings"]["docs"] == "eval/corpora/legal-md/docs"
    answerable = [r for r in report["rows"] if r["answerable"]]
    spans_wrapped = {i["id"] for i in items if any("\n" in e for e in i["evidence"][:1])}
    wrapped = [r for r in answerable if r["id"] in spans_wrapped]
    assert len(wrapped) >= 20
    # Found and cited for most hard-wrapped evidence sentences (31 of 41 when written): the rest are
    # retrieval misses of the fake embedder and evidence that only restates the question's words
    # ("A Combined Work is a work produced by combining ..." for "What does the LGPL call a work
    # produced by combining ...?"), which the check rightly does not count as an answer.
    assert sum(r["cited_overlapping"] > 0 for r in wrapped) >= 0.7 * len(wrapped)
    assert overall["citation_precision"] >= 0.9 and overall["false_refusal_rate"] <= 0.25
    paths = write_report(report, tmp_path / "legal")
    assert "corpus `legal-md`" in (tmp_path / "legal" / "report.md").read_text()
    assert {p.name for p in paths} == {"report.json", "report.md", "accuracy_by_type.png", "latency.png"}


def test_each_corpus_has_its_own_documents_index_and_gate():
    base = Settings(index_dir="/tmp/rag-index")
    seeds, legal = (CORPORA[n].settings(base) for n in ("seeds", "legal-md"))
    assert seeds.index_dir != legal.index_dir != base.index_dir
    assert seeds.chroma_collection != legal.chroma_collection
    assert legal.docs_dir == LEGAL_MD.docs and seeds.docs_dir.name == "seeds"
    assert CORPORA["seeds"].thresholds == EVAL_DIR / "thresholds.json"
    assert LEGAL_MD.thresholds == EVAL_DIR / "corpora" / "legal-md" / "thresholds.json"


def corpora_for(*argv):
    return _eval_corpora(build_parser().parse_args(["eval", *argv]))


def test_eval_flags_choose_the_corpus(tmp_path):
    assert [c.name for c in corpora_for()] == ["seeds"]
    assert [c.name for c in corpora_for("--corpus", "legal-md")] == ["legal-md"]
    assert [c.name for c in corpora_for("--corpus", "all")] == list(CORPORA)
    assert [c.name for c in corpora_for("--compare")] == list(CORPORA)  # --compare covers every corpus
    (subset,) = corpora_for("--corpus", "legal-md", "--qa", str(tmp_path / "q.jsonl"), "--out", str(tmp_path))
    assert subset.qa == tmp_path / "q.jsonl" and subset.out == tmp_path and subset.docs == LEGAL_MD.docs
    assert [c.out for c in corpora_for("--corpus", "all", "--out", str(tmp_path))] == [tmp_path / n for n in CORPORA]
    (other,) = corpora_for("--docs-dir", str(tmp_path / "mine"), "--qa", str(tmp_path / "q.jsonl"))
    assert other.name == "mine" and other.docs == tmp_path / "mine" and other.out == EVAL_DIR / "corpora" / "mine"
    for argv in (["--corpus", "nope"], ["--docs-dir", str(tmp_path)], ["--corpus", "all", "--qa", "q.jsonl"]):
        with pytest.raises(RagError):
            corpora_for(*argv)


def test_side_by_side_puts_each_corpus_in_a_column():
    def report(name, accept, refused):
        rows = [{"answerable": True, "refused": refused}, {"answerable": False, "refused": True}]
        return {"settings": {"corpus": name, "qa_items": 2}, "overall": {"accept": accept, "false_refusal_rate": 0.5},
                "rows": rows}

    lines = side_by_side([report("seeds", 0.66, False), report("legal-md", 0.25, True)]).splitlines()
    assert lines[0] == "| metric | `seeds` | `legal-md` |"
    assert "| accepted | 66.0% | 25.0% |" in lines
    assert "| answerable refused (n) | 0 | 1 |" in lines
    assert "| citation precision | – | – |" in lines


@pytest.mark.models
@pytest.mark.parametrize("name", CORPORA)
def test_default_configuration_passes_the_committed_gate(name, tmp_path_factory, model_cache):
    corpus = CORPORA[name]
    settings = Settings(index_dir=tmp_path_factory.mktemp("gate-index"), model_cache_dir=model_cache)
    report = run_eval(settings, corpus, progress=False)
    write_report(report, tmp_path_factory.mktemp(f"gate-report-{name}"))
    assert report["settings"]["corpus"] == name and report["overall"]["items"] == len(load_qa(corpus.qa))
    failures = gate_failures(report["overall"], json.loads(corpus.thresholds.read_text()))
    assert not failures, f"{name}: " + "; ".join(failures)
