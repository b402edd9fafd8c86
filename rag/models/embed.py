"""Text embeddings: the `Embedder` protocol, and the two ways the embedding model runs.

`make_embedder` gives a plain BERT sentence-transformers model, such as the
default all-MiniLM-L6-v2, a `BertEmbedder`: questions are embedded by the NumPy
encoder (`rag.models.bert`), without importing torch, which is about 5 s of
every new process; large batches (indexing) by sentence-transformers. Any
other model runs in sentence-transformers alone.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from rag.models.catalogue import resolve_embedding
from rag.offline import keep_libraries_offline

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from rag.models.bert import BertEncoder


class Embedder(Protocol):
    name: str

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: list[str], batch_size: int = 64) -> list[list[float]]: ...


NUMPY_MAX_TEXTS = 16  # more texts than this at once (indexing) go to sentence-transformers


def make_embedder(model: str) -> Embedder:
    """The embedder for `model` (catalogue name or folder): questions in NumPy when it reproduces the model."""
    from rag.models.bert import pooling_mode

    path = resolve_embedding(model)
    return BertEmbedder(model) if pooling_mode(path) else SentenceTransformerEmbedder(model)


class BertEmbedder:
    """A plain BERT sentence-transformers model: a few texts at a time (a question, a sentence of
    an answer) in NumPy (`rag.models.bert`), so answering never imports torch; a batch of many
    (indexing) in sentence-transformers, about three times faster at it here. Both give the
    same vectors, within 1e-5 (tests/test_embed.py)."""

    def __init__(self, model: str):
        self.name = model
        self._path = resolve_embedding(model)
        self._encoder: BertEncoder | None = None
        self._lock = threading.Lock()
        self._batches = SentenceTransformerEmbedder(model)  # loads nothing until a batch comes

    def _load(self) -> BertEncoder:
        with self._lock:
            if self._encoder is None:
                from rag.models.bert import BertEncoder

                self._encoder = BertEncoder(self._path)
        return self._encoder

    @property
    def dimension(self) -> int:
        return self._load().dimension

    def embed(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        if len(texts) > NUMPY_MAX_TEXTS:
            return self._batches.embed(texts, batch_size)
        return self._load().encode(texts).tolist() if texts else []


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
