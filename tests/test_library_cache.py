"""The cached-library answer mode, with fakes: layout, choice of mode, the state file's name."""

import dataclasses
import re
import shutil

import pytest

from rag.answer.library_cache import library_passages, plan_library, state_file
from rag.errors import PromptTemplateError
from rag.ingest.chunk import chunk_documents
from rag.ingest.documents import load_documents
from rag.ingest.sentences import sentence_spans
from rag.pipeline import RAG

from fakes import FakeGenerator

BIG_CONTEXT = 32768  # a fake model whose trained context holds the seeds


def first_sentence_of(messages, n: int) -> str:
    """The first sentence of passage [n] in the prompt, cited: an answer the check can verify."""
    user = messages[-1]["content"]
    text = user.split(f"[{n}] ", 1)[1].split("\n\n")[0]
    start, end = sentence_spans(text)[0]
    return f"{text[start:end]} [{n}]"


def clarke_answer(messages) -> str:
    """The first sentence of the first passage that names Colin Clarke: an answer citing a passage
    retrieval ranks first for "Who is Colin Clarke?" (so no focused second chance follows)."""
    user = messages[-1]["content"]
    n = next(int(n) for n, text in re.findall(r"\[(\d+)\] (.*?)(?=\n\n)", user, flags=re.S) if "Colin Clarke" in text)
    return first_sentence_of(messages, n)


def library_rag(settings, embedder, reply, **changes):
    generator = FakeGenerator(reply, n_ctx_train=BIG_CONTEXT)
    return RAG(settings.model_copy(update=changes), embedder=embedder, generator=generator, progress=False)


def test_library_passages_hold_every_sentence_once_with_exact_offsets(settings):
    documents = load_documents(settings.docs_dir)
    chunks = chunk_documents(documents, settings.chunk_size, settings.chunk_overlap)
    passages = library_passages(chunks)
    assert [p.n for p in passages] == list(range(1, len(passages) + 1))
    texts = {d.source: d.text for d in documents}
    for p in passages:
        assert texts[p.source][p.start : p.end] == p.text and p.text == p.text.strip()
    for source, text in texts.items():
        mine = [p for p in passages if p.source == source]
        assert all(a.end <= b.start for a, b in zip(mine, mine[1:]))  # no overlap, document order
        covered = "".join(p.text for p in mine)
        assert "".join(covered.split()) == "".join(text.split())  # nothing dropped


def test_a_library_that_fits_is_answered_with_all_of_it_in_the_prompt(settings, embedder):
    rag = library_rag(settings, embedder, lambda m: first_sentence_of(m, 5))
    answer = rag.ask("Who is Colin Clarke?")
    plan = rag.library
    assert answer.answer_mode == "library"
    prompt = rag.generator.prompts[-1][-1]["content"]
    assert all(f"[{p.n}] " in prompt for p in plan.passages)
    assert prompt.index(f"[{len(plan.passages)}] ") < prompt.index("Question: Who is Colin Clarke?")
    assert not answer.refused and answer.citations[0].n == 5
    for c in answer.citations:
        assert (settings.docs_dir / c.source).read_text()[c.start : c.end] == c.quote
    assert 5 in {p.n for p in answer.passages}  # the cited passage is shown
    assert len(answer.passages) >= settings.top_k  # the retrieved ones first
    assert rag.generator.n_ctx >= plan.n_ctx > plan.tokens


def test_every_question_starts_with_the_same_prompt_prefix(settings, embedder):
    rag = library_rag(settings, embedder, "The documents do not say.")
    rag.ask("Who is Colin Clarke?")
    rag.ask("And what did he say?", [{"role": "user", "content": "Who is Colin Clarke?"},
                                     {"role": "assistant", "content": "A director [3]."}])
    calls = rag.generator.prompts + rag.generator.probes  # answers, second chances, yes/no questions
    assert len(rag.generator.prompts) == 6  # each refusal got its second chance, then a focused one
    first = calls[0][-1]["content"]
    library_end = first.index("Question:")
    for messages in calls:
        assert messages[-1]["content"][:library_end] == first[:library_end]
        assert messages[0] == calls[0][0]  # the system message too
    probes, path = rag.generator.held[-1]
    assert path.parent == settings.index_dir / "library-state"


