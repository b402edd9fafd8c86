"""The latency levers (passage budget, prefix cache) and `rag bench` itself."""

import json
import os
import subprocess
import sys

import pytest

from rag.answer.generate import LlamaGenerator
from rag.bench.report import check_targets, render_markdown
from rag.bench.run import configurations, factual_questions, run_measured
from rag.eval.metrics import stats
from rag.index.build import build_index
from rag.models.catalogue import resolve_llm
from rag.pipeline import RAG
from rag.retrieval.focus import focus, focus_passages
from rag.types import Passage

SOURCE = "Intro line here. Cats purr when happy. Dogs bark at night loudly. Fish swim in cold water."


def passage_of(start: int, end: int) -> Passage:
    return Passage(1, "c1", "a.txt", start, end, SOURCE[start:end])


def test_stats_hand_computed():
    # sorted 1, 2, 3, 4: p50 halfway between 2 and 3; p95 at position 2.85 -> 3 + 0.85
    assert stats([4, 1, None, 3, 2]) == {"p50": 2.5, "p95": 3.9, "mean": 2.5, "n": 4}
    assert stats([]) == {"p50": None, "p95": None, "mean": None, "n": 0}


def test_focus_keeps_the_sentences_with_the_question_words_and_exact_offsets():
    p = passage_of(0, len(SOURCE))
    focused = focus(p, "When do dogs bark?", 45)
    assert focused.text == "Dogs bark at night loudly."
    assert SOURCE[focused.start : focused.end] == focused.text
    assert focus(p, "Why do cats purr and dogs bark?", 60).text == "Cats purr when happy. Dogs bark at night loudly."


def test_focus_leaves_short_passages_and_an_unset_budget_alone():
    p = passage_of(17, 38)
    assert focus(p, "anything", 80) == p
    passages = [passage_of(0, len(SOURCE))]
    assert focus_passages(passages, "dogs", None) is passages


def test_focus_cuts_a_sentence_longer_than_the_budget_at_a_word_boundary():
    p = passage_of(0, len(SOURCE))
    focused = focus(p, "Dogs bark at night", 12)
    assert len(focused.text) <= 12 and focused.text == "Dogs bark at"
    assert SOURCE[focused.start : focused.end] == focused.text


def test_pipeline_with_a_passage_budget_sends_shorter_passages(settings, embedder, generator):
    build_index(settings, embedder, progress=False)
    whole = RAG(settings, embedder=embedder, generator=generator).ask("Who is Colin Clarke?")
    short = RAG(settings.model_copy(update={"passage_chars": 120}), embedder=embedder, generator=generator)
    answer = short.ask("Who is Colin Clarke?")
    assert all(len(p.text) <= 120 for p in answer.passages)
    assert any("Clarke" in p.text for p in answer.passages)
    for p in answer.passages:
        assert (settings.docs_dir / p.source).read_text()[p.start : p.end] == p.text
    assert answer.timings.prompt_tokens < whole.timings.prompt_tokens
    assert answer.passages[0].text in generator.prompts[-1][1]["content"]


