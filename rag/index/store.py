"""Chroma, opened: the embedded folder or a server, one built collection as a read view.

`rag/index/build.py` decides what is built and when it becomes current; this module only
talks to Chroma (clients, the server's build collections, reading and filling one).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from rag.errors import IndexDamagedError, IndexMismatchError, IndexNotFoundError, RagError
from rag.types import Chunk

T = TypeVar("T")

log = logging.getLogger("rag")

COLLECTION = "chunks"
ADD_BATCH = 1000
GET_PAGE = 5000  # chunks fetched per request when listing a collection (for BM25)
# Ids sent in one `get`: Chroma 1.5.9 binds each id as an SQL variable and fails past
# SQLite's limit of 32,766 ("too many SQL variables"); a server may cap a request's size too.
IDS_PAGE = 5000


def chroma_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )


def chroma_server(url: str, token: str = "") -> Any:
    """A client of the Chroma server at `url`, sending `token` as a bearer token when set (for the
    authenticating proxy in front of a server on a network); IndexNotFoundError when nothing
    answers there or the token is refused."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parts = urlsplit(url)
    try:
        return chromadb.HttpClient(
            host=parts.hostname or "127.0.0.1", port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https", headers={"Authorization": f"Bearer {token}"} if token else None,
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    except Exception as exc:  # chromadb raises ValueError("Could not connect to a Chroma server"), or auth errors
        if _refused(exc):
            raise IndexNotFoundError(
                f"the Chroma server at {url} refused the request ({type(exc).__name__}): "
                + ("check RAG_CHROMA_TOKEN" if token else "it asks for a token: set RAG_CHROMA_TOKEN")
            ) from exc
        raise IndexNotFoundError(
            f"cannot reach the Chroma server at {url} ({type(exc).__name__}): start it with "
            "`chroma run --path DIR --host 127.0.0.1 --port PORT` or fix RAG_CHROMA_URL"
        ) from exc


def _refused(exc: Exception) -> bool:
    from chromadb.errors import AuthorizationError, ChromaAuthError

    return isinstance(exc, (AuthorizationError, ChromaAuthError)) or any(
        code in str(exc) for code in ("401", "403", "Unauthorized", "Forbidden")
    )


class ServerBuilds:
    """The builds of one index on a Chroma server.

    Each build is a collection `<prefix>-build-<id>`; the empty collection
    `<prefix>-current` names the current build in its metadata. Switching is one
    metadata update, so a reader sees the old build or the new, never half of one.
    """

    def __init__(self, url: str, prefix: str, token: str = ""):
        self.url, self.prefix = url, prefix
        self.client = chroma_server(url, token)
        self.pointer = f"{prefix}-current"

    def new_name(self) -> str:
        return f"{self.prefix}-build-{build_id()}"

    def current_name(self) -> str | None:
        from chromadb.errors import NotFoundError

        try:
            return (self.client.get_collection(self.pointer, embedding_function=None).metadata or {}).get("build")
        except NotFoundError:
            return None

    def open(self, name: str) -> Any:
        return self.client.get_collection(name, embedding_function=None)

    def switch(self, name: str) -> None:
        pointer = self.client.get_or_create_collection(self.pointer, embedding_function=None, metadata={"build": name})
        pointer.modify(metadata={"build": name})

    def discard(self, name: str) -> None:
        """Drop a half-built collection; the error that stopped the build matters more."""
        try:
            self.client.delete_collection(name)
        except Exception:
            log.warning("could not remove the unfinished collection %s from %s", name, self.url)

    def remove_all_but(self, keep: str) -> None:
        for collection in self.client.list_collections():
            if collection.name.startswith(f"{self.prefix}-build-") and collection.name != keep:
                self.client.delete_collection(collection.name)


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
    def from_metadata(cls, meta: dict) -> IndexInfo:
        try:
            return cls(**{name: meta[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise IndexMismatchError(
                "the index was not built by this version of rag: rebuild it with `rag index`"
            ) from exc


class ChromaStore:
    """A read view of one built collection.

    On a server, `reopen` gives the collection of the current build: when a rebuild has
    switched builds and dropped this one, the view moves to the new build and asks again.
    Any other failure of Chroma (a server gone, a damaged folder) is an IndexDamagedError.
    """

    def __init__(self, collection: Any, path: Path | None = None, reopen: Callable[[], Any] | None = None,
                 where: str = ""):
        self.collection = collection
        self.path = path
        self.reopen = reopen
        self.switches = 0  # builds moved to: a session's keyword index and library follow (RAG.retrieve)
        self.where = where or (f"the index in {path}" if path else "the index")
        self.info = IndexInfo.from_metadata(collection.metadata or {})

    def _call(self, read: Callable[[Any], T]) -> T:
        """`read(collection)`, following a switch to a new build once; Chroma's errors as RagErrors."""
        from chromadb.errors import NotFoundError

        try:
            try:
                return read(self.collection)
            except NotFoundError:
                if self.reopen is None:
                    raise
                log.info("%s switched builds: reading the current one", self.where)
                self.collection = self.reopen()
                self.switches += 1
                self.info = IndexInfo.from_metadata(self.collection.metadata or {})
                return read(self.collection)
        except RagError:
            raise
        except Exception as exc:
            why = (str(exc).strip().splitlines() or [""])[0][:200]
            raise IndexDamagedError(
                f"{self.where} could not be read ({type(exc).__name__}: {why}): "
                f"check it, or rebuild it with `rag index {self.info.docs_dir}`"
            ) from exc

    def count(self) -> int:
        return self._call(lambda c: c.count())

    def query(self, vector: list[float], k: int) -> list[tuple[Chunk, float]]:
        """The k nearest chunks with cosine similarity, best first."""
        if len(vector) != self.info.dimension:  # same model name, other model (a changed folder)
            raise IndexMismatchError(
                f"the index holds {self.info.dimension}-dimensional vectors but the embedding model "
                f"gives {len(vector)}: rebuild it with `rag index {self.info.docs_dir}`"
            )
        def nearest(collection: Any) -> Any:
            n = min(k, collection.count())
            if n == 0:
                return {"ids": [[]], "documents": [[]], "metadatas": [[]], "distances": [[]]}
            return collection.query(
                query_embeddings=[vector], n_results=n, include=["documents", "metadatas", "distances"]
            )

        result = self._call(nearest)
        rows = zip(result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0])
        return [(_chunk(i, d, m), 1.0 - dist) for i, d, m, dist in rows]

    def chunks(self) -> list[Chunk]:
        """Every chunk, in a stable order (for BM25 and listings); fetched in pages, since a
        server may cap the rows of one answer."""
        def every(collection: Any) -> list[Chunk]:
            chunks: list[Chunk] = []
            while True:
                page = collection.get(include=["documents", "metadatas"], limit=GET_PAGE, offset=len(chunks))
                chunks += [_chunk(i, d, m) for i, d, m in zip(page["ids"], page["documents"], page["metadatas"])]
                if len(page["ids"]) < GET_PAGE:
                    return sorted(chunks, key=lambda c: (c.source, c.start))

        return self._call(every)

    def vectors(self, ids: list[str]) -> dict[str, list[float]]:
        """The stored vectors of those `ids` that are in the collection, fetched IDS_PAGE at a time."""
        def fetch(collection: Any) -> dict[str, list[float]]:
            found: dict[str, list[float]] = {}
            for start in range(0, len(ids), IDS_PAGE):
                page = collection.get(ids=ids[start : start + IDS_PAGE], include=["embeddings"])
                found.update((i, list(map(float, v))) for i, v in zip(page["ids"], page["embeddings"]))
            return found

        return self._call(fetch)


def _chunk(chunk_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(chunk_id, meta["source"], int(meta["start"]), int(meta["end"]), text)


def build_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def create_collection(client: Any, name: str, info: IndexInfo) -> Any:
    return client.create_collection(
        name, metadata=info.__dict__, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )


def fill(collection: Any, chunks: list[Chunk], vectors: list) -> None:
    for start in range(0, len(chunks), ADD_BATCH):
        batch = chunks[start : start + ADD_BATCH]
        collection.add(
            ids=[c.id for c in batch],
            documents=[c.text for c in batch],
            metadatas=[{"source": c.source, "start": c.start, "end": c.end} for c in batch],
            embeddings=vectors[start : start + ADD_BATCH],
        )
