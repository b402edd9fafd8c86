"""Adding documents to an index from the chat page.

An added file is saved under index_dir/uploads (its source is "uploads/<name>")
and the index is rebuilt the usual safe way: a fresh build, verified, switched
in atomically, unchanged chunks keeping their vectors. A file that cannot be
read (not text, an encrypted or scanned PDF, a damaged Word file, a suffix
that lies about the content), or a build that fails, leaves the index exactly
as it was.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import DocumentError, UnreadableError
from rag.index.build import build_index
from rag.ingest.documents import SUFFIXES, UPLOADS, load_library, read_document, texts_dir, uploads_dir
from rag.ingest.extract import format_of
from rag.models.embed import Embedder
from rag.settings import Settings
from rag.types import Chunk

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_FILES = 20  # files added at once (the page's server refuses more in one post, rag.ui.web_guard)


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)  # new sources, "uploads/<name>"
    skipped: list[str] = field(default_factory=list)  # one line each: name and why

    def summary(self) -> str:
        lines = [f"Added {source}" for source in self.added] + [f"Skipped {line}" for line in self.skipped]
        return "\n".join(lines) or "Nothing to add."


def safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, no odd characters."""
    stem = re.sub(r"[^\w.\- ]+", "_", Path(name).name).strip(" .")
    return stem or "document.txt"


def free_path(path: Path) -> Path:
    """`path`, or `name (2).txt`, ... when a different file already has that name."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
    return candidate


def check_file(name: str, data: bytes, known: dict[str, str], texts: Path | None = None) -> str | None:
    """Why this file cannot be added, or None when it can. `known`: sha256 -> source;
    `texts`: where extracted texts are kept (the build then reuses this extraction)."""
    if format_of(name) is None:
        return f"{name}: only {', '.join(SUFFIXES)} files can be added"
    if reason := too_large(name, len(data)):
        return reason
    digest = hashlib.sha256(data).hexdigest()
    if digest in known:  # before extracting: an indexed file was readable
        return f"{name}: already indexed as {known[digest]}"
    try:
        read_document(data, name, texts)
    except UnreadableError as error:
        return f"{name}: {error}"
    return None


def too_large(name: str, size: int) -> str | None:
    return f"{name}: larger than {MAX_UPLOAD_BYTES // 2**20} MB" if size > MAX_UPLOAD_BYTES else None


def add_files(
    settings: Settings, embedder: Embedder, files: list[Path], docs_dir: Path | None = None, progress: bool = True
) -> AddReport:
    """Save the readable new files among `files` as uploads and rebuild the index with them."""
    if len(files) > MAX_UPLOAD_FILES:
        raise DocumentError(f"{len(files)} files chosen: add at most {MAX_UPLOAD_FILES} at a time")
    docs_dir = Path(docs_dir or settings.docs_dir)
    known = {d.sha256: d.source for d in load_library(docs_dir, settings.index_dir)}
    report, saved = AddReport(), []
    folder = uploads_dir(settings.index_dir)
    for path in map(Path, files):
        name = safe_name(path.name)
        if reason := too_large(name, path.stat().st_size):  # refused by its size, never read into memory
            report.skipped.append(reason)
            continue
        data = path.read_bytes()
        reason = check_file(name, data, known, texts_dir(settings.index_dir))
        if reason:
            report.skipped.append(reason)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        target = free_path(folder / name)
        target.write_bytes(data)
        saved.append(target)
        known[hashlib.sha256(data).hexdigest()] = f"{UPLOADS}/{target.name}"
        report.added.append(f"{UPLOADS}/{target.name}")
    if saved:
        try:
            build_index(settings, embedder, docs_dir, progress)
        except BaseException:
            for target in saved:  # the build failed: the index is unchanged, so are the uploads
                target.unlink(missing_ok=True)
            raise
    return report


def document_counts(chunks: list[Chunk]) -> list[tuple[str, int]]:
    """(source, chunk count) for each indexed document, by name."""
    counts: dict[str, int] = {}
    for chunk in chunks:
        counts[chunk.source] = counts.get(chunk.source, 0) + 1
    return sorted(counts.items())

