"""Every backend and fake honours its whole protocol, and the public names are exported."""

import inspect
import os

import pytest

import rag
from rag import errors
from rag.answer.generate import Generator, LlamaGenerator, OpenAIGenerator
from rag.bench.run import RecordingGenerator
from rag.models.embed import BertEmbedder, Embedder, SentenceTransformerEmbedder
from rag.offline import LIBRARY_ENV, keep_libraries_offline

from fakes import FakeEmbedder, FakeGenerator


def members(protocol) -> set[str]:
    return {name for name in dir(protocol) if not name.startswith("_")} | set(protocol.__annotations__)


def test_the_generator_protocol_has_warm_up_and_model_id():
    assert {"warm_up", "model_id", "stream", "count_tokens", "hold_prefix", "yes_probability"} <= members(Generator)


# RecordingGenerator passes what it does not record on to the generator inside it.
@pytest.mark.parametrize("backend", [LlamaGenerator, OpenAIGenerator, FakeGenerator, RecordingGenerator(FakeGenerator())],
                         ids=["llama", "openai", "fake", "recording"])
def test_every_generator_has_every_method_of_the_protocol(backend):
    methods = members(Generator) - {"n_ctx"}  # an attribute each sets in __init__
    assert all(callable(getattr(backend, name, None)) for name in methods), methods - set(dir(backend))


@pytest.mark.parametrize("backend", [SentenceTransformerEmbedder, BertEmbedder, FakeEmbedder])
def test_every_embedder_has_every_method_of_the_protocol(backend):
    assert {"embed", "dimension", "name"} <= members(Embedder)
    assert members(Embedder) - {"name"} <= set(dir(backend))  # name: an attribute each sets


def test_the_openai_backend_warms_up_without_a_server(settings):
    generator = OpenAIGenerator(settings.model_copy(update={"llm_url": "http://127.0.0.1:9/v1"}))
    generator.warm_up()  # the server holds the model: nothing to load, nothing asked
    assert generator.model_id() == "server"


def test_the_recording_generator_passes_warm_up_through():
    fake = FakeGenerator()
    RecordingGenerator(fake).warm_up()
    assert fake.warmed == 1


def test_every_error_of_the_project_is_exported_from_rag():
    defined = {name for name, value in inspect.getmembers(errors, inspect.isclass) if issubclass(value, errors.RagError)}
    assert {"IndexDamagedError", "LLMServerError", "UnreadableError"} <= defined
    assert defined <= set(rag.__all__)
    assert all(getattr(rag, name) is getattr(errors, name) for name in defined)


def test_library_switches_are_set_only_where_the_caller_did_not(monkeypatch):
    for name in LIBRARY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # the caller's choice stands
    keep_libraries_offline()
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1" and os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
