"""The library's saved model state on a real model (SmolLM2-135M, the smallest that shows it).

Read once and saved; a new process (here: a new generator) loads it instead of
reading again and answers the same; a damaged or mismatched file is read anew,
never loaded.
"""

import json
import logging

import pytest

from rag.answer.generate import LlamaGenerator
from rag.models.catalogue import resolve_llm
from rag.pipeline import RAG

pytestmark = pytest.mark.models

QUESTION = "Who is Colin Clarke?"


@pytest.fixture
def small_settings(settings, model_cache):
    # One seed article (about 1,600 library tokens) shows all of it: reading the three (5,800)
    # took 45 s per library read here, nine tests reading one to three times each.
    for path in settings.docs_dir.iterdir():
        if "Colin Clarke" not in path.read_text(encoding="utf-8"):
            path.unlink()
    return settings.model_copy(update={"model": "smollm2-135m", "model_cache_dir": model_cache, "max_tokens": 24})


def new_rag(settings, embedder) -> RAG:
    generator = LlamaGenerator(resolve_llm(settings.model, settings.model_cache_dir), settings)
    return RAG(settings, embedder=embedder, generator=generator, progress=False)


def state_of(rag):
    paths = sorted((rag.settings.index_dir / "library-state").glob("*.state"))
    assert len(paths) == 1
    return paths[0]


def test_the_state_is_read_once_then_loaded_by_a_new_session(small_settings, embedder):
    first = new_rag(small_settings, embedder)
    assert first.library is not None, "the article fits SmolLM2's 8k context"
    assert first.hold_library(first.library) == "read"
    assert first.generator._copy is None  # no copy of the cache in memory until something needs one
    assert first.hold_library(first.library) == "held"
    answer = first.ask(QUESTION)
    assert answer.answer_mode == "library"
    assert first.hold_library(first.library) == "held"  # answering kept the library in the cache

    second = new_rag(small_settings, embedder)
    assert second.hold_library(second.library) == "loaded"
    again = second.ask(QUESTION)
    assert again.raw_text == answer.raw_text  # same state, same (greedy) answer


def test_an_answer_from_retrieved_passages_alone_puts_the_library_back(small_settings, embedder):
    # The cross-check's fresh prompt replaces the library in the model's cache; the library
    # must come back from its copy in memory (not the disk, not read again) and answer as before.
    rag = new_rag(small_settings.model_copy(update={"cross_check": True}), embedder)
    plan = rag.library
    before = rag.ask(QUESTION)
    state_of(rag).unlink()  # as on a disk where the state could not be saved: the copy does not need it
    how: list[str] = []
    hold = rag.hold_library
    rag.hold_library = lambda p: how.append(hold(p)) or how[-1]  # type: ignore[method-assign]
    shown = plan.ranked(rag.retrieve(QUESTION, small_settings.top_k))
    rag._fresh_verdict(plan, shown, QUESTION, [])
    assert how == ["restored"]
    assert rag.ask(QUESTION).raw_text == before.raw_text  # its own cross-check puts the library back again:
    assert set(how) == {"held", "restored"}  # never read again, never loaded from disk


def test_prompt_tokens_are_the_tokens_the_chat_call_reads(small_settings, embedder):
    rag = new_rag(small_settings, embedder)
    plan = rag.library
    rag.hold_library(plan)
    from rag.answer.prompts import build_messages

    messages = build_messages(plan.passages, QUESTION, [], small_settings.prompts_dir)
    tokens = rag.generator.prompt_tokens(messages)
    for _ in rag.generator.stream(messages, 4):
        pass
    assert rag.generator._llm.input_ids[: len(tokens)].tolist() == tokens


def test_a_damaged_state_file_is_read_again_not_loaded(small_settings, embedder, caplog):
    rag = new_rag(small_settings, embedder)
    rag.hold_library(rag.library)
    answer = rag.ask(QUESTION)
    path = state_of(rag)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # garbage in the middle of the KV data
    path.write_bytes(bytes(data))

    fresh = new_rag(small_settings, embedder)
    with caplog.at_level(logging.WARNING, logger="rag"):
        assert fresh.hold_library(fresh.library) == "read"
    assert "does not match its record" in caplog.text
    assert fresh.ask(QUESTION).raw_text == answer.raw_text
    assert new_rag(small_settings, embedder).hold_library(fresh.library) == "loaded"  # saved anew


def test_a_state_whose_record_disagrees_is_read_again(small_settings, embedder):
    rag = new_rag(small_settings, embedder)
    rag.hold_library(rag.library)
    record_path = state_of(rag).with_suffix(".json")
    record = json.loads(record_path.read_text())
    record["sha256"] = "0" * 64
    record_path.write_text(json.dumps(record))
    fresh = new_rag(small_settings, embedder)
    assert fresh.hold_library(fresh.library) == "read"


