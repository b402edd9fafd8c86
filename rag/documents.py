"""Load a folder of documents (.txt, .md) as `Document`s.

Text is decoded as UTF-8 with newlines translated the way Python's `open()`
does, so offsets into `Document.text` are offsets into `open(path).read()`.
Binary or undecodable files are skipped with a warning naming them.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from .errors import DocumentError
from .types import Document

log = logging.getLogger("rag")

SUFFIXES = (".txt", ".md")


def decode_document(data: bytes, source: str) -> Document | None:
    """A Document from raw bytes, or None (with a warning) when it is not text."""
    if b"\x00" in data:
        log.warning("skipped %s: binary file", source)
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("skipped %s: not valid UTF-8 text", source)
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        log.warning("skipped %s: empty", source)
        return None
    return Document(source=source, text=text, sha256=hashlib.sha256(data).hexdigest())


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


def load_documents(folder: Path) -> list[Document]:
    """All readable documents in `folder`; raises DocumentError when there are none."""
    folder = Path(folder)
    documents = []
    for path in document_paths(folder):
        document = decode_document(path.read_bytes(), path.relative_to(folder).as_posix())
        if document is not None:
            documents.append(document)
    if not documents:
        raise DocumentError(f"no readable .txt or .md documents in {folder}")
    return documents


UPLOADS = "uploads"  # documents added in the chat live in index_dir/uploads, sources "uploads/<name>"


def uploads_dir(index_dir: Path) -> Path:
    return Path(index_dir) / UPLOADS


def load_uploads(index_dir: Path) -> list[Document]:
    """Documents added through the chat page (none when nothing was added)."""
    folder = uploads_dir(index_dir)
    if not folder.is_dir():
        return []
    documents = []
    for path in document_paths(folder):
        document = decode_document(path.read_bytes(), f"{UPLOADS}/{path.relative_to(folder).as_posix()}")
        if document is not None:
            documents.append(document)
    return documents


def load_library(docs_dir: Path, index_dir: Path) -> list[Document]:
    """What an index holds: the documents folder plus the documents added in the chat."""
    return load_documents(docs_dir) + load_uploads(index_dir)


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
