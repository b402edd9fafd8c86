"""Reliability of the chat page past the happy path, over real HTTP (and Debian's Chromium):
long conversations, oversized and too many uploads, and posts from other web pages.

The Gradio app runs with the same launch options as `rag ui`, on a free loopback
port; the fake model stands in for the LLM, whose words are not under test here.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from playwright.sync_api import expect

from rag.pipeline import RAG
from rag.ui.app import build_app

from browser import BOT, ask_in_page, serving, watch_answer
from fakes import FakeGenerator


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


# ---------------------------------------------------------------- uploads: size, count, other web pages

MB = 2**20


@pytest.fixture
def upload_dir(tmp_path, monkeypatch) -> Path:
    """Gradio's temporary folder for uploads, per test (read when the app launches)."""
    folder = tmp_path / "gradio-uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def stored(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def post_files(url: str, files: list[tuple[str, bytes]], **headers) -> httpx.Response:
    parts = [("files", (name, data, "text/plain")) for name, data in files]
    return httpx.post(f"{url}/gradio_api/upload", files=parts, headers=headers, timeout=120, trust_env=False)


def test_a_25_mb_upload_is_refused_where_gradio_receives_it(settings, embedder, upload_dir):
    with serving(app_for(settings, embedder), settings) as url:
        refused = post_files(url, [("big.txt", b"a" * (25 * MB))])
        assert refused.status_code == 413, refused.text
        assert "maximum allowed size of 20971520 bytes" in refused.text
        assert all(p.stat().st_size < 20 * MB for p in stored(upload_dir))  # nothing of it is kept
        accepted = post_files(url, [("small.txt", b"Harbour Library opening hours.")])
        assert accepted.status_code == 200 and Path(accepted.json()[0]).read_bytes() == b"Harbour Library opening hours."


def test_more_files_in_one_post_than_can_be_added_are_refused(settings, embedder, upload_dir):
    with serving(app_for(settings, embedder), settings) as url:
        many = [(f"note {n}.txt", f"Note number {n}.".encode()) for n in range(21)]
        refused = post_files(url, many)
        assert refused.status_code == 400 and "at most 20 files can be added at once" in refused.text
        assert stored(upload_dir) == []
        assert post_files(url, many[:20]).status_code == 200


def test_an_oversized_form_field_is_refused_as_it_streams_in(settings, embedder, upload_dir, monkeypatch):
    # Form fields are not files, so Gradio's max_file_size does not see them; the post as a
    # whole is capped (here at 2 files of 1 MB, to keep the test light).
    monkeypatch.setattr("rag.ui.app.MAX_UPLOAD_BYTES", 1 * MB, raising=False)
    monkeypatch.setattr("rag.ui.app.MAX_UPLOAD_FILES", 2, raising=False)
    boundary = "rag-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n".encode() + b"x" * (3 * MB)
            + f"\r\n--{boundary}--\r\n".encode())
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    with serving(app_for(settings, embedder), settings) as url:
        with_length = httpx.post(f"{url}/gradio_api/upload", content=body, headers=headers, trust_env=False)
        assert with_length.status_code == 413 and "one upload holds at most 2 files of 1 MB" in with_length.text
        streamed = httpx.post(f"{url}/gradio_api/upload", content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
                              headers=headers, trust_env=False)  # chunked: no Content-Length to go by
        assert streamed.status_code == 413 and "one upload holds at most 2 files" in streamed.text
        assert stored(upload_dir) == []


def test_an_upload_posted_by_another_web_page_is_refused(settings, embedder, upload_dir, browser):
    # A page on another origin (here another loopback port, which Gradio's own CORS check
    # counts as "localhost" and lets through) posts a file to the chat's upload route, as any
    # web site open in the user's browser could.
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EvilPage)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with serving(app_for(settings, embedder), settings) as url:
            page = browser.new_page()
            try:
                page.goto(f"http://127.0.0.1:{other.server_port}/")
                result = page.evaluate(
                    """async (url) => {
                        const form = new FormData();
                        form.append("files", new Blob(["planted by another site"], {type: "text/plain"}), "planted.txt");
                        const r = await fetch(url + "/gradio_api/upload", {method: "POST", body: form, mode: "no-cors"});
                        return r.type;
                    }""",
                    url,
                )
            finally:
                page.close()
            assert result == "opaque"  # the browser sent it; the page may not read the answer
            assert stored(upload_dir) == []
            # The same post with the page's own Origin, or none (gradio_client), is accepted.
            assert post_files(url, [("mine.txt", b"my own file")], origin=url).status_code == 200
            # DNS rebinding: a foreign name resolving to 127.0.0.1 sends its own Host and Origin.
            host = f"attacker.example:{url.rsplit(':', 1)[1]}"
            rebound = post_files(url, [("planted.txt", b"planted")], host=host, origin=f"http://{host}")
            assert rebound.status_code == 403
            assert [p.name for p in stored(upload_dir)] == ["mine.txt"]
    finally:
        other.shutdown()


class _EvilPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>another site</title><p>nothing to see</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_page_says_a_25_mb_file_is_too_large_and_posts_nothing(settings, embedder, upload_dir, page):
    with serving(app_for(settings, embedder), settings) as url:
        page.goto(url)
        page.locator("#documents-panel").get_by_text("Documents").first.click()
        page.locator("#upload input[type=file]").set_input_files(
            [{"name": "big.txt", "mimeType": "text/plain", "buffer": b"a" * (25 * MB)}]
        )
        expect(page.get_by_text("exceed the maximum allowed size")).to_be_visible(timeout=20_000)
        assert stored(upload_dir) == []


def test_adding_more_files_than_the_limit_at_once_is_refused_with_a_reason(settings, embedder, tmp_path):
    from rag.errors import DocumentError
    from rag.ingest.uploads import add_files

    files = []
    for n in range(21):
        files.append(tmp_path / f"note {n}.txt")
        files[-1].write_text(f"Note number {n} about the harbour.")
    with pytest.raises(DocumentError, match="21 files chosen: add at most 20 at a time"):
        add_files(settings, embedder, files, progress=False)
    assert not (settings.index_dir / "uploads").exists()


def test_a_file_over_the_limit_is_refused_by_its_size_without_being_read(settings, embedder, tmp_path, monkeypatch):
    from rag.ingest.uploads import add_files

    big = tmp_path / "big.txt"
    with open(big, "wb") as out:
        out.truncate(25 * MB)  # sparse: costs no disk
    small = tmp_path / "small.txt"
    small.write_text("The Harbour Library opens at 9.")
    read = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.name) or real(self))
    report = add_files(settings, embedder, [big, small], progress=False)
    assert report.skipped == ["big.txt: larger than 20 MB"] and report.added == ["uploads/small.txt"]
    assert "big.txt" not in read
