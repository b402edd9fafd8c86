"""Prompt-lookup decoding: the guess, and on a real model (SmolLM2-135M) the same text as
llama-cpp-python's own greedy streaming, with the cache left as its next call expects."""

import pytest

from rag.answer import lookup
from rag.answer.generate import LlamaGenerator
from rag.answer.lookup import guess
from rag.models.catalogue import resolve_llm

PASSAGES = (
    "[1] Colin Clarke is director of research at the Soufan Group, a security consultancy in New York.\n"
    "[2] The Houthis promised safe passage through the Red Sea for Russian and Chinese ships.\n"
    "[3] The harbour master in 1923 was Tomas Eriksen, who kept the light on Skarvholmen."
)
QUESTIONS = [
    "Who is Colin Clarke? Quote the passage.",
    "What did the Houthis promise? Answer with the passage's words.",
    "Who was the harbour master in 1923, and what did he keep?",
    "Repeat passage [1] word for word.",
]


def test_guess_follows_the_latest_occurrence_of_the_longest_tail():
    assert guess([1, 2, 3, 4, 9, 2, 3, 5, 7, 2, 3], size=2) == [5, 7]  # latest "2 3"
    assert guess([1, 2, 3, 4, 9, 1, 2, 3], size=3) == [4, 9, 1]  # "1 2 3" beats a later "2 3"
    assert guess([4, 5, 6, 7, 8, 6, 7], n_min=2, size=5) == [8, 6, 7]  # what follows, up to the end
    assert guess([1, 2, 3, 4]) == []  # no earlier occurrence
    assert guess([3, 1, 3], n_min=2) == []  # one token is not enough
    assert guess([7]) == []


def messages(question):
    return [{"role": "system", "content": "Answer from the passages.\n" + PASSAGES},
            {"role": "user", "content": question}]


@pytest.mark.models
def test_lookup_without_guesses_writes_exactly_what_greedy_streaming_writes(settings, model_cache, monkeypatch):
    """The loop itself (prompt reuse, stop token, max_tokens, UTF-8 pieces) against llama-cpp-python's."""
    plain, looked = generators(settings, model_cache)
    monkeypatch.setattr(lookup, "guess", lambda context: [])
    for question in QUESTIONS:
        for max_tokens in (48, 5):
            expected = "".join(plain.stream(messages(question), max_tokens))
            assert expected.strip()
            assert "".join(looked.stream(messages(question), max_tokens)) == expected


@pytest.mark.models
def test_lookup_with_guesses_copies_a_passage_as_greedy_decoding_does_and_leaves_the_cache_usable(settings, model_cache):
    # A batch of several tokens runs llama.cpp's matrix kernels instead of its vector ones, so
    # logits differ in the last digits and a near-tie can tip the other way (3 of 40 eval answers
    # of the default model differed); a verbatim copy has no near-ties.
    plain, looked = generators(settings, model_cache)
    counted = []
    real_guess = lookup.guess

    def counting(context):
        counted.append(len(real_guess(context)))
        return real_guess(context)

    lookup.guess = counting
    try:
        copy = messages("Repeat passage [1] word for word.")
        assert "".join(looked.stream(copy, 48)) == "".join(plain.stream(copy, 48))
    finally:
        lookup.guess = real_guess
    assert sum(counted) > 10  # guesses were made and checked
    # The cache holds the last prompt and answer; a yes/no probe next reads it correctly.
    llm = looked.llama()
    assert llm.n_tokens > len(looked.prompt_tokens(copy))
    probe = messages("Is Colin Clarke at the Soufan Group? Answer yes or no.")
    assert looked.yes_probability(probe) == pytest.approx(plain.yes_probability(probe), abs=1e-3)


def generators(settings, model_cache):
    small = settings.model_copy(update={"model": "smollm2-135m", "model_cache_dir": model_cache, "temperature": 0.0,
                                        "prompt_lookup": True})
    path = resolve_llm(small.model, model_cache)
    plain = LlamaGenerator(path, small.model_copy(update={"prompt_lookup": False}))
    looked = LlamaGenerator(path, small)
    assert looked.prompt_lookup and not plain.prompt_lookup
    return plain, looked


@pytest.mark.models
def test_lookup_is_off_when_sampling(settings, model_cache):
    warm = settings.model_copy(update={"model": "smollm2-135m", "model_cache_dir": model_cache, "temperature": 0.7,
                                       "prompt_lookup": True})
    assert not LlamaGenerator(resolve_llm(warm.model, model_cache), warm).prompt_lookup
