"""From the model's raw answer to the answer shown: check, confirm, second chance, decide.

1. Each sentence is checked against the passages (`rag.answer.cite`). A sentence that
   negates or gives a cause is kept only if the model, asked (`rag.answer.second_look`),
   confirms its cited passage states it.
2. The model is asked whether the passages state the answer at all.
3. An answer with nothing left (the model refused, or no sentence held) gets a
   second chance, when the decision could still take an answer: the question
   again with the retrieved passages named, answered in one sentence with its
   passage number. It is kept only if it passes the same checks.
4. With the whole library in the prompt, an answer (the first or the second chance's)
   whose cited passages hold fewer of the question's words than one of those retrieval
   ranks first (often the right kind of fact from the wrong passage: another speaker,
   another outlet) gets a focused second chance: the same question, with only the
   FOCUSED_PASSAGES best-ranked passages visible. It replaces the answer only if it
   passes the same checks and its cited passages hold more of the question's words.
   A refusal whose second chance refused too gets the same focused chance; its answer is
   kept only if its cited passages also hold every name and number the question gives.
5. The calibrated decision (`rag.answer.decide`) weighs the signals and may still refuse.
6. With `cross_check`, the pipeline weighs an answer from the whole library against the
   answer from the retrieved passages alone, read afresh (`rag.answer.cross_check`).

With `second_look` off only the word-overlap check runs: negated and causal
sentences are then never kept, and nothing else is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from rag.answer.cite import REFUSAL, Checked, SentenceCheck, assemble, check_sentences, is_refusal
from rag.answer.decide import Decision, Model, Signals, calibrated_for, decide
from rag.answer.novelty import held, question_names, words_beyond
from rag.answer.prompts import hidden_texts
from rag.answer.second_look import SecondLook
from rag.ingest.text import content_words
from rag.settings import Settings
from rag.types import Passage

if TYPE_CHECKING:
    from rag.answer.generate import Generator

CONFIRM_MIN = 0.5  # P(yes) a negated or causal sentence needs from the model
# What a focused second chance sees: the passages retrieval ranks first (measured on the
# seeds: seeing 3 fixed more answers than seeing 1; README, Evaluation).
FOCUSED_PASSAGES = 3


@dataclass(frozen=True)
class Verdict:
    checked: Checked
    raw: str  # the raw answer the verdict is about: the second chance's when that was kept
    decision: Decision

    @property
    def verification(self) -> list[str]:
        return [s.how + ("+model" if s.entailment is not None and s.entailment >= CONFIRM_MIN else "")
                for s in self.checked.sentences if s.supported]


class Verifier:
    def __init__(self, generator: Generator, settings: Settings, prompt_passages: list[Passage], question: str,
                 history: list[dict], ranked: list[Passage], candidates: Callable[[str], list[Passage]],
                 passage_tokens: int | None = None):
        self.generator = generator
        self.settings = settings
        self.prompt_passages = prompt_passages  # exactly those in the answer's prompt
        self.question, self.history = question, history
        self.ranked = ranked  # retrieved, best first
        self.candidates = candidates
        self.look = SecondLook(generator, prompt_passages, settings.prompts_dir, passage_tokens)

    def verify(self, raw: str) -> Verdict:
        checked = self._checked(raw)
        if not self.settings.second_look:
            if checked.refused:
                return Verdict(checked, raw, Decision(False, None, _refusal_reason(raw)))
            return Verdict(checked, raw, Decision(True, None, "every kept sentence is in its cited passage (no second look)"))
        used, focused = raw, False
        if checked.refused and self.ranked:
            found = self._retried()
            if found is None and self._whole_library:
                found = self._retried(focused=True)
                found = found if found is not None and self._names_held(found[0]) else None
                focused = found is not None
            if found is not None:
                checked, used = found
        if not focused and self._top_passage_holds_more(checked):
            found = self._retried(focused=True)
            if found is not None and self.coverage(found[0].cited) > self.coverage(checked.cited):
                checked, used = found
        if checked.refused:
            return Verdict(checked, used, Decision(False, None, _refusal_reason(used)))
        decision = self._decide(self._signals(checked))
        if not decision.answer:
            checked = checked.withheld()
        return Verdict(checked, used, decision)

    def _retried(self, focused: bool = False) -> tuple[Checked, str] | None:
        """The second chance, checked, with its raw text; None when not asked or refused."""
        retry = self._second_chance(focused)
        if retry is None:
            return None
        retried = self._checked(retry)
        return None if retried.refused else (retried, retry)

    def _second_chance(self, focused: bool = False) -> str | None:
        """The model's answer with the retrieved passages named, or (`focused`) to the question
        itself with only the best-ranked passages visible; None when it would not be used."""
        if focused:
            text, hide = self.question, hidden_texts(self.prompt_passages, self.ranked[:FOCUSED_PASSAGES])
        else:
            text, hide = self.look.second_chance_text(self.question, self.ranked), []
        if not self.look.fits(text, self.history, self.settings.max_tokens) or not self._could_answer():
            return None
        return "".join(self.generator.stream(self.look.ask(text, self.history), self.settings.max_tokens, hide=hide))

    def _top_passage_holds_more(self, checked: Checked) -> bool:
        """Does one of the passages a focused answer would see hold more of the question's words
        than all those an answer from the whole library cites (else a focused answer, which
        mostly cites one passage, is unlikely to be kept)? With retrieved passages in the
        prompt, the answer already saw only those."""
        if checked.refused or not self._whole_library:
            return False
        cited = self.coverage(checked.cited)
        return any(self.coverage({p.n}) > cited for p in self.ranked[:FOCUSED_PASSAGES])

    @property
    def _whole_library(self) -> bool:
        """Did the answer see more than the retrieved passages (the whole library), so that
        hiding all but the best-ranked ones shows the model something new?"""
        return bool(self.ranked) and len(self.prompt_passages) > len(self.ranked)

    def _names_held(self, checked: Checked) -> bool:
        """Do the cited passages hold every name and number the question gives? Asked of an answer
        found only once the model, seeing the whole library, had refused twice: such an answer
        is often about the wrong one of two things (a Houthi official for "Which Fatah official")."""
        names = question_names(self.question)
        cited_words = {w for p in self.prompt_passages if p.n in checked.cited for w in content_words(p.text)}
        return held(names, cited_words) == names

    def coverage(self, numbers: set[int]) -> float:
        """Share of the question's content words that passages `numbers` hold, in any form."""
        asked = set(content_words(self.question))
        held_words = {w for p in self.prompt_passages if p.n in numbers for w in content_words(p.text)}
        return len(held(asked, held_words)) / len(asked) if asked else 0.0

    @cached_property
    def answerable(self) -> float | None:
        """The model's P(yes) that the passages state the answer (asked once per question)."""
        return self.look.answerability(self.question)

    def _could_answer(self) -> bool:
        """Would the decision take even a fully supported answer? If not, a second chance is wasted."""
        if self._model is None:
            return True
        best_case = Signals(answerable=self.answerable, entailment=1.0, new_share=1.0, support=1.0)
        return self._decide(best_case).answer

    @cached_property
    def _model(self) -> Model | None:
        return calibrated_for(self.settings.model)

    def _decide(self, signals: Signals) -> Decision:
        if self._model is None:  # nothing calibrated for this model: the checks alone decide
            return Decision(True, None, f"the checks kept it (no decision calibrated for {self.settings.model})",
                            asdict(signals))
        return decide(signals, self._model, threshold=self.settings.refusal_threshold)

    def _checked(self, raw: str) -> Checked:
        if is_refusal(raw):
            return Checked(REFUSAL, refused=True)
        sentences = check_sentences(raw, self.prompt_passages, self.settings.support_threshold, self.question,
                                    self.candidates)
        return assemble([self._confirm(s) if s.supported and s.needs_model else s for s in sentences])

    def _confirm(self, sentence: SentenceCheck) -> SentenceCheck:
        """Word overlap does not vouch for a negation or a cause: the model must say yes."""
        p = self.look.entailment(sentence.citations[0].n, sentence.claim) if self.settings.second_look else None
        if p is None or p < CONFIRM_MIN:
            return replace(sentence, citations=[], how="unconfirmed", entailment=p)
        return replace(sentence, entailment=p)

    def _signals(self, checked: Checked) -> Signals:
        kept = [s for s in checked.sentences if s.supported]
        entailments = [s.entailment for s in kept if s.entailment is not None]
        return Signals(
            answerable=self.answerable,
            entailment=min(entailments) if entailments else None,
            new_share=new_share(" ".join(s.claim for s in kept), self.question),
            support=min(s.score for s in kept),
        )


def _refusal_reason(raw: str) -> str:
    return "the model found no answer" if is_refusal(raw) else "no sentence of the answer is in the passages"


def new_share(answer: str, question: str) -> float:
    """Share of the answer's content words that the question does not already hold.

    >>> new_share("The capital of France is Paris.", "What is the capital of France?")
    0.3333333333333333
    """
    words = set(content_words(answer))
    return len(words_beyond(words, set(content_words(question)))) / len(words) if words else 0.0