def test_a_measured_child_reports_its_own_peak_memory_not_the_benchmarks():
    held = bytearray(600 * 2**20)  # the bench process holding a large corpus
    held[:: 4096] = b"x" * len(held[:: 4096])  # touch every page, so it is resident
    small = run_measured([sys.executable, "-c", "print('hello')"])
    big = run_measured([sys.executable, "-c", "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    assert small["exit"] == 0 and small["stdout"] == "hello\n"
    assert small["peak_rss_kb"] < 100 * 1024  # a bare Python, not the 600 MB of its parent
    assert 300 * 1024 < big["peak_rss_kb"] < 450 * 1024
    assert run_measured([sys.executable, "-c", "import sys; sys.exit(3)"])["exit"] == 3
    del held


def test_a_cold_start_gets_every_setting_and_none_of_the_callers_rag_variables(settings, monkeypatch):
    from rag.bench import run as bench

    monkeypatch.setenv("RAG_PASSAGE_CHARS", "320")  # would cut the passages of a configuration without a budget
    envs = []

    def measured(command, env):
        envs.append(env)
        return {"exit": 0, "wall_s": 1.0, "peak_rss_kb": 1024, "stdout": json.dumps({"timings": {"total_ms": 5}})}

    monkeypatch.setattr(bench, "run_measured", measured)
    s = settings.model_copy(update={"second_look": False, "top_k": 3})
    assert bench.cold_start(s, "Who?")["in_process_total_ms"] == 5
    env = envs[-1]
    assert "RAG_PASSAGE_CHARS" not in env and env["RAG_SECOND_LOOK"] == "False" and env["RAG_TOP_K"] == "3"
    assert env["RAG_INDEX_DIR"] == str(s.index_dir) and env["RAG_RETRIEVAL_MODE"] == "hybrid"


def test_bench_configurations_switch_one_lever_at_a_time(settings):
    configs = {name: s for name, (s, _) in configurations(settings).items()}
    fast = configs["fast"]
    assert fast.model == "qwen2.5-coder-0.5b" and fast.passage_chars and fast.prefix_cache
    assert configs["fast, prefix cache off"] == fast.model_copy(update={"prefix_cache": False})
    assert configs["fast, passage budget off"].passage_chars is None
    assert configs["default"] == settings
    assert configs["retrieval answers"] == settings.model_copy(update={"answer_mode": "retrieval"})
    assert configs["default, second look off"].second_look is False
    assert configs["default + prompt lookup"] == settings.model_copy(update={"prompt_lookup": True})
    assert configs["default + cross-check"] == settings.model_copy(update={"cross_check": True})
    assert len(factual_questions(30)) == 30


def test_markdown_shows_targets_and_levers():
    answers = {"p50": 900.0, "p95": 1200.0, "mean": 950.0, "n": 2}
    row = {"model": "m", "top_k": 3, "passage_chars": 320, "prefix_cache": True, "questions": 2,
           "first_token_ms": answers, "total_ms": answers, "retrieve_ms": answers, "prompt_tokens": answers,
           "completion_tokens": answers, "refused": 0}
    text = render_markdown({"questions": 2, "answers": {"fast": row, "fast, prefix cache off": {
        **row, "prefix_cache": False, "first_token_ms": {**answers, "p50": 1400.0}}},
        "targets": [{"what": "fast: first token p50 (ms)", "value": 900.0, "target": "≤ 1500", "met": True}]})
    assert "| fast: first token p50 (ms) | 900.0 | ≤ 1500 | ✔ |" in text
    assert "| prefix cache reuse, fast model: first token p50 |" in text and "-500 ms" in text
    # The default measured alone is a row of its own, and the default's targets are checked on it.
    alone = {**row, "top_k": 4, "passage_chars": None}
    results = {"answers": {"default": row}, "default_alone": alone}
    assert [t["what"] for t in check_targets(results) if t["what"].startswith("default, alone")] == [
        "default, alone: first token p50 (ms)", "default, alone: whole answer p50 (ms)"]
    assert "| default, alone (no other model loaded) | m | 4 | whole |" in render_markdown(results)


@pytest.mark.models
@pytest.mark.parametrize("prefix_cache", [True, False])
def test_prefix_cache_reads_only_what_changed(model_cache, settings, prefix_cache):
    """With the cache, the second prompt's shared system prompt is not read again."""
    s = settings.model_copy(update={"prefix_cache": prefix_cache, "n_threads": 1})
    generator = LlamaGenerator(resolve_llm("smollm2-135m", model_cache), s)
    llm = generator.llama()
    prompt_reads = []
    eval_tokens = llm.eval
    llm.eval = lambda tokens: (prompt_reads.append(len(tokens)), eval_tokens(tokens))[1]
    system = {"role": "system", "content": "You answer questions about documents. " * 20}
    for question in ("Who is Colin Clarke?", "Where is Yemen?"):
        prompt_reads.append("call")
        list(generator.stream([system, {"role": "user", "content": question}], 2))
    first_prompt = prompt_reads[1]
    second_prompt = prompt_reads[prompt_reads.index("call", 1) + 1]
    assert first_prompt > 100
    if prefix_cache:
        assert second_prompt < 30  # only the new question and the chat markers after it
    else:
        assert second_prompt > 100


@pytest.mark.models
def test_rag_bench_writes_results(tmp_path, model_cache):
    out = tmp_path / "bench"
    # One thread: the test machine's CPU may be shared, and two spinning llama.cpp threads
    # on two busy cores slow down many times over.
    env = {**os.environ, "RAG_N_THREADS": "1"}
    command = [sys.executable, "-m", "rag.cli", "bench", "--model", "smollm2-135m", "--fast-model", "smollm2-135m",
               "--questions", "1", "--scale", "300", "--index-chunks", "40", "--max-tokens", "16",
               "--model-cache-dir", str(model_cache), "--out", str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    r = json.loads((out / "results.json").read_text())
    assert set(r["answers"]) == {"default", "default, second look off", "default + prompt lookup", "default + cross-check",
                                 "retrieval answers",
                                 "retrieval answers + passage budget", "fast", "fast, prefix cache off",
                                 "fast, passage budget off"}
    default = r["answers"]["default"]
    assert default["questions"] == 1 and default["total_ms"]["p50"] >= default["first_token_ms"]["p50"] > 0
    # The whole library is in the default's prompt, only top passages in the retrieval answers'.
    assert default["prompt_tokens"]["p50"] > 3 * r["answers"]["retrieval answers"]["prompt_tokens"]["p50"]
    compared = r["answers"]["retrieval answers"]
    assert compared["plain_total_ms"]["p50"] > 0 and isinstance(compared["overhead"], float)
    assert compared["same_text"] == 1  # the plain call on the identical prompt writes the same answer
    budget_on, budget_off = r["answers"]["fast"], r["answers"]["fast, passage budget off"]
    assert budget_on["prompt_tokens"]["p50"] < budget_off["prompt_tokens"]["p50"]
    assert r["retrieval"]["300"]["chunks"] == 300 and r["retrieval"]["seeds"]["hybrid"]["p50"] > 0
    assert r["retrieval"]["300"]["dense_ann"]["n"] == 1
    assert r["indexing"]["chunks"] >= 40 and r["indexing"]["vs_plain"] > 0
    assert all(c["peak_rss_mb"] > 50 and c["process_to_answer_s"] > 0 for c in r["cold_start"].values())
    alone = r["default_alone"]  # the same questions with no other model loaded: what the targets are checked on
    assert alone["questions"] == 1 and alone["total_ms"]["p50"] >= alone["first_token_ms"]["p50"] > 0
    assert alone["prompt_tokens"] == default["prompt_tokens"]
    assert {t["what"] for t in r["targets"]} >= {"default: first token p50 (ms)", "default, alone: first token p50 (ms)",
                                                 "indexing / plain encoding"}
    markdown = (out / "results.md").read_text()
    assert "## Answers" in markdown and "## Latency levers, on and off" in markdown and "| 300 | 300 |" in markdown
    assert "wrote" in result.stdout
