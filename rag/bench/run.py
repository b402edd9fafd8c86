"""`rag bench`: how fast this machine answers, and where the time goes.

Sections (each can be run alone with `--only`; results are merged into
bench/results.json and rendered to bench/results.md):

    default_alone  the default configuration with no other model loaded, as a user runs it: the
                first token and whole answer the targets are checked against
    answers     first token and whole answer p50/p95 per configuration, prompt tokens, and our
                end-to-end time over a plain llama-cpp-python call on the identical prompt;
                the levers are configurations with one setting switched off, and all of them
                take each question in turn, so that the machine's load falls on all alike
    retrieval   retrieval latency on the seeds and on synthetic corpora (10,000 / 100,000 chunks)
    indexing    chunks/s of `build_index` against plain sentence-transformers encoding
    cold_start  process start to first answer (`rag ask` in a new process) and its peak memory

Indexes go to a temporary folder; the models come from `model_cache_dir` as usual.
The targets and the markdown are in rag/bench/report.py.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.bench.report import check_targets, render_markdown
from rag.bench.scale import bench_indexing, bench_retrieval
from rag.eval.metrics import percentile, stats
from rag.eval.run import QA_PATH, load_qa
from rag.settings import FAST_MODE, PROJECT_ROOT, Settings, settings_env

if TYPE_CHECKING:
    from rag.answer.generate import Generator
    from rag.index.store import ChromaStore
    from rag.models.embed import Embedder

BENCH_DIR = PROJECT_ROOT / "bench"
SECTIONS = ("default_alone", "answers", "retrieval", "indexing", "cold_start")
FACTUAL_TYPES = ("factoid", "date-number", "who-said", "paraphrase")
# Asked once before timing starts; not one of the timed questions, so that no timed prompt
# finds itself already in the model's cache.
WARM_UP_QUESTION = "What are these documents about?"


def factual_questions(count: int, qa_path: Path = QA_PATH) -> list[str]:
    """The first `count` short factual questions of the QA set (repeated if it has fewer)."""
    questions = [i["question"] for i in load_qa(qa_path) if i["type"] in FACTUAL_TYPES and not i.get("history")]
    return [questions[n % len(questions)] for n in range(count)]


def configurations(base: Settings, fast_model: str | None = None) -> dict[str, tuple[Settings, bool]]:
    """name -> (settings, compare with a plain llama-cpp-python call). The levers are
    measured by switching one setting of fast mode off at a time."""
    fast = base.model_copy(update={**FAST_MODE, **({"model": fast_model} if fast_model else {})})
    budget_off = {"top_k": base.top_k, "passage_chars": None}
    retrieval = base.model_copy(update={"answer_mode": "retrieval"})
    return {
        # The plain call of the library mode would first read the whole library itself: compared
        # through the retrieval answers, which share everything else.
        "default": (base, False),
        "default, second look off": (base.model_copy(update={"second_look": False}), False),
        "default + prompt lookup": (base.model_copy(update={"prompt_lookup": True}), False),
        "default + cross-check": (base.model_copy(update={"cross_check": True}), False),
        "retrieval answers": (retrieval, True),
        "retrieval answers + passage budget": (retrieval.model_copy(update={k: FAST_MODE[k] for k in budget_off}), False),
        "fast": (fast, True),
        "fast, prefix cache off": (fast.model_copy(update={"prefix_cache": False}), False),
        "fast, passage budget off": (fast.model_copy(update=budget_off), False),
    }


class RecordingGenerator:
    """Passes calls through to a generator and keeps the messages of its first answer call
    (the one a plain llama-cpp-python call is compared with; second looks come after it)."""

    def __init__(self, inner: Generator):
        self.inner = inner
        self.first_messages: list[dict] | None = None

    def __getattr__(self, name: str) -> Any:  # n_ctx, count_tokens, hold_prefix, yes_probability, ...
        return getattr(self.inner, name)

    def warm_up(self) -> None:
        self.inner.warm_up()

    def start_question(self) -> None:
        self.first_messages = None

    def answer_messages(self) -> list[dict]:
        """The messages of this question's answer call (asked after the answer)."""
        assert self.first_messages is not None, "no answer call yet"
        return self.first_messages

    def stream(self, messages: list[dict], max_tokens: int, hide: Sequence[str] = ()) -> Iterator[str]:
        if self.first_messages is None:
            self.first_messages = messages
        return self.inner.stream(messages, max_tokens, hide)


