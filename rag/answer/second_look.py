"""A second look at an answer, by the same model, cheap because the passages are already in its cache.

Every prompt here starts with the same system message and passages as the
answer's own prompt, so the model reads only the few tokens after them:

- `entailment`: P(yes) that passage [n] states a claim ("Does passage [4] state that: ...").
- `answerability`: P(yes) that the passages state the answer to the question.
- `second_chance_messages`: the question again, with the retrieved passages named
  and an instruction to answer in one sentence with its passage number (after a refusal).

    >>> look = SecondLook(generator, passages, prompts_dir)
    >>> look.entailment(4, "Clarke directs research at the Soufan Group.")
    0.93
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer.prompts import CHAT_OVERHEAD_TOKENS, PROMPT_MARGIN_TOKENS, build_messages, load_template, render
from rag.types import Passage

if TYPE_CHECKING:
    from rag.answer.generate import Generator


class SecondLook:
    def __init__(self, generator: Generator, passages: list[Passage], prompts_dir: Path):
        self.generator = generator
        self.passages = passages  # exactly those of the answer's prompt: same prefix, cached
        self.prompts_dir = prompts_dir

    def _ask(self, text: str, history: list[dict] | None = None) -> list[dict]:
        return build_messages(self.passages, text, history or [], self.prompts_dir)

    def fits(self, messages: list[dict], max_tokens: int) -> bool:
        """Does this prompt, and `max_tokens` after it, fit the model's context (as the answer's did)?"""
        tokens = sum(self.generator.count_tokens(m["content"]) for m in messages) + CHAT_OVERHEAD_TOKENS
        return tokens + max_tokens + PROMPT_MARGIN_TOKENS <= self.generator.n_ctx

    def _probability(self, template: str, **values: str) -> float | None:
        probe = render(load_template(template, self.prompts_dir), **values).strip()
        messages = self._ask(probe)
        return self.generator.yes_probability(messages) if self.fits(messages, 1) else None

    def entailment(self, n: int, claim: str) -> float | None:
        return self._probability("verify_claim", n=str(n), claim=claim)

    def answerability(self, question: str) -> float | None:
        return self._probability("answerable", question=question)

    def second_chance_messages(self, question: str, history: list[dict], ranked: list[Passage]) -> list[dict]:
        numbers = ", ".join(f"[{p.n}]" for p in ranked)
        text = render(load_template("second_chance", self.prompts_dir), question=question, numbers=numbers,
                      first=str(ranked[0].n) if ranked else "1").strip()
        return self._ask(text, history)
