"""From the model's raw answer to the answer shown: check, confirm, second chance, decide.

1. Each sentence is checked against the passages (`rag.cite`); the model then
   confirms each kept sentence against its cited passage (`rag.second_look`).
   A sentence that negates or gives a cause is kept only if the model confirms it.
2. An answer with nothing left (the model refused, or no sentence held) gets a
   second chance: the question again, the retrieved passages named, "copy the
   sentence that answers". It is kept only if it passes the same checks.
3. The calibrated decision (`rag.decide`) weighs the signals and may still refuse.

With `second_look` off (or a backend that gives no probabilities) only the
word-overlap check runs, and the decision falls back to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .cite import REFUSAL, Checked, SentenceCheck, assemble, check_sentences, is_refusal
from .decide import Decision, Signals, decide
from .second_look import SecondLook
from .settings import Settings
from .text import content_words
from .types import Passage

CONFIRM_MIN = 0.5  # P(yes) a negated or causal sentence needs from the model


@dataclass(frozen=True)
class Verdict:
    checked: Checked
    raw: str  # the raw answer the verdict is about: the second chance's when that was kept
    decision: Decision
    second_chance: bool = False

    @property
    def verification(self) -> list[str]:
        return [s.how + ("+model" if s.entailment is not None and s.entailment >= CONFIRM_MIN else "")
                for s in self.checked.sentences if s.supported]


class Verifier:
    def __init__(self, generator, settings: Settings, prompt_passages: list[Passage], question: str,
                 history: list[dict], ranked: list[Passage], candidates: Callable[[str], list[Passage]]):
        self.generator = generator
        self.settings = settings
        self.prompt_passages = prompt_passages  # exactly those in the answer's prompt
        self.question, self.history = question, history
        self.ranked = ranked  # retrieved, best first
        self.candidates = candidates
        self.look = SecondLook(generator, prompt_passages, settings.prompts_dir)

    def verify(self, raw: str) -> Verdict:
        checked, used, second = self._checked(raw), raw, False
        if checked.refused and self.settings.second_look and self.ranked:
            retry = "".join(self.generator.stream(
                self.look.second_chance_messages(self.question, self.history, self.ranked), self.settings.max_tokens))
            retried = self._checked(retry)
            if not retried.refused:
                checked, used, second = retried, retry, True
        if checked.refused:
            reason = "the model found no answer" if is_refusal(used) else "no sentence of the answer is in the passages"
            return Verdict(checked, used, Decision(False, None, reason), second)
        decision = self._decide(checked)
        if not decision.answer:
            checked = Checked(REFUSAL, refused=True, removed=[s.claim for s in checked.sentences],
                              sentences=checked.sentences)
        return Verdict(checked, used, decision, second)

    def _checked(self, raw: str) -> Checked:
        if is_refusal(raw):
            return Checked(REFUSAL, refused=True)
        sentences = check_sentences(raw, self.prompt_passages, self.settings.support_threshold, self.question,
                                    self.candidates)
        if self.settings.second_look:
            sentences = [self._confirm(s) if s.supported else s for s in sentences]
        else:  # no model to vouch for negations and causes: overlap alone may not keep them
            sentences = [replace(s, citations=[], how="unconfirmed") if s.needs_model else s for s in sentences]
        return assemble(sentences)

    def _confirm(self, sentence: SentenceCheck) -> SentenceCheck:
        p = self.look.entailment(sentence.citations[0].n, sentence.claim)
        if sentence.needs_model and (p is None or p < CONFIRM_MIN):
            return replace(sentence, citations=[], how="unconfirmed", entailment=p)
        return replace(sentence, entailment=p)

    def _decide(self, checked: Checked) -> Decision:
        kept = [s for s in checked.sentences if s.supported]
        if not self.settings.second_look:
            return Decision(True, None, "every kept sentence is in its cited passage (no second look)")
        entailments = [s.entailment for s in kept if s.entailment is not None]
        signals = Signals(
            answerable=self.look.answerability(self.question),
            entailment=min(entailments) if entailments else None,
            new_share=new_share(" ".join(s.claim for s in kept), self.question),
            support=min(s.score for s in kept),
        )
        return decide(signals, threshold=self.settings.refusal_threshold)


def new_share(answer: str, question: str) -> float:
    """Share of the answer's content words that the question does not already hold.

    >>> new_share("The capital of France is Paris.", "What is the capital of France?")
    0.3333333333333333
    """
    words = set(content_words(answer))
    return len(words - set(content_words(question))) / len(words) if words else 0.0
