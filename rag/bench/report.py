"""What `rag bench` found, against the issue's targets, as markdown (bench/results.md).

Reads only the results dict that rag/bench/run.py measures and merges; measures nothing.
"""

from __future__ import annotations

from rag.markdown import table

TARGETS = {"retrieval_ms_p50_at_100000": 50, "indexing_vs_plain": 0.80}
# Per configuration: first token and whole answer p50 (ms), overhead over a plain llama-cpp-python call.
ANSWER_TARGETS: dict[str, dict[str, float]] = {
    "default": {"first_token_ms": 500, "total_ms": 2000},  # the cached library
    "fast": {"first_token_ms": 1500, "total_ms": 4000, "overhead": 0.10},
    "retrieval answers": {"overhead": 0.10},
}
ALONE = "default, alone (no other model loaded)"
_WHAT = {"first_token_ms": "first token p50 (ms)", "total_ms": "whole answer p50 (ms)",
         "overhead": "overhead over plain llama-cpp-python"}


def check_targets(r: dict) -> list[dict]:
    """The issues' targets against the measured numbers, for the configurations that have them."""
    rows = []
    for name, targets in ANSWER_TARGETS.items():
        answers = r.get("answers", {}).get(name)
        for key, bound in (targets.items() if answers else ()):
            value = answers.get(key) if key == "overhead" else answers[key]["p50"]
            rows.append(_target(f"{name}: {_WHAT[key]}", value, bound))
    alone = r.get("default_alone")
    if alone:
        for key, bound in ANSWER_TARGETS["default"].items():
            rows.append(_target(f"default, alone: {_WHAT[key]}", alone[key]["p50"], bound))
    largest = r.get("retrieval", {}).get("100000")
    if largest:
        rows.append(_target("hybrid retrieval p50 at 100,000 chunks (ms)", largest["hybrid"]["p50"],
                            TARGETS["retrieval_ms_p50_at_100000"]))
    if "indexing" in r:
        rows.append(_target("indexing / plain encoding", r["indexing"]["vs_plain"], TARGETS["indexing_vs_plain"], at_least=True))
    return rows


def _target(what: str, value: float | None, bound: float, at_least: bool = False) -> dict:
    met = value is not None and (value >= bound if at_least else value <= bound)
    return {"what": what, "value": value, "target": f"{'≥' if at_least else '≤'} {bound}", "met": met}


def render_markdown(r: dict) -> str:
    m = r.get("machine", {})
    lines = [f"# rag bench: {m.get('date', '')}, {m.get('cpus')} CPUs, load average at start "
             f"{m.get('load_average')}", "",
             "Short factual questions from eval/qa.jsonl; times in ms unless marked.", ""]
    lines += [f"- {name} measured {m['date']}, load average {m['load_average']}, LLM threads {m['n_threads']}"
              + (f", {m['questions']} questions" if name in ("default_alone", "answers", "retrieval") else "")
              for name, m in r.get("measured", {}).items()] + [""]
    lines += _table(["target", "measured", "target", "met"],
                    [[t["what"], t["value"], t["target"], "✔" if t["met"] else "✘"] for t in r.get("targets", [])])
    configurations = dict(r.get("answers", {}))
    if "default_alone" in r:
        configurations[ALONE] = r["default_alone"]
    if configurations:
        lines += ["", "## Answers", ""]
        lines += _table(
            ["configuration", "model", "passages", "passage chars", "prefix cache", "prompt tokens p50",
             "first token p50 / p95", "answer p50 / p95", "plain call first token / answer p50", "overhead", "refused"],
            [[name, a["model"], a["top_k"], a["passage_chars"] or "whole", "on" if a["prefix_cache"] else "off",
              a["prompt_tokens"]["p50"], _pair(a["first_token_ms"]), _pair(a["total_ms"]),
              f"{a['plain_first_token_ms']['p50']} / {a['plain_total_ms']['p50']}" if "overhead" in a else "",
              f"{a['overhead']:+.1%}" if "overhead" in a else "", f"{a['refused']}/{a['questions']}"]
             for name, a in configurations.items()])
    lines += _levers(r)
    if "retrieval" in r:
        lines += ["", "## Retrieval (query embedding included; synthetic corpora use random unit vectors)", ""]
        lines += _table(["corpus", "chunks", "query embedding p50 / p95", "vector search p50 / p95", "BM25 p50 / p95",
                         "hybrid search, all steps p50 / p95", "build s"],
                        [[name, v["chunks"], _pair(v["embed"]), _pair(v["dense_ann"]), _pair(v["bm25"]), _pair(v["hybrid"]),
                          f"{v['build_s']} + BM25 {v['bm25_build_s']}" if "build_s" in v else ""]
                         for name, v in r["retrieval"].items()])
    if "indexing" in r:
        i = r["indexing"]
        lines += ["", "## Indexing", "", f"{i['chunks']} chunks: plain sentence-transformers encoding "
                  f"{i['plain_encode_chunks_per_s']} chunks/s; `build_index` (chunking, embedding, Chroma write, "
                  f"check) {i['build_index_chunks_per_s']} chunks/s = {i['vs_plain']:.0%} of plain."]
    if "cold_start" in r:
        lines += ["", "## Cold start and memory (a new `rag ask` process; model files in the page cache)", ""]
        lines += _table(["configuration", "model", "process start to answer (s)", "peak memory (MB)"],
                        [[n, c["model"], c["process_to_answer_s"], c["peak_rss_mb"]] for n, c in r["cold_start"].items()])
    return "\n".join(lines) + "\n"


