"""The first chat page: served on loopback, answers through the pipeline, escapes sources."""

import socket
import urllib.request

import pytest

from rag.pipeline import RAG
from rag.types import Answer, Citation, Passage
from rag.ui import build_app, sources_html

from fakes import FakeGenerator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sources_show_only_cited_passages_escaped_and_highlighted():
    text = "Before <script>alert(1)</script> quoted part after."
    p1 = Passage(1, "c1", "evil<b>.txt", 100, 100 + len(text), text)
    p2 = Passage(2, "c2", "other.txt", 0, 10, "not cited")
    quote_at = text.index("quoted part")
    answer = Answer("x [1].", False, [Citation(1, "evil<b>.txt", 100 + quote_at, 100 + quote_at + 11, "quoted part")], [p1, p2], 1.0)
    html = sources_html(answer)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<mark>quoted part</mark>" in html
    assert "evil&lt;b&gt;.txt" in html and "other.txt" not in html


def test_refusal_is_shown_as_a_refusal():
    assert "do not support" in sources_html(Answer("The documents do not say.", True))


def test_app_serves_the_page_on_loopback(settings, embedder):
    rag = RAG(settings, embedder=embedder, generator=FakeGenerator("The documents do not say."), progress=False)
    app = build_app(rag)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, share=False)
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert "Ask your documents" in page
    finally:
        app.close()
