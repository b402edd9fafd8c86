"""Retrieval: dense vectors (Chroma) and BM25 (bm25s), fused by reciprocal rank.

    fuse([["a", "b"], ["b", "c"]], k=60)  ->  ["b", "a", "c"]
    rrf_scores([["a", "b"], ["b", "c"]], k=60)  ->  {"a": 1/61, "b": 1/62 + 1/61, "c": 1/62}

The BM25 index is built in memory from the chunks stored in Chroma, once per
store, so both retrievers always see the same chunks.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from rag.index.store import ChromaStore
from rag.ingest.text import normalize, stemmer
from rag.models.embed import Embedder
from rag.types import Chunk, Passage

CANDIDATES_PER_PASSAGE = 5  # each retriever proposes 5x as many chunks as are kept


def rrf_scores(rankings: list[list[str]], k: int = 60) -> dict[str, float]:
    """Reciprocal-rank-fusion score of every id: the sum over rankings of 1 / (k + rank).
    An id repeated within one ranking counts once, at its best (first) rank, and the
    ranks after it close up."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(dict.fromkeys(ranking), start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


def fuse(rankings: list[list[str]], k: int = 60) -> list[str]:
    """The ids of all rankings, best fused score first (ties: in order of first appearance)."""
    scores = rrf_scores(rankings, k)
    return sorted(scores, key=lambda item: -scores[item])


class BM25Index:
    """bm25s over the store's chunks, English stopwords removed."""

    def __init__(self, chunks: list[Chunk]):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG, which floods `rag ask`'s stderr

        self.chunks = chunks
        self._bm25 = bm25s.BM25()
        if chunks:
            self._bm25.index(self._tokenize([c.text for c in chunks]), show_progress=False)

    @staticmethod
    def _tokenize(texts: list[str]) -> Any:
        import bm25s

        # Same normalization and stemming as the citation check: "Huthis'" and "Huthi" match.
        return bm25s.tokenize([normalize(t) for t in texts], stopwords="en", stemmer=stemmer(), show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        tokens = self._tokenize([query])
        k = min(k, len(self.chunks))
        if k == 0 or not tokens.vocab:
            return []
        indices, scores = self._bm25.retrieve(tokens, k=k, show_progress=False)
        return [(self.chunks[i], float(s)) for i, s in zip(indices[0], scores[0]) if s > 0]


class Retriever:
    def __init__(self, store: ChromaStore, embedder: Embedder, mode: str = "hybrid", rrf_k: int = 60):
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.rrf_k = rrf_k
        self._bm25: BM25Index | None = None
        self._lock = threading.Lock()

    @property
    def bm25(self) -> BM25Index:
        with self._lock:
            if self._bm25 is None:
                self._bm25 = BM25Index(self.store.chunks())
            return self._bm25

    def dense(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        return self.store.query(self.embedder.embed([query])[0], k)

    def search(self, query: str, k: int, mode: str | None = None) -> list[Passage]:
        """The k best passages for `query`, numbered from 1."""
        mode = mode or self.mode
        pool = k * CANDIDATES_PER_PASSAGE
        rankings, by_id = [], {}
        if mode in ("dense", "hybrid"):
            hits = self.dense(query, pool)
            rankings.append([c.id for c, _ in hits])
            by_id.update({c.id: c for c, _ in hits})
        if mode in ("bm25", "hybrid"):
            hits = self.bm25.search(query, pool)
            rankings.append([c.id for c, _ in hits])
            by_id.update({c.id: c for c, _ in hits})
        if mode not in ("dense", "bm25", "hybrid"):
            raise ValueError(f"unknown retrieval mode {mode!r}")
        scores = rrf_scores(rankings, self.rrf_k)
        fused = sorted(scores, key=lambda cid: -scores[cid])[:k]
        return [
            Passage(n, cid, by_id[cid].source, by_id[cid].start, by_id[cid].end, by_id[cid].text, scores[cid])
            for n, cid in enumerate(fused, start=1)
        ]

