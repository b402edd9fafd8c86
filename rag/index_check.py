"""Check an index folder before this process trusts it with a query.

A damaged HNSW segment file (a process killed while Chroma rewrote it, a bad
disk, a truncated copy) can make Chroma crash the whole process on the first
query: a segfault, not an exception. So a folder whose segment files changed
since a process last read it successfully is first opened and queried in a
child process, where a crash becomes an `IndexDamagedError` here. A folder
that did not change skips the child (it costs about a second).

    python -m rag.index_check PATH    # exit 0 when the folder opens and answers a query

What the index holds and whether it matches the settings is left to rag.index.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .errors import IndexDamagedError

STAMP = "rag-good-read.json"  # segment files as they were after the last good read
PROBE_TIMEOUT_S = 300


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


def read_check(collection) -> None:
    """Count the chunks and run one query: the first query loads the HNSW files."""
    dimension = int((collection.metadata or {}).get("dimension") or 0)
    if collection.count() and dimension:
        probe = [1.0] + [0.0] * (dimension - 1)
        collection.query(query_embeddings=[probe], n_results=1, include=["distances"])


def check_in_child(path: Path, rebuild_hint: str) -> None:
    """Open and query `path` in a child process first, unless it is known good."""
    if _unchanged_since_good_read(path):
        return
    try:
        result = subprocess.run(
            [sys.executable, "-m", "rag.index_check", str(path)],
            capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise IndexDamagedError(f"the index in {path} hangs when read: {rebuild_hint}") from exc
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        if result.returncode < 0:
            why = f"reading it crashed the reading process (signal {-result.returncode})"
        raise IndexDamagedError(f"the index in {path} is damaged ({why[:200]}): {rebuild_hint}")


def main(argv: list[str]) -> int:
    from .store import COLLECTION, chroma_client

    try:
        read_check(chroma_client(Path(argv[0])).get_collection(COLLECTION, embedding_function=None))
    except Exception as exc:  # any failure means "not readable"; the parent words the message
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
