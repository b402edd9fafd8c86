"""The QA sets themselves: well-formed, and every evidence span is in its source file, verbatim."""

import hashlib

import pytest

from rag.eval.run import CORPORA, load_qa, sources_of
from rag.ingest.documents import document_paths

TYPES = {"factoid", "who-said", "date-number", "why-how", "multi-document", "paraphrase", "unanswerable", "follow-up",
         "topic-change"}
MINIMUM_ITEMS = {"seeds": 80, "legal-md": 40}


def texts(corpus) -> dict[str, str]:
    return {p.relative_to(corpus.docs).as_posix(): p.read_text(encoding="utf-8") for p in document_paths(corpus.docs)}


@pytest.mark.parametrize("name", CORPORA)
def test_qa_set_is_well_formed(name):
    items = load_qa(CORPORA[name].qa)
    assert len(items) >= MINIMUM_ITEMS[name]
    assert len({i["id"] for i in items}) == len(items)
    assert {i["type"] for i in items} == TYPES
    unanswerable = [i for i in items if i["type"] == "unanswerable"]
    assert len(unanswerable) >= 0.1 * len(items)
    assert all(not i["evidence"] and not i["source"] for i in unanswerable)
    assert all(i["history"] for i in items if i["type"] == "follow-up")
    assert all(i["answer"] and i["evidence"] for i in items if i["type"] != "unanswerable")


@pytest.mark.parametrize("name", CORPORA)
def test_every_evidence_span_occurs_verbatim_in_its_source(name):
    corpus = CORPORA[name]
    documents = texts(corpus)
    for item in load_qa(corpus.qa):
        for span in item["evidence"]:
            assert any(span in documents[s] for s in sources_of(item)), (item["id"], span)


@pytest.mark.parametrize("name", CORPORA)
def test_topic_changes_have_an_unrelated_history(name):
    items = {i["id"]: i for i in load_qa(CORPORA[name].qa)}
    changes = [i for i in items.values() if i["type"] == "topic-change"]
    assert len(changes) >= 3 and all(i["history"] and i["evidence"] for i in changes)
    # Each asks about something its conversation never mentioned.
    for item in changes:
        said = " ".join(t["content"] for t in item["history"]).lower()
        assert item["answer"].lower() not in said


def test_the_second_corpus_differs_in_form_and_says_where_each_file_came_from():
    corpus = CORPORA["legal-md"]
    documents = texts(corpus)
    assert {n.rsplit(".", 1)[1] for n in documents} == {"txt", "md"}
    assert sum(len(t.encode()) for t in documents.values()) < 60_000  # small enough to evaluate in minutes
    # Hard-wrapped: every line of the licence is under 80 characters, and most end inside a sentence.
    lines = documents["GPL-3.txt"].splitlines()
    inside = [a for a, b in zip(lines, lines[1:]) if a.strip() and b.strip() and not a.rstrip().endswith((".", ":", ";"))]
    assert max(map(len, lines)) < 80 and len(inside) > 0.6 * sum(1 for line in lines if line.strip())
    assert all(any(line.startswith("#") for line in t.splitlines()) for n, t in documents.items() if n.endswith(".md"))
    # Its evidence crosses hard wraps, so the evaluation exercises them.
    items = load_qa(corpus.qa)
    assert sum(any("\n" in span for span in i["evidence"]) for i in items) >= 20
    sources = (corpus.out / "SOURCES.md").read_text(encoding="utf-8")
    for name in documents:
        digest = hashlib.sha256((corpus.docs / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in sources, name
    assert not (corpus.docs / "SOURCES.md").exists()  # it would be indexed as a document
