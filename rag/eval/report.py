"""Write evaluation results: JSON, a short markdown summary, PNG charts."""

from __future__ import annotations

import json
from pathlib import Path

from rag.markdown import table as markdown_table

# How each metric is labelled and printed, wherever a table shows it.
METRIC_FORMATS = {
    "qa_items": ("questions", "{:.0f}"), "answerable": ("answerable", "{:.0f}"),
    "hit@5": ("hit@5", "{:.1%}"), "mrr": ("MRR", "{:.3f}"), "ndcg@10": ("nDCG@10", "{:.3f}"),
    "accept": ("accepted", "{:.1%}"), "f1": ("F1", "{:.3f}"), "exact_match": ("EM", "{:.1%}"),
    "refusal_recall": ("refused unanswerable", "{:.1%}"), "false_refusal_rate": ("false refusals", "{:.1%}"),
    "refused_answerable": ("answerable refused (n)", "{:.0f}"),
    "citation_precision": ("citation precision", "{:.1%}"), "citation_recall": ("citation recall", "{:.1%}"),
    "grounding": ("grounding", "{:.2f}"), "first_token_ms_p50": ("first token p50 ms", "{:.0f}"),
    "total_ms_p50": ("answer p50 ms", "{:.0f}"), "total_ms_p95": ("answer p95 ms", "{:.0f}"),
}


def _columns(*keys: str, **labels: str) -> list[tuple[str, str, str]]:
    """(key, label, format) for each key; `labels` renames a column in this table only."""
    return [(key, labels.get(key, METRIC_FORMATS[key][0]), METRIC_FORMATS[key][1]) for key in keys]


SUMMARY_COLUMNS = _columns("hit@5", "mrr", "ndcg@10", "accept", "f1", "exact_match", "refusal_recall",
                           "false_refusal_rate", "citation_precision", "citation_recall", "grounding",
                           "first_token_ms_p50", "total_ms_p50", "total_ms_p95")


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def table(rows: list[tuple[str, dict]], columns: list[tuple[str, str, str]] = SUMMARY_COLUMNS) -> str:
    return markdown_table(["", *(label for _, label, _ in columns)],
                          [[name, *(_fmt(s.get(key), p) for key, _, p in columns)] for name, s in rows])


def corpus_of(report: dict) -> str:
    return report["settings"].get("corpus", "seeds")  # reports from before corpora were named are the seeds'


def _answer_modes(report: dict) -> str:
    modes: dict[str, int] = {}
    for row in report["rows"]:
        modes[row.get("answer_mode") or "none"] = modes.get(row.get("answer_mode") or "none", 0) + 1
    return ", ".join(f"{mode} {count}" for mode, count in sorted(modes.items()))


def markdown(report: dict) -> str:
    s = report["settings"]
    about = f" ({s['about']})" if s.get("about") else ""
    lines = [
        f"# Evaluation report: corpus `{corpus_of(report)}`",
        "",
        f"Documents `{s.get('docs', 'seeds')}`{about}; {s['qa_items']} questions from `{s.get('qa', 'eval/qa.jsonl')}`. "
        f"Model `{s['model']}`, retrieval `{s['retrieval_mode']}`, top_k {s['top_k']}; "
        f"answered from (answer mode): {_answer_modes(report)}. Made by `rag eval --corpus {corpus_of(report)}`.",
        "",
        "## Overall",
        "",
        table([("all", report["overall"])]),
        "",
        "## By question type",
        "",
        table(sorted(report["by_type"].items())),
        "",
        "![accuracy by type](charts/accuracy_by_type.png)",
        "![latency](charts/latency.png)",
        "",
        "## Misses (answerable, not accepted)",
        "",
    ]
    for row in report["rows"]:
        if row["answerable"] and not row.get("accept"):
            lines.append(f"- `{row['id']}` ({row['type']}) {row['question']} — gold: {row['gold']!r}; got: {row['answer']!r}")
    lines += ["", "## Unanswerable items answered", ""]
    for row in report["rows"]:
        if not row["answerable"] and not row["refused"]:
            lines.append(f"- `{row['id']}` {row['question']} — got: {row['answer']!r}")
    return "\n".join(lines) + "\n"


def charts(report: dict, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    types = sorted(report["by_type"])
    values = [report["by_type"][t]["accept"] if report["by_type"][t]["accept"] is not None
              else report["by_type"][t]["refusal_recall"] or 0.0 for t in types]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(types, values, color="#4c72b0")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accepted (refused, for unanswerable)")
    ax.set_title(f"Answer accuracy by question type: {corpus_of(report)}")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    accuracy = folder / "accuracy_by_type.png"
    fig.savefig(accuracy, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    totals = [r["total_ms"] / 1000 for r in report["rows"] if r["total_ms"] is not None]
    firsts = [r["first_token_ms"] / 1000 for r in report["rows"] if r["first_token_ms"] is not None]
    ax.hist([firsts, totals], bins=20, label=["first token", "whole answer"])
    ax.set_xlabel("seconds")
    ax.set_ylabel("questions")
    ax.set_title(f"Latency on this machine: {corpus_of(report)}")
    ax.legend()
    fig.tight_layout()
    latency = folder / "latency.png"
    fig.savefig(latency, dpi=100)
    plt.close(fig)
    return [accuracy, latency]


def write_report(report: dict, folder: Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "report.json"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    md_path = folder / "report.md"
    md_path.write_text(markdown(report), encoding="utf-8")
    return [json_path, md_path, *charts(report, folder / "charts")]


def write_comparison(results: list[tuple[str, dict]], folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compare.json").write_text(json.dumps({name: r["overall"] for name, r in results}, indent=1))
    path = folder / "compare.md"
    corpus = corpus_of(results[0][1]) if results else "seeds"
    path.write_text(f"# Configurations compared on corpus `{corpus}`\n\n"
                    + table([(name, r["overall"]) for name, r in results]) + "\n")
    return path


CORPUS_ROWS = _columns("qa_items", "answerable", "hit@5", "mrr", "accept", "false_refusal_rate", "refused_answerable",
                       "refusal_recall", "citation_precision", "citation_recall", "grounding", "first_token_ms_p50",
                       "total_ms_p50", "total_ms_p95", refusal_recall="unanswerable refused")


def side_by_side(reports: list[dict]) -> str:
    """One column per corpus, one row per metric: the default configuration on each corpus.

    >>> side_by_side([{"settings": {"corpus": "a", "qa_items": 2}, "overall": {"accept": 0.5}, "rows": []}]).splitlines()[:3]
    ['| metric | `a` |', '|---|---|', '| questions | 2 |']
    """
    cells = []
    for report in reports:
        values = dict(report["overall"], qa_items=report["settings"]["qa_items"],
                      refused_answerable=sum(1 for r in report["rows"] if r["answerable"] and r["refused"]))
        cells.append(values)
    return markdown_table(["metric", *(f"`{corpus_of(r)}`" for r in reports)],
                          [[label, *(_fmt(c.get(key), p) for c in cells)] for key, label, p in CORPUS_ROWS])
