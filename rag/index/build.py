"""The persistent Chroma index: build it safely, open it, check it matches.

Building and switching; opening is in rag/index/reader.py. Layout of `index_dir`:

    index_dir/
      current -> builds/<build id>   symlink, replaced atomically on a switch
      builds/<build id>/             one complete Chroma folder per build
      .write.lock                    one writer at a time (file lock)
      .readers/<pid>-<random>/       a reader's private copy of the current build
                                     (Chroma writes to what it opens; see rag/index/check.py)

A build goes into a fresh folder, is checked (count, one query), and only
then becomes `current`; a crash mid-build leaves the previous index in place.
Chunks whose content hash is unchanged reuse their stored vectors.

With `settings.chroma_url` the same steps run against a Chroma server
(`chroma run`): a build is a collection `<prefix>-build-<id>`, and the
collection `<prefix>-current` holds the current build's name in its metadata
(see `ServerBuilds` in rag/index/store.py, which holds everything that talks to Chroma).
The write lock and uploads stay in `index_dir`.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from filelock import FileLock, Timeout
from tqdm import tqdm

from rag.errors import IndexBusyError, IndexMismatchError, RagError
from rag.index.check import remember_good_read
from rag.index.reader import built_by_older_code, current_path, has_index, open_store, server_builds
from rag.index.store import (
    COLLECTION,
    ChromaStore,
    IndexInfo,
    ServerBuilds,
    build_id,
    chroma_client,
    create_collection,
    fill,
)
from rag.ingest.chunk import chunk_documents, chunker_signature
from rag.ingest.documents import folder_fingerprint, load_library, prune_texts
from rag.models.embed import Embedder
from rag.settings import Settings
from rag.types import Chunk

log = logging.getLogger("rag")

def _previous_vectors(settings: Settings, ids: list[str]) -> dict[str, list[float]]:
    """Vectors of unchanged chunks from the current index, when it is compatible."""
    try:
        store = open_store(settings)
        return store.vectors(ids)
    except RagError:
        return {}


def _embed_missing(chunks: list[Chunk], known: dict, embedder: Embedder, progress: bool, batch_size: int) -> list:
    # Batches of similar lengths pad less: sentence-transformers sorts by length only within one
    # call, and we call it per batch (for the progress bar). Measured: 70% -> 92% of plain encoding.
    todo = sorted((c for c in chunks if c.id not in known), key=lambda c: len(c.text))
    bar = tqdm(total=len(chunks), desc="Indexing", unit="chunk", disable=not progress)
    bar.update(len(chunks) - len(todo))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        for chunk, vector in zip(batch, embedder.embed([c.text for c in batch], batch_size)):
            known[chunk.id] = vector
        bar.update(len(batch))
    bar.close()
    return [known[c.id] for c in chunks]


def _write_collection(path: Path, chunks: list[Chunk], vectors: list, info: IndexInfo) -> None:
    client = chroma_client(path)
    try:
        fill(create_collection(client, COLLECTION, info), chunks, vectors)
    finally:
        client.close()


def _verify_build(path: Path, chunks: list[Chunk], vectors: list) -> None:
    """Reopen the new folder and check it before it may become current. Chroma's system for
    it is stopped first (it is cached per path), so that nothing writes to it once it is current."""
    client = chroma_client(path)
    try:
        _check_build(ChromaStore(client.get_collection(COLLECTION, embedding_function=None)), chunks, vectors)
    finally:
        client.close()
    remember_good_read(path)  # this process just read it without crashing


def _check_build(store: ChromaStore, chunks: list[Chunk], vectors: list) -> None:
    if store.count() != len(chunks):
        raise RagError(f"index build check failed: {store.count()} of {len(chunks)} chunks stored")
    # A chunk and its duplicate (a copied file) share a vector, so the nearest hit may be
    # the other one: check that the probe's own vector is found, not which chunk holds it.
    hits = store.query(vectors[0], 1)
    if not hits or hits[0][1] < 1.0 - 1e-3:
        raise RagError("index build check failed: a stored chunk is not found by its own vector")


def _switch(index_dir: Path, build: Path) -> None:
    tmp_link = index_dir / f"current.tmp-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(build.relative_to(index_dir))
    os.replace(tmp_link, current_path(index_dir))  # atomic on POSIX


def _remove_old_builds(index_dir: Path, keep: Path) -> None:
    for build in (index_dir / "builds").iterdir():
        if build != keep:
            shutil.rmtree(build, ignore_errors=True)


def write_lock(index_dir: Path, timeout: float = 0) -> FileLock:
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(index_dir) / ".write.lock"), timeout=timeout)


def build_index(
    settings: Settings, embedder: Embedder, docs_dir: Path | None = None, progress: bool = True
) -> IndexInfo:
    """Index `docs_dir` (default: settings.docs_dir) into a fresh build, then switch to it."""
    docs_dir = Path(docs_dir or settings.docs_dir).resolve()
    index_dir = Path(settings.index_dir)
    try:
        with write_lock(index_dir):
            return _build_locked(settings, embedder, docs_dir, index_dir, progress)
    except Timeout as exc:
        raise IndexBusyError(
            f"another process is writing the index in {index_dir}; wait for it to finish"
        ) from exc


def _build_locked(settings: Settings, embedder: Embedder, docs_dir: Path, index_dir: Path, progress: bool) -> IndexInfo:
    documents = load_library(docs_dir, index_dir)
    chunks = chunk_documents(documents, settings.chunk_size, settings.chunk_overlap)
    known = _previous_vectors(settings, [c.id for c in chunks])
    vectors = _embed_missing(chunks, known, embedder, progress, settings.embed_batch_size)
    info = IndexInfo(
        embedding_model=settings.embedding_model,
        dimension=len(vectors[0]),
        chunker=chunker_signature(settings.chunk_size, settings.chunk_overlap),
        fingerprint=folder_fingerprint(documents),
        docs_dir=str(docs_dir),
        chunk_count=len(chunks),
    )
    if settings.chroma_url:
        _publish_on_server(server_builds(settings), chunks, vectors, info)
    else:
        _publish_in_folder(index_dir, chunks, vectors, info)
    prune_texts(index_dir, documents)
    log.info("indexed %d chunks from %d documents in %s", len(chunks), len(documents), docs_dir)
    return info


def _publish_in_folder(index_dir: Path, chunks: list[Chunk], vectors: list, info: IndexInfo) -> None:
    build = index_dir / "builds" / build_id()
    build.mkdir(parents=True)
    try:
        _write_collection(build, chunks, vectors, info)
        _verify_build(build, chunks, vectors)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    _switch(index_dir, build)
    _remove_old_builds(index_dir, build)


def _publish_on_server(builds: ServerBuilds, chunks: list[Chunk], vectors: list, info: IndexInfo) -> None:
    name = builds.new_name()
    try:
        collection = create_collection(builds.client, name, info)
        fill(collection, chunks, vectors)
        _check_build(ChromaStore(builds.open(name)), chunks, vectors)
    except BaseException:
        builds.discard(name)
        raise
    builds.switch(name)
    builds.remove_all_but(name)


def ensure_index(settings: Settings, embedder: Embedder, progress: bool = True) -> ChromaStore:
    """Open the index, building or refreshing it first when the documents changed."""
    if not settings.auto_index:
        return open_store(settings)
    if not has_index(settings):
        build_index(settings, embedder, settings.docs_dir, progress)
        return open_store(settings)
    try:
        store = open_store(settings)
    except IndexMismatchError as mismatch:
        if mismatch.info is None or not built_by_older_code(mismatch.info, settings):
            raise  # other settings than the index's: the user decides (`rag index`)
        folder = Path(mismatch.info.docs_dir)
        folder = folder if folder.is_dir() else Path(settings.docs_dir)
        log.warning("the index was built by an older version of the chunker: building it again from %s", folder)
        build_index(settings, embedder, folder, progress)
        return open_store(settings)
    folder = Path(store.info.docs_dir)
    if folder.is_dir():
        documents = load_library(folder, settings.index_dir)
        if folder_fingerprint(documents) != store.info.fingerprint:
            log.info("documents in %s changed: updating the index", folder)
            try:
                build_index(settings, embedder, folder, progress)
            except IndexBusyError:  # another process is updating it: answer from the current one
                log.warning("another process is updating the index in %s; using the current one", settings.index_dir)
                return store
            store = open_store(settings)
    return store
