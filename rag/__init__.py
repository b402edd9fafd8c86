"""A local, private question-answering chatbot over your documents, with checked citations.

    >>> from rag import ask
    >>> ask("Who is Colin Clarke?").text

Importing `rag` loads no model and opens no index: that happens on first use.
"""

from typing import Any

from rag.errors import (
    DocumentError,
    IndexBusyError,
    IndexDamagedError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidQuestionError,
    LLMServerError,
    ModelIntegrityError,
    ModelNotFoundError,
    PromptTemplateError,
    RagError,
    UnreadableError,
)
from rag.settings import Settings
from rag.types import Answer, Chunk, Citation, Document, Passage, Timings


def ask(question: str, history: list[dict] | None = None, settings: Settings | None = None, **options: Any) -> Answer:
    """Answer `question` from the indexed documents, with checked citations (see rag.pipeline)."""
    from rag.pipeline import ask as _ask

    return _ask(question, history, settings, **options)


def __getattr__(name: str) -> Any:
    # RAG lives in rag.pipeline, which imports the heavy stages; load it only on demand.
    if name == "RAG":
        from rag.pipeline import RAG

        return RAG
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


__all__ = [
    "ask", "RAG", "Settings", "Answer", "Timings", "Chunk", "Citation", "Document", "Passage",
    # every exception of rag.errors
    "RagError", "InvalidQuestionError", "IndexNotFoundError", "IndexMismatchError", "IndexDamagedError",
    "IndexBusyError", "ModelNotFoundError", "ModelIntegrityError", "LLMServerError", "DocumentError",
    "UnreadableError", "PromptTemplateError",
]
