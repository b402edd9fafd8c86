"""Fakes behind the pipeline's protocols, for fast unit tests: one embedder, one generator
(FakeGenerator), and the two variants of it that tests need (slow and quoting; budget-checking)."""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time

from rag.ingest.text import content_words


class FakeEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words are close."""

    name = "fake-embedder"

    def __init__(self, dimension: int = 64):
        self._dimension = dimension
        self.calls = 0

    @property
    def dimension(self) -> int:
        return self._dimension

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        for word in content_words(text) or ["empty"]:
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self._dimension] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        self.calls += 1
        return [self._vector(t) for t in texts]


class FakeGenerator:
    """Replies with canned text (a string, or a function of the messages) and records prompts.

    Other fakes in the tests subclass it and override what they do differently, so that every
    one of them has the whole Generator protocol."""

    def __init__(self, reply="The documents do not say.", n_ctx: int = 2048, n_ctx_train: int | None = None,
                 yes=0.9):
        self.reply = reply
        self.yes = yes  # what yes_probability says: a number, None, or a function of the messages
        self.n_ctx = n_ctx
        self.n_ctx_train = n_ctx_train or n_ctx  # 2048: the seeds do not fit, so retrieval answers
        self.prompts: list[list[dict]] = []
        self.held: list[tuple] = []  # (probes, state file) of every hold_prefix call
        self.probes: list[list[dict]] = []  # the yes/no questions asked
        self.hidden: list[list[str]] = []  # the passages each stream call was asked to hide
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.warmed = 0  # warm_up calls

    def warm_up(self) -> None:
        self.warmed += 1

    def model_id(self) -> str:
        return "fake-model"

    def context_limit(self) -> int:
        return self.n_ctx_train

    def use_context(self, n_ctx: int) -> None:
        self.n_ctx = max(self.n_ctx, n_ctx)

    def hold_prefix(self, probes, state_file, progress):
        self.held.append((probes, state_file))
        return "read" if len(self.held) == 1 else "held"

    def yes_probability(self, messages):
        self.probes.append(messages)
        return self.yes(messages) if callable(self.yes) else self.yes

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + text.count("\n")

    def stream(self, messages, max_tokens, hide=()):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            try:
                self.prompts.append(messages)
                self.hidden.append(list(hide))
                reply = self.reply(messages) if callable(self.reply) else self.reply
                for word in reply.split(" "):
                    yield word + " "
            finally:
                self.active -= 1


class SlowQuotingModel(FakeGenerator):
    """A fake model that quotes the passage holding `needle` with its [n], slowly, and records
    how many calls ran at the same time. It has no lock of its own: only the app serializes it.
    Its context (2,048) does not hold the seeds: answers come from retrieved passages; its
    yes/no probe says 0.9, so the calibrated decision keeps quoted answers."""

    def __init__(self, needle: str = "", delay: float = 0.0, n_ctx: int = 2048):
        super().__init__(n_ctx=n_ctx, yes=0.9)
        self.needle, self.delay = needle, delay
        self.calls = 0
        self._count = threading.Lock()

    def stream(self, messages, max_tokens, hide=()):
        with self._count:
            self.active += 1
            self.calls += 1
            self.max_active = max(self.max_active, self.active)
            self.last_prompt = messages[-1]["content"]
        try:
            for word in self._reply(self.last_prompt).split(" "):
                time.sleep(self.delay)
                yield word + " "
        finally:
            with self._count:
                self.active -= 1

    def _reply(self, prompt: str) -> str:
        for n, text in re.findall(r"\[(\d+)\] (.*?)(?=\n\n\[\d+\] |\n\n|$)", prompt, flags=re.S):
            if self.needle and self.needle in text:
                return f"{text.strip()} [{n}]"
        return "The documents do not say."


class BudgetCheckingGenerator(FakeGenerator):
    """A real tokenizer (tests/real_tokenizer.py: ChatTokenizer) behind the Generator protocol; checks each prompt as llama.cpp would see it.
    Its context limit is n_ctx, at most 4,096 here: the seeds do not fit, retrieved passages must."""

    def __init__(self, tokenizer, n_ctx: int):
        super().__init__(n_ctx=n_ctx)
        self.tokenizer, self.seen = tokenizer, []

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def yes_probability(self, messages) -> float | None:
        self.seen.append(self.tokenizer.prompt_tokens(messages) + 1)  # the yes/no question must fit too
        return None

    def stream(self, messages, max_tokens, hide=()):
        self.seen.append(self.tokenizer.prompt_tokens(messages) + max_tokens)
        yield "The documents do not say."