def test_a_rebuilt_index_gets_a_new_state(small_settings, embedder):
    rag = new_rag(small_settings, embedder)
    rag.hold_library(rag.library)
    old = state_of(rag)
    (small_settings.docs_dir / "lighthouse.txt").write_text("The lighthouse keeper is Ingrid Solheim.\n")
    fresh = new_rag(small_settings, embedder)  # opening the index rebuilds it: the documents changed
    assert fresh.hold_library(fresh.library) == "read"
    states = sorted((small_settings.index_dir / "library-state").glob("*.state"))
    assert old in states and len(states) == 2  # the one before is kept once, for sessions still on it


def museum_passages():
    from rag.types import Passage

    texts = ["The museum opens at nine in the morning.", "The secret password of the museum is PELICAN.",
             "The museum cafe sells tea and cake."]
    return [Passage(n, f"c{n}", "museum.txt", 0, len(t), t) for n, t in enumerate(texts, start=1)]


def museum_generator(settings):
    """A real generator over the museum passages, and the two probes whose common start is the held library."""
    from rag.answer.prompts import build_messages

    generator = LlamaGenerator(resolve_llm(settings.model, settings.model_cache_dir), settings)
    passages = museum_passages()
    probes = (build_messages(passages, "Who?", [], settings.prompts_dir),
              build_messages(passages, "And when?", [{"role": "user", "content": "What?"},
                                                     {"role": "assistant", "content": "This."}], settings.prompts_dir))
    return generator, passages, probes


def test_a_hidden_passage_is_not_seen_and_the_library_comes_back_whole(small_settings, tmp_path):
    from rag.answer.prompts import build_messages, format_passage

    generator, passages, probes = museum_generator(small_settings)
    prompts = small_settings.prompts_dir
    assert generator.hold_prefix(probes, tmp_path / "museum.state", progress=False) == "read"
    question = build_messages(passages, "What is the secret password of the museum?", [], prompts)
    reply_tokens = 64  # on some CPUs the 135M model first restates the question, then quotes the passages
    seen = "".join(generator.stream(question, reply_tokens))
    hidden = "".join(generator.stream(question, reply_tokens, hide=[format_passage(passages[1])]))
    other_hidden = "".join(generator.stream(question, reply_tokens, hide=[format_passage(passages[2])]))
    again = "".join(generator.stream(question, reply_tokens))
    assert "PELICAN" in seen.upper()
    assert "PELICAN" not in hidden.upper()  # the word is nowhere else the model could read it
    assert "PELICAN" in other_hidden.upper()
    assert again == seen  # the whole library is back in the cache, exactly
    assert generator.hold_prefix(probes, tmp_path / "museum.state", progress=False) == "held"


def test_every_prompt_is_read_from_the_end_of_the_held_library(small_settings, tmp_path):
    # Found on eval q010: llama-cpp-python reused the "Question: ..." the call before had left in the
    # cache, so the question's tokens were read in another batch and its answer depended on what was
    # asked before it. Each prompt must be read from the library's end, whatever came before.
    from rag.answer.lookup import common_prefix
    from rag.answer.prompts import build_messages

    generator, passages, probes = museum_generator(small_settings)
    prompts = small_settings.prompts_dir
    generator.hold_prefix(probes, tmp_path / "museum.state", progress=False)
    library = len(common_prefix(*(generator.prompt_tokens(p) for p in probes)))
    llm = generator.llama()
    reads: list[tuple[int, int]] = []  # (where a read starts, how many tokens it reads)
    plain_eval = llm.eval

    def recorded_eval(tokens):
        reads.append((llm.n_tokens, len(tokens)))
        return plain_eval(tokens)

    llm.eval = recorded_eval
    answers = []
    for question in ("What is the secret password of the museum?", "What does the museum cafe sell?",
                     "What is the secret password of the museum?"):
        messages = build_messages(passages, question, [], prompts)
        answers.append("".join(generator.stream(messages, 8)))
        generator.yes_probability(messages)
    prompt_reads = [start for start, count in reads if count > 1]  # written tokens are read one at a time
    assert prompt_reads == [library] * 6
    assert answers[0] == answers[2]


def test_keys_kept_in_8_bits_get_a_state_of_their_own(small_settings, embedder):
    plain = new_rag(small_settings.model_copy(update={"kv_cache_keys": "f16"}), embedder)
    assert plain.hold_library(plain.library) == "read"
    eight_bit = small_settings.model_copy(update={"kv_cache_keys": "q8_0"})
    first = new_rag(eight_bit, embedder)
    assert first.hold_library(first.library) == "read"  # never the 16-bit state
    answer = first.ask(QUESTION)
    assert answer.answer_mode == "library" and answer.raw_text
    second = new_rag(eight_bit, embedder)
    assert second.hold_library(second.library) == "loaded"
    assert second.ask(QUESTION).raw_text == answer.raw_text
    assert len(list((small_settings.index_dir / "library-state").glob("*.state"))) == 2
