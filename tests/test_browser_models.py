"""The chat as a user runs it: `rag ui --port PORT` in its own process, the default
models, Debian's Chromium. Ask, watch it stream, click a citation, follow up,
add a document and ask about it, call `/ask` the README's way."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import Client

from browser import BOT, CHROMIUM, CHROMIUM_ARGS, PageWatch, ask_in_page, watch_answer
from servers import free_port
from servers import server as running

pytestmark = pytest.mark.models
ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
LIGHTHOUSE = "The Vardø lighthouse log was kept by Ingrid Solheim, who recorded 212 storms in 1911.\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_cache):
    """`rag ui --port PORT` on the default models, started and stopped here."""
    home = tmp_path_factory.mktemp("ui-home")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        "HOME": str(home),
        "RAG_INDEX_DIR": str(home / "index"),
        "RAG_MODEL_CACHE_DIR": str(model_cache),
        "HF_HUB_OFFLINE": "1",
    }
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "rag.cli", "ui", "--port", str(port)]
    with running(command, url, home / "ui.log", timeout=600, env=env):
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make setup-test` installs Debian's chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1300, "height": 1000})
        page.watch = PageWatch(page)
        page.goto(server)
        yield page
        chromium.close()


def test_ask_watch_it_stream_and_open_a_citation(page):
    ask_in_page(page, "Who is Colin Clarke?")
    texts = watch_answer(page, 0)
    assert sum("▌" in t for t in texts) >= 3, texts  # the answer grew word by word
    assert "Soufan" in texts[-1] and "verified" in texts[-1]

    page.locator(BOT).nth(0).locator("a.cite").first.click()
    source = page.locator("#sources .source.active")
    source.wait_for(timeout=5000)
    assert source.is_visible()
    head = source.locator(".source-head").inner_text()
    name, start, end = re.search(r"\] (\S+\.txt) .*checked quote at (\d+)–(\d+)", head).groups()
    quote = (SEEDS / name).read_text(encoding="utf-8")[int(start) : int(end)]
    assert source.locator("mark").first.inner_text() == quote  # the highlight is the checked quote
    assert source.locator(".context").first.inner_text()  # shown inside its article


def test_follow_up_searches_with_the_earlier_question(page):
    ask_in_page(page, "And what did he say Russia's help to the Huthis signals?")
    final = watch_answer(page, 1)[-1]
    assert re.search(r"Searched: Who is Colin Clarke\? And what did he say", final), final
    assert page.locator("#sources h4").count() == 2  # sources of both answers, newest first
    chips = page.locator(BOT).nth(1).locator("a.cite")
    if chips.count():
        chips.first.click()
    if os.environ.get("SCREENSHOT_TO"):  # refresh the README's picture: SCREENSHOT_TO=docs/chat.png
        page.screenshot(path=os.environ["SCREENSHOT_TO"], full_page=True)


def test_add_a_document_then_ask_about_it(page, tmp_path):
    page.get_by_text("Documents", exact=True).click()
    table = page.locator("#documents")
    table.locator("tr").first.wait_for(timeout=10000)
    rows_before = table.locator("tr").count()

    broken = tmp_path / "broken.txt"
    broken.write_bytes(b"\x00\x9f\x92\x96 binary")
    add_file(page, broken)
    assert "broken.txt: not readable text" in status(page)
    assert table.locator("tr").count() == rows_before  # nothing changed

    document = tmp_path / "lighthouse.txt"
    document.write_text(LIGHTHOUSE, encoding="utf-8")
    add_file(page, document)
    assert status(page) == "Added uploads/lighthouse.txt"
    assert "uploads/lighthouse.txt" in table.inner_text() and table.locator("tr").count() == rows_before + 1

    add_file(page, document)  # the same content again
    assert "already indexed as uploads/lighthouse.txt" in status(page)

    ask_in_page(page, "Who kept the Vardø lighthouse log?")
    final = watch_answer(page, 2)[-1]
    assert "Ingrid Solheim" in final
    page.locator(BOT).nth(2).locator("a.cite").first.click()
    assert "uploads/lighthouse.txt" in page.locator("#sources .source.active .source-head").inner_text()


def test_new_chat_forgets_the_conversation(page):
    page.locator("#new-chat").click()
    page.wait_for_function("document.querySelectorAll(\"#chat [data-testid='bot']\").length === 0")
    assert "Click a [n]" in page.locator("#sources").inner_text()
    assert page.watch.external == [] and page.watch.dialogs == []


def test_readme_api_example_runs_against_the_server(server):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", readme, flags=re.S).group(1)
    code = example.replace("http://127.0.0.1:7860/", server)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Soufan" in result.stdout and "000_" in result.stdout  # the answer and a cited file


def test_two_api_calls_at_once_are_both_answered(server):
    client = Client(server, verbose=False)
    questions = ["Who is Colin Clarke?", "What is the capital of France?"]
    with ThreadPoolExecutor(2) as pool:
        clarke, france = pool.map(lambda q: client.predict(q, [], api_name="/ask"), questions)
    assert not clarke["refused"] and clarke["citations"]
    assert france["refused"] and france["citations"] == []


def add_file(page, path: Path) -> None:
    before = status(page)
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.locator("#upload").get_by_text(path.stem, exact=True).first.wait_for(timeout=10000)
    page.locator("#add").click()
    page.wait_for_function(
        # An added document is indexed, then the grown library is read into the model: minutes on 2 cores.
        "before => document.querySelector('#add-status textarea').value !== before", arg=before, timeout=400000
    )


def status(page) -> str:
    return page.locator("#add-status textarea").input_value()
