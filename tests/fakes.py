"""Fakes behind the pipeline's protocols, for fast unit tests."""

from __future__ import annotations

import hashlib
import math
import threading

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

    def stream(self, messages, max_tokens):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            try:
                self.prompts.append(messages)
                reply = self.reply(messages) if callable(self.reply) else self.reply
                for word in reply.split(" "):
                    yield word + " "
            finally:
                self.active -= 1
