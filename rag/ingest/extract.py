"""A file's bytes to the text that is indexed: plain text, Markdown, PDF, Word (.docx), HTML.

    >>> extract(b"One. Two.", "a.txt")
    Extracted(text='One. Two.', pages=None)
    >>> extract(b"<p>One.</p><script>x()</script>", "a.html").text
    'One.'

The extracted text is the document's text from then on: chunks, citations and
their offsets all point into it. A PDF keeps its page boundaries (`pages`: the
offset where each page starts), so a citation can name its page; the other
formats have none. Plain text keeps every character (newlines translated the
way Python's `open()` does), so its offsets are offsets into the file.

The libraries (none downloads anything or needs a service): pypdf for PDF (pure
Python; `cryptography` opens AES-encrypted files that need no password),
python-docx for Word, inscriptis for HTML (a layout-aware converter: paragraphs,
lists and tables stay apart; script, style and head are left out).

A file that cannot be read raises UnreadableError with a reason a user can act
on ("encrypted PDF: ...", "no text layer ...", "not a Word .docx document (the
content is a PDF)"). Caching the result beside the index is rag/ingest/documents.py's.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any

from rag.errors import UnreadableError

log = logging.getLogger("rag")

# Part of the index's chunker signature: a change here changes every extracted text's offsets.
EXTRACT_VERSION = "text-v1"
FORMATS = {".txt": "text", ".md": "text", ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html"}
MAX_UNPACKED_BYTES = 512 * 2**20  # a .docx is a zip: what it may unpack to (zipfile stops at the declared sizes)
PAGE_BREAK = "\n\n"  # between PDF pages: a paragraph break, so no sentence runs across a page
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # what a PDF or Word file may hold that is not text
_SIGNATURES = [
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (such as .docx)"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.doc, .xls); save it as .docx"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
]
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Extracted:
    text: str
    pages: tuple[int, ...] | None = None  # start offset of each page; None: the format has no pages


def format_of(name: str) -> str | None:
    """'report.PDF' -> 'pdf'; None for a suffix that is not indexed."""
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return FORMATS.get(suffix)


def extract(data: bytes, name: str) -> Extracted:
    """The text of a file, by its name's suffix; UnreadableError when there is none to index."""
    kind = format_of(name)
    if kind is None:
        raise UnreadableError(f"not a supported format (only {', '.join(FORMATS)})")
    extracted = _pdf(data, name) if kind == "pdf" else {"text": _text, "docx": _docx, "html": _html}[kind](data)
    if not extracted.text.strip():
        raise UnreadableError("empty: no text to index")
    return extracted


def content_kind(data: bytes) -> str | None:
    """What a file's first bytes say it is ('a PDF', 'a PNG image'), or None for no known signature."""
    return next((kind for signature, kind in _SIGNATURES if data.startswith(signature)), None)


def _describe(data: bytes) -> str:
    """What the content is, for a file whose suffix promised something else."""
    head = data[:512].lstrip().lower()
    if kind := content_kind(data):
        return kind
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    try:
        data[:4096].decode("utf-8")
        return "plain text" if b"\x00" not in data else "binary data"
    except UnicodeDecodeError:
        return "binary data"


def _text(data: bytes) -> Extracted:
    kind = content_kind(data)
    if kind:
        raise UnreadableError(f"not readable text (the content is {kind})")
    if b"\x00" in data:
        raise UnreadableError("not readable text (binary)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableError("not readable text (not UTF-8)") from None
    return Extracted(_newlines(text))


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean(text: str) -> str:
    return _CONTROL.sub("", _newlines(text)).strip()


def _pdf(data: bytes, name: str) -> Extracted:
    from pypdf import PasswordType, PdfReader

    if b"%PDF-" not in data[:1024]:  # readers accept the header anywhere in the first 1 KB
        raise UnreadableError(f"not a PDF (the content is {_describe(data)})")
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its notes on repairable damage would drown ours
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise UnreadableError("encrypted PDF: it opens only with a password; add a copy saved without one")
            texts = [_page_text(page, f"{name}, page {n}") for n, page in enumerate(reader.pages, 1)]
    except UnreadableError:
        raise
    except Exception as exc:  # pypdf raises many types for a damaged file
        raise UnreadableError(f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if not any(texts):
        raise UnreadableError(
            f"no text layer in its {len(texts)} page{'s' if len(texts) != 1 else ''} (a scan?): "
            "run OCR on it and add the result"
        )
    text = ""
    starts: list[int] = []
    for page_text in texts:
        if starts:
            text += PAGE_BREAK
        starts.append(len(text))
        text += page_text
    return Extracted(text, tuple(starts))


def _page_text(page: Any, where: str) -> str:
    try:
        return _clean(page.extract_text())
    except Exception as exc:  # one damaged page: index the others
        log.warning("%s: text not readable (%s); indexing the other pages", where, type(exc).__name__)
        return ""


def _docx(data: bytes) -> Extracted:
    import docx
    from docx.text.paragraph import Paragraph

    if not data.startswith(b"PK\x03\x04"):
        raise UnreadableError(f"not a Word .docx document (the content is {_describe(data)})")
    try:
        unpacked = sum(item.file_size for item in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnreadableError(f"not a readable Word document ({type(exc).__name__}: {exc})") from exc
    if unpacked > MAX_UNPACKED_BYTES:  # a zip bomb: python-docx would unpack it all into memory
        raise UnreadableError(f"unpacks to {unpacked // 2**20} MB, more than a Word document holds "
                              f"({MAX_UNPACKED_BYTES // 2**20} MB at most)")
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = []
        for item in document.iter_inner_content():  # paragraphs and tables in reading order
            if isinstance(item, Paragraph):
                blocks.append(_clean(item.text))
            else:
                blocks.append("\n".join(_table_row(row) for row in item.rows))
    except Exception as exc:  # a damaged archive or XML: python-docx and lxml raise many types
        raise UnreadableError(f"not a readable Word document ({type(exc).__name__}: {exc})") from exc
    return Extracted("\n\n".join(block for block in blocks if block))


def _table_row(row: Any) -> str:
    """'| Year | Tonnes |': a Markdown table row, which the sentence splitter keeps as one unit.
    A merged cell is listed once (python-docx repeats it for every column it spans)."""
    cells = [" ".join(_clean(cell.text).split()) for cell in row.cells]
    cells = [c for i, c in enumerate(cells) if i == 0 or c != cells[i - 1]]
    return "| " + " | ".join(cells) + " |" if any(cells) else ""


def _html(data: bytes) -> Extracted:
    from inscriptis import get_text

    kind = content_kind(data)
    if kind or b"\x00" in data:
        raise UnreadableError(f"not HTML (the content is {kind or 'binary'})")
    try:
        text = get_text(_decode_html(data))
    except Exception as exc:  # lxml gives up on some inputs
        raise UnreadableError(f"not readable HTML ({type(exc).__name__}: {exc})") from exc
    lines = [line.rstrip() for line in _clean(text).split("\n")]
    return Extracted("\n".join(lines))


def _decode_html(data: bytes) -> str:
    """UTF-8 (with or without BOM), else the charset the page declares, else Windows-1252 (HTML's default)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    declared = _CHARSET.search(data[:4096])
    for encoding in ([declared.group(1).decode("ascii", "ignore")] if declared else []) + ["cp1252"]:
        try:
            return data.decode(encoding, errors="replace")
        except LookupError:
            continue
    return data.decode("latin-1")
