"""The pipeline users call: `ask()` and the `RAG` session that keeps things loaded.

    >>> from rag import ask
    >>> answer = ask("Who is Colin Clarke?")
    >>> answer.text, [c.quote for c in answer.citations]

`RAG` opens the index and loads the models lazily, on first use, and keeps
them for later questions; `RAG.stream()` yields the answer's text as the
model writes it, then the checked `Answer`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.answer.cite import REFUSAL, shown_with_cited
from rag.answer.cross_check import cross_checked, cross_checks, fresh_verdict
from rag.answer.generate import Generator, make_generator
from rag.answer.library_cache import LibraryPlan, plan_library, probe_messages, state_file
from rag.answer.prompts import PROMPT_MARGIN_TOKENS, build_messages, fit_passages, hidden_texts, prompt_size
from rag.answer.trust import Verdict, Verifier
from rag.index.build import ensure_index
from rag.index.reader import open_store
from rag.index.store import ChromaStore
from rag.ingest.documents import LibraryTexts
from rag.models.embed import Embedder, make_embedder
from rag.question import search_query, validate_history, validate_question
from rag.retrieval.focus import focus_passages
from rag.retrieval.retrieve import Retriever
from rag.settings import Settings
from rag.types import Answer, Passage, Timings

CLAIM_CANDIDATES = 3  # library passages most like an uncited sentence, searched for its citation


class RAG:
    """A session: index, embedder and model loaded once, one question at a time per model."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        store: ChromaStore | None = None,
        progress: bool = True,
    ):
        self.settings = settings or Settings()
        self._embedder = embedder
        self._generator = generator
        self._store = store
        self._progress = progress
        self._open_lock = threading.Lock()
        self._held_plan: tuple | None = None  # (plan, probes, state file) of the library last held

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings.embedding_model)
        return self._embedder

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = make_generator(self.settings)  # backend chosen by settings
        return self._generator

    @cached_property
    def retriever(self) -> Retriever:
        with self._open_lock:
            if self._store is None:
                self._store = ensure_index(self.settings, self.embedder, self._progress)
        return Retriever(self._store, self.embedder, self.settings.retrieval_mode, self.settings.rrf_k)

    @property
    def store(self) -> ChromaStore:
        _ = self.retriever  # opens (or builds) the index on first use
        assert self._store is not None
        return self._store

    @cached_property
    def library(self) -> LibraryPlan | None:
        """The whole library laid out for the model's cache, or None: answer from retrieved passages."""
        if self.settings.answer_mode == "auto" and self.store.count() > self.settings.library_max_tokens // 16:
            return None  # far too many chunks to fit: do not read them all to find out
        plan = plan_library(self.retriever.bm25.chunks, self.generator, self.settings)
        if plan is not None:
            self.generator.use_context(plan.n_ctx)
        return plan

    def hold_library(self, plan: LibraryPlan) -> str:
        """Have the model's cache hold the library: "held", "restored" (memory), "loaded" (saved state) or "read"."""
        self.generator.use_context(plan.n_ctx)
        probes, path = self._library_state(plan)
        return self.generator.hold_prefix(probes, path, self._progress)

    def _library_state(self, plan: LibraryPlan) -> tuple[tuple[list[dict], list[dict]], Path]:
        """The probe prompts and the state file of `plan`, worked out once (every question asks)."""
        if self._held_plan is None or self._held_plan[0] is not plan:
            probes = probe_messages(plan, self.settings.prompts_dir)
            path = state_file(self.settings.index_dir, plan, self.generator.model_id(), self.settings.prompts_dir)
            self._held_plan = (plan, probes, path)
        return self._held_plan[1], self._held_plan[2]

    @cached_property
    def texts(self) -> LibraryTexts:
        """The indexed (extracted) text of each document: citations' pages, the chat's article view."""
        return LibraryTexts(Path(self.store.info.docs_dir), self.settings.index_dir)

    def reload_index(self) -> None:
        """Reopen the current index, e.g. after documents were added; BM25 and the library are rebuilt lazily."""
        self._store = open_store(self.settings)
        self._forget_chunks()

    def warm_up(self) -> RAG:
        """Open the index, load both models and the cached library now instead of on the first question.

        The LLM and its library load in a second thread while the embedder loads:
        importing sentence-transformers is most of a cold start, and llama.cpp's
        C code does not hold Python's lock.
        """
        _ = self.retriever  # opens (or builds) the index before the two threads share it
        failures: list[BaseException] = []

        def load_llm() -> None:
            try:
                plan = self.library  # first: it sets the context size the model loads with
                self.generator.warm_up()
                if plan is not None:
                    self.hold_library(plan)
            except BaseException as exc:  # re-raised in the caller's thread
                failures.append(exc)

        worker = threading.Thread(target=load_llm, name="rag-warm-up", daemon=True)
        worker.start()
        self.retriever.search("warm up", 1)
        worker.join()
        if failures:
            raise failures[0]
        return self

    def retrieve(self, query: str, k: int | None = None, mode: str | None = None) -> list[Passage]:
        switches = self.store.switches
        found = self.retriever.search(query, k or self.settings.top_k, mode)
        if self.store.switches == switches:
            return found
        # A rebuild on the server moved the store to a new build: the keyword index and the
        # library were made from the old one's chunks, so they are rebuilt and the search rerun.
        self._forget_chunks()
        return self.retriever.search(query, k or self.settings.top_k, mode)

    def _forget_chunks(self) -> None:
        with self._open_lock:
            self.__dict__.pop("retriever", None)
            self.__dict__.pop("library", None)

    def ask(self, question: str, history: list[dict] | None = None, **options: Any) -> Answer:
        """The checked answer to `question` (see `stream` for the options)."""
        for item in self.stream(question, history, **options):
            if isinstance(item, Answer):
                return item
        raise AssertionError("stream() ended without an Answer")

    def stream(
        self, question: str, history: list[dict] | None = None, *, top_k: int | None = None, mode: str | None = None
    ) -> Iterator[str | Answer]:
        """Yield the answer's text pieces as the model writes them, then the checked Answer."""
        question = validate_question(question, self.settings.max_question_chars)
        history = validate_history(history, self.settings.max_history_turns, self.settings.max_history_chars)
        started = time.perf_counter()
        query = search_query(question, history)
        plan = self.library
        library = self._library_messages(plan, question, history) if plan else None
        if plan is not None and library is not None:
            # The whole library is in the prompt: retrieval only ranks its passages for the
            # check, so it runs after the answer is written, not before the first token
            # (a `library_focus` search, for the passages left visible, must run before).
            messages, prompt_tokens = library
            self.hold_library(plan)
            answer_mode, prompt_passages, retrieve_ms, in_prompt = "library", plan.passages, 0.0, plan
            hide = self._hidden_passages(plan, query, mode)
        else:
            in_prompt, hide = None, []  # the library plan whose passages the prompt holds: none here
            passages = self.retrieve(query, top_k, mode)
            retrieve_ms = _ms(started)
            if not passages:
                yield Answer(text=REFUSAL, refused=True, timings=Timings(retrieve_ms=retrieve_ms, total_ms=_ms(started)),
                             query=query)
                return
            shown, prompt_tokens = self._fit(passages, query, question, history)
            messages = build_messages(shown, question, history, self.settings.prompts_dir)
            answer_mode, prompt_passages = "retrieval", shown

        raw = []
        first_token_ms = None
        for piece in self.generator.stream(messages, self.settings.max_tokens, hide=hide):
            if first_token_ms is None:
                first_token_ms = _ms(started)
            raw.append(piece)
            yield piece
        if in_prompt is not None:
            searched = time.perf_counter()
            shown = in_prompt.ranked(self.retrieve(query, top_k, mode))
            retrieve_ms = _ms(searched)
            candidates = self._library_candidates(in_prompt, shown)
        else:
            def candidates(claim: str) -> list[Passage]:
                return shown

        completion_tokens = self.generator.count_tokens("".join(raw)) if raw else 0
        verifier = Verifier(self.generator, self.settings, prompt_passages, question, history, shown, candidates,
                            in_prompt.passage_tokens if in_prompt else None)
        verdict = verifier.verify("".join(raw))
        if in_prompt is not None and cross_checks(self.settings, verdict, len(in_prompt.passages), len(shown)):
            fresh = self._fresh_verdict(in_prompt, self._fit(shown, query, question, history)[0], question, history)
            verdict = cross_checked(verdict, fresh, verifier.coverage)
        checked = verdict.checked
        timings = Timings(retrieve_ms=retrieve_ms, first_token_ms=first_token_ms, total_ms=_ms(started),
                          prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        yield Answer(
            text=checked.text, refused=checked.refused, citations=self.texts.with_pages(checked.citations),
            passages=shown_with_cited(shown, prompt_passages, checked), grounding=checked.grounding,
            timings=timings, query=query, raw_text=verdict.raw, answer_mode=answer_mode, removed=checked.removed,
            verification=verdict.verification, confidence=verdict.decision.probability, reason=verdict.decision.reason,
            signals=verdict.decision.signals or {},
        )

    def _fresh_verdict(self, plan: LibraryPlan, passages: list[Passage], question: str, history: list[dict]) -> Verdict:
        """The checked answer from `passages` alone, read afresh; the library is held again after."""
        try:
            return fresh_verdict(self.generator, self.settings, passages, question, history)
        finally:
            self.hold_library(plan)  # from its copy in memory: nothing read again

    def _hidden_passages(self, plan: LibraryPlan, query: str, mode: str | None) -> list[str]:
        """The library passages hidden while the model answers: all but the `library_focus` best retrieved."""
        if not self.settings.library_focus:
            return []
        return hidden_texts(plan.passages, plan.ranked(self.retrieve(query, self.settings.library_focus, mode)))

    def _library_candidates(self, plan: LibraryPlan, shown: list[Passage]):
        """Where an uncited sentence of a library answer may be found: the retrieved passages,
        then the passages most like the sentence itself."""
        def candidates(claim: str) -> list[Passage]:
            found = plan.ranked(self.retrieve(claim, CLAIM_CANDIDATES))
            return list({p.n: p for p in shown + found}.values())

        return candidates

    def _library_messages(self, plan: LibraryPlan, question: str, history: list[dict]) -> tuple[list[dict], int] | None:
        """The prompt with the whole library and its tokens, or None when this question's part does not fit beside it."""
        messages = build_messages(plan.passages, question, history, self.settings.prompts_dir)
        tokens = prompt_size(plan.passages, question, history, self.generator.count_tokens, self.settings.prompts_dir,
                             plan.passage_tokens)
        if tokens + self.settings.max_tokens + PROMPT_MARGIN_TOKENS > plan.n_ctx:
            return None  # a very long question or conversation: retrieved passages leave it room
        return messages, tokens

    def _fit(self, passages: list[Passage], query: str, question: str, history: list[dict]) -> tuple[list[Passage], int]:
        """Retrieved passages, cut to the passage budget and to what fits the context, and the prompt's tokens."""
        budget = self.generator.n_ctx - self.settings.max_tokens - PROMPT_MARGIN_TOKENS

        def messages_for(ps: list[Passage]) -> list[dict]:
            return build_messages(ps, question, history, self.settings.prompts_dir)

        passages = focus_passages(passages, query, self.settings.passage_chars)
        return fit_passages(passages, messages_for, self.generator.count_tokens, budget)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


_sessions: dict[str, RAG] = {}
_sessions_lock = threading.Lock()


def session(settings: Settings | None = None) -> RAG:
    """A shared session per distinct settings, so repeated `ask()` calls reuse loaded models."""
    settings = settings or Settings()
    key = settings.model_dump_json()
    with _sessions_lock:
        if key not in _sessions:
            _sessions[key] = RAG(settings)
        return _sessions[key]


def ask(question: str, history: list[dict] | None = None, settings: Settings | None = None, **options: Any) -> Answer:
    """Answer `question` from the indexed documents, with checked citations."""
    if settings is None:  # fail fast, before loading anything
        defaults = Settings()
        validate_question(question, defaults.max_question_chars)
        validate_history(history, defaults.max_history_turns, defaults.max_history_chars)
    return session(settings).ask(question, history, **options)
