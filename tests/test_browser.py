"""The chat page in a real headless Chromium, with the pipeline's fake model (fast).

The real models drive the same page in test_browser_models.py. These tests cover
what does not depend on the model's words: hostile sources stay text, two
requests at once are both answered while the model runs one at a time, a
burst gets "queue is full", oversized questions get a clear message, the file
routes expose nothing, and the server listens on loopback only.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client
from playwright.sync_api import expect

from rag.pipeline import RAG
from rag.ui.app import build_app

from browser import BOT, PageWatch, ask_in_page, serving, set_slider, watch_answer
from fakes import SlowQuotingModel

HOSTILE = (
    "The wire report about drones carried <script>window.__pwned = 1</script> a script, "
    "<img src=http://198.51.100.7/pixel.png onerror=\"window.__pwned = 2\"> a remote image, "
    "<a href=\"javascript:window.__pwned=3\">a javascript link</a> and ![tracker](http://198.51.100.7/t.png) in its text.\n"
)
HOSTILE_QUESTION = "What did the wire report about drones carry?"


def app_with(settings, embedder, model, **kwargs):
    rag = RAG(settings, embedder=embedder, generator=model, progress=False)
    return build_app(rag, **kwargs)


def test_hostile_source_shows_as_text_and_runs_nothing(settings, embedder, page):
    (settings.docs_dir / "wire.txt").write_text(HOSTILE, encoding="utf-8")
    model = SlowQuotingModel(needle="wire report about drones")
    watch = PageWatch(page)
    with serving(app_with(settings, embedder, model), settings) as url:
        page.goto(url)
        ask_in_page(page, HOSTILE_QUESTION)
        watch_answer(page, 0, timeout=30)
        page.locator(f"{BOT} a.cite").first.click()
        source = page.locator("#sources .source.active")
        source.wait_for(timeout=5000)
        shown = source.inner_text()
        assert "<script>window.__pwned = 1</script>" in shown and "onerror=" in shown
        bot = page.locator(BOT).first.inner_html()
        page.wait_for_timeout(500)  # give any injected handler the chance to run
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#sources script, #sources img, #chat .message-content img").count() == 0
        assert page.locator("#chat a[href^='javascript'], #sources a").count() == 0
        assert "<img" not in bot and "<script" not in bot
        assert watch.dialogs == [] and watch.external == []


def test_two_questions_at_once_in_two_browsers_are_both_answered_one_model_call_at_a_time(
    settings, embedder, browser
):
    model = SlowQuotingModel(needle="Soufan", delay=0.05)
    with serving(app_with(settings, embedder, model), settings) as url:
        pages = [browser.new_context().new_page() for _ in range(2)]
        for page in pages:
            page.goto(url)
        for page in pages:
            ask_in_page(page, "Who is Colin Clarke of the Soufan Group?")
        for page in pages:
            watch_answer(page, 0, timeout=60)
            assert page.locator(f"{BOT} a.cite").count() >= 1
        for page in pages:
            page.context.close()
    assert model.calls == 2 and model.max_active == 1


def test_two_api_calls_at_once_are_both_answered_one_model_call_at_a_time(settings, embedder):
    model = SlowQuotingModel(needle="Soufan", delay=0.05)
    with serving(app_with(settings, embedder, model), settings) as url:
        client = Client(url, verbose=False)
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: client.predict("Who is Colin Clarke?", [], api_name="/ask"), range(2)))
    assert all(not a["refused"] and a["citations"] for a in answers)
    assert model.calls == 2 and model.max_active == 1


def test_a_burst_past_the_queue_limit_gets_busy_and_the_app_stays_up(settings, embedder):
    model = SlowQuotingModel(needle="Soufan", delay=0.1)
    with serving(app_with(settings, embedder, model, max_queued=2), settings) as url:
        client = Client(url, verbose=False)

        def call(_):
            try:
                return client.predict("Who is Colin Clarke?", [], api_name="/ask")
            except Exception as error:  # gradio_client raises its own error types
                return error

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(call, range(8)))
        answered = [r for r in results if isinstance(r, dict)]
        busy = [r for r in results if not isinstance(r, dict)]
        assert answered and busy, results
        assert all("Queue is full" in str(error) for error in busy), busy
        after = client.predict("Who is Colin Clarke?", [], api_name="/ask")  # still up
    assert not after["refused"] and model.max_active == 1


def test_oversized_question_gets_a_clear_message_in_the_page_and_the_api(settings, embedder, page):
    model = SlowQuotingModel()
    with serving(app_with(settings, embedder, model), settings) as url:
        page.goto(url)
        ask_in_page(page, "x" * 100_000)
        texts = watch_answer(page, 0, timeout=30)
        assert "the question is 100000 characters long; the limit is 4000" in texts[-1]
        assert "Traceback" not in page.content()
        with pytest.raises(Exception, match="limit is 4000"):
            Client(url, verbose=False).predict("x" * 100_000, [], api_name="/ask")
    assert model.calls == 0


def test_file_routes_expose_nothing_and_the_server_listens_on_loopback_only(settings, embedder):
    rag = RAG(settings, embedder=embedder, generator=SlowQuotingModel(), progress=False)
    rag.store  # noqa: B018 - builds the index
    secret_files = [
        next((settings.index_dir / "current").resolve().glob("*.sqlite3")),
        settings.docs_dir / next(iter(sorted(p.name for p in settings.docs_dir.iterdir()))),
        settings.model_cache_dir / "model.gguf",
    ]
    settings.model_cache_dir.mkdir(parents=True, exist_ok=True)
    secret_files[-1].write_bytes(b"GGUF pretend weights")
    with serving(build_app(rag), settings) as url:
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"127.0.0.1"}
        for path in [*map(str, secret_files), "/etc/passwd", "../../../../etc/passwd"]:
            for route in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
                status, body = fetch(f"{url}{route}{path}")
                assert status in (403, 404), (route, path, status)
                assert b"root:" not in body and b"SQLite format" not in body and b"GGUF" not in body
        for path in ("/static/../../../../etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd"):
            status, body = fetch(url + path)
            assert b"root:" not in body, path


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:  # IPv4, little-endian
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return "::" if set(hex_address) == {"0"} else hex_address


def test_example_question_and_settings_shape_the_request(settings, embedder, page):
    model = SlowQuotingModel(needle="Soufan")
    with serving(app_with(settings, embedder, model), settings) as url:
        page.goto(url)
        page.locator("#chat").get_by_text("Who is Colin Clarke?").first.click()  # an example on the empty chat
        watch_answer(page, 0, timeout=30)
        assert model.calls == 1 and passages_in(model.last_prompt) == 4  # the default

        page.get_by_text("Settings", exact=True).first.click()
        assert page.locator("#model input").input_value() == settings.model
        # Wait until the page's own state shows both settings, or a fast question races them.
        set_slider(page, "top-k", 2)
        page.locator("#mode").get_by_text("bm25", exact=True).click()
        expect(page.locator("#mode input[value=bm25]")).to_be_checked()
        ask_in_page(page, "Who is Colin Clarke of the Soufan Group?")
        watch_answer(page, 1, timeout=30)
    assert model.calls == 2 and passages_in(model.last_prompt) == 2


def passages_in(prompt: str) -> int:
    return len(re.findall(r"^\[\d+\] ", prompt, flags=re.M))


def test_an_uploaded_pdf_is_answered_with_its_page_and_the_passage_in_context(settings, embedder, page, tmp_path):
    from rag.ingest.documents import LibraryTexts

    from formats import PDF_FACT, pdf_bytes, quoting_model, scanned_pdf_bytes

    pdf, scan = tmp_path / "harbour.pdf", tmp_path / "scan.pdf"
    pdf.write_bytes(pdf_bytes())
    scan.write_bytes(scanned_pdf_bytes())
    with serving(app_with(settings, embedder, quoting_model("Tomas Eriksen")), settings) as url:
        page.goto(url)
        page.get_by_text("Documents", exact=True).click()
        page.locator("#upload input[type=file]").set_input_files([str(pdf), str(scan)])
        page.locator("#upload").get_by_text("scan", exact=True).first.wait_for(timeout=10000)
        page.locator("#add").click()
        expect(page.locator("#add-status textarea")).to_have_value(re.compile("Added uploads/harbour.pdf"), timeout=60000)
        status = page.locator("#add-status textarea").input_value()
        assert "Skipped scan.pdf: no text layer" in status
        assert "uploads/harbour.pdf" in page.locator("#documents").inner_text()

        ask_in_page(page, "Who was the harbour master in 1923?")
        watch_answer(page, 0, timeout=30)
        page.locator(f"{BOT} a.cite").first.click()
        source = page.locator("#sources .source.active")
        source.wait_for(timeout=5000)
        head = source.locator(".source-head").inner_text()
        assert "uploads/harbour.pdf, page 2" in head, head
        start, end = map(int, re.search(r"checked quote at (\d+)–(\d+)", head).groups())
        text = LibraryTexts(settings.docs_dir, settings.index_dir).document("uploads/harbour.pdf").text
        assert source.locator("mark").first.inner_text() == text[start:end] == PDF_FACT.rstrip(".")
        around = [piece.strip("…") for piece in source.locator(".context").all_inner_texts()]
        assert "".join(around).strip() and all(piece in text for piece in around)  # inside its extracted text
