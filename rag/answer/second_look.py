"""A second look at an answer, by the same model, cheap because the passages are already in its cache.

Every prompt here starts with the same system message and passages as the
answer's own prompt, so the model reads only the few tokens after them:

- `entailment`: P(yes) that passage [n] states a claim ("Does passage [4] state that: ...").
- `answerability`: P(yes) that the passages state the answer to the question.
- `second_chance_text`: the question again, with the retrieved passages named
  and an instruction to answer in one sentence with its passage number (after a refusal).

    >>> look = SecondLook(generator, passages, prompts_dir)
    >>> look.entailment(4, "Clarke directs research at the Soufan Group.")
    0.93
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer.prompts import PROMPT_MARGIN_TOKENS, build_messages, load_template, prompt_size, render
from rag.types import Passage

if TYPE_CHECKING:
    from rag.answer.generate import Generator


class SecondLook:
    def __init__(self, generator: Generator, passages: list[Passage], prompts_dir: Path,
                 passage_tokens: int | None = None):
        self.generator = generator
        self.passages = passages  # exactly those of the answer's prompt: same prefix, cached
        self.prompts_dir = prompts_dir
        self.passage_tokens = passage_tokens  # their count, when known (the cached library's)

    def ask(self, text: str, history: list[dict] | None = None) -> list[dict]:
        """The prompt asking `text` after the answer's passages (and conversation)."""
        return build_messages(self.passages, text, history or [], self.prompts_dir)

    def fits(self, text: str, history: list[dict], max_tokens: int) -> bool:
        """Does asking `text`, and `max_tokens` after it, fit the model's context (as the answer's did)?"""
        tokens = prompt_size(self.passages, text, history, self.generator.count_tokens, self.prompts_dir,
                             self.passage_tokens)
        return tokens + max_tokens + PROMPT_MARGIN_TOKENS <= self.generator.n_ctx

    def _probability(self, template: str, **values: str) -> float | None:
        probe = render(load_template(template, self.prompts_dir), **values).strip()
        return self.generator.yes_probability(self.ask(probe)) if self.fits(probe, [], 1) else None

    def entailment(self, n: int, claim: str) -> float | None:
        return self._probability("verify_claim", n=str(n), claim=claim)

    def answerability(self, question: str) -> float | None:
        return self._probability("answerable", question=question)

    def second_chance_text(self, question: str, ranked: list[Passage]) -> str:
        numbers = ", ".join(f"[{p.n}]" for p in ranked)
        return render(load_template("second_chance", self.prompts_dir), question=question, numbers=numbers,
                      first=str(ranked[0].n) if ranked else "1").strip()
