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

import re
from dataclasses import replace

from rag.ingest.sentences import sentence_spans
from rag.ingest.text import content_words
from rag.types import Passage


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
    """(start, end) of the window of at most `max_chars` holding the most `wanted` words:
    a run of whole sentences, or a cut of one sentence that is longer than the budget.
    On a tie the earliest run of whole sentences wins (chunks open with their main sentence)."""
    spans = sentence_spans(text)
    windows = []
    for i, (start, _) in enumerate(spans):
        for _, end in spans[i:]:
            if end - start > max_chars:
                break
            windows.append((start, end))
    windows += [_best_cut(text, start, end, wanted, max_chars) for start, end in spans if end - start > max_chars]
    if not windows:
        return 0, min(len(text), max_chars)
    return max(windows, key=lambda w: _score(text[w[0] : w[1]], wanted))


def _score(text: str, wanted: set[str]) -> int:
    return len(wanted & set(content_words(text)))


def _best_cut(text: str, start: int, end: int, wanted: set[str], max_chars: int) -> tuple[int, int]:
    """The `max_chars` window of text[start:end], between word boundaries, with the most wanted
    words; of the equally good ones the middle one, so the words around them are kept too."""
    cuts = []
    for word in re.finditer(r"\S+", text[start:end]):
        left = start + word.start()
        right = min(end, left + max_chars)
        if right < end:  # end on a word boundary
            space = text.rfind(" ", left, right + 1)
            right = space if space > left else right
        cuts.append((_score(text[left:right], wanted), left, right))
    top = max(score for score, _, _ in cuts)
    best = [(left, right) for score, left, right in cuts if score == top]
    return best[len(best) // 2]
