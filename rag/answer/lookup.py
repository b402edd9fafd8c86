"""Greedy decoding with prompt lookup: guesses copied from the prompt, checked in one pass.

An answer over passages repeats their words, so the tokens that followed the last
few written tokens where they occur earlier in the context are a good guess at what
comes next. Each step feeds the model its last token plus such a guess, and keeps
the run of the guess that greedy decoding would have written anyway (the argmax at
each position) plus the model's own next token. The text is greedy decoding's; only
several tokens can come out of one pass over the weights, which is what a CPU pays
for (on 2 cores one token costs 93 ms, four in one batch 161 ms).

llama-cpp-python's own `LlamaPromptLookupDecoding` needs the logits of every prompt
token (gigabytes with the cached library); this asks for logits only on the guesses.
`next_token_logits` (read a prompt, reusing the cached start) is also how the yes/no
probes of the llama-cpp backend read theirs.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

# Tokens guessed per step. A batch of 4 costs 1.7 times a single token here; guessing more
# costs more than the extra accepted tokens save (simulated on recorded answers of both
# evaluation corpora: decode time 0.77 of plain at 3, 0.79-0.84 at 4-8).
GUESS_TOKENS = 3
NGRAM_MAX = 4  # the longest run of last tokens looked up
NGRAM_MIN = 2  # one matching token guesses wrongly too often


def guess(context: list[int], n_max: int = NGRAM_MAX, n_min: int = NGRAM_MIN, size: int = GUESS_TOKENS) -> list[int]:
    """The tokens that followed the latest earlier occurrence of the context's last n
    tokens, for the longest n from `n_max` down to `n_min` that occurs; [] when none does.

    >>> guess([5, 6, 7, 8, 1, 5, 6], size=2)
    [7, 8]
    """
    for n in range(min(n_max, len(context) - 1), n_min - 1, -1):
        tail = context[-n:]
        for start in range(len(context) - n - 1, -1, -1):
            if context[start : start + n] == tail:
                return context[start + n : start + n + size]
    return []


class _Batch:
    """A llama.cpp batch of sequence 0 that asks for logits at every position."""

    def __init__(self, size: int):
        import llama_cpp

        self.batch = llama_cpp.llama_batch_init(size, 0, 1)

    def fill(self, tokens: list[int], start: int) -> None:
        self.batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            self.batch.token[i] = token
            self.batch.pos[i] = start + i
            self.batch.seq_id[i][0] = 0
            self.batch.n_seq_id[i] = 1
            self.batch.logits[i] = True

    def close(self) -> None:
        import llama_cpp

        llama_cpp.llama_batch_free(self.batch)


def _logits_at(llm: Any, i: int) -> Any:
    """A view of the logits at batch position `i` of the last decode (-1: its last token)."""
    import llama_cpp
    import numpy as np

    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, i), shape=(llm.n_vocab(),))


def _argmax_at(llm: Any, i: int) -> int:
    return int(_logits_at(llm, i).argmax())


def common_prefix(a: list[int], b: list[int]) -> list[int]:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]


def next_token_logits(llm: Any, prompt: list[int]) -> Any:
    """The logits after `prompt`, reading only what of it the cache lacks (at least its
    last token, for fresh logits); a copy, safe after the next decode."""
    cached = llm.input_ids[: llm.n_tokens].tolist()
    llm.n_tokens = min(len(common_prefix(cached, prompt)), len(prompt) - 1)
    llm.eval(prompt[llm.n_tokens :])  # drops the rest of the cache first
    return _logits_at(llm, -1).copy()


def greedy_tokens(llm: Any, prompt: list[int], max_tokens: int) -> Iterator[int]:
    """The tokens greedy decoding writes after `prompt`, up to `max_tokens`, the end of
    generation left out. `llm` (a `llama_cpp.Llama`) is left with `input_ids`/`n_tokens`
    describing its cache, as its own `eval` leaves them."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    memory = llama_cpp.llama_get_memory(llm.ctx)
    context = list(prompt)
    token = int(next_token_logits(llm, prompt).argmax())
    batch = _Batch(GUESS_TOKENS + 1)
    written = 0
    try:
        while written < max_tokens and llm.n_tokens < llm.n_ctx() and not llama_cpp.llama_vocab_is_eog(vocab, token):
            yield token
            written += 1
            context.append(token)
            if written == max_tokens:
                return
            room = min(max_tokens - written, llm.n_ctx() - llm.n_tokens - 1)
            guessed = guess(context)[:room]
            start = llm.n_tokens
            batch.fill([token, *guessed], start)
            if llama_cpp.llama_decode(llm.ctx, batch.batch) != 0:
                raise RuntimeError("llama_decode failed")
            llm.input_ids[start : start + 1 + len(guessed)] = [token, *guessed]
            kept, token = 0, _argmax_at(llm, 0)
            while kept < len(guessed) and token == guessed[kept] and not llama_cpp.llama_vocab_is_eog(vocab, token):
                kept += 1
                token = _argmax_at(llm, kept)
            # The guess holds up to `kept`: those tokens are written, the rest leave the cache.
            llm.n_tokens = start + 1 + kept
            llama_cpp.llama_memory_seq_rm(memory, 0, llm.n_tokens, -1)
            for accepted in guessed[:kept]:
                yield accepted
                written += 1
                context.append(accepted)
    finally:
        batch.close()


def greedy_text(llm: Any, prompt: list[int], max_tokens: int) -> Iterator[str]:
    """`greedy_tokens` as text, each piece as soon as its UTF-8 bytes are whole."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for token in greedy_tokens(llm, prompt, max_tokens):
        piece = decoder.decode(llm.detokenize([token]))
        if piece:
            yield piece
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail
