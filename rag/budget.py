"""The passage budget: shorter passages, so the model starts answering sooner.

On a CPU, reading the prompt is most of the wait for the first word. With
`passage_chars` set, each retrieved passage is cut down to the run of whole
sentences (at most that many characters) sharing the most words with the
question. Offsets move with the text, so citations stay exact:

    >>> p = Passage(1, "c1", "a.txt", 100, 139, "Cats purr. Dogs bark loudly. Fish swim.")
    >>> focus(p, "Why do dogs bark?", 20)
    Passage(n=1, chunk_id='c1', source='a.txt', start=111, end=128, text='Dogs bark loudly.', score=0.0)
"""

from __future__ import annotations

from dataclasses import replace

from .text import content_words, sentence_spans
from .types import Passage


def focus_passages(passages: list[Passage], question: str, max_chars: int | None) -> list[Passage]:
    """Each passage cut to its best window of at most `max_chars` (None: unchanged)."""
    if max_chars is None:
        return passages
    wanted = set(content_words(question))
    return [_focus(p, wanted, max_chars) for p in passages]


def focus(passage: Passage, question: str, max_chars: int) -> Passage:
    return _focus(passage, set(content_words(question)), max_chars)


def _focus(passage: Passage, wanted: set[str], max_chars: int) -> Passage:
    if len(passage.text) <= max_chars:
        return passage
    start, end = best_window(passage.text, wanted, max_chars)
    return replace(passage, text=passage.text[start:end], start=passage.start + start, end=passage.start + end)


def best_window(text: str, wanted: set[str], max_chars: int) -> tuple[int, int]:
    """(start, end) of the run of whole sentences, at most `max_chars` long, holding the
    most `wanted` words (the earliest on a tie: chunks open with their main sentence)."""
    spans = sentence_spans(text)
    best, best_score = None, -1
    for i, (first_start, _) in enumerate(spans):
        for j in range(i, len(spans)):
            if spans[j][1] - first_start > max_chars:
                break
            score = len(wanted & set(content_words(text[first_start : spans[j][1]])))
            if score > best_score:
                best, best_score = (first_start, spans[j][1]), score
    if best is None and spans:  # no sentence is short enough: cut the best one at a word boundary
        first_start, first_end = max(spans, key=lambda s: len(wanted & set(content_words(text[s[0]:s[1]]))))
        cut = text.rfind(" ", first_start, first_start + max_chars)
        best = (first_start, cut if cut > first_start else first_start + max_chars)
    return best or (0, min(len(text), max_chars))
