"""Load a folder of documents (.txt, .md, .pdf, .docx, .html) as `Document`s.

A document's text is what rag/ingest/extract.py takes out of the file: plain text as
Python's `open()` reads it (so offsets into `Document.text` are offsets into
the file), the text layer of a PDF with its page boundaries, the paragraphs and
tables of a Word file, what a browser would show of an HTML page. The text of
a PDF, DOCX or HTML file is kept beside the index, in
`<index_dir>/texts/<sha256 of the file>-<format>.json`, so it is extracted once
per content and every citation's quote is exactly `text[start:end]` of it (the
chat page shows the passage in context from it too). A file that cannot be
read is skipped with a warning naming it and why; the rest are loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from bisect import bisect_right
from dataclasses import replace
from pathlib import Path

from rag.errors import DocumentError, UnreadableError
from rag.ingest.extract import EXTRACT_VERSION, FORMATS, Extracted, extract, format_of
from rag.types import Citation, Document

log = logging.getLogger("rag")

SUFFIXES = tuple(FORMATS)
TEXTS = "texts"  # index_dir/texts: extracted texts, by the file's hash


def texts_dir(index_dir: Path) -> Path:
    return Path(index_dir) / TEXTS


def read_document(data: bytes, source: str, texts: Path | None = None) -> Document:
    """The Document of a file's bytes (UnreadableError when it has no text to index).

    With `texts` (a folder), what a PDF, DOCX or HTML file gave is kept there and
    reused for the same content, failures included.
    """
    digest = hashlib.sha256(data).hexdigest()
    kind = format_of(source)
    record = Path(texts) / f"{digest}-{kind}.json" if texts and kind not in (None, "text") else None
    found = _read_record(record) if record else None
    if found is None:
        try:
            found = extract(data, source)
        except UnreadableError as error:
            found = error
        if record:
            _write_record(record, found)
    if isinstance(found, UnreadableError):
        raise found
    return Document(source=source, text=found.text, sha256=digest, pages=found.pages)


def _read_record(path: Path) -> Extracted | UnreadableError | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != EXTRACT_VERSION:
        return None  # another extractor's text: extract again
    if "error" in record:
        return UnreadableError(record["error"])
    pages = record.get("pages")
    return Extracted(record["text"], tuple(pages) if pages is not None else None)


def _write_record(path: Path, found: Extracted | UnreadableError) -> None:
    record: dict[str, object]
    if isinstance(found, UnreadableError):
        record = {"version": EXTRACT_VERSION, "error": str(found)}
    else:
        record = {"version": EXTRACT_VERSION, "text": found.text, "pages": found.pages}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)  # readers see the whole record or none


def decode_document(data: bytes, source: str, texts: Path | None = None) -> Document | None:
    """A Document from raw bytes, or None (with a warning naming the file and why) when it has no text."""
    try:
        return read_document(data, source, texts)
    except UnreadableError as error:
        log.warning("skipped %s: %s", source, error)
        return None


def document_paths(folder: Path) -> list[Path]:
    """Readable document files under `folder`, sorted, hidden folders skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DocumentError(f"documents folder {folder} does not exist")
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def load_documents(folder: Path, texts: Path | None = None) -> list[Document]:
    """All readable documents in `folder`; raises DocumentError when there are none. `texts`: see read_document."""
    documents = _load(folder, texts)
    if not documents:
        raise DocumentError(f"no readable documents ({', '.join(SUFFIXES)}) in {folder}")
    return documents


def _load(folder: Path, texts: Path | None, prefix: str = "") -> list[Document]:
    """The readable documents under `folder`, sources "<prefix><path relative to folder>"."""
    folder = Path(folder)
    documents = []
    for path in document_paths(folder):
        source = prefix + path.relative_to(folder).as_posix()
        try:
            data = path.read_bytes()
        except OSError as error:  # unreadable (permissions, vanished): skip it, index the rest
            log.warning("skipped %s: cannot be read (%s)", source, error.strerror or error)
            continue
        document = decode_document(data, source, texts)
        if document is not None:
            documents.append(document)
    return documents


