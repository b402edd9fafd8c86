from rag.ingest.chunk import chunk_document, chunk_documents, chunker_signature
from rag.ingest.documents import load_documents
from rag.ingest.sentences import sentence_spans
from rag.ingest.text import content_words
from rag.types import Document


def test_sentence_spans_keep_abbreviations_together():
    text = "U.S. forces left. Mr. Smith stayed!\nNew line here"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "U.S. forces left.", "Mr. Smith stayed!", "New line here",
    ]


def test_content_words_fold_typography_and_plurals():
    assert content_words("The Huthis’ ships — and Russia’s drones") == ["huthi", "ship", "russia", "drone"]


def test_chunks_reproduce_the_text_exactly(docs_dir):
    for doc in load_documents(docs_dir):
        for chunk in chunk_document(doc, size=400, overlap=80):
            assert doc.text[chunk.start : chunk.end] == chunk.text
            assert len(chunk.text) <= 400


def test_chunks_cover_every_character(docs_dir):
    for doc in load_documents(docs_dir):
        covered = set()
        for chunk in chunk_document(doc, size=300, overlap=60):
            covered.update(range(chunk.start, chunk.end))
        uncovered = [i for i, ch in enumerate(doc.text) if i not in covered and not ch.isspace()]
        assert uncovered == []


def test_chunks_overlap_by_whole_sentences():
    doc = Document("a.txt", "One. Two. Three.", "h")
    assert [c.text for c in chunk_document(doc, size=12, overlap=5)] == ["One. Two.", "Two. Three."]
    assert [c.text for c in chunk_document(doc, size=12, overlap=0)] == ["One. Two.", "Three."]


def test_long_sentence_is_cut_at_spaces():
    doc = Document("a.txt", "word " * 100, "h")
    chunks = chunk_document(doc, size=50, overlap=0)
    assert all(len(c.text) <= 50 and doc.text[c.start : c.end] == c.text for c in chunks)
    assert "".join(c.text.replace(" ", "") for c in chunks) == "word" * 100


def test_chunk_ids_follow_content():
    a = chunk_documents([Document("a.txt", "Alpha beta. Gamma delta.", "h1")])
    b = chunk_documents([Document("a.txt", "Alpha beta. Gamma delta.", "h1")])
    c = chunk_documents([Document("a.txt", "Alpha beta. Gamma delta.", "h2")])
    assert [x.id for x in a] == [x.id for x in b]
    assert {x.id for x in a}.isdisjoint(x.id for x in c)


def test_chunker_signature_names_the_settings():
    assert chunker_signature(500, 100) == "sentence-v2:size=500:overlap=100:text-v1"


def spans(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def test_abbreviations_and_numbers_do_not_end_sentences():
    assert spans("The Mozilla Public License, v. 2.0, is stewarded by the Mozilla Foundation.") == [
        "The Mozilla Public License, v. 2.0, is stewarded by the Mozilla Foundation.",
    ]
    assert spans("See No. 5 of the list, e.g. the U.S. one. On Jan. 5 it rained. It cost 3.5 dollars.") == [
        "See No. 5 of the list, e.g. the U.S. one.", "On Jan. 5 it rained.", "It cost 3.5 dollars.",
    ]


def test_chinese_and_japanese_sentence_ends():
    assert spans("东京是日本的首都。大阪很大！你好吗？") == ["东京是日本的首都。", "大阪很大！", "你好吗？"]
    assert spans("「はい」と言った。次へ。") == ["「はい」と言った。", "次へ。"]


def test_hard_wrapped_lines_are_not_sentences():
    # Real lines of /usr/share/common-licenses/GPL-3 (hard-wrapped at about 70 characters).
    text = (
        "  Some devices are designed to deny users access to install or run\n"
        "modified versions of the software inside them, although the manufacturer\n"
        "can do so.  This is fundamentally incompatible with the aim of\n"
        "protecting users' freedom to change the software.\n"
    )
    assert [" ".join(s.split()) for s in spans(text)] == [
        "Some devices are designed to deny users access to install or run modified versions of the "
        "software inside them, although the manufacturer can do so.",
        "This is fundamentally incompatible with the aim of protecting users' freedom to change the software.",
    ]


def test_markdown_headings_list_items_and_titles_stand_alone():
    text = "# Installing\nRun the installer\n- first item\n- second item that wraps\n  onto a second line\n\nLast paragraph."
    assert spans(text) == ["# Installing", "Run the installer", "- first item",
                           "- second item that wraps\n  onto a second line", "Last paragraph."]
    seeds_style = "How Moscow Is Partnering With the Axis of Resistance\n" + "Since invading Ukraine in 2022, Russia has forged deep ties with Iran. " * 3
    assert spans(seeds_style)[0] == "How Moscow Is Partnering With the Axis of Resistance"
