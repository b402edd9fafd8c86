"""The in-process backend: a GGUF model through llama-cpp-python.

One `Llama` object is not safe to call from two threads, so every call that
touches the model holds the generator's lock. Token counts come from a
vocabulary-only copy with its own lock (no wait behind an answer being written),
so the context can still grow for the cached library before the model loads.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.answer.llama_focus import TokenSpans, hidden, keep_prefix, seq_state
from rag.answer.lookup import common_prefix, greedy_text, next_token_logits
from rag.settings import Settings

if TYPE_CHECKING:
    from llama_cpp import Llama


class LlamaGenerator:
    """A GGUF model through llama-cpp-python, loaded on first use.

    Token counts come from a vocabulary-only copy (a fifth of a second to load, and
    no wait behind an answer being written), so the context can still grow for the
    cached library before the model itself is loaded.
    """

    def __init__(self, model_path: Path, settings: Settings):
        self.model_path = Path(model_path)
        self.model_cache_dir = settings.model_cache_dir
        self.n_ctx = settings.n_ctx
        self.temperature = settings.temperature
        self.seed = settings.seed
        self.n_threads = settings.n_threads
        self.kv_cache_keys = settings.kv_cache_keys
        self.prefix_cache = settings.prefix_cache
        self.prompt_lookup = settings.prompt_lookup and settings.temperature == 0  # it decodes greedily
        # The cross-check's fresh prompt overwrites the held library after every answer: copy it to
        # memory as soon as it is held (otherwise the copy is taken when a passage is first hidden).
        self.copy_when_held = settings.cross_check
        self._llm: Llama | None = None
        self._vocab_llm: Llama | None = None
        self._prefix: tuple[Path, list[int]] | None = None  # (state file, its prefix tokens)
        # A copy of the held prefix's cache in memory, and where its texts lie in its tokens (for
        # hiding passages); each tagged with the _prefix it belongs to.
        self._copy: tuple[tuple, bytes] | None = None
        self._spans: tuple[tuple, TokenSpans] | None = None
        self.lock = threading.Lock()  # one call at a time per model
        self._vocab_lock = threading.Lock()

    def _load(self):
        if self._llm is not None and self._llm.n_ctx() < self.n_ctx:
            self._llm.close()  # a larger context needs a new llama.cpp context
            self._llm = None
        if self._llm is None:
            import llama_cpp
            from llama_cpp import Llama

            key_types = {"f16": llama_cpp.GGML_TYPE_F16, "q8_0": llama_cpp.GGML_TYPE_Q8_0}
            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads or os.cpu_count(),
                n_threads_batch=self.n_threads or os.cpu_count(),  # else prompts are read on every core
                type_k=key_types[self.kv_cache_keys],
                seed=self.seed,
                verbose=False,
            )
        return self._llm

    def _vocab(self):
        if self._vocab_llm is None:
            from llama_cpp import Llama

            with _quiet_stderr():  # llama.cpp warns that a vocabulary has no trained context
                self._vocab_llm = Llama(model_path=str(self.model_path), vocab_only=True, verbose=False)
        return self._vocab_llm

    def warm_up(self) -> None:
        with self.lock:
            self._load()

    def llama(self) -> Llama:
        """The loaded `llama_cpp.Llama` itself, for a caller that calls llama-cpp-python directly
        (`rag bench` times a plain call against the pipeline's). It is not behind `lock`."""
        with self.lock:
            return self._load()

    def context_limit(self) -> int:
        with self._vocab_lock:
            metadata = self._vocab().metadata
        trained = metadata.get(f"{metadata.get('general.architecture')}.context_length")
        return int(trained) if trained else self.n_ctx

    def use_context(self, n_ctx: int) -> None:
        self.n_ctx = max(self.n_ctx, n_ctx)  # applied at the next load

    def model_id(self) -> str:
        from rag.models.catalogue import file_sha256

        sha = file_sha256(self.model_path, self.model_cache_dir)
        # A state saved with 8-bit keys cannot be loaded into a cache of 16-bit ones, nor back.
        return sha if self.kv_cache_keys == "f16" else f"{sha}+keys-{self.kv_cache_keys}"

    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        """The exact tokens `create_chat_completion(messages)` reads."""
        with self._vocab_lock:
            return _chat_prompt_tokens(self._vocab(), messages)

    def hold_prefix(self, probes: tuple[list[dict], list[dict]], state_file: Path, progress: bool) -> str:
        from rag.answer import llama_state

        if self._prefix is None or self._prefix[0] != state_file:  # the file's name hashes the prefix
            first, second = (self.prompt_tokens(p) for p in probes)
            self._prefix = (state_file, common_prefix(first, second))
        shared = self._prefix[1]
        with self.lock:
            llm = self._load()
            # "restored" from the copy after a prompt without the library (the cross-check's fresh read)
            how = llama_state.hold(llm, shared, state_file, progress, self._copy_of_prefix())
            if self.copy_when_held:  # puts the library back without the disk, even a read-only one
                self._prefix_copy(llm)
            return how

    def _copy_of_prefix(self) -> bytes | None:
        return self._copy[1] if self._copy is not None and self._copy[0] is self._prefix else None

    def _prefix_copy(self, llm: Llama) -> bytes:
        """The copy of the held prefix's cache, taken now if there is none for this prefix yet."""
        assert self._prefix is not None
        copy = self._copy_of_prefix()
        if copy is None:
            copy = seq_state(llm, len(self._prefix[1]))
            self._copy = (self._prefix, copy)
        return copy

    def count_tokens(self, text: str) -> int:
        with self._vocab_lock:
            return len(self._vocab().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def yes_probability(self, messages: list[dict]) -> float:
        tokens = self.prompt_tokens(messages)
        yes, no = self._yes_no_tokens()
        with self.lock:
            llm = self._load()
            self._from_the_prefix(llm)
            logits = next_token_logits(llm, tokens)
        return _share(logits, yes, no)

    def _yes_no_tokens(self) -> tuple[list[int], list[int]]:
        """First tokens of the ways a reply can start with yes or no ("Yes", "yes", " Yes", ...)."""
        def first_tokens(words: list[str]) -> list[int]:
            with self._vocab_lock:
                vocab = self._vocab()
                return sorted({vocab.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words})

        return first_tokens(["Yes", "yes", " Yes", " yes", "YES"]), first_tokens(["No", "no", " No", " no", "NO"])

    def stream(self, messages: list[dict], max_tokens: int, hide: Sequence[str] = ()) -> Iterator[str]:
        prompt = self.prompt_tokens(messages) if self.prompt_lookup else None
        with self.lock:
            llm = self._load()
            if not self.prefix_cache:
                # llama-cpp-python keeps the tokens of the last call and re-reads only what
                # differs; a reset forgets them, so the whole prompt is read again.
                llm.reset()
            self._from_the_prefix(llm)
            with self._hiding(llm, hide):
                if prompt is not None:
                    yield from greedy_text(llm, prompt, max_tokens)
                    return
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

    def _from_the_prefix(self, llm: Llama) -> None:
        """Forget what the cache holds past the held library, so every prompt is read from its end.

        llama-cpp-python would reuse all a prompt shares with the one before ("Question:"
        after the library, a first word two questions share). The tokens read together would
        then differ, and the kernels' last digits with them: a question's answer would depend
        on what was asked before it (eval q010 did). Reading those few tokens again costs
        next to nothing."""
        from rag.answer import llama_state

        if self._prefix is not None and llama_state.holds(llm, self._prefix[1]):
            keep_prefix(llm, len(self._prefix[1]))

    def _hiding(self, llm: Llama, hide: Sequence[str]) -> contextlib.AbstractContextManager:
        """Hide `hide` from the held prefix for one reply; nothing to hide, or no prefix held: no change."""
        from rag.answer import llama_state

        if not hide or self._prefix is None or not llama_state.holds(llm, self._prefix[1]):
            return contextlib.nullcontext()
        prefix = self._prefix[1]
        if self._spans is None or self._spans[0] is not self._prefix:
            with self._vocab_lock:
                pieces = [self._vocab().detokenize([t], special=True) for t in prefix]
            self._spans = (self._prefix, TokenSpans(pieces))
        return hidden(llm, prefix, self._spans[1].covering(hide), self._prefix_copy(llm))


@contextlib.contextmanager
def _quiet_stderr():
    """Silence what C code writes to stderr (file descriptor 2) for the length of the block."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _share(logits: Any, yes: list[int], no: list[int]) -> float:
    """Softmax mass of the `yes` tokens within yes + no."""
    import numpy as np

    picked = np.concatenate([logits[yes], logits[no]]).astype(np.float64)
    weights = np.exp(picked - picked.max())
    return float(weights[: len(yes)].sum() / weights.sum())


class _PromptRecorded(Exception):
    def __init__(self, tokens: list[int]):
        self.tokens = tokens


class _PromptRecorder:
    """Stands in for the `Llama` a chat handler formats for: keeps the prompt tokens, generates nothing."""

    def __init__(self, llm: Llama):
        self.tokenize = llm.tokenize
        self.verbose = False

    def create_completion(self, prompt: list[int], **_: Any) -> None:
        raise _PromptRecorded(list(prompt))


def _chat_prompt_tokens(llm: Any, messages: list[dict]) -> list[int]:
    # The handler lookup of Llama.create_chat_completion (llama-cpp-python 0.3.x), run on a recorder:
    # the tokens are those the model would read, chat template and special tokens included.
    from llama_cpp import llama_chat_format

    handler = (
        llm.chat_handler
        or llm._chat_handlers.get(llm.chat_format)
        or llama_chat_format.get_chat_completion_handler(llm.chat_format)
    )
    try:
        # The recorder stands in for the Llama the handler expects: it answers the calls a handler makes.
        handler(llama=_PromptRecorder(llm), messages=messages, max_tokens=1)  # type: ignore[arg-type]
    except _PromptRecorded as recorded:
        return recorded.tokens
    raise RuntimeError("the chat handler did not ask for a completion")