def test_retrieval_answers_when_the_library_is_over_the_budget(settings, embedder):
    rag = library_rag(settings, embedder, "The documents do not say.", library_max_tokens=500)
    answer = rag.ask("Who is Colin Clarke?")
    assert answer.answer_mode == "retrieval" and rag.library is None
    assert rag.generator.held == []
    assert len(answer.passages) <= settings.top_k


def test_retrieval_answers_when_the_model_context_is_too_small(settings, embedder):
    rag = RAG(settings, embedder=embedder, generator=FakeGenerator(n_ctx_train=2048), progress=False)
    assert rag.ask("Who is Colin Clarke?").answer_mode == "retrieval"


def test_retrieval_mode_by_setting(settings, embedder):
    rag = library_rag(settings, embedder, "The documents do not say.", answer_mode="retrieval")
    assert rag.ask("Who is Colin Clarke?").answer_mode == "retrieval"


def test_library_mode_that_cannot_fit_says_what_to_do(settings, embedder):
    rag = RAG(settings.model_copy(update={"answer_mode": "library"}), embedder=embedder,
              generator=FakeGenerator(n_ctx_train=2048), progress=False)
    with pytest.raises(PromptTemplateError, match="RAG_ANSWER_MODE=retrieval"):
        rag.ask("Who is Colin Clarke?")


def test_a_long_conversation_falls_back_to_retrieved_passages(settings, embedder):
    rag = library_rag(settings, embedder, "The documents do not say.")
    history = [{"role": "user", "content": "word " * 900}, {"role": "assistant", "content": "word " * 900}]
    assert rag.ask("Who is Colin Clarke?", history).answer_mode == "retrieval"


def _state_path(rag):
    plan = rag.library
    return state_file(rag.settings.index_dir, plan, "model-a", rag.settings.prompts_dir)


def test_the_state_file_changes_with_the_index_the_templates_the_model_and_the_context(settings, embedder, tmp_path):
    rag = library_rag(settings, embedder, "x")
    base = _state_path(rag)
    assert base == _state_path(library_rag(settings, embedder, "x"))  # same inputs, same file
    assert state_file(settings.index_dir, rag.library, "model-b", settings.prompts_dir) != base

    prompts = tmp_path / "prompts"
    shutil.copytree(settings.prompts_dir, prompts)
    (prompts / "answer_system.txt").write_text((prompts / "answer_system.txt").read_text() + "\nBe brief.\n")
    assert _state_path(library_rag(settings, embedder, "x", prompts_dir=prompts)) != base

    (settings.docs_dir / "extra.txt").write_text("The lighthouse keeper is Ingrid Solheim. She arrived in 1990.\n")
    assert _state_path(library_rag(settings, embedder, "x")) != base  # the index was rebuilt

    plan = rag.library
    bigger = dataclasses.replace(plan, n_ctx=plan.n_ctx + 256)
    assert state_file(settings.index_dir, bigger, "model-a", settings.prompts_dir) != base


def test_an_upload_refreshes_the_library(settings, embedder, tmp_path):
    from rag.ingest.uploads import add_files

    rag = library_rag(settings, embedder, "x")
    before = len(rag.library.passages)
    new = tmp_path / "lighthouse.txt"
    new.write_text("The lighthouse keeper on Skarv island is Ingrid Solheim. She arrived in 1990.\n")
    add_files(settings, embedder, [new], settings.docs_dir, progress=False)
    rag.reload_index()
    assert len(rag.library.passages) == before + 1
    assert any("Ingrid Solheim" in p.text for p in rag.library.passages)


def test_plan_is_none_without_chunks(settings):
    assert plan_library([], FakeGenerator(n_ctx_train=BIG_CONTEXT), settings) is None


def test_a_library_answer_is_written_before_anything_is_searched(settings, embedder):
    """The whole library is in the prompt, so retrieval (which only ranks passages for the check)
    waits until the answer is written: it is not part of the wait for the first token."""
    rag = library_rag(settings, embedder, lambda m: first_sentence_of(m, 5))
    _ = rag.library  # the index is open; from here every search is recorded
    searched: list[str] = []
    search = rag.retriever.search
    rag.retriever.search = lambda query, k, mode=None: searched.append(query) or search(query, k, mode)
    pieces = rag.stream("Who is Colin Clarke?")
    first = next(pieces)
    assert first and searched == []
    answer = [item for item in pieces][-1]
    assert searched[0] == "Who is Colin Clarke?"
    assert answer.answer_mode == "library" and not answer.refused
    assert answer.passages and answer.timings.retrieve_ms > 0  # ranked after the answer, and timed


