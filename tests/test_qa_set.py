"""The QA set itself: well-formed, and every evidence span is in its source file."""

from pathlib import Path

from rag.evaluate import QA_PATH, load_qa, sources_of

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
TYPES = {"factoid", "who-said", "date-number", "why-how", "multi-document", "paraphrase", "unanswerable", "follow-up",
         "topic-change"}


def test_qa_set_is_well_formed():
    items = load_qa(QA_PATH)
    assert len(items) >= 80
    assert len({i["id"] for i in items}) == len(items)
    assert {i["type"] for i in items} == TYPES
    unanswerable = [i for i in items if i["type"] == "unanswerable"]
    assert len(unanswerable) >= 0.1 * len(items)
    assert all(i["history"] for i in items if i["type"] == "follow-up")


def test_every_evidence_span_occurs_verbatim_in_its_source():
    texts = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    for item in load_qa(QA_PATH):
        for span in item["evidence"]:
            assert any(span in texts[s] for s in sources_of(item)), (item["id"], span)


def test_topic_changes_have_an_unrelated_history_and_unanswerables_invite_restating():
    items = {i["id"]: i for i in load_qa(QA_PATH)}
    changes = [i for i in items.values() if i["type"] == "topic-change"]
    assert len(changes) >= 3 and all(i["history"] and i["evidence"] for i in changes)
    # Each asks about something its conversation never mentioned.
    for item in changes:
        said = " ".join(t["content"] for t in item["history"]).lower()
        assert item["answer"].lower() not in said
