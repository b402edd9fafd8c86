"""Reliability of the chat page past the happy path, over real HTTP (and Debian's Chromium):
long conversations, oversized and too many uploads, and posts from other web pages.

The Gradio app runs with the same launch options as `rag ui`, on a free loopback
port; the fake model stands in for the LLM, whose words are not under test here.
"""

from __future__ import annotations

import pytest
from gradio_client import Client

from rag.pipeline import RAG
from rag.ui import build_app

from browser import BOT, CHROMIUM, CHROMIUM_ARGS, ask_in_page, serving, watch_answer
from fakes import FakeGenerator


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make setup-test` installs Debian's chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 950})
    yield context.new_page()
    context.close()


def app_for(settings, embedder, generator=None):
    rag = RAG(settings, embedder=embedder, generator=generator or FakeGenerator(), progress=False)
    return build_app(rag)


# ---------------------------------------------------------------- conversation history


def test_a_long_chat_in_the_page_stays_under_the_history_limit(settings, embedder, page):
    # The page keeps every turn; it sends the pipeline only the most recent ones, so a
    # conversation longer than the limit goes on being answered instead of failing.
    limited = settings.model_copy(update={"max_history_turns": 2})
    with serving(app_for(limited, embedder), limited) as url:
        page.goto(url)
        for n, question in enumerate(["Who is Colin Clarke?", "And what did he say?", "What did he say about Iran?"]):
            ask_in_page(page, question)
            final = watch_answer(page, n, timeout=60)[-1]
            assert "conversation history" not in final and "⚠" not in final, final
        assert page.locator(BOT).count() == 3


def test_an_oversized_history_to_the_api_is_one_clear_error(settings, embedder):
    generator = FakeGenerator()
    with serving(app_for(settings, embedder, generator), settings) as url:
        client = Client(url, verbose=False)
        huge = [{"role": "user", "content": "x" * 100_000}]
        with pytest.raises(Exception, match="turn 1 of the conversation history is 100000 characters long; the limit is 8000"):
            client.predict("And what did he say?", huge, api_name="/ask")
        endless = [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Him."}] * 21
        with pytest.raises(Exception, match="the conversation history has 42 turns; the limit is 40"):
            client.predict("And what did he say?", endless, api_name="/ask")
        assert generator.prompts == []  # refused before the model
        assert client.predict("Who is Colin Clarke?", endless[:2], api_name="/ask")["query"]  # still up