def _levers(r: dict) -> list[str]:
    a, rows = r.get("answers", {}), []

    def ab(lever: str, on: str, off: str, key: str = "first_token_ms") -> None:
        if on in a and off in a:
            rows.append([lever, f"{a[on][key]['p50']} (prompt {a[on]['prompt_tokens']['p50']} tokens)",
                         f"{a[off][key]['p50']} (prompt {a[off]['prompt_tokens']['p50']} tokens)",
                         f"{a[on][key]['p50'] - a[off][key]['p50']:+.0f} ms"])

    ab("cached library, default model: first token p50", "default", "retrieval answers")
    ab("cached library, default model: whole answer p50", "default", "retrieval answers", key="total_ms")
    ab("second look (checks, second chance, decision): whole answer p50", "default", "default, second look off",
       key="total_ms")
    ab("prompt lookup (guesses from the prompt, checked in one pass): whole answer p50", "default + prompt lookup",
       "default", key="total_ms")
    ab("cross-check (a fresh answer from the retrieved passages too): whole answer p50", "default + cross-check",
       "default", key="total_ms")
    ab("passage budget, fast model: first token p50", "fast", "fast, passage budget off")
    ab("passage budget, default model: first token p50", "retrieval answers + passage budget", "retrieval answers")
    ab("prefix cache reuse, fast model: first token p50", "fast", "fast, prefix cache off")
    if "fast" in a and "fast" in r.get("cold_start", {}):
        warm, cold = a["fast"]["total_ms"]["p50"], r["cold_start"]["fast"]["process_to_answer_s"] * 1000
        rows.append(["model and index kept loaded (fast): answer", warm, f"{cold:.0f} (new process)", f"{warm - cold:+.0f} ms"])
    if "indexing" in r:
        i = r["indexing"]
        rows.append(["batched embedding: build_index chunks/s", f"{i['build_index_chunks_per_s']} (batch {i['batch_size']})",
                     f"{i['build_index_batch_1_chunks_per_s']} (batch 1)",
                     f"×{i['build_index_chunks_per_s'] / i['build_index_batch_1_chunks_per_s']:.1f}"])
    return ["", "## Latency levers, on and off", ""] + _table(["lever", "on", "off", "effect"], rows) if rows else []


def _pair(s: dict) -> str:
    return f"{s['p50']} / {s['p95']}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return table(header, rows).split("\n")
