"""The cross-check: an answer from the whole cached library, weighed against the answer
from the retrieved passages alone, read afresh (`Settings.cross_check`).

The two modes err on different questions (README, Evaluation: a replay of both
modes' runs on the seeds, then this built): from a few passages read afresh the
model refuses what the library only seemed to answer, and names the right one of
two similar facts more often. So the answer is refused when either refused, and
otherwise the one whose cited passages hold more of the question's words is kept,
the library's on a tie.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from rag.answer.prompts import build_messages
from rag.answer.trust import Verdict, Verifier
from rag.settings import Settings
from rag.types import Passage

if TYPE_CHECKING:
    from rag.answer.generate import Generator


def cross_checks(settings: Settings, verdict: Verdict, library_passages: int, retrieved: int) -> bool:
    """Is this answer from the whole library to be weighed against one from the retrieved passages?"""
    return (settings.cross_check and settings.second_look and not verdict.checked.refused
            and 0 < retrieved < library_passages)


def fresh_verdict(generator: Generator, settings: Settings, passages: list[Passage], question: str,
                  history: list[dict]) -> Verdict:
    """The checked answer from `passages` alone, in their own prompt, as `answer_mode=retrieval` answers
    (its second chance and decision included). The caller puts the library back in the cache after."""
    messages = build_messages(passages, question, history, settings.prompts_dir)
    raw = "".join(generator.stream(messages, settings.max_tokens))
    return Verifier(generator, settings, passages, question, history, passages, lambda claim: passages).verify(raw)


def cross_checked(first: Verdict, fresh: Verdict, coverage: Callable[[set[int]], float]) -> Verdict:
    """`first` (from the whole library) or `fresh`, or a refusal; `coverage` scores cited passage numbers."""
    if first.checked.refused:
        return first
    if fresh.checked.refused:
        reason = f"from the retrieved passages alone the answer was refused ({fresh.decision.reason})"
        return Verdict(first.checked.withheld(), fresh.raw, replace(first.decision, answer=False, reason=reason))
    if coverage(fresh.checked.cited) > coverage(first.checked.cited):
        return replace(fresh, decision=replace(fresh.decision, reason=fresh.decision.reason
                                               + "; from the retrieved passages alone, whose cited passages hold "
                                               "more of the question's words"))
    return first

