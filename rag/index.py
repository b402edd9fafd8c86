"""The persistent Chroma index: build it safely, open it, check it matches.

Layout of `index_dir`:

    index_dir/
      current -> builds/<build id>   symlink, replaced atomically on a switch
      builds/<build id>/             one complete Chroma folder per build
      .write.lock                    one writer at a time (file lock)

A build goes into a fresh folder, is checked (count, one query), and only
then becomes `current`; a crash mid-build leaves the previous index in place.
Chunks whose content hash is unchanged reuse their stored vectors.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout
from tqdm import tqdm

from .chunk import chunk_documents, chunker_signature
from .documents import folder_fingerprint, load_library
from .embed import Embedder
from .errors import IndexBusyError, IndexDamagedError, IndexMismatchError, IndexNotFoundError, RagError
from .index_check import check_in_child, read_check, remember_good_read
from .settings import Settings
from .types import Chunk

log = logging.getLogger("rag")

COLLECTION = "chunks"
EMBED_BATCH = 64
ADD_BATCH = 1000


def chroma_client(path: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )


@dataclass(frozen=True)
class IndexInfo:
    """What the collection's metadata records about how it was built."""

    embedding_model: str
    dimension: int
    chunker: str
    fingerprint: str
    docs_dir: str
    chunk_count: int

    @classmethod
    def from_metadata(cls, meta: dict) -> "IndexInfo":
        try:
            return cls(**{name: meta[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise IndexMismatchError(
                "the index was not built by this version of rag: rebuild it with `rag index`"
            ) from exc


class ChromaStore:
    """A read view of one built collection."""

    def __init__(self, collection, path: Path | None = None):
        self.collection = collection
        self.path = path
        self.info = IndexInfo.from_metadata(collection.metadata or {})

    def count(self) -> int:
        return self.collection.count()

    def query(self, vector: list[float], k: int) -> list[tuple[Chunk, float]]:
        """The k nearest chunks with cosine similarity, best first."""
        if len(vector) != self.info.dimension:  # same model name, other model (a changed folder)
            raise IndexMismatchError(
                f"the index holds {self.info.dimension}-dimensional vectors but the embedding model "
                f"gives {len(vector)}: rebuild it with `rag index {self.info.docs_dir}`"
            )
        k = min(k, self.count())
        if k == 0:
            return []
        result = self.collection.query(
            query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances"]
        )
        rows = zip(result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])
        return [(_chunk(i, d, m), 1.0 - dist) for i, d, m, dist in rows]

    def chunks(self) -> list[Chunk]:
        """Every chunk, in a stable order (for BM25 and listings)."""
        result = self.collection.get(include=["documents", "metadatas"])
        chunks = [_chunk(i, d, m) for i, d, m in zip(result["ids"], result["documents"], result["metadatas"])]
        return sorted(chunks, key=lambda c: (c.source, c.start))

    def vectors(self, ids: list[str]) -> dict[str, list[float]]:
        if not ids:
            return {}
        result = self.collection.get(ids=ids, include=["embeddings"])
        return {i: list(map(float, v)) for i, v in zip(result["ids"], result["embeddings"])}


def _chunk(chunk_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(chunk_id, meta["source"], int(meta["start"]), int(meta["end"]), text)


def current_path(index_dir: Path) -> Path:
    return Path(index_dir) / "current"


def open_store(settings: Settings) -> ChromaStore:
    """Open the current index; IndexNotFoundError if there is none, IndexMismatchError
    if it was built with other embedding or chunking settings."""
    link = current_path(settings.index_dir)
    if not link.exists():
        raise IndexNotFoundError(
            f"no index in {settings.index_dir}: build one with `rag index {settings.docs_dir}`"
        )
    path = link.resolve()
    rebuild = f"rebuild it with `rag index {settings.docs_dir}`"
    check_in_child(path, rebuild)  # a damaged file may crash the reader: let that be a child
    try:
        collection = chroma_client(path).get_collection(COLLECTION, embedding_function=None)
    except Exception as exc:  # Chroma raises several types for a damaged folder
        raise IndexDamagedError(
            f"the index in {settings.index_dir} cannot be opened ({type(exc).__name__}): {rebuild}"
        ) from exc
    store = ChromaStore(collection, path)
    check_compatible(store.info, settings)
    try:
        read_check(collection)
    except Exception as exc:
        raise IndexDamagedError(
            f"the index in {settings.index_dir} cannot be read ({type(exc).__name__}): {rebuild}"
        ) from exc
    remember_good_read(path)
    return store


def check_compatible(info: IndexInfo, settings: Settings) -> None:
    expected = chunker_signature(settings.chunk_size, settings.chunk_overlap)
    if info.embedding_model != settings.embedding_model or info.chunker != expected:
        raise IndexMismatchError(
            f"the index was built with embedding model {info.embedding_model!r} and chunker "
            f"{info.chunker!r}, but the settings ask for {settings.embedding_model!r} and "
            f"{expected!r}: rebuild it with `rag index {info.docs_dir}`"
        )


def _previous_vectors(settings: Settings, ids: list[str]) -> dict[str, list[float]]:
    """Vectors of unchanged chunks from the current index, when it is compatible."""
    try:
        store = open_store(settings)
        return store.vectors(ids)
    except RagError:
        return {}


def _embed_missing(chunks: list[Chunk], known: dict, embedder: Embedder, progress: bool) -> list:
    todo = [c for c in chunks if c.id not in known]
    bar = tqdm(total=len(chunks), desc="Indexing", unit="chunk", disable=not progress)
    bar.update(len(chunks) - len(todo))
    for start in range(0, len(todo), EMBED_BATCH):
        batch = todo[start : start + EMBED_BATCH]
        for chunk, vector in zip(batch, embedder.embed([c.text for c in batch], EMBED_BATCH)):
            known[chunk.id] = vector
        bar.update(len(batch))
    bar.close()
    return [known[c.id] for c in chunks]


def _write_collection(path: Path, chunks: list[Chunk], vectors: list, info: IndexInfo) -> None:
    collection = chroma_client(path).create_collection(
        COLLECTION,
        metadata=info.__dict__,
        configuration={"hnsw": {"space": "cosine"}},
        embedding_function=None,
    )
    for start in range(0, len(chunks), ADD_BATCH):
        batch = chunks[start : start + ADD_BATCH]
        collection.add(
            ids=[c.id for c in batch],
            documents=[c.text for c in batch],
            metadatas=[{"source": c.source, "start": c.start, "end": c.end} for c in batch],
            embeddings=vectors[start : start + ADD_BATCH],
        )


def _verify_build(path: Path, chunks: list[Chunk], vectors: list) -> None:
    """Reopen the new folder and check it before it may become current."""
    store = ChromaStore(chroma_client(path).get_collection(COLLECTION, embedding_function=None))
    if store.count() != len(chunks):
        raise RagError(f"index build check failed: {store.count()} of {len(chunks)} chunks stored")
    # A chunk and its duplicate (a copied file) share a vector, so the nearest hit may be
    # the other one: check that the probe's own vector is found, not which chunk holds it.
    hits = store.query(vectors[0], 1)
    if not hits or hits[0][1] < 1.0 - 1e-3:
        raise RagError("index build check failed: a stored chunk is not found by its own vector")
    remember_good_read(path)  # this process just read it without crashing


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


def _build_locked(settings, embedder, docs_dir: Path, index_dir: Path, progress: bool) -> IndexInfo:
    documents = load_library(docs_dir, index_dir)
    chunks = chunk_documents(documents, settings.chunk_size, settings.chunk_overlap)
    vectors = _embed_missing(chunks, _previous_vectors(settings, [c.id for c in chunks]), embedder, progress)
    info = IndexInfo(
        embedding_model=settings.embedding_model,
        dimension=len(vectors[0]),
        chunker=chunker_signature(settings.chunk_size, settings.chunk_overlap),
        fingerprint=folder_fingerprint(documents),
        docs_dir=str(docs_dir),
        chunk_count=len(chunks),
    )
    build = index_dir / "builds" / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    build.mkdir(parents=True)
    try:
        _write_collection(build, chunks, vectors, info)
        _verify_build(build, chunks, vectors)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    _switch(index_dir, build)
    _remove_old_builds(index_dir, build)
    log.info("indexed %d chunks from %d documents in %s", len(chunks), len(documents), docs_dir)
    return info


def ensure_index(settings: Settings, embedder: Embedder, progress: bool = True) -> ChromaStore:
    """Open the index, building or refreshing it first when the documents changed."""
    if not settings.auto_index:
        return open_store(settings)
    if not current_path(settings.index_dir).exists():
        build_index(settings, embedder, settings.docs_dir, progress)
        return open_store(settings)
    store = open_store(settings)
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
