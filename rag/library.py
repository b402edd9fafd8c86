"""Adding documents to an index from the chat page.

An added file is saved under index_dir/uploads (its source is "uploads/<name>")
and the index is rebuilt the usual safe way: a fresh build, verified, switched
in atomically, unchanged chunks keeping their vectors. A file that is not
readable text, or a build that fails, leaves the index exactly as it was.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from .documents import SUFFIXES, UPLOADS, decode_document, load_library, uploads_dir
from .embed import Embedder
from .index import build_index
from .settings import Settings

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


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


def check_file(name: str, data: bytes, known: dict[str, str]) -> str | None:
    """Why this file cannot be added, or None when it can. `known`: sha256 -> source."""
    if Path(name).suffix.lower() not in SUFFIXES:
        return f"{name}: only {', '.join(SUFFIXES)} files can be added"
    if len(data) > MAX_UPLOAD_BYTES:
        return f"{name}: larger than {MAX_UPLOAD_BYTES // 2**20} MB"
    if decode_document(data, name) is None:
        return f"{name}: not readable text (binary, empty or not UTF-8)"
    digest = hashlib.sha256(data).hexdigest()
    if digest in known:
        return f"{name}: already indexed as {known[digest]}"
    return None


def add_files(
    settings: Settings, embedder: Embedder, files: list[Path], docs_dir: Path | None = None, progress: bool = True
) -> AddReport:
    """Save the readable new files among `files` as uploads and rebuild the index with them."""
    docs_dir = Path(docs_dir or settings.docs_dir)
    known = {d.sha256: d.source for d in load_library(docs_dir, settings.index_dir)}
    report, saved = AddReport(), []
    folder = uploads_dir(settings.index_dir)
    for path in map(Path, files):
        name, data = safe_name(path.name), path.read_bytes()
        reason = check_file(name, data, known)
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


def document_counts(chunks) -> list[tuple[str, int]]:
    """(source, chunk count) for each indexed document, by name."""
    counts: dict[str, int] = {}
    for chunk in chunks:
        counts[chunk.source] = counts.get(chunk.source, 0) + 1
    return sorted(counts.items())

