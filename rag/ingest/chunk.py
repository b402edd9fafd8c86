"""Split documents into sentence-aligned chunks with overlap and exact offsets.

    >>> doc = Document("a.txt", "One. Two. Three.", "h")
    >>> [c.text for c in chunk_document(doc, size=12, overlap=5)]
    ['One. Two.', 'Two. Three.']

Invariant: `doc.text[c.start:c.end] == c.text` for every chunk, and every
non-space character of the document lies in some chunk.
"""

from __future__ import annotations

import hashlib

from rag.ingest.extract import EXTRACT_VERSION
from rag.ingest.sentences import sentence_spans
from rag.types import Chunk, Document

CHUNKER_VERSION = "sentence-v2"  # v2: one splitter for hard-wrapped text, Markdown, CJK, abbreviations


def chunker_signature(size: int, overlap: int) -> str:
    """Recorded in the index so a change of chunking, or of the text extracted from
    documents (which every offset points into), asks for a rebuild."""
    return f"{CHUNKER_VERSION}:size={size}:overlap={overlap}:{EXTRACT_VERSION}"


def _split_long(text: str, span: tuple[int, int], size: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than `size` at whitespace into pieces of at most `size`."""
    start, end = span
    pieces = []
    while end - start > size:
        cut = text.rfind(" ", start + 1, start + size)
        if cut <= start:
            cut = start + size
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    pieces.append((start, end))
    return pieces


def _units(text: str, size: int) -> list[tuple[int, int]]:
    units = []
    for span in sentence_spans(text):
        units.extend(_split_long(text, span, size))
    return units


def _group(units: list[tuple[int, int]], size: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy groups of consecutive units; each group after the first repeats
    the previous group's trailing units that fit in `overlap` characters."""
    groups: list[tuple[int, int]] = []
    first = 0
    while first < len(units):
        last = first
        while last + 1 < len(units) and units[last + 1][1] - units[first][0] <= size:
            last += 1
        groups.append((first, last))
        if last == len(units) - 1:
            break
        next_first = last + 1
        # Step back while the repeated tail fits in `overlap` and leaves room for new text.
        while (
            next_first - 1 > first
            and units[last][1] - units[next_first - 1][0] <= overlap
            and units[last + 1][1] - units[next_first - 1][0] <= size
        ):
            next_first -= 1
        first = next_first
    return [(units[a][0], units[b][1]) for a, b in groups]


def chunk_id(doc: Document, start: int, end: int) -> str:
    return hashlib.sha256(f"{doc.source}\0{doc.sha256}\0{start}\0{end}".encode()).hexdigest()[:24]


def chunk_document(doc: Document, size: int = 500, overlap: int = 100) -> list[Chunk]:
    spans = _group(_units(doc.text, size), size, overlap)
    return [Chunk(chunk_id(doc, s, e), doc.source, s, e, doc.text[s:e]) for s, e in spans]


def chunk_documents(docs: list[Document], size: int = 500, overlap: int = 100) -> list[Chunk]:
    return [chunk for doc in docs for chunk in chunk_document(doc, size, overlap)]
