"""Open an index folder safely for reading: a private copy, checked before it is trusted.

Chroma rewrites the HNSW and SQLite files of a small collection (under its 1,000-record
sync threshold) in place when a process opens and queries it. So a reader never opens
the shared build folder: it copies the current build into `index_dir/.readers/` and
opens the copy, which goes when the store does (or, after a kill, at the next open).
A rebuild may switch `current` and delete the build a reader has just resolved; the
copy is then taken again from the new `current`, and Chroma never sees a missing path
(it would create an empty database there).

A damaged HNSW segment file (a process killed while Chroma rewrote it, a bad
disk, a truncated copy) can make Chroma crash the whole process on the first
query: a segfault, not an exception. So a folder whose segment files changed
since a process last read it successfully is first opened and queried in a
child process, where a crash becomes an `IndexDamagedError` here. A folder
that did not change skips the child (it costs about a second).

    python -m rag.index.check PATH    # exit 0 when the folder opens and answers a query

What the index holds and whether it matches the settings is left to rag.index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from rag.errors import IndexBusyError, IndexDamagedError, RagError

STAMP = "rag-good-read.json"  # segment files as they were after the last good read
PROBE_TIMEOUT_S = 300
READERS = ".readers"  # in index_dir: one private copy per open store, named <pid>-<random>
COPY_ATTEMPTS = 3  # a rebuild may switch builds while a reader copies; each try takes the new one


def private_copy(index_dir: Path) -> tuple[Path, Path]:
    """(the current build, a copy of it that only this process opens).

    The copy is whole: `current` still names the same build after copying, and a build is
    deleted only after a switch away from it, and written by no one once it is current.
    """
    index_dir = Path(index_dir)
    link, readers = index_dir / "current", index_dir / READERS
    _remove_copies_of_dead_readers(readers)
    for _ in range(COPY_ATTEMPTS):
        build = link.resolve()
        copy = readers / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            shutil.copytree(build, copy)
        except (OSError, shutil.Error) as exc:
            shutil.rmtree(copy, ignore_errors=True)
            if link.resolve() == build and build.is_dir():  # not a rebuild: a real failure
                raise RagError(f"cannot copy the index in {build} to read it ({exc}): check the disk") from exc
            continue
        if link.resolve() == build:
            return build, copy
        shutil.rmtree(copy, ignore_errors=True)  # switched while copying: it may be part deleted
    raise IndexBusyError(f"the index in {index_dir} was rebuilt {COPY_ATTEMPTS} times while being opened; try again")


def close_copy(client: Any, copy: Path) -> None:
    """Stop Chroma's system for `copy` (Chroma caches one per path), then remove the copy."""
    try:
        if client is not None:
            client.close()
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _remove_copies_of_dead_readers(readers: Path) -> None:
    for copy in readers.iterdir() if readers.is_dir() else []:
        try:
            os.kill(int(copy.name.split("-")[0]), 0)
        except ProcessLookupError:
            shutil.rmtree(copy, ignore_errors=True)
        except (ValueError, PermissionError):  # not ours, or another user's live process
            pass


def segment_stamp(path: Path) -> dict[str, list[int]]:
    """Size and mtime of each file in the folder's segment subfolders (the HNSW files)."""
    stamp = {}
    for file in sorted(Path(path).glob("*/*")):
        if file.is_file():
            stat = file.stat()
            stamp[file.relative_to(path).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return stamp


def _unchanged_since_good_read(path: Path) -> bool:
    try:
        return json.loads((Path(path) / STAMP).read_text()) == segment_stamp(path)
    except (OSError, ValueError):
        return False


def remember_good_read(path: Path) -> None:
    """Record the segment files as they are now, after a read that worked."""
    (Path(path) / STAMP).write_text(json.dumps(segment_stamp(path)))


def read_check(collection: Any) -> None:
    """Count the chunks and run one query: the first query loads the HNSW files."""
    dimension = int((collection.metadata or {}).get("dimension") or 0)
    if collection.count() and dimension:
        probe = [1.0] + [0.0] * (dimension - 1)
        collection.query(query_embeddings=[probe], n_results=1, include=["distances"])


def check_in_child(path: Path, rebuild_hint: str, shown: Path | None = None) -> None:
    """Open and query `path` in a child process first, unless it is known good; messages
    name the folder `shown` (the build that `path` is a copy of)."""
    shown = shown or path
    if _unchanged_since_good_read(path):
        return
    try:
        result = subprocess.run(
            [sys.executable, "-m", "rag.index.check", str(path)],
            capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise IndexDamagedError(f"the index in {shown} hangs when read: {rebuild_hint}") from exc
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        if result.returncode < 0:
            why = f"reading it crashed the reading process (signal {-result.returncode})"
        raise IndexDamagedError(f"the index in {shown} is damaged ({why[:200]}): {rebuild_hint}")


def main(argv: list[str]) -> int:
    from rag.index.store import COLLECTION, chroma_client

    try:
        read_check(chroma_client(Path(argv[0])).get_collection(COLLECTION, embedding_function=None))
    except Exception as exc:  # any failure means "not readable"; the parent words the message
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
