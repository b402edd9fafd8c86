"""Propose new QA pairs from indexed passages with the local LLM.

A proposal is admitted only when its answer occurs verbatim in the passage it
came from (and the question does not simply contain the answer). Admitted
pairs go to a candidate file for a person to review; nothing is merged into
the QA set automatically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from rag.answer.generate import Generator
from rag.answer.prompts import load_template, render
from rag.ingest.sentences import sentence_spans
from rag.types import Chunk

_QUESTION = re.compile(r"^\s*Question:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
_ANSWER = re.compile(r"^\s*Answer:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
MAX_ANSWER_CHARS = 80


@dataclass(frozen=True)
class Proposal:
    question: str
    answer: str


def parse_proposal(reply: str) -> Proposal | None:
    question, answer = _QUESTION.search(reply), _ANSWER.search(reply)
    if not question or not answer:
        return None
    return Proposal(question.group(1).strip(), answer.group(1).strip().strip('"').rstrip("."))


def admit(proposal: Proposal | None, chunk: Chunk) -> tuple[bool, str]:
    """(admitted, reason): the answer must be a short verbatim span of the passage."""
    if proposal is None:
        return False, "unparsable reply"
    if not proposal.answer or len(proposal.answer) > MAX_ANSWER_CHARS:
        return False, "answer empty or too long"
    if proposal.answer not in chunk.text:
        return False, "answer not verbatim in the passage"
    if proposal.answer.lower() in proposal.question.lower():
        return False, "question gives the answer away"
    if not proposal.question.endswith("?"):
        return False, "not a question"
    return True, "admitted"


def evidence_sentence(chunk: Chunk, answer: str) -> tuple[int, int]:
    """Source offsets of the chunk sentence holding the answer."""
    at = chunk.text.index(answer)
    for start, end in sentence_spans(chunk.text):
        if start <= at < end:
            return chunk.start + start, chunk.start + end
    return chunk.start + at, chunk.start + at + len(answer)


def propose(chunks: list[Chunk], generator: Generator, count: int, progress: bool = True) -> tuple[list[dict], dict]:
    """Up to `count` candidate items from chunks spread over the corpus; also reasons for rejections."""
    step = max(1, len(chunks) // max(1, count))
    picked = chunks[::step][:count]
    template = load_template("generate_qa")
    candidates: list[dict] = []
    reasons: dict[str, int] = {}
    for number, chunk in enumerate(tqdm(picked, desc="Proposing", unit="passage", disable=not progress), start=1):
        reply = "".join(generator.stream([{"role": "user", "content": render(template, passage=chunk.text)}], 96))
        proposal = parse_proposal(reply)
        ok, reason = admit(proposal, chunk)
        reasons[reason] = reasons.get(reason, 0) + 1
        if ok and proposal is not None:  # admitted: parsed
            start, end = evidence_sentence(chunk, proposal.answer)
            candidates.append({
                "id": f"gen{number:03d}", "question": proposal.question, "answer": proposal.answer, "accept": [],
                "source": chunk.source, "evidence_offsets": [start, end], "type": "generated", "history": [],
                "review": "candidate: check the question is natural and the answer right, then copy it into qa.jsonl",
            })
    return candidates, reasons


def write_candidates(candidates: list[dict], path: Path, docs_dir: Path) -> Path:
    """Write candidates with their evidence text taken from the source file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for item in candidates:
            start, end = item.pop("evidence_offsets")
            text = (Path(docs_dir) / item["source"]).read_text(encoding="utf-8")
            out.write(json.dumps({**item, "evidence": [text[start:end]]}, ensure_ascii=False) + "\n")
    return path