def plain_llama(settings: Settings) -> Any:
    """A second, plain `Llama`, built by the same code as the pipeline's (same arguments)."""
    from rag.answer.generate import LlamaGenerator
    from rag.models.catalogue import resolve_llm

    return LlamaGenerator(resolve_llm(settings.model, settings.model_cache_dir), settings).llama()


def time_plain_call(llm: Any, messages: list[dict], settings: Settings) -> dict:
    """First-token and total milliseconds of one streamed chat completion, nothing around it."""
    if not settings.prefix_cache:
        llm.reset()
    started, first, text = time.perf_counter(), None, []
    for chunk in llm.create_chat_completion(messages=messages, max_tokens=settings.max_tokens,
                                            temperature=settings.temperature, seed=settings.seed, stream=True):
        delta = chunk["choices"][0]["delta"].get("content")
        if delta:
            first = first or time.perf_counter()
            text.append(delta)
    end = time.perf_counter()
    return {"first_token_ms": (first - started) * 1000 if first else None, "total_ms": (end - started) * 1000,
            "text": "".join(text)}


class Contender:
    """One configuration under test, with its own session and model (so its prompt cache
    holds only its own prompts) and, when compared, its own plain `Llama`."""

    def __init__(self, settings: Settings, with_plain: bool, embedder: Embedder, store: ChromaStore):
        from rag.answer.generate import make_generator
        from rag.pipeline import RAG

        self.settings = settings
        self.rows: list[dict] = []
        self.generator = RecordingGenerator(make_generator(settings))
        self.rag = RAG(settings, embedder=embedder, store=store, generator=self.generator, progress=False).warm_up()
        self.plain = plain_llama(settings) if with_plain else None
        self.generator.start_question()
        self.rag.ask(WARM_UP_QUESTION)  # one-off costs (BM25 index, first allocations): not timed
        if self.plain:
            time_plain_call(self.plain, self.generator.answer_messages(), self.settings)

    def measure(self, question: str) -> None:
        self.generator.start_question()
        answer = self.rag.ask(question)
        row = {key: getattr(answer.timings, key) for key in ("retrieve_ms", "first_token_ms", "total_ms", "prompt_tokens",
                                                    "completion_tokens")}
        row["refused"] = answer.refused
        if self.plain:  # the identical prompt, right after ours: both models see the same sequence
            call = time_plain_call(self.plain, self.generator.answer_messages(), self.settings)
            row.update(plain_first_token_ms=call["first_token_ms"], plain_total_ms=call["total_ms"],
                       same_text=call["text"] == answer.raw_text)
        self.rows.append(row)


def bench_answers(configs: dict[str, tuple[Settings, bool]], questions: list[str], embedder: Embedder, store: ChromaStore,
                  log: Callable[[str], None] = print) -> dict:
    """Each question goes to every configuration in turn (in a rotating order), so that
    a change in the machine's load falls on all of them alike, not on one."""
    contenders = {name: Contender(settings, with_plain, embedder, store)
                  for name, (settings, with_plain) in configs.items()}
    names = list(contenders)
    for i, question in enumerate(questions):
        log(f"  question {i + 1} of {len(questions)}")
        for name in names[i % len(names):] + names[: i % len(names)]:
            contenders[name].measure(question)
    return {name: summarize_answers(c.settings, c.rows) for name, c in contenders.items()}


def summarize_answers(settings: Settings, rows: list[dict]) -> dict:
    summary = {"model": settings.model, "top_k": settings.top_k, "passage_chars": settings.passage_chars,
               "prefix_cache": settings.prefix_cache, "questions": len(rows),
               "first_token_ms": stats([r["first_token_ms"] for r in rows]),
               "total_ms": stats([r["total_ms"] for r in rows]),
               "retrieve_ms": stats([r["retrieve_ms"] for r in rows]),
               "prompt_tokens": stats([r["prompt_tokens"] for r in rows]),
               "completion_tokens": stats([r["completion_tokens"] for r in rows]),
               "refused": sum(r["refused"] for r in rows)}
    if rows and "plain_total_ms" in rows[0]:
        summary["plain_first_token_ms"] = stats([r["plain_first_token_ms"] for r in rows])
        summary["plain_total_ms"] = stats([r["plain_total_ms"] for r in rows])
        # Per question, our whole answer over the plain call's; the median is robust to a slow outlier.
        ratio = percentile([r["total_ms"] / r["plain_total_ms"] for r in rows], 50)
        summary["overhead"] = None if ratio is None else round(ratio - 1, 3)
        summary["same_text"] = sum(r["same_text"] for r in rows)
    return summary


