"""The one sentence splitter: chunking, the passage budget and the citation check all use it.

    >>> text = "U.S. forces left. The MPL, v. 2.0, is stewarded by Mozilla.\\n# Terms\\n- No. 5 applies"
    >>> [text[s:e] for s, e in sentence_spans(text)]
    ['U.S. forces left.', 'The MPL, v. 2.0, is stewarded by Mozilla.', '# Terms', '- No. 5 applies']

A sentence ends at
- . ! ? (and closing quotes or brackets) before whitespace, unless the period closes
  an abbreviation ("Mr.", "v.", "e.g.", "Jan."), an initial ("J. Smith"), a number
  label ("No. 5") or a section or list number opening its line ("  4. Conveying
  Verbatim Copies."), or the next word starts in lower case ("approx. two");
- Chinese and Japanese 。！？ (no space needed after them);
- a paragraph break (a blank line), the line before a Markdown block (heading,
  list item, quote, table row, code fence) or after a heading or code fence, and a
  short unpunctuated line (a title) before a line that starts with a capital.
A single line break inside a paragraph is a hard wrap, not a sentence end, so
hard-wrapped text keeps its sentences whole. Spans exclude surrounding whitespace.
"""

from __future__ import annotations

import re

_TERMINAL = re.compile(r"[.!?][\"'”’)\]]*(?=\s)|[。！？][」』”’）]*")
_BLOCK_START = re.compile(r"[ \t]*(?:#{1,6}\s|[-*+•]\s|\d{1,3}[.)]\s|>|\|)")
_HEADING = re.compile(r"[ \t]*#{1,6}\s")
_FENCE = re.compile(r"[ \t]*(?:```|~~~)")  # a code fence line: "```{note}", "```"
_LINE_NUMBER = re.compile(r"[ \t]*\d{1,3}")  # all a line holds before a period: "  4. Conveying ..."
# Words that a period follows without ending the sentence.
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt gen col lt capt sgt sen rep gov pres rev hon
    no nos vol vols art sec ch fig figs pp para eq ed eds ver vs etc al approx est dept govt univ inc ltd co corp
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun""".split()
)
_WORD_BEFORE = re.compile(r"(?<!\w)([^\W\d_]+)$")  # a whole word: "x" of "w4552x" is none
TITLE_SHARE = 0.75  # a line shorter than this share of the wrap width, unpunctuated, stands alone


def _closes_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` ends an abbreviation or initial, not a sentence."""
    word = _WORD_BEFORE.search(text[max(0, dot - 12) : dot])
    if not word:
        return False
    token = word.group(1)
    return len(token) == 1 or token.lower() in ABBREVIATIONS  # "U.S.", "e.g.", "J. Smith", "v. 2.0", "Mr."


def _ends_sentence(text: str, match: re.Match) -> bool:
    if text[match.start()] != ".":
        return True  # ! ? 。！？
    after = text[match.end() :].lstrip()
    if after[:1].islower():
        return False  # "approx. two", "the U.S. and"
    if _LINE_NUMBER.fullmatch(text, text.rfind("\n", 0, match.start()) + 1, match.start()):
        return False  # a section or list number: "4. Conveying Verbatim Copies."
    return not _closes_abbreviation(text, match.start())


def _wrap_width(text: str) -> int:
    """The length most full lines reach (90th percentile): hard-wrapped text sits near it."""
    lengths = sorted(len(line.strip()) for line in text.split("\n") if line.strip())
    return lengths[int(len(lengths) * 0.9)] if lengths else 0


def _is_title(line: str, following: str, wrap: int) -> bool:
    """A short line with no closing punctuation, before a line that starts anew: a title or label."""
    line = line.strip()
    return (
        len(line) < TITLE_SHARE * wrap
        and not re.search(r"[.!?,;\-–—]$", line)
        and following.lstrip()[:1].isupper()
    )


def _line_breaks(text: str) -> list[int]:
    """Offsets where a line break ends a sentence: paragraph breaks, titles and Markdown block edges."""
    breaks = []
    wrap = _wrap_width(text)
    line_start = 0
    for match in re.finditer(r"\n", text):
        previous = text[line_start : match.start()]
        line_end = text.find("\n", match.end())
        following = text[match.end() : line_end if line_end >= 0 else len(text)]
        line_start = match.end()
        if not previous.strip() or not following.strip():
            breaks.append(match.start())  # blank line: a paragraph ends
        elif (_BLOCK_START.match(following) or _FENCE.match(following) or _HEADING.match(previous)
              or _FENCE.match(previous) or _is_title(previous, following, wrap)):
            breaks.append(match.start())  # a heading, list item, quote, table row or fence starts, or a title ends
    return breaks


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, surrounding whitespace excluded."""
    cuts = {m.end() for m in _TERMINAL.finditer(text) if _ends_sentence(text, m)}
    cuts.update(_line_breaks(text))
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in sorted(cuts):
        _append_trimmed(text, start, cut, spans)
        start = cut
    _append_trimmed(text, start, len(text), spans)
    return spans


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))