UPLOADS = "uploads"  # documents added in the chat live in index_dir/uploads, sources "uploads/<name>"


def uploads_dir(index_dir: Path) -> Path:
    return Path(index_dir) / UPLOADS


def load_uploads(index_dir: Path) -> list[Document]:
    """Documents added through the chat page (none when nothing was added)."""
    folder = uploads_dir(index_dir)
    if not folder.is_dir():
        return []
    return _load(folder, texts_dir(index_dir), f"{UPLOADS}/")


def load_library(docs_dir: Path, index_dir: Path) -> list[Document]:
    """What an index holds: the documents folder plus the documents added in the chat."""
    return load_documents(docs_dir, texts_dir(index_dir)) + load_uploads(index_dir)


def source_path(source: str, docs_dir: Path, index_dir: Path) -> Path:
    """The file a passage's `source` name refers to."""
    if source.startswith(f"{UPLOADS}/"):
        return uploads_dir(index_dir) / source.removeprefix(f"{UPLOADS}/")
    return Path(docs_dir) / source


def folder_fingerprint(documents: list[Document]) -> str:
    """One hash for a set of documents: changes when any name or content changes."""
    digest = hashlib.sha256()
    for doc in sorted(documents, key=lambda d: d.source):
        digest.update(f"{doc.source}\0{doc.sha256}\n".encode())
    return digest.hexdigest()


def prune_texts(index_dir: Path, documents: list[Document]) -> None:
    """After a build: drop the kept texts of files no longer in the library. Records of
    unreadable files stay (a few bytes each), so a bad file is not read again at every start."""
    keep = {doc.sha256 for doc in documents}
    folder = texts_dir(index_dir)
    for path in folder.glob("*.json") if folder.is_dir() else []:
        if path.name.split("-", 1)[0] not in keep and not isinstance(_read_record(path), UnreadableError):
            path.unlink(missing_ok=True)


class LibraryTexts:
    """The indexed text of each source, read when first asked for and kept while its file is unchanged.

        texts = LibraryTexts(docs_dir, index_dir)
        texts.document("report.pdf").text[c.start:c.end] == c.quote
        texts.with_pages(answer.citations)  # each Citation with its page (None: no pages, or not found)
    """

    def __init__(self, docs_dir: Path, index_dir: Path):
        self.docs_dir, self.index_dir = Path(docs_dir), Path(index_dir)
        self._seen: dict[str, tuple[tuple[int, int], Document | None]] = {}

    def document(self, source: str) -> Document | None:
        path = source_path(source, self.docs_dir, self.index_dir)
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (stat.st_size, stat.st_mtime_ns)
        seen = self._seen.get(source)
        if seen is not None and seen[0] == key:
            return seen[1]
        try:
            document = read_document(path.read_bytes(), source, texts_dir(self.index_dir))
        except (OSError, UnreadableError):
            document = None
        self._seen[source] = (key, document)
        return document

    def page(self, citation: Citation) -> int | None:
        """The page a citation's quote starts on, when its document has pages and holds the quote there."""
        document = self.document(citation.source)
        if document is None or document.text[citation.start : citation.end] != citation.quote:
            return None  # the file changed since it was indexed: no page rather than a wrong one
        return page_at(document, citation.start)

    def with_pages(self, citations: list[Citation]) -> list[Citation]:
        return [replace(c, page=self.page(c)) for c in citations]


def page_at(document: Document, offset: int) -> int | None:
    """The 1-based page holding `offset` of the document's text; None for a format without pages.

    >>> page_at(Document("a.pdf", "one\\n\\ntwo", "h", pages=(0, 5)), 6)
    2
    """
    if document.pages is None:
        return None
    return max(1, bisect_right(document.pages, offset))
