"""Property tests (Hypothesis): the chunker's offsets, and the prompt budget (reliability #7).

The prompt budget is checked against a real tokenizer and chat template: the
prompt llama.cpp would evaluate, plus `max_tokens`, must fit in `n_ctx`, for
any passages, question and history; when it cannot, the error says so.
"""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rag.answer.prompts import MIN_PASSAGE_CHARS, build_messages, fit_passages, format_passages, prompt_size
from rag.errors import PromptTemplateError
from rag.index.build import build_index
from rag.ingest.chunk import chunk_document
from rag.pipeline import PROMPT_MARGIN_TOKENS, RAG
from rag.settings import Settings
from rag.types import Answer, Document, Passage

from fakes import BudgetCheckingGenerator, FakeEmbedder
from real_tokenizer import ChatTokenizer

# ---------------------------------------------------------------- chunker

# Pieces that stress sentence splitting: abbreviations, quotes, odd spaces, long words.
PIECES = [
    "a", "Word", " ", " ", "  ", "\n", "\n\n", "\t", "\u00a0", "\u2028", ". ", "! ", "? ", ".", "U.S. ", "Mr. ",
    "”) ", "’", "\"", "é", "中文", "😀", "x" * 120, "long" * 40 + " ",
]
texts = st.lists(st.sampled_from(PIECES), max_size=400).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=texts, size=st.integers(100, 700), overlap=st.integers(0, 300))
def test_chunk_offsets_always_reproduce_the_text(text, size, overlap):
    chunks = chunk_document(Document("a.txt", text, "h"), size, overlap)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert 0 <= chunk.start < chunk.end <= len(text)
        assert len(chunk.text) <= size
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


@settings(max_examples=300, deadline=None)
@given(text=texts, size=st.integers(100, 700), overlap=st.integers(0, 300))
def test_chunks_cover_every_non_space_character(text, size, overlap):
    covered = [False] * len(text)
    for chunk in chunk_document(Document("a.txt", text, "h"), size, overlap):
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    assert [i for i, ch in enumerate(text) if not covered[i] and not ch.isspace()] == []


# ---------------------------------------------------------------- prompt budget (#7)

# Untrusted text of every kind: scripts that cost many tokens per character, markup, newlines.
untrusted = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=40),
        st.sampled_from(["<|im_start|>", "<|im_end|>", "[1]", "\n", " ", "word ", "中", "😀"]),
    ),
    max_size=150,
).map("".join)


@st.composite
def passages_strategy(draw) -> list[Passage]:
    texts_ = draw(st.lists(untrusted.filter(str.strip), min_size=1, max_size=20))
    return [Passage(n, f"c{n}", "a.txt", 7 * n, 7 * n + len(t), t) for n, t in enumerate(texts_, start=1)]


questions = st.text(min_size=1, max_size=4000).filter(str.strip)
histories = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": st.text(max_size=1500)}),
    max_size=6,
)


@pytest.fixture(scope="module", params=["smollm2-135m", "qwen2.5-coder-1.5b"])
def tokenizer(request, model_cache) -> ChatTokenizer:
    return ChatTokenizer.load(request.param, model_cache)


def smallest_prompt_tokens(tokenizer, passages, question, history) -> int:
    """The prompt with only the first passage, cut as short as fit_passages would cut it."""
    cut = passages[0].text[:MIN_PASSAGE_CHARS]
    return tokenizer.prompt_tokens(build_messages([Passage(1, "c", "a.txt", 0, len(cut), cut)], question, history))


@pytest.mark.models
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    passages=passages_strategy(),
    question=questions,
    history=histories,
    n_ctx=st.integers(256, 4096),
    max_tokens=st.integers(16, 1024),
)
def test_r07_prompt_plus_max_tokens_always_fits_the_context(tokenizer, passages, question, history, n_ctx, max_tokens):
    budget = n_ctx - max_tokens - PROMPT_MARGIN_TOKENS  # as the pipeline computes it

    def messages_for(ps):
        return build_messages(ps, question, history)

    try:
        kept, counted = fit_passages(passages, messages_for, tokenizer.count, budget)
    except PromptTemplateError as error:
        assert "raise n_ctx or lower max_tokens" in str(error)
        # Refused only when even the smallest prompt would not have fit.
        assert smallest_prompt_tokens(tokenizer, passages, question, history) + max_tokens > budget
        return
    assert tokenizer.prompt_tokens(messages_for(kept)) + max_tokens <= n_ctx  # the real prompt fits
    assert counted <= budget
    # Best passages first, none reordered; only the last kept one may be cut, offsets moving with it.
    assert [p.n for p in kept] == [p.n for p in passages[: len(kept)]]
    assert kept[:-1] == passages[: len(kept) - 1]
    last, original = kept[-1], passages[len(kept) - 1]
    assert original.text.startswith(last.text) and last.end - last.start == len(last.text)


@pytest.mark.models
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(passages=passages_strategy(), question=questions, history=histories)
def test_r07_a_prompt_counted_part_by_part_is_never_short_by_more_than_the_margin(tokenizer, passages, question, history):
    """The cached library's prompt is counted as its passages' count (once) plus the rest of
    the prompt; the context check adds PROMPT_MARGIN_TOKENS, so the sum may be short by no more."""
    once = tokenizer.count(format_passages(passages))
    counted = prompt_size(passages, question, history, tokenizer.count, passage_tokens=once)
    assert counted == prompt_size(passages, question, history, tokenizer.count)  # the same count, given or not
    assert tokenizer.prompt_tokens(build_messages(passages, question, history)) <= counted + PROMPT_MARGIN_TOKENS


@pytest.fixture(scope="module")
def long_passage_index(tmp_path_factory):
    """The seed articles in long chunks (up to 2,000 characters), so passages are long."""
    base = tmp_path_factory.mktemp("long")
    s = Settings(docs_dir="seeds", index_dir=base / "index", embedding_model="fake-embedder", chunk_size=2000, chunk_overlap=300)
    build_index(s, FakeEmbedder(), progress=False)
    return s


@pytest.mark.models
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    question=questions,
    history=histories,
    top_k=st.integers(1, 20),
    n_ctx=st.integers(256, 4096),
    max_tokens=st.integers(16, 1024),
)
def test_r07_pipeline_prompt_always_fits_or_fails_clearly(tokenizer, long_passage_index, question, history, top_k, n_ctx, max_tokens):
    assume(len(question) <= 4000)
    settings_ = long_passage_index.model_copy(update={"top_k": top_k, "n_ctx": n_ctx, "max_tokens": max_tokens})
    generator = BudgetCheckingGenerator(tokenizer, n_ctx)
    session = RAG(settings_, embedder=FakeEmbedder(), generator=generator, progress=False)
    try:
        answer = session.ask(question, history)
    except PromptTemplateError as error:
        assert "raise n_ctx or lower max_tokens" in str(error) and generator.seen == []
        return
    assert isinstance(answer, Answer)
    assert generator.seen and all(total <= n_ctx for total in generator.seen)
    assert answer.timings.prompt_tokens + max_tokens <= n_ctx
