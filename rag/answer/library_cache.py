"""The cached library: the whole (small) library as the fixed start of every prompt.

Reading the prompt is most of the wait on a CPU. A library of a few thousand
tokens is read by the model once; its state is kept and saved beside the index,
so each question costs only its own tokens (cache-augmented generation).

    >>> plan = plan_library(store.chunks(), generator, settings)
    >>> plan.passages[0].n, plan.tokens, plan.n_ctx
    (1, 5480, 6912)

This module decides whether the library fits, lays it out as numbered passages
(the index's chunks in document order, overlap removed, offsets exact) and names
the saved state; the generator backends hold and restore that state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer.prompts import CHAT_OVERHEAD_TOKENS, build_messages, format_passages
from rag.errors import PromptTemplateError
from rag.settings import Settings
from rag.types import Chunk, Passage

if TYPE_CHECKING:
    from rag.answer.generate import Generator

LIBRARY_VERSION = "library-v1"
QUESTION_ALLOWANCE_TOKENS = 1024  # question, conversation and the second-look prompts after the library
CONTEXT_STEP = 256
STATE_FOLDER = "library-state"


@dataclass(frozen=True)
class LibraryPlan:
    passages: list[Passage]  # numbered 1..N in document order
    tokens: int  # the library prompt's size
    n_ctx: int  # the context window it needs
    by_chunk: dict[str, Passage]  # chunk id -> its library passage
    passage_tokens: int  # of the passages' text alone: each question's prompt is counted without them

    def ranked(self, retrieved: list[Passage]) -> list[Passage]:
        """The library passages of `retrieved` chunks, in retrieval order."""
        seen = dict.fromkeys(self.by_chunk[p.chunk_id].n for p in retrieved if p.chunk_id in self.by_chunk)
        by_n = {p.n: p for p in self.passages}
        return [by_n[n] for n in seen]


def library_passages(chunks: list[Chunk]) -> list[Passage]:
    """Every chunk once, in document order, without the text it repeats from the one before.

    Chunks overlap by whole sentences, so each passage starts where the previous
    chunk of its document ended: the library holds each sentence once.
    """
    passages: list[Passage] = []
    ordered = sorted(chunks, key=lambda c: (c.source, c.start, c.end))
    covered: dict[str, int] = {}
    for chunk in ordered:
        start = max(chunk.start, covered.get(chunk.source, 0))
        text = chunk.text[start - chunk.start :]
        stripped = text.lstrip()
        start += len(text) - len(stripped)
        covered[chunk.source] = max(covered.get(chunk.source, 0), chunk.end)
        if stripped:
            passages.append(Passage(len(passages) + 1, chunk.id, chunk.source, start, chunk.end, stripped))
    return passages


def library_size(passages: list[Passage], count_tokens: Callable[[str], int], prompts_dir: Path) -> int:
    """Tokens of the prompt holding the whole library (and an empty question)."""
    return sum(count_tokens(m["content"]) for m in build_messages(passages, "", [], prompts_dir)) + CHAT_OVERHEAD_TOKENS


def needed_context(library_tokens: int, max_tokens: int) -> int:
    need = library_tokens + QUESTION_ALLOWANCE_TOKENS + max_tokens
    return -(-need // CONTEXT_STEP) * CONTEXT_STEP


def plan_library(chunks: list[Chunk], generator: Generator, settings: Settings) -> LibraryPlan | None:
    """The library laid out for the cache, or None when retrieval must answer instead.

    auto: the library must fit `library_max_tokens` and the model's trained
    context; library: it must fit the trained context (else a clear error).
    """
    if settings.answer_mode == "retrieval" or not chunks:
        return None
    passages = library_passages(chunks)
    tokens = library_size(passages, generator.count_tokens, settings.prompts_dir)
    n_ctx = max(settings.n_ctx, needed_context(tokens, settings.max_tokens))
    limit = generator.context_limit()
    if settings.answer_mode == "auto" and (tokens > settings.library_max_tokens or n_ctx > limit):
        return None
    if n_ctx > limit:
        raise PromptTemplateError(
            f"the library needs a {n_ctx}-token context but the model holds {limit}: "
            "use RAG_ANSWER_MODE=retrieval (or auto) for a library this large"
        )
    return LibraryPlan(passages, tokens, n_ctx, {p.chunk_id: p for p in passages},
                       generator.count_tokens(format_passages(passages)))


def probe_messages(plan: LibraryPlan, prompts_dir: Path) -> tuple[list[dict], list[dict]]:
    """Two prompts that share exactly the library's start: their common tokens are what is cached."""
    first = build_messages(plan.passages, "Who?", [], prompts_dir)
    second = build_messages(
        plan.passages, "And when?", [{"role": "user", "content": "What?"}, {"role": "assistant", "content": "This."}],
        prompts_dir,
    )
    return first, second


def state_file(index_dir: Path, plan: LibraryPlan, model_id: str, prompts_dir: Path) -> Path:
    """Where the model state of this library is saved: one file per (library, model, templates, n_ctx).

    The name hashes everything the state depends on: the passages as the model
    reads them (so any index rebuild that changes them), the prompt templates,
    the model file's identity and the context size.
    """
    first, _ = probe_messages(plan, prompts_dir)
    key = hashlib.sha256(json.dumps([LIBRARY_VERSION, model_id, plan.n_ctx, first]).encode()).hexdigest()[:32]
    return Path(index_dir) / STATE_FOLDER / f"{key}.state"
