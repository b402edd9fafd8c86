"""Words for matching: normalization, stopwords and stems shared by BM25 and the citation check.

    >>> content_words("The Huthis’ ships")
    ['huthi', 'ship']

Sentences are split in `rag.ingest.sentences`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

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
# Typographic quotes and dashes to their plain forms, one character for one, so that a
# folded text keeps the offsets of the original (the citation check relies on that).
TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-"})


def normalize(text: str) -> str:
    """Fold case, quotes, dashes and accents so that matching ignores typography."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.translate(TYPOGRAPHY)
    return text.lower()


def words(text: str) -> list[str]:
    """Normalized word tokens: 'Russia’s U.S.-made drones' -> ['russia's', 'u', 's', 'made', 'drones']."""
    return _WORD.findall(normalize(text))


@lru_cache(maxsize=1)
def stemmer() -> Any:
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
