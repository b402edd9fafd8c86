"""The `rag` command line: ask, index, models, ui, eval, bench.

Expected failures (RagError) print one line on stderr and exit with status 1;
no traceback. Every subcommand takes a flag for each `Settings` field (`--top-k`,
`--model`, `--no-second-look`, ...), derived from the field's type and description.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from rag.errors import RagError
from rag.flags import add_settings_flags, settings_from
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.eval.run import Corpus


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import RAG
    from rag.question import validate_question
    from rag.ui.html import verification_summary

    settings = settings_from(args)
    validate_question(args.question, settings.max_question_chars)  # before anything loads
    # Print the checked answer, not the raw stream: the checker may drop citations.
    answer = RAG(settings).warm_up().ask(args.question)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            page = f" page {c.page}," if c.page is not None else ""
            print(f"  [{c.n}] {c.source}{page} chars {c.start}-{c.end}: \"{_short(c.quote)}\"")
    seconds = f"{answer.timings.total_ms / 1000:.1f} s"
    how = f"refused: {answer.reason}" if answer.refused else verification_summary(answer)
    print(f"\n({how}; {seconds})", file=sys.stderr)
    return 0


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cmd_index(args: argparse.Namespace) -> int:
    from rag.index.build import build_index
    from rag.models.embed import make_embedder

    settings = settings_from(args)
    folder = Path(args.path) if args.path else settings.docs_dir
    info = build_index(settings, make_embedder(settings.embedding_model), folder)
    print(f"indexed {info.chunk_count} chunks from {folder} into {settings.index_dir}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rag.models.catalogue import catalogue_rows

    rows = catalogue_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    default = settings_from(args).model
    for row in rows:
        mark = "*" if row["name"] == default else " "
        state = "installed" if row["installed"] else f"not installed ({row['install']})"
        print(f"{mark} {row['name']:<20} {row['role']:<9} {row['size_mb']:>5} MB  {state}")
        print(f"    {row['description']}")
    print("\n* = the model in use; any .gguf file can be chosen with --model PATH")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from rag.ui.app import launch

    launch(settings_from(args), host=args.host, port=args.port)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.eval.report import side_by_side, write_report
    from rag.eval.run import run_eval

    settings = settings_from(args)
    corpora = _eval_corpora(args)
    if args.action == "generate" and len(corpora) > 1:
        raise RagError(f"`rag eval {args.action}` works on one corpus: choose it with --corpus NAME")
    if args.action == "generate":
        return _generate_candidates(settings, corpora[0], args.count)
    if args.action == "calibrate":
        return _calibrate(settings, corpora, args.limit)
    if args.compare:
        for corpus in corpora:
            _compare(settings, corpus, args.limit)
        return 0
    reports = []
    for corpus in corpora:
        print(f"== corpus {corpus.name}: {corpus.docs}, {corpus.qa}", file=sys.stderr)
        report = run_eval(settings, corpus, args.limit)
        paths = write_report(report, corpus.out)
        reports.append(report)
        print(json.dumps({"corpus": corpus.name, **report["overall"]}, indent=1))
        print("wrote " + ", ".join(str(p) for p in paths))
    if len(reports) > 1:
        print(side_by_side(reports))
    return 0


def _eval_corpora(args: argparse.Namespace) -> list[Corpus]:
    """The corpora `rag eval` runs on: --corpus NAME (seeds by default; `all`, and --compare
    without --corpus, run every one), or --docs-dir DIR with --qa FILE for any other folder."""
    from dataclasses import replace

    from rag.eval.run import CORPORA, EVAL_DIR, Corpus

    if args.docs_dir:
        if not args.qa:
            raise RagError("--docs-dir needs --qa FILE: the questions written from those documents")
        docs = Path(args.docs_dir)
        name = docs.resolve().name
        return [Corpus(name, docs, Path(args.qa), Path(args.out or EVAL_DIR / "corpora" / name))]
    name = args.corpus or ("all" if args.compare and not args.qa else "seeds")
    if name != "all" and name not in CORPORA:
        raise RagError(f"unknown corpus {name!r}: choose from {', '.join([*CORPORA, 'all'])}")
    corpora = list(CORPORA.values()) if name == "all" else [CORPORA[name]]
    if args.qa:
        if len(corpora) > 1:
            raise RagError("--qa FILE needs one corpus: choose it with --corpus NAME")
        corpora = [replace(corpora[0], qa=Path(args.qa))]
    if args.out:  # several corpora: one subfolder each
        out = Path(args.out)
        corpora = [replace(c, out=out if len(corpora) == 1 else out / c.name) for c in corpora]
    return corpora


def _compare(settings: Settings, corpus: Corpus, limit: int | None) -> None:
    """The configurations of `iter_configs` on one corpus, sharing its index and embedder."""
    from rag.eval.report import write_comparison, write_report
    from rag.eval.run import iter_configs, run_eval
    from rag.models.catalogue import CATALOGUE, is_installed
    from rag.pipeline import RAG

    installed = [n for n, e in CATALOGUE.items() if e.role == "llm" and is_installed(e)]
    base = RAG(corpus.settings(settings))
    results = []
    for name, config in iter_configs(installed, settings):
        print(f"== {corpus.name}: {name}", file=sys.stderr)
        rag = RAG(corpus.settings(config), embedder=base.embedder, store=base.retriever.store)
        report = run_eval(config, corpus, limit, rag=rag)
        results.append((name, report))
        if config == settings:  # the default configuration also gets the full report
            write_report(report, corpus.out)
    print(write_comparison(results, corpus.out).read_text())


def cmd_bench(args: argparse.Namespace) -> int:
    from rag.bench.run import BENCH_DIR, SECTIONS, run_bench

    quick = args.quick
    sections = args.only.split(",") if args.only else SECTIONS
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        print(f"error: unknown section {sorted(unknown)[0]!r}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    out = Path(args.out or BENCH_DIR)
    results = run_bench(
        settings_from(args), sections, questions=args.questions or (5 if quick else 20),
        scales=[int(n) for n in (args.scale or ("10000" if quick else "10000,100000")).split(",")],
        index_chunks=args.index_chunks or (200 if quick else 1000), fast_model=args.fast_model, out=out,
        log=lambda line: print(line, file=sys.stderr),
    )
    for target in results["targets"]:
        print(f"{'ok  ' if target['met'] else 'MISS'} {target['what']}: {target['value']} (target {target['target']})")
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return 0


def _calibrate(settings: Settings, corpora: list, limit: int | None) -> int:
    """Run each corpus's QA set keeping every checked answer, fit the decision on all their rows
    together, write rag/answer/decision.json (and each corpus's rows beside its report)."""
    from rag.answer.decide import DECISION_PATH
    from rag.eval.calibrate import calibrate, write_decision
    from rag.eval.run import run_eval

    keep_all = settings.model_copy(update={"refusal_threshold": 0.0})
    rows = []
    for corpus in corpora:
        corpus_rows = [dict(row, corpus=corpus.name) for row in run_eval(keep_all, corpus, limit)["rows"]]
        corpus.out.mkdir(parents=True, exist_ok=True)
        (corpus.out / "calibration_rows.json").write_text(json.dumps(corpus_rows, indent=1, ensure_ascii=False))
        rows += corpus_rows
    record = calibrate(rows, settings.model)
    path = write_decision(record, DECISION_PATH)
    print(json.dumps(record, indent=1))
    print(f"wrote {path} and the rows beside each corpus's report")
    return 0


def _generate_candidates(settings: Settings, corpus: Corpus, count: int) -> int:
    from rag.eval.propose import propose, write_candidates
    from rag.pipeline import RAG

    rag = RAG(corpus.settings(settings))
    store = rag.retriever.store
    candidates, reasons = propose(store.chunks(), rag.generator, count)
    path = write_candidates(candidates, corpus.out / "candidates.jsonl", Path(store.info.docs_dir))
    print(f"{len(candidates)} of {count} proposals admitted ({reasons}); review them in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Ask questions about your documents, offline.")
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer a question with checked citations")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")
    ask.add_argument("--verbose", action="store_true", help="also log what happens on the way (stderr)")
    ask.set_defaults(run=cmd_ask)

    index = sub.add_parser("index", help="build or update the index of a documents folder")
    index.add_argument("path", nargs="?", help="documents folder (default: the seeds)")
    index.set_defaults(run=cmd_index)

    models = sub.add_parser("models", help="list the model catalogue and what is installed")
    models.add_argument("--json", action="store_true")
    models.set_defaults(run=cmd_models)

    evaluate = sub.add_parser("eval", help="score answer quality on the QA set (offline, no judge)")
    evaluate.add_argument("action", nargs="?", choices=["run", "generate", "calibrate"], default="run",
                          help="run: score the QA set; generate: propose new QA pairs for review; "
                          "calibrate: fit the refusal decision (rag/answer/decision.json) with cross-validation")
    evaluate.add_argument("--count", type=int, default=20, help="generate: passages to propose from")
    evaluate.add_argument("--corpus", help="seeds (default: seeds/, eval/qa.jsonl), legal-md (eval/corpora/legal-md/), "
                          "or all; each corpus has its own index (<index-dir>/eval/<name>) and report folder")
    evaluate.add_argument("--qa", help="QA file (default: the corpus's); with --docs-dir, another corpus's questions")
    evaluate.add_argument("--out", help="report folder (default: the corpus's: eval/, eval/corpora/<name>/)")
    evaluate.add_argument("--limit", type=int, help="only the first N questions")
    evaluate.add_argument("--compare", action="store_true",
                          help="compare answer modes, retrieval modes and installed models (every corpus unless --corpus)")
    evaluate.set_defaults(run=cmd_eval)

    ui = sub.add_parser("ui", help="open the chat in the browser")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=7860)
    ui.set_defaults(run=cmd_ui)

    bench = sub.add_parser("bench", help="measure latency, retrieval at scale, indexing, cold start (bench/)")
    bench.add_argument("--quick", action="store_true", help="5 questions, 10,000 synthetic chunks, 200 to index")
    bench.add_argument("--questions", type=int, help="questions per configuration (default 20)")
    bench.add_argument("--scale", help="synthetic corpus sizes, comma-separated (default 10000,100000)")
    bench.add_argument("--index-chunks", type=int, help="chunks to index for throughput (default 1000)")
    bench.add_argument("--fast-model", help="model of the fast configuration (default qwen2.5-coder-0.5b)")
    bench.add_argument("--only", help="comma-separated sections: default_alone,answers,retrieval,indexing,cold_start")
    bench.add_argument("--out", help="results folder (default bench/)")
    bench.set_defaults(run=cmd_bench)

    for subparser in (ask, index, models, evaluate, ui, bench):
        add_settings_flags(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING, format="%(message)s")
    try:
        return args.run(args)
    except RagError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValidationError as error:  # a bad setting from a flag or RAG_* variable
        problem = error.errors()[0]
        print(f"error: setting {'.'.join(map(str, problem['loc']))}: {problem['msg']}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