MEASURING_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"wall_s": time.perf_counter() - started, "peak_rss_kb": usage.ru_maxrss,
                  "exit": os.waitstatus_to_exitcode(status)}), file=sys.stderr)
"""


def run_measured(command: list[str], env: dict | None = None) -> dict:
    """Run `command` in a new process: its wall time, its own peak memory, exit code and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        subprocess.run([sys.executable, "-c", MEASURING_LAUNCHER, *command], env=env, stdout=out, stderr=err,
                       check=True)
        out.seek(0), err.seek(0)
        *stderr, measured = err.read().decode(errors="replace").rstrip("\n").split("\n")
        return {**json.loads(measured), "stdout": out.read().decode(), "stderr": "\n".join(stderr)}


def cold_start(settings: Settings, question: str) -> dict:
    """`rag ask` in a fresh process (index built, model assembled, files in the page cache)."""
    # Every setting goes through its RAG_* variable; none of the caller's own RAG_* variables
    # may add to them (RAG_PASSAGE_CHARS=320 would cut the passages of a configuration without).
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | settings_env(settings)
    command = [sys.executable, "-m", "rag.cli", "ask", question, "--json"]
    run_measured(command, env)  # untimed: leaves the library's model state saved, as any earlier use would
    run = run_measured(command, env)
    if run["exit"] != 0:
        raise RuntimeError(f"cold start failed: {run['stderr'][-500:]}")
    timings = json.loads(run["stdout"])["timings"]
    return {"model": settings.model, "process_to_answer_s": round(run["wall_s"], 2),
            "in_process_total_ms": timings["total_ms"], "peak_rss_mb": round(run["peak_rss_kb"] / 1024, 1)}


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "date": time.strftime("%Y-%m-%d %H:%M")}


def run_bench(base: Settings, sections: Iterable[str] = SECTIONS, questions: int = 20, scales: Iterable[int] = (10_000, 100_000),
              index_chunks: int = 1000, fast_model: str | None = None, out: Path = BENCH_DIR,
              log: Callable[[str], None] = print) -> dict:
    """Run the chosen sections, merge them into out/results.json, write out/results.md."""
    from rag.index.build import ensure_index
    from rag.models.embed import make_embedder

    asked = factual_questions(questions)
    results = _load(out / "results.json")
    results.update(machine=machine(), questions=len(asked))
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        work = Path(tmp)
        base = base.model_copy(update={"index_dir": work / "seed-index"})
        embedder = make_embedder(base.embedding_model)
        store = ensure_index(base, embedder, progress=False)
        configs = configurations(base, fast_model)
        runners = {
            # Alone, because eight models loaded at once slow each library answer's start by about 0.15 s.
            "default_alone": (f"default alone: {len(asked)} questions",
                              lambda: bench_answers({"default": configs["default"]}, asked, embedder, store, log)["default"]),
            "answers": (f"answers: {len(asked)} questions x {len(configs)} configurations, interleaved",
                        lambda: bench_answers(configs, asked, embedder, store, log)),
            "retrieval": (f"retrieval: seeds and {', '.join(map(str, scales))} synthetic chunks",
                          lambda: bench_retrieval(base, asked, embedder, store, list(scales), work)),
            "indexing": (f"indexing: {index_chunks} chunks", lambda: bench_indexing(base, embedder, index_chunks, work)),
            "cold_start": ("cold start", lambda: {name: cold_start(configs[name][0], asked[0]) for name in ("default", "fast")}),
        }
        for section in (name for name in SECTIONS if name in sections):
            title, run = runners[section]
            log(title)
            # When and under what load each section was measured (runs of single sections merge).
            results.setdefault("measured", {})[section] = {**machine(), "n_threads": base.n_threads or os.cpu_count(),
                                                           "questions": len(asked)}
            results[section] = run()
    results["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results["targets"] = check_targets(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(render_markdown(results))
    return results


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
