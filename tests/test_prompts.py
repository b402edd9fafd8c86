import re

import pytest

from rag.answer.cite import check, is_refusal
from rag.answer.prompts import build_messages, fit_passages, load_template, placeholders, render
from rag.errors import PromptTemplateError
from rag.types import Passage


def test_shipped_templates_have_the_expected_placeholders():
    assert placeholders(load_template("answer_user")) == {"passages", "question", "history"}
    assert placeholders(load_template("answer_system")) == set()


def test_missing_placeholder_is_named():
    with pytest.raises(PromptTemplateError, match="question"):
        render("Q: {question}")
    with pytest.raises(PromptTemplateError, match="nope"):
        load_template("nope")


def test_passages_are_trimmed_not_crashed():
    passages = [Passage(i, f"c{i}", "a.txt", 0, 2000, "word " * 400) for i in range(1, 6)]
    def count(text):
        return len(text.split())
    kept, tokens = fit_passages(passages, lambda ps: build_messages(ps, "Q?", []), count, budget=300)
    assert tokens <= 300 and len(kept) == 1
    assert kept[0].end - kept[0].start == len(kept[0].text)


def _worked_example(template: str) -> tuple[list[Passage], list[tuple[str, str]]]:
    """The system prompt's worked example: its passages and its question/answer pairs."""
    passages, pairs, offset = [], [], 0
    for line in template.splitlines():
        if match := re.match(r"\[(\d+)\] (.+)", line):
            text = match.group(2)
            passages.append(Passage(int(match.group(1)), f"example-{match.group(1)}", "example.txt", offset,
                                    offset + len(text), text))
            offset += len(text) + 1
        elif line.startswith("Question: "):
            pairs.append((line.removeprefix("Question: "), ""))
        elif line.startswith("Answer: "):
            pairs[-1] = (pairs[-1][0], line.removeprefix("Answer: "))
    return passages, pairs


def test_the_worked_example_in_the_system_prompt_passes_our_own_check():
    """The model copies the example's style, so every example answer must be one the check
    keeps, with the citation it shows, and its one refusal must read as a refusal."""
    passages, pairs = _worked_example(load_template("answer_system"))
    assert len(passages) >= 3 and len(pairs) >= 4
    refusals = [question for question, answer in pairs if is_refusal(answer)]
    assert len(refusals) == 1
    for question, answer in pairs:
        if is_refusal(answer):
            continue
        checked = check(answer, passages, question=question)
        assert not checked.refused and not checked.removed, (question, answer, checked)
        assert [c.n for c in checked.citations] == [int(n) for n in re.findall(r"\[(\d+)\]", answer)]
