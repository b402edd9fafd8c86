"""Text embeddings: the `Embedder` protocol and its sentence-transformers implementation."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from rag.models.catalogue import resolve_embedding
from rag.offline import keep_libraries_offline

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class Embedder(Protocol):
    name: str

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: list[str], batch_size: int = 64) -> list[list[float]]: ...


class SentenceTransformerEmbedder:
    """Loads the model on first use, from local files only, on the CPU."""

    def __init__(self, model: str):
        self.name = model
        self._path = resolve_embedding(model)  # fails early if the package is missing
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def sentence_transformer(self) -> SentenceTransformer:
        """The loaded `SentenceTransformer` itself (loads it on first use), for a caller that
        calls sentence-transformers directly (`rag bench` times plain encoding against ours)."""
        return self._load()

    def _load(self):
        with self._lock:
            if self._model is None:
                keep_libraries_offline()  # before huggingface_hub is imported: it reads them once
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # "Loading weights" takes no time worth a bar

                self._model = SentenceTransformer(
                    str(self._path), device="cpu", local_files_only=True
                )
        return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def embed(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        vectors = self._load().encode(
            texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return vectors.tolist()