def test_each_question_is_counted_without_tokenizing_the_library_again(settings, embedder):
    rag = library_rag(settings, embedder, lambda m: first_sentence_of(m, 5))
    plan = rag.library
    counted: list[str] = []
    count = rag.generator.count_tokens
    rag.generator.count_tokens = lambda text: counted.append(text) or count(text)
    answer = rag.ask("Who is Colin Clarke?")
    assert answer.answer_mode == "library" and not answer.refused
    library_text = plan.passages[-1].text
    assert counted and not [text for text in counted if library_text in text]


def test_a_focused_library_answer_hides_all_but_the_best_retrieved_passages(settings, embedder):
    rag = library_rag(settings, embedder, clarke_answer, library_focus=3)
    answer = rag.ask("Who is Colin Clarke?")
    plan = rag.library
    visible = {p.n for p in plan.ranked(rag.retrieve("Who is Colin Clarke?", 3))}
    hidden = rag.generator.hidden[0]
    assert len(visible) == 3 and len(hidden) == len(plan.passages) - 3
    assert set(hidden) == {f"[{p.n}] {p.text}" for p in plan.passages if p.n not in visible}
    prompt = rag.generator.prompts[0][-1]["content"]
    assert all(text in prompt for text in hidden)  # hidden in the cache, still in the prompt's tokens
    assert answer.answer_mode == "library"
    assert all(h == [] for h in rag.generator.hidden[1:])  # second looks see the whole library


def test_the_whole_library_is_seen_without_a_focus(settings, embedder):
    rag = library_rag(settings, embedder, clarke_answer)
    rag.ask("Who is Colin Clarke?")
    assert rag.generator.hidden == [[]]


def library_or_fresh(library_reply, fresh_reply):
    """A model that answers `library_reply` with the whole library in its prompt and `fresh_reply`
    from retrieved passages alone (a prompt with fewer passages)."""
    def reply(messages) -> str:
        whole = len(re.findall(r"^\[\d+\] ", messages[-1]["content"], flags=re.M)) > 10
        return (library_reply if whole else fresh_reply)(messages)
    return reply


def test_a_cross_checked_library_answer_is_refused_when_the_retrieved_passages_alone_give_none(settings, embedder):
    # Found on eval q108 and q118: from the whole library the model answered unanswerable questions with
    # a passage about something else; from the retrieved passages alone, read afresh, it refused.
    refusal = lambda messages: "The documents do not say."  # noqa: E731
    rag = library_rag(settings, embedder, library_or_fresh(clarke_answer, refusal), cross_check=True)
    answer = rag.ask("Who is Colin Clarke?")
    assert answer.refused and "retrieved passages alone" in answer.reason
    kept_before = clarke_answer(rag.generator.prompts[0]).rsplit(" [", 1)[0]
    assert answer.removed == [kept_before]  # withheld, and recorded
    # The fresh prompt held only the retrieved passages (its refusal got their second chance too) ...
    fresh = rag.generator.prompts[1][-1]["content"]
    assert len(re.findall(r"^\[\d+\] ", fresh, flags=re.M)) == settings.top_k
    # ... and the library was held again after it, for the next question.
    assert len(rag.generator.held) == 2
    # Without the cross-check the library's answer stands and nothing else is asked.
    rag = library_rag(settings, embedder, library_or_fresh(clarke_answer, refusal))
    answer = rag.ask("Who is Colin Clarke?")
    assert not answer.refused and len(rag.generator.prompts) == 1


def test_a_cross_checked_library_answer_that_both_modes_give_is_kept(settings, embedder):
    rag = library_rag(settings, embedder, library_or_fresh(clarke_answer, clarke_answer), cross_check=True)
    answer = rag.ask("Who is Colin Clarke?")
    assert not answer.refused and answer.raw_text.strip() == clarke_answer(rag.generator.prompts[0])
    assert len(rag.generator.prompts) == 2 and "retrieved passages alone" not in answer.reason
