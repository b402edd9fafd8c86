"""`rag bench`'s retrieval and indexing sections: search latency on the seeds and on synthetic
corpora of 10,000 and 100,000 chunks, and chunks/s of `build_index` against plain encoding.
The answers and cold-start sections, and the run itself, are in rag/bench/run.py.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rag.eval.metrics import stats
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.index.store import ChromaStore
    from rag.models.embed import Embedder
    from rag.retrieval.retrieve import Retriever


def time_retrieval(retriever: Retriever, questions: list[str], k: int) -> dict:
    """Milliseconds per question for each step of a hybrid search, and for the whole search."""
    from rag.retrieval.retrieve import CANDIDATES_PER_PASSAGE

    pool = k * CANDIDATES_PER_PASSAGE
    vectors = retriever.embedder.embed(questions)
    steps = {
        "embed": lambda i: retriever.embedder.embed([questions[i]]),
        "dense_ann": lambda i: retriever.store.query(vectors[i], pool),  # the vector search alone
        "bm25": lambda i: retriever.bm25.search(questions[i], pool),
        "hybrid": lambda i: retriever.search(questions[i], k, "hybrid"),  # all of the above, fused
    }
    result = {}
    for name, step in steps.items():
        step(0)  # builds BM25 and warms caches outside the timing
        times = []
        for i in range(len(questions)):
            started = time.perf_counter()
            step(i)
            times.append((time.perf_counter() - started) * 1000)
        result[name] = stats(times)
    return result


def synthetic_store(size: int, folder: Path, vocabulary: list[str], dimension: int, settings: Settings) -> ChromaStore:
    """A Chroma collection of `size` chunks: random unit vectors (an ANN index does the same work for
    them as for real ones) and 80-word texts drawn from the seeds' words (for BM25)."""
    import numpy as np

    from rag.index.store import COLLECTION, ChromaStore, IndexInfo, chroma_client, create_collection, fill
    from rag.types import Chunk

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((size, dimension)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = rng.choice(len(vocabulary), size=(size, 80))
    chunks = [Chunk(f"s{i}", f"synthetic/{i // 100}.txt", 0, 0, " ".join(vocabulary[w] for w in row))
              for i, row in enumerate(words)]
    info = IndexInfo(settings.embedding_model, dimension, "synthetic", "", str(folder), size)
    collection = create_collection(chroma_client(folder), COLLECTION, info)
    fill(collection, chunks, vectors.tolist())
    return ChromaStore(collection)


def bench_retrieval(settings: Settings, questions: list[str], embedder: Embedder, seed_store: ChromaStore, scales: list[int], work: Path) -> dict:
    from rag.ingest.text import words
    from rag.retrieval.retrieve import Retriever

    result = {"seeds": {"chunks": seed_store.count(), **time_retrieval(Retriever(seed_store, embedder), questions,
                                                                        settings.top_k)}}
    vocabulary = sorted({w for c in seed_store.chunks() for w in words(c.text)})
    for size in scales:
        started = time.perf_counter()
        store = synthetic_store(size, work / f"synthetic-{size}", vocabulary, embedder.dimension, settings)
        built = time.perf_counter()
        retriever = Retriever(store, embedder)
        retriever.bm25  # noqa: B018 - built here so that its cost is reported on its own
        result[str(size)] = {"chunks": store.count(), "build_s": round(built - started, 1),
                             "bm25_build_s": round(time.perf_counter() - built, 1),
                             **time_retrieval(retriever, questions, settings.top_k)}
        shutil.rmtree(work / f"synthetic-{size}", ignore_errors=True)
    return result


def copies_of_seeds(folder: Path, min_chunks: int, settings: Settings) -> list:
    """Copies of the seed articles (each made unique by a first line) until `min_chunks` chunks."""
    from rag.ingest.chunk import chunk_documents
    from rag.ingest.documents import load_documents

    seeds = load_documents(settings.docs_dir)
    per_copy = len(chunk_documents(seeds, settings.chunk_size, settings.chunk_overlap))
    folder.mkdir(parents=True, exist_ok=True)
    for copy in range(-(-min_chunks // per_copy)):
        for doc in seeds:
            (folder / f"{copy:03d}-{doc.source}").write_text(f"Copy {copy}.\n{doc.text}", encoding="utf-8")
    return chunk_documents(load_documents(folder), settings.chunk_size, settings.chunk_overlap)


def bench_indexing(settings: Settings, embedder: Embedder, min_chunks: int, work: Path) -> dict:
    from rag.index.build import build_index
    from rag.models.embed import SentenceTransformerEmbedder

    docs = work / "index-docs"
    texts = [c.text for c in copies_of_seeds(docs, min_chunks, settings)]
    # The reference: sentence-transformers itself, encoding the same texts.
    model = SentenceTransformerEmbedder(settings.embedding_model).sentence_transformer()
    model.encode(texts[:8])  # warm up
    started = time.perf_counter()
    model.encode(texts, batch_size=settings.embed_batch_size, normalize_embeddings=True, show_progress_bar=False)
    plain = len(texts) / (time.perf_counter() - started)

    def ours(batch_size: int, limit: int | None = None) -> float:
        folder = docs if limit is None else _subset(docs, work / f"index-docs-{batch_size}", limit)
        s = settings.model_copy(update={"index_dir": work / f"index-{batch_size}", "embed_batch_size": batch_size})
        started = time.perf_counter()
        info = build_index(s, embedder, folder, progress=False)
        return info.chunk_count / (time.perf_counter() - started)

    batched = ours(settings.embed_batch_size)
    one_by_one = ours(1, limit=max(1, len(list(docs.iterdir())) // 4))  # slow: a quarter of the files
    return {"chunks": len(texts), "plain_encode_chunks_per_s": round(plain, 1),
            "build_index_chunks_per_s": round(batched, 1), "vs_plain": round(batched / plain, 3),
            "batch_size": settings.embed_batch_size, "build_index_batch_1_chunks_per_s": round(one_by_one, 1)}


def _subset(folder: Path, target: Path, files: int) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.iterdir())[:files]:
        shutil.copy(path, target / path.name)
    return target


# Linux carries a forking process's memory high-water mark over to its child, so a `rag ask`
# forked from a bench that has held 100,000 chunks reported the bench's peak (8.5 GB for both
# models). This small launcher is forked instead and measures its own child with wait4.
