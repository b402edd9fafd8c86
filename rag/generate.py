"""Text generation: the `Generator` protocol and its two backends.

- `LlamaGenerator`: a GGUF model through llama-cpp-python, in this process.
- `OpenAIGenerator`: any OpenAI-compatible chat server (llama.cpp's or
  llama-cpp-python's server, vLLM, Ollama) over HTTP, streamed.

`make_generator(settings)` picks one from `settings.llm_backend`; the pipeline
sees only the protocol. One `Llama` object is not safe to call from two
threads, so every in-process call holds the generator's lock while it streams.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from .errors import LLMServerError
from .settings import Settings

CHARS_PER_TOKEN_FLOOR = 3  # English text runs 4+ characters a token: dividing by 3 over-counts


class Generator(Protocol):
    n_ctx: int

    def count_tokens(self, text: str) -> int: ...

    def stream(self, messages: list[dict], max_tokens: int) -> Iterator[str]: ...


def make_generator(settings: Settings) -> Generator:
    """The generator `settings.llm_backend` names (models load on first use)."""
    if settings.llm_backend == "openai":
        return OpenAIGenerator(settings)
    from .models import resolve_llm

    return LlamaGenerator(resolve_llm(settings.model, settings.model_cache_dir), settings)


class LlamaGenerator:
    """A GGUF model through llama-cpp-python, loaded on first use."""

    def __init__(self, model_path: Path, settings: Settings):
        self.model_path = Path(model_path)
        self.n_ctx = settings.n_ctx
        self.temperature = settings.temperature
        self.seed = settings.seed
        self.n_threads = settings.n_threads
        self.prefix_cache = settings.prefix_cache
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
            llm = self._load()
            if not self.prefix_cache:
                # llama-cpp-python keeps the tokens of the last call and re-reads only what
                # differs; a reset forgets them, so the whole prompt is read again.
                llm.reset()
            chunks = llm.create_chat_completion(
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


class OpenAIGenerator:
    """Chat completions from an OpenAI-compatible server, streamed as server-sent events.

    Token counts come from the server's tokenizer when it has llama-cpp-python's
    `/extras/tokenize/count`; otherwise from a character estimate that over-counts.
    """

    def __init__(self, settings: Settings):
        import httpx

        self.base_url = settings.llm_url.rstrip("/")
        self.model = settings.model
        self.n_ctx = settings.n_ctx
        self.temperature = settings.temperature
        self.seed = settings.seed
        headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
        # trust_env=False: no proxy variable may send the prompt off this machine's route.
        self._http = httpx.Client(headers=headers, timeout=settings.llm_timeout_s, trust_env=False)
        self._server_tokenizer: bool | None = None  # unknown until first asked

    def _root(self) -> str:
        # llama-cpp-python serves /v1/chat/completions but /extras/tokenize at the root.
        return self.base_url.removesuffix("/v1")

    def count_tokens(self, text: str) -> int:
        if self._server_tokenizer is not False:
            count = self._server_count(text)
            self._server_tokenizer = count is not None
            if count is not None:
                return count
        return len(text) // CHARS_PER_TOKEN_FLOOR + 1

    def _server_count(self, text: str) -> int | None:
        response = self._request("POST", f"{self._root()}/extras/tokenize/count", {"input": text, "model": self.model})
        if response.status_code != 200:
            return None
        return int(response.json()["count"])

    def stream(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                "temperature": self.temperature, "seed": self.seed, "stream": True,
                # llama.cpp servers default to 1.1, the in-process call to 1.0: ask for the
                # same sampling on both (servers that do not know the field ignore it).
                "repeat_penalty": 1.0}
        import httpx

        try:
            with self._http.stream("POST", f"{self.base_url}/chat/completions", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise LLMServerError(
                        f"the LLM server at {self.base_url} answered {response.status_code}: {response.text[:200]}"
                    )
                yield from _sse_deltas(response.iter_lines())
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def _request(self, method: str, url: str, body: dict):
        import httpx

        try:
            return self._http.request(method, url, json=body)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: Exception) -> LLMServerError:
        return LLMServerError(
            f"cannot reach the LLM server at {self.base_url} ({type(exc).__name__}): start it "
            "(e.g. `python -m llama_cpp.server --model FILE.gguf`) or fix RAG_LLM_URL"
        )


def _sse_deltas(lines: Iterator[str]) -> Iterator[str]:
    """The content pieces of an OpenAI chat stream.

    >>> list(_sse_deltas(['data: {"choices": [{"delta": {"content": "Hi"}}]}', "data: [DONE]"]))
    ['Hi']
    """
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators and ": ping" comments
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            return
        event = json.loads(data)
        if event.get("error"):  # a server that fails mid-stream says so in an event
            raise LLMServerError(f"the LLM server stopped with an error: {str(event['error'])[:200]}")
        choices = event.get("choices") or [{}]
        delta = (choices[0].get("delta") or {}).get("content")
        if delta:
            yield delta
