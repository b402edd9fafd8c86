import logging

import pytest

from rag.errors import DocumentError
from rag.ingest.documents import load_documents


def test_loads_txt_and_md_and_skips_others(tmp_path):
    (tmp_path / "a.txt").write_text("Alpha text.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# Beta\nText.")
    (tmp_path / "c.csv").write_text("x,y")
    assert [d.source for d in load_documents(tmp_path)] == ["a.txt", "sub/b.md"]


def test_offsets_match_python_open(tmp_path):
    (tmp_path / "crlf.txt").write_bytes(b"Line one.\r\nLine two.\rLine three.")
    doc = load_documents(tmp_path)[0]
    assert doc.text == open(tmp_path / "crlf.txt").read()


def test_binary_and_undecodable_files_are_skipped_with_their_names(tmp_path, caplog):
    (tmp_path / "good.txt").write_text("Readable.")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    (tmp_path / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load_documents(tmp_path)
    assert [d.source for d in docs] == ["good.txt"]
    assert "binary.txt" in caplog.text and "latin1.md" in caplog.text


def test_folder_without_documents_is_an_error(tmp_path):
    with pytest.raises(DocumentError, match="no readable"):
        load_documents(tmp_path)
    with pytest.raises(DocumentError, match="does not exist"):
        load_documents(tmp_path / "missing")
