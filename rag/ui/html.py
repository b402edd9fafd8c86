"""HTML for the chat page: answers with clickable citation chips, and the cited sources.

Everything that comes from a document or from the model is escaped here, so
markup in a source shows as text and nothing in it can run or fetch. The chat
renders Markdown, so Markdown syntax is neutralised too: a model writing
`![x](http://host/img.png)` or a bare URL gets neither an image nor a link.
Only our own tags are real: chips `<a class="cite" href="#src-T-N">` that jump to
the source block `id="src-T-N"` (T: the answer's turn, N: the passage number).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from rag.types import Answer, Citation, Passage

CONTEXT_CHARS = 300  # article text shown on each side of a cited passage
_MARKER = re.compile(r"\[(\d+)\]")
# HTML's special characters and those Markdown (or the chat's LaTeX and link
# detection) would act on, as numeric entities, in one pass.
_INERT = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-.!|~$:/=@"})


def inline(text: str) -> str:
    """Plain text for the chat's Markdown: HTML-escaped and Markdown-inert."""
    return text.translate(_INERT)


def escape(text: str) -> str:
    """Plain text for an HTML block (the sources panel)."""
    return html.escape(text, quote=True)


def source_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def streaming_html(text: str) -> str:
    """The answer while it is being written: the model's words, unchecked, as text."""
    return inline(text) + " ▌"


def answer_html(answer: Answer, turn: int) -> str:
    """A checked answer: text with chips for its citations, then what was verified and how."""
    if answer.refused:
        why = f" · why: {inline(answer.reason)}" if answer.reason else ""
        body = f"<span class='refusal'>ℹ No answer: {inline(answer.text)}</span>"
        return f"{body}<br><small class='searched'>Searched: {inline(answer.query)}{why}</small>"
    pieces = _MARKER.split(answer.text)  # text, number, text, number, ...
    body = "".join(
        inline(piece) if i % 2 == 0 else f"<a class='cite' href='#{source_id(turn, int(piece))}'>[{piece}]</a>"
        for i, piece in enumerate(pieces)
    )
    count = len({c.n for c in answer.citations})
    return f"{body}<br><small class='grounding'>{inline(verification_summary(answer))} · {count} checked " \
           f"source{'s' if count != 1 else ''} · Searched: {inline(answer.query)}</small>"


_HOW = {"verbatim": "quoted word for word", "words": "found by its words"}


def verification_summary(answer: Answer) -> str:
    """'✔ 2 sentences verified: 1 quoted word for word, 1 found by its words and confirmed by the model · 1 removed'"""
    kinds: dict[str, int] = {}
    for how in answer.verification:
        base, _, model = how.partition("+")
        label = _HOW.get(base, base) + (" and confirmed by the model" if model else "")
        kinds[label] = kinds.get(label, 0) + 1
    n = len(answer.verification)
    text = f"✔ {n} sentence{'s' if n != 1 else ''} verified"
    if kinds:
        text += ": " + ", ".join(f"{k} {label}" for label, k in kinds.items())
    if answer.removed:
        text += f" · {len(answer.removed)} unverified sentence{'s' if len(answer.removed) != 1 else ''} removed"
    if answer.confidence is not None:
        text += f" · confidence {answer.confidence:.0%}"
    return text


def sources_html(answer: Answer, turn: int, question: str,
                 article_text: Callable[[str], str | None] | None = None) -> str:
    """The sources block of one answer: only cited passages, checked quotes highlighted.

    `article_text(source)` returns the document's text (or None), to show the passage
    inside its article; without it only the passage is shown.
    """
    heading = f"<h4>Sources for: {escape(question)}</h4>"
    if answer.refused:
        return f"<div class='turn'>{heading}<p class='refusal'>No passage supports an answer: the question was refused.</p></div>"
    by_n = {p.n: p for p in answer.passages}
    blocks = []
    for n in dict.fromkeys(c.n for c in answer.citations):
        quotes = [c for c in answer.citations if c.n == n]
        article = article_text(by_n[n].source) if article_text else None
        blocks.append(_source_block(by_n[n], quotes, source_id(turn, n), article))
    return f"<div class='turn'>{heading}{''.join(blocks)}</div>"


def _source_block(passage: Passage, quotes: list[Citation], element_id: str, article: str | None) -> str:
    spans = ", ".join(f"{c.start}–{c.end}" for c in quotes)
    header = (
        f"<div class='source-head'><b>[{passage.n}] {escape(passage.source)}{pages_label(quotes)}</b> "
        f"<small>passage at characters {passage.start}–{passage.end}; checked quote at {spans}</small></div>"
    )
    before = after = ""
    if article is not None and article[passage.start : passage.end] == passage.text:
        before = _clip_left(article[: passage.start])
        after = _clip_right(article[passage.end :])
    body = (
        f"<span class='context'>{escape(before)}</span>"
        f"<span class='passage'>{_highlight(passage, quotes)}</span>"
        f"<span class='context'>{escape(after)}</span>"
    )
    return f"<div class='source' id='{element_id}'>{header}<div class='article'>{body}</div></div>"


def pages_label(citations: list[Citation]) -> str:
    """', page 2' or ', pages 2, 3' for the pages the quotes start on; '' when none has a page."""
    pages = sorted({c.page for c in citations if c.page is not None})
    if not pages:
        return ""
    return f", page{'s' if len(pages) > 1 else ''} {', '.join(map(str, pages))}"


def _highlight(passage: Passage, quotes: list[Citation]) -> str:
    """The passage with every checked quote wrapped in <mark> (overlaps merged)."""
    spans = sorted((max(c.start, passage.start) - passage.start, min(c.end, passage.end) - passage.start) for c in quotes)
    out, at = [], 0
    for start, end in spans:
        start = max(start, at)
        if end <= start:
            continue
        out.append(escape(passage.text[at:start]))
        out.append(f"<mark>{escape(passage.text[start:end])}</mark>")
        at = end
    out.append(escape(passage.text[at:]))
    return "".join(out)


def _clip_left(text: str) -> str:
    return text if len(text) <= CONTEXT_CHARS else "…" + text[-CONTEXT_CHARS:]


def _clip_right(text: str) -> str:
    return text if len(text) <= CONTEXT_CHARS else text[:CONTEXT_CHARS] + "…"


def documents_table(counts: list[tuple[str, int]]) -> str:
    rows = "".join(f"<tr><td>{escape(source)}</td><td>{n}</td></tr>" for source, n in counts)
    total = sum(n for _, n in counts)
    return (
        f"<table class='documents'><tr><th>Document</th><th>Chunks</th></tr>{rows}"
        f"<tr><td><b>{len(counts)} documents</b></td><td><b>{total}</b></td></tr></table>"
    )
