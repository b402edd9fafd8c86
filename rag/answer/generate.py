"""Text generation: the `Generator` protocol and its two backends.

- `LlamaGenerator` (rag/answer/llama_generator.py): a GGUF model through llama-cpp-python, in this process.
- `OpenAIGenerator`: any OpenAI-compatible chat server (llama.cpp's or
  llama-cpp-python's server, vLLM, Ollama) over HTTP, streamed.

`make_generator(settings)` picks one from `settings.llm_backend`; the pipeline
sees only the protocol. One `Llama` object is not safe to call from two
threads, so every in-process call holds the generator's lock while it streams.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from rag.errors import LLMServerError
from rag.settings import Settings

CHARS_PER_TOKEN_FLOOR = 3  # English text runs 4+ characters a token: dividing by 3 over-counts


class Generator(Protocol):
    n_ctx: int

    def warm_up(self) -> None:
        """Load the model now rather than on the first question (a server backend has nothing to load)."""
        ...

    def model_id(self) -> str:
        """What identifies the model's saved states: the model file's hash, or "server"."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def stream(self, messages: list[dict], max_tokens: int, hide: Sequence[str] = ()) -> Iterator[str]:
        """The reply to `messages`, piece by piece. `hide`: texts of the held prefix (passages of the
        cached library) the model should not see for this reply; a backend that cannot hide reads them."""
        ...

    def context_limit(self) -> int:
        """The largest context the model can use (its trained context)."""
        ...

    def use_context(self, n_ctx: int) -> None:
        """Grow the context window to `n_ctx` tokens (the cached library needs it)."""
        ...

    def hold_prefix(self, probes: tuple[list[dict], list[dict]], state_file: Path, progress: bool) -> str:
        """Keep the prompt start the two probe prompts share in the model's cache; how it got there
        ("held", "restored", "loaded", "read"; a server backend says what it did)."""
        ...

    def yes_probability(self, messages: list[dict]) -> float | None:
        """P("yes") against P("no") for the model's first word in reply to `messages`; None if unknown."""
        ...


def make_generator(settings: Settings) -> Generator:
    """The generator `settings.llm_backend` names (models load on first use)."""
    if settings.llm_backend == "openai":
        return OpenAIGenerator(settings)
    from rag.answer.llama_generator import LlamaGenerator
    from rag.models.catalogue import resolve_llm

    return LlamaGenerator(resolve_llm(settings.model, settings.model_cache_dir), settings)


def __getattr__(name: str):
    # LlamaGenerator lives in rag/answer/llama_generator.py; `from rag.answer.generate import LlamaGenerator` still works.
    if name == "LlamaGenerator":
        from rag.answer.llama_generator import LlamaGenerator

        return LlamaGenerator
    raise AttributeError(name)


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

    def warm_up(self) -> None:
        pass  # the server loaded its model when it started; the first request finds out whether it runs

    def model_id(self) -> str:
        return "server"  # the server keeps its own cache: no state of it is saved here

    def context_limit(self) -> int:
        return self.n_ctx  # the server's context is not asked: RAG_N_CTX says what it holds

    def use_context(self, n_ctx: int) -> None:
        pass  # the server's context is set where the server starts

    def hold_prefix(self, probes: tuple[list[dict], list[dict]], state_file: Path, progress: bool) -> str:
        """The server keeps the prefix itself (llama.cpp `cache_prompt`, vLLM prefix caching): read it once now."""
        for _ in self.stream(probes[0], 1):
            pass
        return "server"

    def yes_probability(self, messages: list[dict]) -> float | None:
        """From the server's top log-probabilities of the first token, when it gives them."""
        body = {"model": self.model, "messages": messages, "max_tokens": 1, "temperature": 0.0,
                "logprobs": True, "top_logprobs": 20, "cache_prompt": True}
        response = self._request("POST", f"{self.base_url}/chat/completions", body)
        try:
            top = response.json()["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None  # this server gives no log-probabilities
        mass = {"yes": 0.0, "no": 0.0}
        for entry in top:
            word = entry.get("token", "").strip().lower()
            if word in mass:
                mass[word] += math.exp(entry["logprob"])
        total = mass["yes"] + mass["no"]
        return mass["yes"] / total if total else None

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

    def stream(self, messages: list[dict], max_tokens: int, hide: Sequence[str] = ()) -> Iterator[str]:
        # A server's cache cannot be edited from here: `hide` is ignored and the whole library read.
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                "temperature": self.temperature, "seed": self.seed, "stream": True,
                "cache_prompt": True,  # llama.cpp's server: reuse the cached library prefix
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
