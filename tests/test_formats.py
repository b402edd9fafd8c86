"""PDF, Word and HTML documents: extraction, the texts kept beside the index, bad files
named and skipped, and citations that name their page (fake models; real files)."""

from __future__ import annotations

import json
import logging
import re

import pytest

from rag.errors import IndexMismatchError, UnreadableError
from rag.index.build import build_index
from rag.index.reader import open_store
from rag.ingest.documents import LibraryTexts, load_documents, load_library, page_at, texts_dir
from rag.ingest.extract import extract
from rag.ingest.sentences import sentence_spans
from rag.ingest.uploads import add_files
from rag.pipeline import RAG
from rag.ui.html import sources_html

from formats import (
    DOCX_FACT,
    HTML_FACT,
    PDF_FACT,
    PDF_PAGES,
    SCRIPT_TOKEN,
    STYLE_TOKEN,
    docx_bytes,
    encrypted_pdf_bytes,
    html_bytes,
    pdf_bytes,
    quoting_model,
    write_bad_files,
    write_library,
)


def test_pdf_text_keeps_its_page_boundaries():
    extracted = extract(pdf_bytes(), "harbour.pdf")
    assert len(extracted.pages) == 3 and extracted.pages[0] == 0
    text, starts = extracted.text, extracted.pages
    pages = [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)])]
    assert [page.splitlines() for page in pages] == PDF_PAGES  # each page's lines, in order, nothing else
    assert text[starts[1] :].startswith("Harbour Masters")


def test_no_sentence_runs_across_a_page_break():
    extracted = extract(pdf_bytes([["It ends here and", "goes on"], ["on the next page."]]), "a.pdf")
    spans = sentence_spans(extracted.text)
    assert all(not (s < extracted.pages[1] < e) for s, e in spans)


def test_docx_gives_paragraphs_and_table_rows_in_reading_order():
    text = extract(docx_bytes(), "orchard.docx").text
    assert extract(docx_bytes(), "orchard.docx").pages is None
    order = ["Kestrel Valley Orchard", DOCX_FACT, "| Year | Tonnes |", "| 2022 | 140 |", "Picking starts"]
    at = [text.index(piece) for piece in order]
    assert at == sorted(at)


def test_html_leaves_out_script_style_and_head():
    text = extract(html_bytes(), "observatory.html").text
    assert HTML_FACT in text and "Open on Fridays" in text
    assert SCRIPT_TOKEN not in text and STYLE_TOKEN not in text and "font-family" not in text
    assert "<" not in text and "document.title" not in text


def test_html_in_a_legacy_charset_is_decoded_by_its_declaration():
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Café de la Paix.</p></body></html>'
    assert extract(page.encode("latin-1"), "cafe.htm").text == "Café de la Paix."


def test_a_pdf_locked_only_by_an_owner_password_is_read():
    text = extract(encrypted_pdf_bytes(user_password=""), "owner-locked.pdf").text
    assert PDF_FACT in text


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("locked.pdf", encrypted_pdf_bytes(), "encrypted PDF: it opens only with a password"),
        ("damaged.docx", docx_bytes()[:3000], "not a readable Word document"),
        ("letter.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old Office file (.doc, .xls); save it as .docx"),
        ("report.docx", pdf_bytes(), "not a Word .docx document (the content is a PDF)"),
        ("notes.pdf", b"Plain notes.\n", "not a PDF (the content is plain text)"),
        ("page.pdf", b"<!DOCTYPE html><html><body>x</body></html>", "the content is an HTML page"),
        ("photo.html", b"\x89PNG\r\n\x1a\n\0\0", "not HTML (the content is a PNG image)"),
        ("photo.txt", b"\x89PNG\r\n\x1a\n\0\0", "not readable text (the content is a PNG image)"),
        ("blank.html", b"<html><body><script>only()</script></body></html>", "empty"),
        ("truncated.pdf", pdf_bytes()[:400], "not a readable PDF"),
    ],
)
def test_unreadable_files_say_why(name, data, reason):
    with pytest.raises(UnreadableError) as error:
        extract(data, name)
    assert reason in str(error.value)


def test_a_docx_that_unpacks_to_gigabytes_is_refused_before_it_is_unpacked(monkeypatch):
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<w/>" * (2**20 // 4))  # 1 MB of XML, a few KB packed
    monkeypatch.setattr("rag.ingest.extract.MAX_UNPACKED_BYTES", 2**19)  # stands in for the real 512 MB
    monkeypatch.setattr("docx.Document", lambda *a: pytest.fail("python-docx was asked to unpack it"))
    with pytest.raises(UnreadableError, match=r"unpacks to 1 MB, more than a Word document holds"):
        extract(out.getvalue(), "bomb.docx")


