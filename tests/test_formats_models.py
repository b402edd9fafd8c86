"""A library of a PDF, a Word file, an HTML page and a text file, as a user runs it:
`rag index DIR` (bad files named, the rest indexed), then `rag ask` on the real
models for a fact in each; the PDF's answer names its page (how `rag ask` prints
it is tested on fakes in test_formats.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rag.ingest.documents import LibraryTexts, page_at

from formats import QUESTIONS, write_bad_files, write_library

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, model_cache):
    home = tmp_path_factory.mktemp("formats-home")
    docs = write_library(home / "docs")
    bad = write_bad_files(docs)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        "HOME": str(home), "RAG_INDEX_DIR": str(home / "index"), "RAG_MODEL_CACHE_DIR": str(model_cache),
        "HF_HUB_OFFLINE": "1",
    }
    result = rag_cli(env, "index", str(docs))
    return env, docs, bad, result


def rag_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env,
                          timeout=900)


def test_rag_index_indexes_all_four_formats_and_names_each_bad_file(indexed):
    env, docs, bad, result = indexed
    assert result.returncode == 0, result.stderr
    assert f"from {docs}" in result.stdout and "Traceback" not in result.stderr
    for name, why in bad.items():
        assert any(f"skipped {name}:" in line and why in line for line in result.stderr.splitlines()), (name, result.stderr)


@pytest.mark.parametrize("source", list(QUESTIONS))
def test_rag_ask_answers_from_each_format_with_checked_citations(indexed, source):
    env, docs, _, _ = indexed
    question, expected = QUESTIONS[source]
    result = rag_cli(env, "ask", question, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert not answer["refused"], answer["text"]
    cited = [c for c in answer["citations"] if c["source"] == source]
    assert cited, answer["citations"]
    assert expected in answer["text"] + " ".join(c["quote"] for c in cited)
    texts = LibraryTexts(docs, env["RAG_INDEX_DIR"])
    for c in answer["citations"]:
        document = texts.document(c["source"])
        assert document.text[c["start"] : c["end"]] == c["quote"]  # the kept extracted text at its offsets
        assert c["page"] == page_at(document, c["start"])  # None for the formats without pages
    if source == "harbour.pdf":
        assert any(c["page"] == 2 and "Eriksen" in c["quote"] for c in cited), cited

