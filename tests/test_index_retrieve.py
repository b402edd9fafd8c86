import pytest

from rag.errors import IndexBusyError, IndexMismatchError, IndexNotFoundError
from rag.index.build import build_index, ensure_index, write_lock
from rag.index.reader import current_path, open_store
from rag.retrieval.retrieve import CANDIDATES_PER_PASSAGE, Retriever, fuse, rrf_scores


def test_fuse_by_reciprocal_rank_hand_computed():
    # a: 1/61 + 0; b: 1/62 + 1/61; c: 1/62
    assert fuse([["a", "b"], ["b", "c"]], k=60) == ["b", "a", "c"]
    assert fuse([["a", "a", "b"]], k=60) == ["a", "b"]  # a repeat counts once
    assert fuse([], k=60) == []


def test_rrf_scores_hand_computed_with_a_repeat_counted_at_its_first_rank():
    assert rrf_scores([["a", "b"], ["b", "c"]], k=60) == {"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 62}
    # "a" twice: it keeps rank 1, and "b" is rank 2, as if the repeat were not there
    assert rrf_scores([["a", "b", "a"]], k=10) == {"a": 1 / 11, "b": 1 / 12}
    assert rrf_scores([], k=60) == {}


def test_search_scores_are_the_fused_scores_best_first(settings, embedder):
    build_index(settings, embedder, progress=False)
    retriever = Retriever(open_store(settings), embedder, rrf_k=60)
    query = "Colin Clarke Soufan Group"
    passages = retriever.search(query, 4)
    pool = 4 * CANDIDATES_PER_PASSAGE
    rankings = [[c.id for c, _ in retriever.dense(query, pool)], [c.id for c, _ in retriever.bm25.search(query, pool)]]
    expected = rrf_scores(rankings, 60)
    assert [p.chunk_id for p in passages] == fuse(rankings, 60)[:4]
    assert [p.score for p in passages] == [expected[p.chunk_id] for p in passages]
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_missing_index_says_how_to_build_one(settings):
    with pytest.raises(IndexNotFoundError, match="rag index"):
        open_store(settings)


def test_build_records_settings_and_answers_queries(settings, embedder):
    info = build_index(settings, embedder, progress=False)
    store = open_store(settings)
    assert store.count() == info.chunk_count > 10
    assert store.info.embedding_model == "fake-embedder" and store.info.dimension == 64
    assert store.info.chunker == "sentence-v2:size=500:overlap=100:text-v1"
    passages = Retriever(store, embedder).search("Colin Clarke Soufan Group", 4)
    assert [p.n for p in passages] == [1, 2, 3, 4]
    assert any("Soufan" in p.text for p in passages)
    text = (settings.docs_dir / passages[0].source).read_text()
    assert all(text[p.start : p.end] == p.text for p in passages if p.source == passages[0].source)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_retrieval_mode_finds_the_passage(settings, embedder, mode):
    build_index(settings, embedder, progress=False)
    passages = Retriever(open_store(settings), embedder, mode).search("Soufan Group intelligence consultancy", 3)
    assert any("Soufan Group" in p.text for p in passages)


def test_other_embedding_settings_ask_for_a_rebuild(settings, embedder):
    build_index(settings, embedder, progress=False)
    with pytest.raises(IndexMismatchError, match="rebuild"):
        open_store(settings.model_copy(update={"embedding_model": "other-model"}))
    with pytest.raises(IndexMismatchError, match="rebuild"):
        open_store(settings.model_copy(update={"chunk_size": 800}))


def test_index_follows_changed_documents_and_reuses_vectors(settings, embedder):
    build_index(settings, embedder, progress=False)
    first = open_store(settings).count()
    calls = embedder.calls
    (settings.docs_dir / "new.txt").write_text("The zebra council met in Narnia on Tuesday.")
    store = ensure_index(settings, embedder, progress=False)
    assert store.count() == first + 1
    assert embedder.calls == calls + 1  # only the new chunk was embedded
    assert len(list((settings.index_dir / "builds").iterdir())) == 1  # old build removed


def test_failed_build_leaves_the_previous_index(settings, embedder, monkeypatch):
    build_index(settings, embedder, progress=False)
    before = current_path(settings.index_dir).resolve()
    (settings.docs_dir / "new.txt").write_text("Something new to index.")
    monkeypatch.setattr("rag.index.build._verify_build", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        build_index(settings, embedder, progress=False)
    assert current_path(settings.index_dir).resolve() == before
    assert open_store(settings).count() > 0
    assert [p.name for p in (settings.index_dir / "builds").iterdir()] == [before.name]


def test_second_writer_is_refused_while_one_holds_the_lock(settings, embedder):
    with write_lock(settings.index_dir):
        with pytest.raises(IndexBusyError, match="another process"):
            build_index(settings, embedder, progress=False)
