"""Server backends, against real servers that these tests start and stop themselves:
a `chroma run` server and llama-cpp-python's OpenAI-compatible server
(`python -m llama_cpp.server`) with the smallest catalogue model, both on
127.0.0.1 at free ports.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.answer.generate import LlamaGenerator, OpenAIGenerator
from rag.errors import IndexMismatchError, IndexNotFoundError, LLMServerError, RagError
from rag.index.build import build_index, ensure_index
from rag.index.reader import open_store
from rag.index.store import ServerBuilds
from rag.models.catalogue import resolve_llm
from rag.pipeline import RAG
from rag.retrieval.retrieve import Retriever
from rag.settings import Settings

from servers import chroma_run, free_port, server

pytestmark = pytest.mark.models  # real servers and the smallest real model
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SMALL_MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    with chroma_run(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


@pytest.fixture(scope="module")
def small_model(model_cache) -> Path:
    return resolve_llm(SMALL_MODEL, model_cache)


@pytest.fixture(scope="module")
def llm_url(tmp_path_factory, small_model):
    log = tmp_path_factory.mktemp("llm-server") / "log.txt"
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(small_model), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--seed", "0"]
    with server(command, f"http://127.0.0.1:{port}/v1/models", log):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def server_settings(settings, chroma_url, request) -> Settings:
    # One collection prefix per test: the tests share the server, not their indexes.
    prefix = "t-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    return settings.model_copy(update={"chroma_url": chroma_url, "chroma_collection": prefix})


def build_names(s: Settings) -> list[str]:
    builds = ServerBuilds(s.chroma_url, s.chroma_collection)
    return sorted(c.name for c in builds.client.list_collections() if c.name.startswith(f"{s.chroma_collection}-build-"))


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_index_on_a_chroma_server_serves_every_retrieval_mode(server_settings, embedder, mode):
    info = build_index(server_settings, embedder, progress=False)
    store = open_store(server_settings)
    assert store.count() == info.chunk_count > 10
    assert store.collection.name == build_names(server_settings)[0]
    assert not (server_settings.index_dir / "builds").exists()  # nothing went to the local folder
    passages = Retriever(store, embedder, mode).search("Soufan Group intelligence consultancy", 3)
    assert any("Soufan Group" in p.text for p in passages)
    for p in passages:  # BM25 reads the chunk texts back from the server: offsets stay exact
        assert (server_settings.docs_dir / p.source).read_text()[p.start : p.end] == p.text


def test_server_index_follows_changed_documents_and_keeps_one_build(server_settings, embedder):
    build_index(server_settings, embedder, progress=False)
    first_build, count, calls = build_names(server_settings), open_store(server_settings).count(), embedder.calls
    (server_settings.docs_dir / "new.txt").write_text("The zebra council met in Narnia on Tuesday.")
    store = ensure_index(server_settings, embedder, progress=False)
    assert store.count() == count + 1
    assert embedder.calls == calls + 1  # unchanged chunks reuse their vectors from the server
    assert len(build_names(server_settings)) == 1 and build_names(server_settings) != first_build
    assert store.collection.name == build_names(server_settings)[0]


def test_server_index_refuses_other_embedding_settings(server_settings, embedder):
    build_index(server_settings, embedder, progress=False)
    with pytest.raises(IndexMismatchError, match="rebuild"):
        open_store(server_settings.model_copy(update={"embedding_model": "other-model"}))


def test_missing_index_on_the_server_says_how_to_build_one(server_settings):
    with pytest.raises(IndexNotFoundError, match="rag index"):
        open_store(server_settings)


def test_unreachable_chroma_server_says_how_to_start_one(settings):
    dead = settings.model_copy(update={"chroma_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(IndexNotFoundError, match="chroma run"):
        open_store(dead)


def test_openai_backend_writes_what_the_in_process_model_writes(llm_url, small_model, settings):
    messages = [{"role": "system", "content": "Answer in one short sentence."},
                {"role": "user", "content": "What colour is the sky on a clear day?"}]
    remote_settings = settings.model_copy(update={"llm_backend": "openai", "llm_url": llm_url, "n_threads": 2})
    remote = OpenAIGenerator(remote_settings)
    local = LlamaGenerator(small_model, remote_settings)
    text = "The Huthis have controlled Yemen's northwest since 2014."
    # The server's tokenizer adds the start token; the local count leaves it out.
    assert remote.count_tokens(text) - local.count_tokens(text) in (0, 1)
    pieces = list(remote.stream(messages, 24))
    assert len(pieces) > 1  # streamed, not one block
    assert "".join(pieces) == "".join(local.stream(messages, 24))  # temperature 0: the same words


def test_pipeline_answers_from_both_servers(llm_url, server_settings, embedder):
    s = server_settings.model_copy(update={"llm_backend": "openai", "llm_url": llm_url, "model": SMALL_MODEL,
                                          "max_tokens": 48})
    rag = RAG(s, embedder=embedder, progress=False)
    answer = rag.ask("Who is Colin Clarke?")
    assert isinstance(rag.generator, OpenAIGenerator)
    assert answer.raw_text and answer.timings.first_token_ms <= answer.timings.total_ms
    assert 0 < answer.timings.prompt_tokens + s.max_tokens <= s.n_ctx
    assert any("Soufan" in p.text for p in answer.passages)  # retrieved from the Chroma server
    for c in answer.citations:
        assert (s.docs_dir / c.source).read_text()[c.start : c.end] == c.quote


def test_unreachable_llm_server_is_a_one_line_error(settings):
    dead = settings.model_copy(update={"llm_backend": "openai", "llm_url": f"http://127.0.0.1:{free_port()}/v1"})
    generator = OpenAIGenerator(dead)
    with pytest.raises(LLMServerError, match="llama_cpp.server"):
        generator.count_tokens("hello")
    with pytest.raises(RagError, match="cannot reach the LLM server"):
        list(generator.stream([{"role": "user", "content": "hi"}], 8))


def test_cli_uses_both_servers_from_environment_variables(llm_url, chroma_url, model_cache, docs_dir, tmp_path):
    """`rag ask` with RAG_* variables only: real embedding model, index built on the server."""
    env = {**os.environ, "RAG_CHROMA_URL": chroma_url, "RAG_CHROMA_COLLECTION": "cli-test",
           "RAG_LLM_BACKEND": "openai", "RAG_LLM_URL": llm_url, "RAG_MODEL": SMALL_MODEL,
           "RAG_DOCS_DIR": str(docs_dir), "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_MODEL_CACHE_DIR": str(model_cache), "RAG_MAX_TOKENS": "32"}
    result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Who is Colin Clarke?", "--json"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout)
    assert answer["raw_text"] and answer["passages"]
    store = open_store(Settings(chroma_url=chroma_url, chroma_collection="cli-test", docs_dir=docs_dir))
    assert store.info.embedding_model == "all-minilm-l6-v2" and store.info.dimension == 384


def test_stream_events_give_the_text_and_a_server_error_is_raised():
    from rag.answer.generate import _sse_deltas

    events = [": ping", "", 'data: {"choices": [{"delta": {"role": "assistant"}}]}',
              'data: {"choices": [{"delta": {"content": "Colin"}}]}', 'data: {"choices": [{"delta": {"content": " Clarke"}}]}',
              "data: [DONE]", 'data: {"choices": [{"delta": {"content": "after the end"}}]}']
    assert list(_sse_deltas(iter(events))) == ["Colin", " Clarke"]
    with pytest.raises(LLMServerError, match="out of memory"):
        list(_sse_deltas(iter(['data: {"error": {"message": "out of memory"}}'])))
