"""Hard-wrapped text and Markdown, on real lines of the second evaluation corpus (eval/corpora/legal-md):
the sentence splitter, the chunker, the citation check and the page's passage view."""

import re

import pytest

from rag.answer.cite import check
from rag.eval.run import CORPORA
from rag.ingest.chunk import chunk_document
from rag.ingest.documents import load_documents
from rag.ingest.sentences import sentence_spans
from rag.types import Answer, Passage
from rag.ui.html import sources_html

DOCS = {d.source: d for d in load_documents(CORPORA["legal-md"].docs)}


def spans(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def one_line(text: str) -> str:
    return " ".join(text.split())


def passage_holding(phrase: str, source: str = "GPL-3.txt", n: int = 1) -> Passage:
    doc = DOCS[source]
    at = doc.text.index(phrase)
    chunk = next(c for c in chunk_document(doc) if c.start <= at < c.end)
    return Passage(n, chunk.id, chunk.source, chunk.start, chunk.end, chunk.text)


def test_a_sentence_wrapped_over_three_lines_of_the_gpl_is_one_sentence():
    text = DOCS["GPL-3.txt"].text
    start = text.index("  The Corresponding Source need not include")
    paragraph = text[start : text.index("\n\n", start)]
    assert paragraph.count("\n") == 2  # as it stands in the file
    assert spans(paragraph) == [paragraph.strip()]


def test_two_sentences_on_shared_lines_split_at_the_full_stop_not_at_the_line_ends():
    text = DOCS["GPL-3.txt"].text
    start = text.index("  Developers that use the GNU GPL")
    paragraph = text[start : text.index("\n\n", start)]
    assert [one_line(s) for s in spans(paragraph)] == [
        "Developers that use the GNU GPL protect your rights with two steps: (1) assert copyright on the "
        "software, and (2) offer you this License giving you legal permission to copy, distribute and/or modify it.",
    ]
    start = text.index("  For the developers' and authors' protection")
    paragraph = text[start : text.index("\n\n", start)]
    assert [one_line(s)[:40] for s in spans(paragraph)] == [
        "For the developers' and authors' protect", "For both users' and authors' sake, the G",
    ]


def test_numbered_section_headings_stay_whole():
    found = spans(DOCS["GPL-3.txt"].text)
    assert "0. Definitions." in found and "4. Conveying Verbatim Copies." in found and "11. Patents." in found
    assert not [s for s in found if re.fullmatch(r"\d{1,2}\.", s)]  # no "4." left on its own
    assert "0. Additional Definitions." in spans(DOCS["LGPL-3.txt"].text)


def test_lettered_and_numbered_items_of_the_lgpl_stand_alone():
    text = DOCS["LGPL-3.txt"].text
    start = text.index("  d) Do one of the following:")
    block = text[start : text.index("  e) Provide Installation Information", start)]
    found = [one_line(s)[:30] for s in spans(block)]
    assert found == [
        "d) Do one of the following:", "0) Convey the Minimal Correspo", "1) Use a suitable shared libra",
        "A suitable mechanism is one th",
    ]


def test_markdown_headings_list_items_and_fences_are_their_own_sentences():
    text = DOCS["pip-https-certificates.md"].text
    found = spans(text)
    assert "## Using a specific certificate store" in found and "### When to use" in found
    # A list item wrapped onto an indented second line is one sentence.
    assert "- Install the {pypi}`truststore` package, in the Python environment you're\n  running pip in." in found
    assert "- Use Python 3.10 or newer." in found
    caching = spans(DOCS["pip-caching.md"].text)
    assert "pip now caches wheels when building from an immutable Git reference\n(i.e. a commit hash)." in caching
    assert "```{versionchanged} 20.0" in caching  # the fence is not glued to the sentence after it
    assert "`pip cache purge` will clear all wheel files from pip's cache." in caching


def test_the_corpus_has_far_fewer_sentences_than_lines():
    for source, doc in DOCS.items():
        lines = [line for line in doc.text.splitlines() if line.strip()]
        if source.endswith(".txt"):  # the hard-wrapped licences: sentences span lines
            assert len(sentence_spans(doc.text)) < 0.6 * len(lines), source


@pytest.mark.parametrize("source", sorted(DOCS))
def test_chunks_start_at_sentences_and_reproduce_the_text(source):
    doc = DOCS[source]
    sentences = sentence_spans(doc.text)
    chunks = chunk_document(doc, size=500)
    assert chunks and all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert all(len(c.text) <= 500 for c in chunks)
    # A chunk starts where a sentence does, or inside one longer than a chunk (cut at a space).
    for c in chunks:
        start, end = next((s, e) for s, e in sentences if s <= c.start < e)
        assert c.start == start or end - start > 500, (source, c.text[:60])


@pytest.mark.parametrize(("phrase", "source"), [
    ("You may charge any price or no price for each copy that you convey,", "GPL-3.txt"),
    ("The Corresponding Source need not include anything that users", "GPL-3.txt"),
    ('A "Combined Work" is a work produced by combining or linking an', "LGPL-3.txt"),
    ("When no wheels are found for a source distribution, pip will attempt to build a", "pip-caching.md"),
])
def test_a_hard_wrapped_sentence_written_on_one_line_is_verified_word_for_word(phrase, source):
    passage = passage_holding(phrase, source)
    at = passage.text.index(phrase)
    sentence = next(passage.text[s:e] for s, e in sentence_spans(passage.text) if s <= at < e)
    assert "\n" in sentence
    claim = one_line(sentence).rstrip(".") + " [1]."
    checked = check(claim, [passage], question="What does it say?")
    assert not checked.refused and checked.sentences[0].how == "verbatim"
    (citation,) = checked.citations
    assert DOCS[source].text[citation.start : citation.end] == citation.quote
    assert citation.quote.rstrip(".") == sentence.rstrip(".")  # the hard-wrapped original, line breaks and all


def test_a_sentence_the_passage_does_not_hold_is_removed_even_if_its_words_are_on_nearby_lines():
    passage = passage_holding("You may charge any price or no price for each copy that you convey,")
    checked = check("You may charge a royalty for every program that uses the library [1].", [passage],
                    question="Can I charge for copies?")
    assert checked.refused and not checked.citations


def test_the_passage_view_highlights_a_quote_across_line_breaks_inside_its_document():
    passage = passage_holding("The Corresponding Source need not include anything that users")
    checked = check("The Corresponding Source need not include anything that users can regenerate automatically "
                    "from other parts of the Corresponding Source [1].", [passage], question="What is left out?")
    answer = Answer(text=checked.text, refused=False, citations=checked.citations, passages=[passage])
    html = sources_html(answer, 0, "What is left out?", lambda source: DOCS[source].text)
    marks = re.findall(r"<mark>(.*?)</mark>", html, re.S)
    assert marks == ["The Corresponding Source need not include anything that users\ncan regenerate automatically "
                     "from other parts of the Corresponding\nSource."]
    assert "<span class='context'>" in html and "Basic Permissions" in html  # the article around it
