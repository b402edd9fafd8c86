"""Check the model's answer sentence by sentence against the passages; never trust its [n].

A sentence keeps a citation [n] only when passage n holds it: verbatim
(ignoring case and typographic quotes), or as a window of one or two passage
sentences that holds at least `threshold` of the sentence's *new* content words
(those not already in the question: restating the question earns nothing).
Word overlap never vouches alone for a claim that negates or gives a cause:
such sentences are marked `needs_model`, for the model's own yes/no check.

    check("Clarke works at the Soufan Group [1].", passages)
    -> Checked(text="Clarke works at the Soufan Group [1].", citations=[Citation(1, "a.txt", 120, 260, "...")], ...)

A sentence the model left uncited (or cited wrongly) is matched against the
`candidates` passages with a stricter threshold. A sentence that no passage
holds is removed from the answer whole (listed in `removed`); remarks about the
passages ("His age is not mentioned") are removed too. An answer with no
supported sentence becomes the refusal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rag.answer.novelty import claim_news, quoted_terms, restates
from rag.ingest.sentences import sentence_spans
from rag.ingest.text import TYPOGRAPHY as _FOLD
from rag.ingest.text import content_words
from rag.types import Citation, Passage

REFUSAL = "The documents do not say."
_MARKERS = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_REFUSAL_HINTS = re.compile(
    r"documents? do(?:es)? not (?:say|mention|contain|provide|specify|state)|not (?:mentioned|stated|specified|provided|given) in"
    r"|(?:passages?|text|context|articles?) do(?:es)? not (?:say|mention|contain|provide|specify|state)|no information"
    r"|(?:is|are) not (?:mentioned|stated|specified|given)\b",
    re.IGNORECASE,
)
# "does not", "never", "isn't": the words a negation governs must be negated in the window too.
_NEGATION = re.compile(r"\b(?:not|no|never|nor|neither|none|cannot|without)\b|n['’]t\b", re.IGNORECASE)
_CAUSAL = re.compile(
    r"\b(?:because|due to|owing to|as a result|therefore|thus|hence|so that|in order to|reasons?|caused?|leads? to|led to)\b",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[,;:.!?]")
NEGATION_SCOPE = 4  # content words after a negation that it governs
UNCITED_BONUS = 0.1  # how much stronger support must be for a sentence the model did not cite
MIN_CLAIM_COVER = 0.3  # a supporting window holds at least this share of all the claim's words


@dataclass(frozen=True)
class SentenceCheck:
    """One answer sentence and what the check found for it."""

    claim: str  # the sentence without its markers
    cited: list[int]  # passage numbers the model wrote
    citations: list[Citation] = field(default_factory=list)  # verified ones
    score: float = 0.0  # support of the best citation (1.0: verbatim)
    how: str = "unsupported"  # verbatim | words | unsupported | remark | unconfirmed (the model said no)
    needs_model: bool = False  # negates or gives a cause: overlap alone does not vouch for it
    entailment: float | None = None  # the model's P(yes) that its passage states it, once asked

    @property
    def supported(self) -> bool:
        return bool(self.citations)


@dataclass(frozen=True)
class Checked:
    text: str
    citations: list[Citation] = field(default_factory=list)
    grounding: float = 0.0  # share of the model's sentences that were verified
    refused: bool = False
    removed: list[str] = field(default_factory=list)  # sentences taken out, whole
    sentences: list[SentenceCheck] = field(default_factory=list)

    @property
    def cited(self) -> set[int]:
        """The passage numbers the kept sentences cite."""
        return {c.n for c in self.citations}

    def withheld(self) -> Checked:
        """The refusal that replaces this answer, every sentence of it recorded as removed."""
        return Checked(REFUSAL, refused=True, removed=[s.claim for s in self.sentences], sentences=self.sentences)


@dataclass(frozen=True)
class _Sentence:
    claim: str
    cited: list[int]


def split_answer(raw: str) -> list[_Sentence]:
    """Answer sentences with their [n] markers; markers that open a sentence belong
    to the one before ("... Group. [1] He said" -> [1] backs the first sentence)."""
    sentences: list[_Sentence] = []
    text = raw.strip()
    for start, end in sentence_spans(text):
        piece = text[start:end]
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


def negated_words(text: str) -> set[str]:
    """Content words a negation governs: the next few in its clause.

    >>> sorted(negated_words("It opens on weekdays, not on holidays."))
    ['holiday']
    """
    governed: set[str] = set()
    for match in _NEGATION.finditer(text):
        clause = _CLAUSE_END.split(text[match.end() :], maxsplit=1)[0]
        governed.update(content_words(clause)[:NEGATION_SCOPE])
    return governed


def _polarity_agrees(claim_negated: set[str], claim_words: set[str], window: str) -> bool:
    """A negated claim needs the window to negate the same words; a plain claim must not
    be one the window negates ("X opens on holidays" against "X opens, not on holidays")."""
    window_negated = negated_words(window)
    if claim_negated:
        return bool(claim_negated & window_negated)
    return not (window_negated & claim_words)


def support(claim: str, passage: Passage, question_words: frozenset[str] = frozenset(),
            question_terms: frozenset[str] = frozenset()) -> tuple[float, int, int]:
    """(score, start, end) of the passage window that best supports `claim`.

    The score is the share of the claim's new content words (not in the question)
    found in the window; a claim with none earns 0. The window must also hold
    MIN_CLAIM_COVER of all the claim's words and agree with its negations.
    Offsets are relative to the passage text; a verbatim (case- and
    quote-insensitive) occurrence scores 1.0 and is returned exactly.
    """
    claim_words = set(content_words(claim))
    new_words = claim_news(claim, claim_words, question_words, question_terms)
    if restates(claim, claim_words, new_words, question_terms):
        return 0.0, 0, 0
    scored_words = new_words or claim_words  # a new quoted term made of the question's words
    haystack = passage.text.translate(_FOLD).lower()
    needle = claim.rstrip(".!? ").translate(_FOLD).lower()
    if len(needle) >= 12 and len(haystack) == len(passage.text) and (at := haystack.find(needle)) >= 0:
        return 1.0, at, at + len(needle)
    claim_negated = negated_words(claim)
    best = (0.0, 0, 0)
    for start, end in _windows(passage.text):
        window_text = passage.text[start:end]
        window = set(content_words(window_text))
        if len(claim_words & window) < MIN_CLAIM_COVER * len(claim_words):
            continue
        if not _polarity_agrees(claim_negated, claim_words, window_text):
            continue
        score = len(scored_words & window) / len(scored_words)
        if score > best[0] or (score == best[0] and end - start < best[2] - best[1]):
            best = (score, start, end)
    return best


def _citation(passage: Passage, start: int, end: int) -> Citation:
    return Citation(passage.n, passage.source, passage.start + start, passage.start + end, passage.text[start:end])


def check_sentence(
    sentence: _Sentence, passages: dict[int, Passage], threshold: float, question_words: frozenset[str],
    candidates: list[Passage], question_terms: frozenset[str] = frozenset(),
) -> SentenceCheck:
    needs_model = bool(_NEGATION.search(sentence.claim) or _CAUSAL.search(sentence.claim))
    result = SentenceCheck(sentence.claim, sentence.cited, needs_model=needs_model)
    if _REFUSAL_HINTS.search(sentence.claim):
        return replace(result, how="remark")
    kept, best = [], 0.0
    for n in sentence.cited:
        if n in passages:
            score, start, end = support(sentence.claim, passages[n], question_words, question_terms)
            if score >= threshold:
                kept.append(_citation(passages[n], start, end))
                best = max(best, score)
    if not kept and len(set(content_words(sentence.claim))) >= 2:
        # Uncited (or wrongly cited): cite the candidate passage that clearly holds it, if any.
        scored = [(support(sentence.claim, p, question_words, question_terms), p) for p in candidates]
        (score, start, end), passage = max(scored, key=lambda item: item[0][0], default=((0.0, 0, 0), None))
        if passage is not None and score >= min(1.0, threshold + UNCITED_BONUS):
            kept, best = [_citation(passage, start, end)], score
    if not kept:
        return result
    verbatim = all(_fold(c.quote) == _fold(strip_markers(sentence.claim)) for c in kept)
    return replace(result, citations=kept, score=best, how="verbatim" if verbatim else "words")


def _fold(text: str) -> str:
    return " ".join(text.translate(_FOLD).lower().rstrip(".!? ").split())


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
    """Did the model itself say the documents do not answer (and nothing else)?"""
    sentences = split_answer(raw)
    return not sentences or all(_REFUSAL_HINTS.search(s.claim) for s in sentences)


def assemble(sentences: list[SentenceCheck]) -> Checked:
    """The answer from its checked sentences: supported ones with their markers, the rest removed whole."""
    kept = [s for s in sentences if s.supported]
    counted = [s for s in sentences if s.how != "remark" and content_words(s.claim)]
    removed = [s.claim for s in sentences if not s.supported]
    if not kept:
        return Checked(REFUSAL, refused=True, removed=removed, sentences=sentences)
    text = " ".join(_with_markers(s.claim, list(dict.fromkeys(c.n for c in s.citations))) for s in kept)
    citations = [c for s in kept for c in s.citations]
    grounding = sum(s in kept for s in counted) / len(counted) if counted else 0.0
    return Checked(text, citations, grounding, False, removed, sentences)


def check_sentences(
    raw: str, passages: list[Passage], threshold: float = 0.6, question: str = "",
    candidates: Callable[[str], list[Passage]] | None = None,
) -> list[SentenceCheck]:
    """Each sentence of a raw answer, checked; see the module docstring.

    `candidates(claim)`: the passages an uncited sentence may be matched against
    (default: all of `passages`; with the whole library in the prompt, the
    retrieved ones and those most like the claim).
    """
    question_words = frozenset(content_words(question))
    by_number = {p.n: p for p in passages}
    find = candidates or (lambda claim: passages)
    terms = quoted_terms(question)
    return [check_sentence(s, by_number, threshold, question_words, find(s.claim), terms) for s in split_answer(raw)]


def check(
    raw: str, passages: list[Passage], threshold: float = 0.6, question: str = "",
    candidates: Callable[[str], list[Passage]] | None = None,
) -> Checked:
    """Verify a raw model answer on word overlap alone (no model at hand); see the module docstring."""
    if is_refusal(raw):
        return Checked(REFUSAL, refused=True)
    return assemble(check_sentences(raw, passages, threshold, question, candidates))


def shown_with_cited(shown: list[Passage], all_passages: list[Passage], checked: Checked) -> list[Passage]:
    """The retrieved passages, best first, then any other passage a kept citation points at."""
    numbers = {p.n for p in shown}
    cited = [p for p in all_passages if p.n in checked.cited and p.n not in numbers]
    return shown + cited
