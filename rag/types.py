"""Value types passed between the pipeline stages (all frozen)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Document:
    source: str  # file name relative to the documents folder
    text: str  # the extracted text (rag/ingest/extract.py): every offset points into it
    sha256: str  # of the file's bytes
    pages: tuple[int, ...] | None = None  # start offset of each page (PDF); None: the format has no pages


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    start: int  # source_text[start:end] == text
    end: int
    text: str


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk as shown to the model; `n` is its [n] number (1-based)."""

    n: int
    chunk_id: str
    source: str
    start: int
    end: int
    text: str
    score: float = 0.0


@dataclass(frozen=True)
class Citation:
    """A checked citation: `quote == source_text[start:end]` (the document's extracted text)."""

    n: int
    source: str
    start: int
    end: int
    quote: str
    page: int | None = None  # 1-based page the quote starts on (PDF); None where the format has no pages


@dataclass(frozen=True)
class Timings:
    """Where an answer's time went (ms from the question) and its token counts; first_token_ms is
    None when the model wrote nothing (a refusal without passages)."""

    retrieve_ms: float = 0.0
    first_token_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Answer:
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    grounding: float = 0.0
    timings: Timings = field(default_factory=Timings)  # to_dict(): a dict of the same keys
    query: str = ""  # what was searched (differs from the question for follow-ups)
    raw_text: str = ""  # what the model wrote, before the citation check
    answer_mode: str = "retrieval"  # "library": the whole library was in the prompt; "retrieval": top passages
    removed: list[str] = field(default_factory=list)  # answer sentences the check took out, whole
    verification: list[str] = field(default_factory=list)  # how each kept sentence was verified
    confidence: float | None = None  # the decision's probability that the answer is supported
    reason: str = ""  # why it was answered or refused
    signals: dict = field(default_factory=dict)  # what the decision weighed (see rag.answer.decide)

    def to_dict(self) -> dict:
        return asdict(self)
