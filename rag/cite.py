"""Check the model's [n] citations against the passages; never trust them.

A citation [n] on an answer sentence is kept only when passage n was
retrieved and the sentence can be located in it: verbatim (ignoring case and
typographic quotes), or as a passage window (one or two sentences) that holds
at least `threshold` of the sentence's content words. A kept citation points
at that window with exact offsets into the source file.

    check("Clarke works at the Soufan Group [1].", passages)
    -> Checked(text="Clarke works at the Soufan Group [1].", citations=[Citation(1, "a.txt", 120, 260, "...")], ...)

Sentences the model left uncited get a citation only when some passage
supports them clearly (a stricter threshold). An answer with no kept citation
becomes a refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import content_words, sentence_spans
from .types import Citation, Passage

REFUSAL = "The documents do not say."
_MARKERS = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_REFUSAL_HINTS = re.compile(
    r"documents? do(?:es)? not (?:say|mention|contain|provide|specify)|not (?:mentioned|stated|specified) in the"
    r"|(?:passages?|text|context) do(?:es)? not (?:say|mention|contain|provide|specify)|no information",
    re.IGNORECASE,
)
# "does not", "never", "isn't": a claim that negates must be backed by a window that negates too.
_NEGATION = re.compile(r"\b(?:not|no|never|nor|neither|none|cannot)\b|n['’]t\b", re.IGNORECASE)
_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-"})
UNCITED_BONUS = 0.1  # how much stronger support must be for a sentence the model did not cite
MIN_CLAIM_COVER = 0.3  # a supporting window holds at least this share of all the claim's words


@dataclass(frozen=True)
class Checked:
    text: str
    citations: list[Citation] = field(default_factory=list)
    grounding: float = 0.0
    refused: bool = False


@dataclass(frozen=True)
class _Sentence:
    claim: str  # the sentence without its markers
    cited: list[int]  # passage numbers the model wrote, in order


def split_answer(raw: str) -> list[_Sentence]:
    """Answer sentences with their [n] markers; markers that open a sentence belong
    to the one before ("... Group. [1] He said" -> [1] backs the first sentence)."""
    sentences: list[_Sentence] = []
    for start, end in sentence_spans(raw.strip()):
        piece = raw.strip()[start:end]
        leading = re.match(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+", piece)
        if leading and sentences:
            prev = sentences[-1]
            sentences[-1] = _Sentence(prev.claim, prev.cited + _numbers(leading.group()))
            piece = piece[leading.end() :]
        claim = strip_markers(piece).strip()
        if claim or _numbers(piece):
            sentences.append(_Sentence(claim, _numbers(piece)))
    return [s for s in sentences if s.claim]


def _numbers(text: str) -> list[int]:
    found = [int(n) for group in _MARKERS.findall(text) for n in re.findall(r"\d+", group)]
    return list(dict.fromkeys(found))


def _windows(text: str) -> list[tuple[int, int]]:
    """Single sentences and adjacent pairs of a passage, as (start, end)."""
    spans = sentence_spans(text)
    return spans + [(a[0], b[1]) for a, b in zip(spans, spans[1:])]


def support(claim: str, passage: Passage, question_words: frozenset[str] = frozenset()) -> tuple[float, int, int]:
    """(score, start, end) of the passage window that best supports `claim`.

    The score is the share of the claim's *new* content words (those not
    already in the question) found in the window, so restating the question
    earns nothing: "The capital of France is Paris" is scored on "paris"
    alone. The window must also hold at least MIN_CLAIM_COVER of all the
    claim's words. Offsets are relative to the passage text; a verbatim (case-
    and quote-insensitive) occurrence scores 1.0 and is returned exactly.
    """
    haystack = passage.text.translate(_FOLD).lower()
    needle = claim.rstrip(".!? ").translate(_FOLD).lower()
    if len(needle) >= 12 and len(haystack) == len(passage.text) and (at := haystack.find(needle)) >= 0:
        return 1.0, at, at + len(needle)
    claim_words = set(content_words(claim))
    new_words = claim_words - question_words or claim_words
    if not claim_words:
        return 0.0, 0, 0
    best = (0.0, 0, 0)
    negated = bool(_NEGATION.search(claim))
    for start, end in _windows(passage.text):
        if negated and not _NEGATION.search(passage.text[start:end]):
            continue  # "It does not open on weekdays" is contradicted, not backed, by "It opens on weekdays"
        window = set(content_words(passage.text[start:end]))
        if len(claim_words & window) < MIN_CLAIM_COVER * len(claim_words):
            continue
        score = len(new_words & window) / len(new_words)
        if score > best[0] or (score == best[0] and end - start < best[2] - best[1]):
            best = (score, start, end)
    return best


def _citation(passage: Passage, start: int, end: int) -> Citation:
    return Citation(passage.n, passage.source, passage.start + start, passage.start + end, passage.text[start:end])


def _cite_sentence(
    sentence: _Sentence, passages: dict[int, Passage], threshold: float, question_words: frozenset[str]
) -> list[Citation]:
    kept = []
    for n in sentence.cited:
        if n in passages:
            score, start, end = support(sentence.claim, passages[n], question_words)
            if score >= threshold:
                kept.append(_citation(passages[n], start, end))
    if kept or sentence.cited and not _worth_rescuing(sentence):
        return kept
    # Uncited (or wrongly cited) sentence: cite the passage that clearly supports it, if any.
    scored = [(support(sentence.claim, p, question_words), p) for p in passages.values()]
    (score, start, end), passage = max(scored, key=lambda item: item[0][0], default=((0.0, 0, 0), None))
    if passage is not None and score >= min(1.0, threshold + UNCITED_BONUS):
        return [_citation(passage, start, end)]
    return []


def _worth_rescuing(sentence: _Sentence) -> bool:
    return len(set(content_words(sentence.claim))) >= 2


def _with_markers(claim: str, numbers: list[int]) -> str:
    if not numbers:
        return claim
    marks = "".join(f"[{n}]" for n in numbers)
    if claim[-1:] in ".!?":
        return f"{claim[:-1]} {marks}{claim[-1]}"
    return f"{claim} {marks}"


def strip_markers(text: str) -> str:
    """'Clarke is at Soufan [1][2].' -> 'Clarke is at Soufan.'"""
    return _MARKERS.sub("", text)


def is_refusal(raw: str) -> bool:
    """Did the model itself say the documents do not answer?"""
    return not raw.strip() or bool(_REFUSAL_HINTS.search(raw))


def check(raw: str, passages: list[Passage], threshold: float = 0.6, question: str = "") -> Checked:
    """Verify the citations of a raw model answer; see the module docstring."""
    question_words = frozenset(content_words(question))
    if is_refusal(raw):
        return Checked(REFUSAL, refused=True)
    by_number = {p.n: p for p in passages}
    sentences = split_answer(raw)
    citations: list[Citation] = []
    parts, grounded, counted = [], 0, 0
    for sentence in sentences:
        kept = _cite_sentence(sentence, by_number, threshold, question_words)
        citations.extend(kept)
        parts.append(_with_markers(sentence.claim, list(dict.fromkeys(c.n for c in kept))))
        if content_words(sentence.claim):
            counted += 1
            grounded += bool(kept)
    if not citations:
        return Checked(REFUSAL, refused=True)
    return Checked(" ".join(parts), citations, grounded / counted if counted else 0.0)
