from rag.chunk import chunk_document, chunk_documents, chunker_signature
from rag.documents import load_documents
from rag.text import content_words, sentence_spans
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
    assert chunker_signature(500, 100) == "sentence-v1:size=500:overlap=100"
