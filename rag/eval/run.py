"""Offline evaluation: run the QA set through the same pipeline users get, score it.

No LLM judge: retrieval is scored against gold evidence spans, answers by
exact match / token F1 / accepted variants, refusals against the items marked
unanswerable, citations by overlap with gold evidence. Same inputs, same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tqdm import tqdm

from rag.answer.cite import is_refusal, strip_markers
from rag.eval import metrics as m
from rag.pipeline import RAG
from rag.question import search_query
from rag.settings import PROJECT_ROOT, Settings

EVAL_DIR = PROJECT_ROOT / "eval"
QA_PATH = EVAL_DIR / "qa.jsonl"
RANK_DEPTH = 10  # passages ranked for retrieval metrics


@dataclass(frozen=True)
class Corpus:
    """A documents folder and the QA set written from it; its reports and gate live in `out`."""

    name: str
    docs: Path
    qa: Path
    out: Path
    about: str = ""

    @property
    def thresholds(self) -> Path:
        return self.out / "thresholds.json"

    def settings(self, base: Settings) -> Settings:
        """`base` pointed at this corpus, with an index of its own: `<index_dir>/eval/<name>`
        (on a Chroma server, collections `<prefix>-eval-<name>`), so that neither the
        index a user built nor another corpus is evaluated by mistake.

        >>> CORPORA["legal-md"].settings(Settings(index_dir="/x")).index_dir
        PosixPath('/x/eval/legal-md')
        """
        return base.model_copy(update={
            "docs_dir": self.docs, "index_dir": Path(base.index_dir) / "eval" / self.name,
            "chroma_collection": f"{base.chroma_collection}-eval-{self.name}",
        })


LEGAL_MD = EVAL_DIR / "corpora" / "legal-md"
CORPORA = {
    "seeds": Corpus("seeds", PROJECT_ROOT / "seeds", QA_PATH, EVAL_DIR,
                    "three news articles (well-punctuated prose, one paragraph a line)"),
    "legal-md": Corpus("legal-md", LEGAL_MD / "docs", LEGAL_MD / "qa.jsonl", LEGAL_MD,
                       "GPL-3 and LGPL-3, hard-wrapped plain text, and four pages of pip's documentation in Markdown"),
}
SEEDS = CORPORA["seeds"]


def shown(path: Path) -> str:
    """A path as a report names it: relative to the project when inside it."""
    path = Path(path).resolve()
    return path.relative_to(PROJECT_ROOT).as_posix() if path.is_relative_to(PROJECT_ROOT) else str(path)


def load_qa(path: Path = QA_PATH) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def sources_of(item: dict) -> list[str]:
    source = item.get("source") or []
    return [source] if isinstance(source, str) else list(source)


def gold_spans(item: dict, docs_dir: Path) -> list[tuple[str, int, int]]:
    """(source, start, end) of every evidence span, located in the item's source files."""
    spans = []
    for evidence in item.get("evidence", []):
        for source in sources_of(item):
            at = _read(Path(docs_dir) / source).find(evidence)
            if at >= 0:
                spans.append((source, at, at + len(evidence)))
                break
    return spans


@lru_cache(maxsize=256)
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def is_relevant(passage: tuple[str, int, int], gold: list[tuple[str, int, int]]) -> bool:
    """A passage is relevant when it holds an evidence span (at least half of it, when
    a chunk boundary cuts the span)."""
    source, start, end = passage
    for g_source, g_start, g_end in gold:
        if g_source == source and min(end, g_end) - max(start, g_start) >= (g_end - g_start) / 2:
            return True
    return False


def score_item(rag: RAG, item: dict, docs_dir: Path) -> dict:
    history = item.get("history") or []
    answerable = item["type"] != "unanswerable"
    gold = gold_spans(item, docs_dir)
    ranked = rag.retrieve(search_query(item["question"], history), RANK_DEPTH)
    ids = [p.chunk_id for p in ranked]
    relevant = {p.chunk_id for p in ranked if is_relevant((p.source, p.start, p.end), gold)}
    answer = rag.ask(item["question"], history)
    text = strip_markers(answer.text)
    cited = [(c.source, c.start, c.end) for c in answer.citations]
    row = {
        "id": item["id"], "type": item["type"], "question": item["question"], "gold": item.get("answer", ""),
        "answer": answer.text, "raw_answer": answer.raw_text, "refused": answer.refused,
        "model_refused": bool(answer.raw_text) and is_refusal(answer.raw_text), "answerable": answerable,
        "grounding": None if answer.refused else answer.grounding,
        "citations": len(cited),
        "cited_overlapping": sum(any(m.overlaps(c, g) for g in gold) for c in cited),
        "gold_spans": len(gold),
        "gold_cited": sum(any(m.overlaps(c, g) for c in cited) for g in gold),
        "answer_mode": answer.answer_mode, "confidence": answer.confidence, "signals": answer.signals,
        "reason": answer.reason, "removed": answer.removed,
        "first_token_ms": answer.timings.first_token_ms, "total_ms": answer.timings.total_ms,
        "prompt_tokens": answer.timings.prompt_tokens, "completion_tokens": answer.timings.completion_tokens,
    }
    if answerable:
        row.update({
            "hit@1": m.hit_at_k(ids, relevant, 1), "hit@3": m.hit_at_k(ids, relevant, 3),
            "hit@5": m.hit_at_k(ids, relevant, 5), "hit@10": m.hit_at_k(ids, relevant, 10),
            "mrr": m.reciprocal_rank(ids, relevant), "ndcg@10": m.ndcg_at_k(ids, relevant, 10),
            "exact_match": m.exact_match(text, item["answer"]), "f1": m.token_f1(text, item["answer"]),
            "accept": 0.0 if answer.refused else m.accept_match(text, item["answer"], item.get("accept", [])),
        })
    return row


