"""Opening the current index, in a folder or on a Chroma server, and checking it matches the settings.

A reader never opens the shared build itself: it opens a private copy (rag/index/check.py),
after a child process has shown the copy can be read. Building and switching are in rag/index/build.py.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from rag.errors import IndexDamagedError, IndexMismatchError, IndexNotFoundError
from rag.index.check import check_in_child, close_copy, private_copy, read_check
from rag.index.store import COLLECTION, ChromaStore, IndexInfo, ServerBuilds, chroma_client
from rag.ingest.chunk import chunker_signature
from rag.settings import Settings


def current_path(index_dir: Path) -> Path:
    return Path(index_dir) / "current"


def server_builds(settings: Settings) -> ServerBuilds:
    assert settings.chroma_url, "only with a Chroma server (settings.chroma_url)"
    return ServerBuilds(settings.chroma_url, settings.chroma_collection, settings.chroma_token)


def has_index(settings: Settings) -> bool:
    if settings.chroma_url:
        return server_builds(settings).current_name() is not None
    return current_path(settings.index_dir).exists()


def open_store(settings: Settings) -> ChromaStore:
    """Open the current index; IndexNotFoundError if there is none, IndexMismatchError
    if it was built with other embedding or chunking settings."""
    if settings.chroma_url:
        return _open_server_store(settings)
    link = current_path(settings.index_dir)
    if not link.exists():
        raise IndexNotFoundError(
            f"no index in {settings.index_dir}: build one with `rag index {settings.docs_dir}`"
        )
    rebuild = f"rebuild it with `rag index {settings.docs_dir}`"
    build, copy = private_copy(settings.index_dir)  # Chroma writes to what it opens: never the shared build
    client = None
    try:
        check_in_child(copy, rebuild, shown=build)  # a damaged file may crash the reader: let that be a child
        try:
            client = chroma_client(copy)
            collection = client.get_collection(COLLECTION, embedding_function=None)
        except Exception as exc:  # Chroma raises several types for a damaged folder
            raise IndexDamagedError(
                f"the index in {settings.index_dir} cannot be opened ({type(exc).__name__}): {rebuild}"
            ) from exc
        store = ChromaStore(collection, build)
        check_compatible(store.info, settings)
        try:
            read_check(collection)
        except Exception as exc:
            raise IndexDamagedError(
                f"the index in {settings.index_dir} cannot be read ({type(exc).__name__}): {rebuild}"
            ) from exc
    except BaseException:
        close_copy(client, copy)
        raise
    weakref.finalize(store, close_copy, client, copy)  # the copy lives as long as the store
    return store


def _open_server_store(settings: Settings) -> ChromaStore:
    builds = server_builds(settings)
    name = builds.current_name()
    if name is None:
        raise IndexNotFoundError(
            f"no index {settings.chroma_collection!r} on the Chroma server at {settings.chroma_url}: "
            f"build one with `rag index {settings.docs_dir}`"
        )
    def reopen():  # after a rebuild switched builds and dropped the one this reader had
        current = builds.current_name()
        if current is None:
            raise IndexNotFoundError(f"the index {settings.chroma_collection!r} is gone from {settings.chroma_url}: "
                                     f"build it with `rag index {settings.docs_dir}`")
        return builds.open(current)

    try:
        store = ChromaStore(builds.open(name), reopen=reopen, where=f"the index on the Chroma server at {settings.chroma_url}")
    except IndexMismatchError:
        raise
    except Exception as exc:  # the pointer names a collection that is gone or unreadable
        raise IndexDamagedError(
            f"the index {name!r} on the Chroma server at {settings.chroma_url} cannot be opened "
            f"({type(exc).__name__}): rebuild it with `rag index {settings.docs_dir}`"
        ) from exc
    check_compatible(store.info, settings)
    return store


def check_compatible(info: IndexInfo, settings: Settings) -> None:
    expected = chunker_signature(settings.chunk_size, settings.chunk_overlap)
    if info.embedding_model != settings.embedding_model or info.chunker != expected:
        raise IndexMismatchError(
            f"the index was built with embedding model {info.embedding_model!r} and chunker "
            f"{info.chunker!r}, but the settings ask for {settings.embedding_model!r} and "
            f"{expected!r}: rebuild it with `rag index {info.docs_dir}`",
            info=info,
        )


def built_by_older_code(info: IndexInfo, settings: Settings) -> bool:
    """Same embedding model and chunk settings, another chunker or text-extractor version:
    the index predates this version of the code, not the user's settings."""
    def chunk_settings(signature: str) -> set[str]:
        return {field for field in signature.split(":") if "=" in field}  # "size=500", "overlap=100"

    expected = chunker_signature(settings.chunk_size, settings.chunk_overlap)
    return info.embedding_model == settings.embedding_model and chunk_settings(info.chunker) == chunk_settings(expected)
