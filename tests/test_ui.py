"""The chat page's pieces without a browser: rendering, adding documents, the sessions behind it."""

import pytest

from rag.errors import RagError
from rag.index.reader import open_store
from rag.ingest.documents import load_library
from rag.ingest.uploads import add_files, check_file, document_counts, safe_name
from rag.pipeline import RAG
from rag.types import Answer, Citation, Passage
from rag.ui.app import ChatService
from rag.ui.html import answer_html, inline, sources_html, streaming_html

from fakes import FakeGenerator

HOSTILE = "Before <script>alert(1)</script> quoted part after."


def hostile_answer() -> Answer:
    p1 = Passage(1, "c1", "evil<b>.txt", 100, 100 + len(HOSTILE), HOSTILE)
    p2 = Passage(2, "c2", "other.txt", 0, 9, "not cited")
    at = 100 + HOSTILE.index("quoted part")
    citation = Citation(1, "evil<b>.txt", at, at + 11, "quoted part")
    return Answer(text="It is quoted [1].", refused=False, citations=[citation], passages=[p1, p2], grounding=1.0,
                  query="what is quoted?", verification=["words+model"], removed=["An unverified sentence."], confidence=0.87)


def test_sources_show_only_cited_passages_escaped_and_highlighted():
    html = sources_html(hostile_answer(), 3, "what <i>is</i> quoted?")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<mark>quoted part</mark>" in html
    assert "evil&lt;b&gt;.txt" in html and "other.txt" not in html
    assert "id='src-3-1'" in html and "&lt;i&gt;is&lt;/i&gt;" in html


def test_passage_is_shown_inside_its_article():
    article = "A" * 100 + HOSTILE + "Z" * 400  # the passage sits at characters 100..
    html = sources_html(hostile_answer(), 1, "q", lambda source: article)
    assert "<span class='context'>" + "A" * 100 + "</span>" in html
    assert "<span class='context'>" + "Z" * 300 + "…</span>" in html  # clipped after 300 characters
    assert html.index("AAA") < html.index("<mark>") < html.index("ZZZ")


def test_article_that_no_longer_matches_is_not_used_as_context():
    html = sources_html(hostile_answer(), 1, "q", lambda source: "changed file")
    assert "changed file" not in html and "<mark>quoted part</mark>" in html


def test_answer_markers_become_chips_pointing_at_this_turns_sources():
    html = answer_html(hostile_answer(), 3)
    assert "<a class='cite' href='#src-3-1'>[1]</a>" in html
    assert "Searched: what is quoted?" in html
    # What was verified and how, in words (rendered inert: punctuation as entities).
    text = html_text(html)
    assert "✔ 1 sentence verified: 1 found by its words and confirmed by the model" in text
    assert "1 unverified sentence removed" in text and "confidence 87%" in text


def html_text(html: str) -> str:
    import html as html_module

    return html_module.unescape(html)


@pytest.mark.parametrize(
    "text, forbidden",
    [
        ("<script>alert(1)</script>", "<script"),
        ("<img src=http://example.com/x.png onerror=alert(1)>", "<img"),
        ("![x](http://example.com/x.png)", "](http"),
        ("[click](javascript:alert(1))", "](javascript"),
        ("see http://example.com/page", "http://"),
        ("$x^2$ and **bold**", "**"),
    ],
)
def test_model_and_document_text_is_inert_in_the_chat(text, forbidden):
    rendered = inline(text)
    assert forbidden not in rendered
    assert "<" not in rendered and ">" not in rendered


def test_refusal_is_shown_as_a_refusal_not_an_error():
    refusal = Answer(text="The documents do not say.", refused=True, query="capital of France")
    assert "No answer" in answer_html(refusal, 1) and "class='refusal'" in answer_html(refusal, 1)
    assert "question was refused" in sources_html(refusal, 1, "capital of France")
    assert "error" not in answer_html(refusal, 1)
    why = Answer(text="The documents do not say.", refused=True, query="q", reason="the model found no answer")
    assert "why: the model found no answer" in html_text(answer_html(why, 1))


