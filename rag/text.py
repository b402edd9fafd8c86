"""Small text helpers shared by the chunker and the citation checker.

    >>> sentence_spans("Hi there. U.S. forces left.")
    [(0, 9), (10, 28)]
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space, or at a newline.
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*(?=\s)|\n")
# Words before a period that do not end a sentence ("U.S. forces", "Mr. Putin").
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "no", "vol", "gen", "col", "lt", "sen", "rep", "jr"}

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    said says say according documents document passage passages text article""".split()
)


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` closes an abbreviation, not a sentence."""
    word = re.search(r"([^\W\d_]+)$", text[max(0, dot - 12) : dot])
    if not word:
        return False
    token = word.group(1)
    # "U.S." / "U.N.": a single letter before the period, preceded by a period.
    if len(token) == 1 and dot >= 2 and text[dot - 2] == ".":
        return True
    if len(token) == 1 and token.isupper():
        return True
    return token.lower() in _ABBREVIATIONS


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, surrounding whitespace excluded."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.group() != "\n" and _is_abbreviation(text, match.start()):
            continue
        _append_trimmed(text, start, match.end(), spans)
        start = match.end()
    _append_trimmed(text, start, len(text), spans)
    return spans


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def normalize(text: str) -> str:
    """Fold case, quotes, dashes and accents so that matching ignores typography."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-"}))
    return text.lower()


def words(text: str) -> list[str]:
    """Normalized word tokens: 'Russia’s U.S.-made drones' -> ['russia's', 'u', 's', 'made', 'drones']."""
    return _WORD.findall(normalize(text))


@lru_cache(maxsize=1)
def stemmer():
    import Stemmer  # PyStemmer: the Snowball English stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball stem without possessives: "boosted" -> "boost", "Huthis'" -> "huthi"."""
    for suffix in ("'s", "s'", "'"):
        if word.endswith(suffix):
            word = word[: -len(suffix)]
    return stemmer().stemWord(word)


def content_words(text: str) -> list[str]:
    """Stemmed words that carry meaning (stopwords and 1-letter tokens dropped)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]