def test_scanned_pdf_has_no_text_layer():
    from formats import scanned_pdf_bytes

    with pytest.raises(UnreadableError, match=r"no text layer in its 3 pages \(a scan\?\): run OCR"):
        extract(scanned_pdf_bytes(3), "scan.pdf")


def test_a_folder_of_every_format_loads_all_and_names_each_bad_file(tmp_path, caplog):
    folder = write_library(tmp_path / "docs")
    bad = write_bad_files(folder)
    with caplog.at_level(logging.WARNING, logger="rag"):
        documents = load_documents(folder)
    assert [d.source for d in documents] == ["glacier.txt", "harbour.pdf", "observatory.html", "orchard.docx"]
    for name, why in bad.items():
        line = next((line for line in caplog.text.splitlines() if f"skipped {name}:" in line), "")
        assert why in line, (name, caplog.text)
    glacier = documents[0]
    assert glacier.text == (folder / "glacier.txt").read_text(encoding="utf-8") and glacier.pages is None


def test_extracted_text_is_kept_beside_the_index_by_the_files_hash(settings, embedder, monkeypatch):
    write_library(settings.docs_dir)
    build_index(settings, embedder, progress=False)
    documents = {d.source: d for d in load_library(settings.docs_dir, settings.index_dir)}
    pdf = documents["harbour.pdf"]
    record = json.loads((texts_dir(settings.index_dir) / f"{pdf.sha256}-pdf.json").read_text(encoding="utf-8"))
    assert record["text"] == pdf.text and tuple(record["pages"]) == pdf.pages
    assert not list(texts_dir(settings.index_dir).glob(f"{documents['glacier.txt'].sha256}*"))  # plain text is the file

    extracted = []

    def counting_extract(data, name):
        extracted.append(name)
        return extract(data, name)

    monkeypatch.setattr("rag.ingest.documents.extract", counting_extract)
    again = {d.source: d for d in load_library(settings.docs_dir, settings.index_dir)}
    assert again["harbour.pdf"] == pdf and again["orchard.docx"] == documents["orchard.docx"]
    assert extracted and all(name.endswith(".txt") for name in extracted)  # only plain text is read again
    monkeypatch.undo()

    (settings.docs_dir / "harbour.pdf").unlink()  # gone from the library: its kept text goes with the next build
    build_index(settings, embedder, progress=False)
    assert not (texts_dir(settings.index_dir) / f"{pdf.sha256}-pdf.json").exists()


def test_every_chunk_is_its_extracted_text_at_its_offsets(settings, embedder):
    write_library(settings.docs_dir)
    build_index(settings, embedder, progress=False)
    texts = LibraryTexts(settings.docs_dir, settings.index_dir)
    chunks = open_store(settings).chunks()
    assert {"harbour.pdf", "orchard.docx", "observatory.html", "glacier.txt"} <= {c.source for c in chunks}
    for chunk in chunks:
        assert texts.document(chunk.source).text[chunk.start : chunk.end] == chunk.text


def test_an_index_built_before_this_text_model_is_told_to_rebuild(settings, embedder, monkeypatch):
    build_index(settings, embedder, progress=False)
    monkeypatch.setattr("rag.ingest.chunk.EXTRACT_VERSION", "text-v0")  # as if built by another extractor
    with pytest.raises(IndexMismatchError, match="rebuild it with `rag index"):
        open_store(settings)


def test_auto_index_rebuilds_an_index_that_only_an_older_version_of_the_code_built(settings, embedder, monkeypatch):
    from rag.index.build import ensure_index

    with monkeypatch.context() as older:
        older.setattr("rag.ingest.chunk.EXTRACT_VERSION", "text-v0")
        build_index(settings, embedder, progress=False)
    store = ensure_index(settings, embedder, progress=False)  # `make run` after an upgrade
    assert store.info.chunker.endswith(":text-v1") and store.count() > 0
    # Another embedding model is the user's choice, not an upgrade: still refused.
    with pytest.raises(IndexMismatchError, match="rebuild it with `rag index"):
        ensure_index(settings.model_copy(update={"embedding_model": "other-model"}), embedder, progress=False)


def stored_text(settings, source: str) -> str:
    """The extracted text of `source` as kept beside the index, read straight from its record."""
    document = next(d for d in load_library(settings.docs_dir, settings.index_dir) if d.source == source)
    records = list(texts_dir(settings.index_dir).glob(f"{document.sha256}-*.json"))
    if not records:  # plain text: the file itself
        return (settings.docs_dir / source).read_text(encoding="utf-8")
    return json.loads(records[0].read_text(encoding="utf-8"))["text"]


