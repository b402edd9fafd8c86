"""What an answer sentence adds beyond its question: new words, quoted terms, restatements.

The citation check scores a sentence on its *new* content words, so these rules
decide what counts as new: a word the question holds in another form
("Syria" for "Syrian") is not; a quoted term or code the question lacks is;
and a sentence with no new word, or one plain word among many, only restates
the question.
"""

from __future__ import annotations

import re

from rag.ingest.text import content_words

RESTATING_SHARE = 0.25  # one plain new word among this many of the claim's words adds nothing
MIN_VARIANT_CHARS = 4  # a stem this long that opens another is the same word in another form
_QUOTED = re.compile(r"`([^`\n]{1,80})`|\"([^\"\n]{1,80})\"|“([^”\n]{1,80})”|‘([^’\n]{1,80})’")


def words_beyond(claim_words: set[str], question_words: frozenset[str] | set[str]) -> set[str]:
    """The claim's content words the question does not hold in any form ("Syria" is in a
    question about a "Syrian leader"), so "Russia helped them stay in power in Syria" adds
    nothing to "Which Syrian leader did Russia help stay in power?".

    >>> sorted(words_beyond({"syria", "assad"}, {"syrian", "leader"}))
    ['assad']
    """
    return claim_words - held(claim_words, question_words)


def claim_news(claim: str, claim_words: set[str], question_words: frozenset[str],
               question_terms: frozenset[str] = frozenset()) -> set[str]:
    """The claim's new content words: those beyond the question in any form, and the words of a
    quoted term or code the question lacks, taken literally (`certifi` is not "certificate")."""
    literal = set(content_words(" ".join(quoted_terms(claim) - question_terms))) - question_words
    return words_beyond(claim_words, question_words) | literal


def held(words: set[str], pool: frozenset[str] | set[str]) -> set[str]:
    """The words that `pool` holds in the same form or another: a stem that opens another
    is the same word ("iraq" and "iraqi", "israel" and "israeli", "power" and "powerful").

    >>> sorted(held({"iraq", "lebanon", "yemen"}, {"iraqi", "yemen", "govern"}))
    ['iraq', 'yemen']
    """
    return {word for word in words if word in pool or any(_same_word(word, other) for other in pool)}


def _same_word(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return len(short) >= MIN_VARIANT_CHARS and long.startswith(short)


def quoted_terms(text: str) -> frozenset[str]:
    """Terms in quotes or inline code, lower case: 'a "Combined Work"', 'the `--no-cache-dir` option'."""
    return frozenset(next(g for g in m.groups() if g).strip().lower() for m in _QUOTED.finditer(text))


def restates(claim: str, claim_words: set[str], new_words: set[str], question_terms: frozenset[str] = frozenset()) -> bool:
    """Does the claim only say the question again? No new word, or a single plain word among many
    ("The Houthi official promised safe passage ... transiting ..." for "Which Houthi official ...?").
    A new name, number, quoted term or code is an answer ("China abstained along with Russia.",
    'The LGPL calls it a "Combined Work".', "The `certifi` package provides it.")."""
    if quoted_terms(claim) - question_terms:
        return False
    if not new_words:
        return True
    if len(new_words) > 1 or len(new_words) / len(claim_words) >= RESTATING_SHARE:
        return False
    (word,) = new_words
    return word not in names_in(claim)


_NAME = re.compile(r"\b(?:[A-Z][\w'’-]*|\d[\d.,]*)")


def names_in(text: str) -> set[str]:
    """The content words of the text's capitalised words and numbers, stemmed."""
    return {stem for token in _NAME.findall(text) if (stem := stem_of(token))}


def question_names(question: str) -> set[str]:
    """The names and numbers a question gives, leaving out each sentence's capitalised first word.

    >>> sorted(question_names("Which Fatah official attended the conference Moscow hosted in 2024?"))
    ['2024', 'fatah', 'moscow']
    """
    first_words = {m.group(1) for m in re.finditer(r"(?:^|[.?!]\s+)([A-Z][\w'’-]*)", question)}
    return names_in(" ".join(t for t in _NAME.findall(question) if t not in first_words))


def stem_of(token: str) -> str:
    found = content_words(token)
    return found[0] if found else ""
