"""Prompt templates (text files in `prompts/`) and fitting a prompt into the context.

Templates use named `{placeholders}`; rendering without one of them, or with a
template that names an unknown one, raises PromptTemplateError naming it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from rag.errors import PromptTemplateError
from rag.settings import PROMPTS_DIR
from rag.types import Passage

CHAT_OVERHEAD_TOKENS = 24  # role markers the chat template adds around the messages
PROMPT_MARGIN_TOKENS = 16  # slack for tokenizer differences between count and call
MIN_PASSAGE_CHARS = 80


def load_template(name: str, folder: Path = PROMPTS_DIR) -> str:
    path = Path(folder) / f"{name}.txt"
    if not path.is_file():
        raise PromptTemplateError(f"prompt template {name!r} not found at {path}")
    # Fitting a prompt renders it several times: read each file once per version.
    return _read_template(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _read_template(path: Path, mtime_ns: int) -> str:
    return path.read_text(encoding="utf-8")


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def render(template: str, **values: str) -> str:
    missing = placeholders(template) - values.keys()
    if missing:
        raise PromptTemplateError(f"prompt template needs a value for {{{sorted(missing)[0]}}}")
    return template.format(**values)


# llama.cpp reads the whole chat prompt with special tokens on, so "<|im_start|>system" inside a
# document would become a real role marker (a forged system turn). Untrusted text keeps its
# words but loses that power: its chat-template markup is rewritten with look-alike brackets.
_TEMPLATE_MARKUP = re.compile(r"<\|[^<>|\s]{1,40}\|>|</?s>|<(?:start|end)_of_turn>|\[/?INST\]")
_INERT = str.maketrans({"<": "‹", ">": "›", "[": "⁅", "]": "⁆"})


def inert(text: str) -> str:
    """'<|im_start|>system' -> '‹|im_start|›system': shown to the model as text, never as a token."""
    return _TEMPLATE_MARKUP.sub(lambda m: m.group().translate(_INERT), text)


def format_passage(passage: Passage) -> str:
    return f"[{passage.n}] {inert(passage.text)}"


def hidden_texts(passages: list[Passage], visible: list[Passage]) -> list[str]:
    """The formatted `passages` that are not among `visible`: what a focused reply must not see."""
    shown = {p.n for p in visible}
    return [format_passage(p) for p in passages if p.n not in shown]


def format_passages(passages: list[Passage]) -> str:
    return "\n\n".join(format_passage(p) for p in passages)


def format_history(history: list[dict]) -> str:
    if not history:
        return ""
    lines = [f"{turn['role'].capitalize()}: {inert(turn['content'])}" for turn in history[-4:]]
    return "Conversation so far:\n" + "\n".join(lines) + "\n\n"


def build_messages(passages: list[Passage], question: str, history: list[dict], folder: Path = PROMPTS_DIR) -> list[dict]:
    system = render(load_template("answer_system", folder))
    user = render(
        load_template("answer_user", folder),
        passages=format_passages(passages),
        question=inert(question),
        history=format_history(history),
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def prompt_size(
    passages: list[Passage], question: str, history: list[dict], count_tokens: Callable[[str], int],
    folder: Path = PROMPTS_DIR, passage_tokens: int | None = None,
) -> int:
    """Tokens of `build_messages(passages, question, history)`, counted part by part.

    `passage_tokens`, when the caller knows it, is the passages' own count: the
    cached library's 20,000 characters are then not tokenized again for every
    question and probe (that was a tenth of the wait for the first token). The
    parts' sum is within a few tokens of the whole's count (PROMPT_MARGIN_TOKENS
    is that slack).
    """
    frame = sum(count_tokens(m["content"]) for m in build_messages([], question, history, folder))
    if passage_tokens is None:
        passage_tokens = count_tokens(format_passages(passages))
    return frame + passage_tokens + CHAT_OVERHEAD_TOKENS


def fit_passages(
    passages: list[Passage],
    make_messages: Callable[[list[Passage]], list[dict]],
    count_tokens: Callable[[str], int],
    budget: int,
) -> tuple[list[Passage], int]:
    """Drop, then trim, the lowest-ranked passages until the prompt fits `budget` tokens.

    Returns the passages kept and the prompt's token count. Trimming cuts the
    end of a passage (its `end` offset moves with it), so offsets stay exact.
    """

    def size(ps: list[Passage]) -> int:
        messages = make_messages(ps)
        return sum(count_tokens(m["content"]) for m in messages) + CHAT_OVERHEAD_TOKENS

    kept = list(passages)
    tokens = size(kept)
    while tokens > budget and len(kept) > 1:
        kept.pop()
        tokens = size(kept)
    while tokens > budget and kept and len(kept[-1].text) > MIN_PASSAGE_CHARS:
        last = kept[-1]
        keep_chars = max(MIN_PASSAGE_CHARS, int(len(last.text) * 0.8))
        kept[-1] = replace(last, text=last.text[:keep_chars], end=last.start + keep_chars)
        tokens = size(kept)
    if tokens > budget:
        raise PromptTemplateError(
            f"the prompt needs {tokens} tokens but only {budget} fit: raise n_ctx or lower max_tokens"
        )
    return kept, tokens