def test_a_fact_on_page_2_is_cited_with_page_2_and_its_exact_quote(settings, embedder):
    write_library(settings.docs_dir)
    rag = RAG(settings, embedder=embedder, generator=quoting_model("Tomas Eriksen"), progress=False)
    answer = rag.ask("Who was the harbour master in 1923?")
    assert not answer.refused, answer
    cited = [c for c in answer.citations if c.source == "harbour.pdf"]
    assert cited and all(c.page == 2 for c in cited)
    text = stored_text(settings, "harbour.pdf")
    assert all(text[c.start : c.end] == c.quote for c in cited)
    assert "Tomas Eriksen" in " ".join(c.quote for c in cited)
    html = sources_html(answer, 1, "Who was the harbour master in 1923?", lambda s: rag.texts.document(s).text)
    assert "harbour.pdf, page 2</b>" in html and "<mark>" in html
    assert "The Velmora Harbour Report" in html  # shown in context: page 1 before the passage


@pytest.mark.parametrize(
    "source, needle",
    [("orchard.docx", "thirty-seven"), ("observatory.html", "2.4 metres"), ("glacier.txt", "312 metres")],
)
def test_formats_without_pages_are_cited_with_no_page(settings, embedder, source, needle):
    write_library(settings.docs_dir)
    rag = RAG(settings, embedder=embedder, generator=quoting_model(needle), progress=False)
    answer = rag.ask(f"What does {source} say about {needle}?")
    cited = [c for c in answer.citations if c.source == source]
    assert cited and all(c.page is None for c in cited), answer
    text = stored_text(settings, source)
    assert all(text[c.start : c.end] == c.quote and needle in c.quote for c in cited)


def test_a_changed_file_gives_no_page_rather_than_a_wrong_one(settings, embedder):
    write_library(settings.docs_dir)
    rag = RAG(settings, embedder=embedder, generator=quoting_model("Tomas Eriksen"), progress=False)
    citation = next(c for c in rag.ask("Who was the harbour master in 1923?").citations if c.source == "harbour.pdf")
    assert rag.texts.page(citation) == 2
    pages = [list(PDF_PAGES[0]), ["A new page two."], *PDF_PAGES[1:]]
    (settings.docs_dir / "harbour.pdf").write_bytes(pdf_bytes(pages))  # edited after indexing
    assert rag.texts.page(citation) is None


def test_uploads_of_every_format_are_indexed_once_and_bad_ones_refused_by_name(settings, embedder, tmp_path):
    rag = RAG(settings, embedder=embedder, generator=quoting_model("Tomas Eriksen"), progress=False)
    before = {c.source for c in rag.store.chunks()}
    files = sorted(write_library(tmp_path / "drop").iterdir())
    bad = write_bad_files(tmp_path / "bad")
    report = add_files(settings, embedder, files + sorted((tmp_path / "bad").iterdir()), progress=False)
    assert sorted(report.added) == [f"uploads/{p.name}" for p in files]
    for name, why in bad.items():
        assert any(line.startswith(f"{name}: ") and why in line for line in report.skipped), (name, report.skipped)
    assert {c.source for c in open_store(settings).chunks()} == before | set(report.added)

    again = add_files(settings, embedder, [tmp_path / "drop" / "harbour.pdf"], progress=False)
    assert again.added == [] and again.skipped == ["harbour.pdf: already indexed as uploads/harbour.pdf"]

    rag.reload_index()
    answer = rag.ask("Who was the harbour master in 1923?")
    cited = [c for c in answer.citations if c.source == "uploads/harbour.pdf"]
    assert cited and cited[0].page == 2
    assert LibraryTexts(settings.docs_dir, settings.index_dir).document("uploads/harbour.pdf").text[
        cited[0].start : cited[0].end
    ] == cited[0].quote


def test_page_at_counts_from_one():
    from rag.types import Document

    doc = Document("a.pdf", "one\n\ntwo\n\nthree", "h", pages=(0, 5, 10))
    assert [page_at(doc, i) for i in (0, 4, 5, 9, 10, 14)] == [1, 1, 2, 2, 3, 3]
    assert page_at(Document("a.txt", "one", "h"), 0) is None


def test_rag_ask_prints_the_page_of_a_pdf_source(settings, embedder, monkeypatch, capsys):
    from rag.cli import main

    write_library(settings.docs_dir)

    class QuotingRAG(RAG):  # the CLI's own session, on the fake models
        def __init__(self, session_settings):
            super().__init__(session_settings, embedder=embedder, generator=quoting_model("Tomas Eriksen"), progress=False)

    monkeypatch.setattr("rag.pipeline.RAG", QuotingRAG)
    flags = ["--docs-dir", str(settings.docs_dir), "--index-dir", str(settings.index_dir),
             "--embedding-model", "fake-embedder"]
    assert main(["ask", "Who was the harbour master in 1923?", *flags]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "harbour.pdf" in line)
    start, end = map(int, re.search(r"\] harbour\.pdf page 2, chars (\d+)-(\d+): ", line).groups())
    assert "Tomas Eriksen" in stored_text(settings, "harbour.pdf")[start:end]
