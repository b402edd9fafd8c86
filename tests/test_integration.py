"""The real pipeline: embedded sentence-transformers model, real Chroma, the default GGUF."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rag
from rag.pipeline import RAG
from rag.settings import Settings
from rag.types import Answer

pytestmark = pytest.mark.models
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def real_rag(tmp_path_factory, model_cache):
    settings = Settings(index_dir=tmp_path_factory.mktemp("index"), model_cache_dir=model_cache)
    return RAG(settings, progress=False)


def cli(*args, offline=False, timeout=300):
    command = [sys.executable, "-m", "rag.cli", *args]
    if offline:
        command = ["unshare", "-n", *command]  # a new network namespace: no network at all
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def assert_citations_exact(answer):
    for c in answer.citations:
        assert open(SEEDS / c.source, encoding="utf-8").read()[c.start : c.end] == c.quote


def test_who_is_colin_clarke(real_rag):
    answer = real_rag.ask("Who is Colin Clarke?")
    assert not answer.refused, answer.text
    assert answer.citations
    assert_citations_exact(answer)
    assert "Soufan" in answer.text + " ".join(c.quote for c in answer.citations)
    assert 0 < answer.grounding <= 1
    assert answer.answer_mode == "library"  # the seeds fit: the whole library is in the prompt
    assert answer.timings.prompt_tokens + real_rag.settings.max_tokens <= real_rag.generator.n_ctx


def test_question_outside_the_documents_is_refused(real_rag):
    answer = real_rag.ask("What is the capital of France?")
    assert answer.refused
    assert answer.citations == []


@pytest.mark.parametrize(
    "question, expected",
    [
        ("What kind of data is Russia reportedly giving the Huthis?", "satellite"),
        ("Since when have the Huthis controlled Yemen's northwest?", "2014"),
    ],
)
def test_seed_questions_are_answered_with_checked_citations(real_rag, question, expected):
    answer = real_rag.ask(question)
    assert not answer.refused, answer.text
    assert expected in answer.text.lower() + " ".join(c.quote.lower() for c in answer.citations)
    assert_citations_exact(answer)


def test_stream_gives_text_before_the_checked_answer(real_rag):
    items = list(real_rag.stream("Which countries struck back at the Huthis?"))
    assert isinstance(items[-1], Answer)
    assert sum(isinstance(i, str) for i in items) >= 2
    assert items[-1].timings.first_token_ms <= items[-1].timings.total_ms


def test_public_ask_rejects_an_empty_question_before_loading_anything():
    with pytest.raises(rag.InvalidQuestionError):
        rag.ask("")


def test_cli_json_answer_offline(real_rag):
    real_rag.warm_up()  # index and assembled model exist; the CLI reuses them
    s = real_rag.settings
    result = cli("ask", "Who is Colin Clarke?", "--json", "--index-dir", str(s.index_dir),
                 "--model-cache-dir", str(s.model_cache_dir), offline=True)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout)
    assert answer["refused"] is False and answer["citations"]
    for c in answer["citations"]:
        assert open(SEEDS / c["source"], encoding="utf-8").read()[c["start"] : c["end"]] == c["quote"]


def test_cli_prints_answer_then_numbered_sources(real_rag):
    s = real_rag.settings
    result = cli("ask", "Who is Colin Clarke?", "--index-dir", str(s.index_dir), "--model-cache-dir", str(s.model_cache_dir))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Sources:" in result.stdout and "000_65cd94371b4e6bf0.txt chars" in result.stdout
    # The answer and its sources on stdout, nothing else; no progress bars for quick work on stderr.
    answer, sources = result.stdout.split("\nSources:\n")
    assert answer.strip() and "\n" not in answer.strip()
    assert all(line.startswith("  [") for line in sources.rstrip().splitlines()), result.stdout
    assert "Loading weights" not in result.stderr and "Building index" not in result.stderr