def test_every_glyph_of_the_page_is_in_an_installed_font():
    """Chromium draws a glyph no installed font has as an empty box (🛈 did, with Debian's fonts)."""
    import subprocess

    answer = hostile_answer()
    refusal = Answer(text="The documents do not say.", refused=True, query="q", reason="r")
    page = answer_html(answer, 1) + answer_html(refusal, 2) + sources_html(answer, 1, "q") + streaming_html("x")
    from rag.ui.app import ERROR_MARK
    page += ERROR_MARK
    glyphs = sorted({c for c in html_text(page) if ord(c) > 127})
    assert glyphs, "the page uses some non-ASCII glyphs"
    missing = [c for c in glyphs
               if not subprocess.run(["fc-list", f":charset={ord(c):x}", "family"], capture_output=True, text=True).stdout.strip()]
    assert missing == [], f"no installed font draws {missing}"


def test_safe_name_keeps_files_inside_the_uploads_folder():
    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name("..hidden.md") == "hidden.md"
    assert "/" not in safe_name("a/b\\c<d>.txt")


def test_check_file_names_why_a_file_is_refused():
    assert "only .txt, .md, .pdf, .docx, .html" in check_file("a.exe", b"MZ", {})
    assert "a.pdf: not a readable PDF" in check_file("a.pdf", b"%PDF-1.7 truncated", {})
    assert "not readable text" in check_file("a.txt", b"\x00\x01binary", {})
    assert "already indexed as seeds.txt" in check_file("copy.txt", b"same", {__import__("hashlib").sha256(b"same").hexdigest(): "seeds.txt"})
    assert check_file("new.md", b"# Fresh text", {}) is None


def test_added_document_is_indexed_once_and_a_bad_file_changes_nothing(settings, embedder, tmp_path):
    rag = RAG(settings, embedder=embedder, generator=FakeGenerator(), progress=False)
    before = rag.store.count()
    good = tmp_path / "hamsters.txt"
    good.write_text("Hamsters hoard seeds in their cheek pouches.\n", encoding="utf-8")
    report = add_files(settings, embedder, [good], progress=False)
    assert report.added == ["uploads/hamsters.txt"]
    store = open_store(settings)
    assert store.count() == before + 1
    assert "uploads/hamsters.txt" in dict(document_counts(store.chunks()))

    again = add_files(settings, embedder, [good], progress=False)  # same content: dedup by hash
    assert again.added == [] and "already indexed as uploads/hamsters.txt" in again.skipped[0]

    binary = tmp_path / "broken.txt"
    binary.write_bytes(b"\x00\xff\x00 not text")
    build_before = (settings.index_dir / "current").resolve()
    bad = add_files(settings, embedder, [binary], progress=False)
    assert bad.added == [] and "broken.txt: not readable text" in bad.skipped[0]
    assert (settings.index_dir / "current").resolve() == build_before
    assert open_store(settings).count() == before + 1


def test_failed_build_removes_the_saved_upload(settings, embedder, tmp_path, monkeypatch):
    RAG(settings, embedder=embedder, generator=FakeGenerator(), progress=False).store  # noqa: B018 - builds the index
    good = tmp_path / "notes.md"
    good.write_text("Notes about lighthouses.\n", encoding="utf-8")

    def broken_build(*args, **kwargs):
        raise RagError("disk full")

    monkeypatch.setattr("rag.ingest.uploads.build_index", broken_build)
    with pytest.raises(RagError, match="disk full"):
        add_files(settings, embedder, [good], progress=False)
    assert not any(d.source.startswith("uploads/") for d in load_library(settings.docs_dir, settings.index_dir))


def test_chat_service_reloads_every_session_after_an_upload(settings, embedder, tmp_path):
    service = ChatService(RAG(settings, embedder=embedder, generator=FakeGenerator(), progress=False))
    names_before = {source for source, _ in service.documents()}
    new = tmp_path / "otters.txt"
    new.write_text("Sea otters hold hands while they sleep.\n", encoding="utf-8")
    summary = service.add_documents([new], progress=False)
    assert summary == "Added uploads/otters.txt"
    assert {source for source, _ in service.documents()} == names_before | {"uploads/otters.txt"}
    passages = service.session(None).retrieve("otters sleep holding hands", 1)
    assert passages[0].source == "uploads/otters.txt"
    assert service.article_text("uploads/otters.txt").startswith("Sea otters")
