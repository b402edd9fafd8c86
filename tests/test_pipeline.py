import pytest

from rag.answer.cite import REFUSAL
from rag.errors import InvalidQuestionError
from rag.ingest.sentences import sentence_spans
from rag.pipeline import RAG
from rag.question import search_query
from rag.types import Answer

from fakes import FakeGenerator


def quote_reply(messages):
    """Answer by copying the first sentence of passage [1], cited."""
    user = messages[-1]["content"]
    first = user.split("[1] ")[1].split("\n\n")[0]
    start, end = sentence_spans(first)[0]
    return first[start:end] + " [1]"


def make_rag(settings, embedder, reply):
    return RAG(settings, embedder=embedder, generator=FakeGenerator(reply), progress=False)


def test_ask_returns_checked_citations_with_exact_offsets(settings, embedder):
    answer = make_rag(settings, embedder, quote_reply).ask("Who is Colin Clarke of the Soufan Group?")
    assert not answer.refused and answer.citations
    for c in answer.citations:
        assert (settings.docs_dir / c.source).read_text()[c.start : c.end] == c.quote
    assert answer.grounding == 1.0
    # the JSON shape of stored reports and `rag ask --json`: the same keys as when timings were a dict
    assert list(answer.to_dict()["timings"]) == ["retrieve_ms", "first_token_ms", "total_ms", "prompt_tokens", "completion_tokens"]


def test_answer_from_outside_the_documents_is_refused(settings, embedder):
    answer = make_rag(settings, embedder, "The capital of France is Paris [1].").ask("What is the capital of France?")
    assert answer.refused and answer.text == REFUSAL and answer.citations == []


@pytest.mark.parametrize("question", ["", "   \n", None, 42, "x" * 5000])
def test_bad_questions_never_reach_the_model(settings, embedder, question):
    generator = FakeGenerator("unused")
    rag = RAG(settings, embedder=embedder, generator=generator, progress=False)
    with pytest.raises(InvalidQuestionError):
        rag.ask(question)
    assert generator.prompts == []


def test_stream_yields_text_then_the_answer(settings, embedder):
    items = list(make_rag(settings, embedder, quote_reply).stream("Who is Colin Clarke?"))
    assert all(isinstance(i, str) for i in items[:-1]) and len(items) > 2
    assert isinstance(items[-1], Answer)


def test_follow_up_searches_with_the_earlier_question(settings, embedder):
    history = [{"role": "user", "content": "Who is Colin Clarke?"}, {"role": "assistant", "content": "A director [1]."}]
    assert search_query("And what did he say?", history) == "Who is Colin Clarke? And what did he say?"
    rag = make_rag(settings, embedder, quote_reply)
    answer = rag.ask("And what did he say?", history)
    assert answer.query.startswith("Who is Colin Clarke?")
    assert "Colin Clarke" in rag.generator.prompts[-1][-1]["content"]


def test_prompt_always_fits_the_context(settings, embedder):
    small = settings.model_copy(update={"n_ctx": 700, "max_tokens": 100, "top_k": 8})
    generator = FakeGenerator(quote_reply, n_ctx=700)
    answer = RAG(small, embedder=embedder, generator=generator, progress=False).ask("What did Russia do?")
    assert answer.timings.prompt_tokens + 100 <= 700
    assert 1 <= len(answer.passages) < 8
