import pytest

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
