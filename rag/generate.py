"""Text generation: the `Generator` protocol and the llama-cpp-python implementation.

One `Llama` object is not safe to call from two threads, so every call holds
the generator's lock for as long as it streams.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from .settings import Settings


class Generator(Protocol):
    n_ctx: int

    def count_tokens(self, text: str) -> int: ...

    def stream(self, messages: list[dict], max_tokens: int) -> Iterator[str]: ...


class LlamaGenerator:
    """A GGUF model through llama-cpp-python, loaded on first use."""

    def __init__(self, model_path: Path, settings: Settings):
        self.model_path = Path(model_path)
        self.n_ctx = settings.n_ctx
        self.temperature = settings.temperature
        self.seed = settings.seed
        self.n_threads = settings.n_threads
        self._llm = None
        self.lock = threading.Lock()  # one call at a time per model

    def _load(self):
        if self._llm is None:
            from llama_cpp import Llama

            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads or os.cpu_count(),
                seed=self.seed,
                verbose=False,
            )
        return self._llm

    def warm_up(self) -> None:
        with self.lock:
            self._load()

    def count_tokens(self, text: str) -> int:
        with self.lock:
            return len(self._load().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        with self.lock:
            chunks = self._load().create_chat_completion(
                messages=messages,
                max_tokens=max_tokens,
                temperature=self.temperature,
                seed=self.seed,
                stream=True,
            )
            for chunk in chunks:
                delta = chunk["choices"][0]["delta"].get("content")
                if delta:
                    yield delta