def summarize(rows: list[dict]) -> dict:
    """Aggregate metrics over `rows` (answer metrics over answerable items only)."""
    answerable = [r for r in rows if r["answerable"]]
    precision, recall = m.precision_recall([r["refused"] for r in rows], [not r["answerable"] for r in rows])
    kept = sum(r["citations"] for r in answerable)
    gold = sum(r["gold_spans"] for r in answerable)
    generation = [r for r in rows if r["completion_tokens"] and r["first_token_ms"] is not None]
    summary: dict[str, float | None] = {"items": len(rows), "answerable": len(answerable)}
    for key in ("hit@1", "hit@3", "hit@5", "hit@10", "mrr", "ndcg@10", "exact_match", "f1", "accept"):
        summary[key] = m.mean([r[key] for r in answerable])
    summary.update({
        "refusal_precision": precision if len(answerable) < len(rows) else None,
        "refusal_recall": recall if len(answerable) < len(rows) else None,
        "false_refusal_rate": m.mean([float(r["refused"]) for r in answerable]),
        # of the refused answerable items, how many the model refused itself (the rest: citation check)
        "false_refusals_by_model": m.mean([float(r.get("model_refused", False)) for r in answerable if r["refused"]]),
        "citation_precision": sum(r["cited_overlapping"] for r in answerable) / kept if kept else None,
        "citation_recall": sum(r["gold_cited"] for r in answerable) / gold if gold else None,
        "grounding": m.mean([r["grounding"] for r in rows]),
        "first_token_ms_p50": m.percentile([r["first_token_ms"] for r in rows], 50),
        "first_token_ms_p95": m.percentile([r["first_token_ms"] for r in rows], 95),
        "total_ms_p50": m.percentile([r["total_ms"] for r in rows], 50),
        "total_ms_p95": m.percentile([r["total_ms"] for r in rows], 95),
        "tokens_per_s": m.mean([
            r["completion_tokens"] / max(1e-3, (r["total_ms"] - r["first_token_ms"]) / 1000) for r in generation
        ]),
    })
    return summary


def run_eval(settings: Settings | None = None, corpus: Corpus = SEEDS, limit: int | None = None,
             progress: bool = True, rag: RAG | None = None) -> dict:
    """Score the corpus's QA set; returns {"settings", "overall", "by_type", "rows"}.

    Without `rag`, the pipeline is built on `corpus.settings(settings)`: the corpus's
    documents in an index of its own. A given `rag` is used as it is.
    """
    settings = settings or Settings()
    rag = rag or RAG(corpus.settings(settings), progress=progress)
    items = load_qa(corpus.qa)[:limit]
    docs_dir = Path(rag.retriever.store.info.docs_dir)
    desc = f"Evaluating {corpus.name}"
    rows = [score_item(rag, item, docs_dir) for item in tqdm(items, desc=desc, unit="q", disable=not progress)]
    types = sorted({r["type"] for r in rows})
    return {
        "settings": {"corpus": corpus.name, "about": corpus.about, "docs": shown(docs_dir), "qa": shown(corpus.qa),
                     "model": settings.model, "retrieval_mode": settings.retrieval_mode, "top_k": settings.top_k,
                     "chunk_size": settings.chunk_size, "answer_mode": settings.answer_mode, "qa_items": len(rows)},
        "overall": summarize(rows),
        "by_type": {t: summarize([r for r in rows if r["type"] == t]) for t in types},
        "rows": rows,
    }


def gate_failures(overall: dict, thresholds: dict) -> list[str]:
    """Thresholds: {"metric": minimum} or {"metric": {"max": value}}; the failures, in words."""
    failures = []
    for name, bound in thresholds.items():
        if name.startswith("_"):  # comments
            continue
        value = overall.get(name)
        if isinstance(bound, dict) and "max" in bound:
            if value is None or value > bound["max"]:
                failures.append(f"{name} = {value} is above the allowed {bound['max']}")
        elif value is None or value < bound:
            failures.append(f"{name} = {value} is below the threshold {bound}")
    return failures


def iter_configs(models: Iterable[str], default: Settings) -> list[tuple[str, Settings]]:
    """The two answer modes, retrieval modes on the default model, then each other model."""
    configs = [(f"{default.model} / {mode} answers", default.model_copy(update={"answer_mode": mode}))
               for mode in ("library", "retrieval")]
    configs += [(f"{default.model} / {mode}", default.model_copy(update={"retrieval_mode": mode, "answer_mode": "retrieval"}))
                for mode in ("dense", "bm25")]  # hybrid retrieval is the "retrieval answers" row
    configs += [(f"{name} / {default.retrieval_mode}", default.model_copy(update={"model": name}))
                for name in models if name != default.model]
    return configs
