"""The project's exceptions: one base class, messages that say what to do.

    RagError
     ├── InvalidQuestionError   empty, blank, too long or not text
     ├── IndexNotFoundError     no index yet
     ├── IndexMismatchError     index built with other embedding/chunk settings
     ├── IndexDamagedError      index files unreadable or crashing the reader
     ├── IndexBusyError         another process is writing the index
     ├── ModelNotFoundError     catalogue entry not installed, or no such file
     ├── ModelIntegrityError    sha256 of a model file differs from the pin
     ├── LLMServerError         the OpenAI-compatible LLM server is unreachable or failed
     ├── DocumentError          no readable documents, bad upload
     │    └── UnreadableError   this file cannot be indexed (encrypted or scanned PDF, damaged, not text)
     └── PromptTemplateError    missing template or placeholder

Front ends (CLI, UI) print `str(error)` as one line; no traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.index.store import IndexInfo


class RagError(Exception):
    """Base class: every expected failure of the project."""


class InvalidQuestionError(RagError, ValueError):
    pass


class IndexNotFoundError(RagError):
    pass


class IndexMismatchError(RagError):
    def __init__(self, message: str, info: IndexInfo | None = None):
        super().__init__(message)
        self.info = info  # the index's IndexInfo, when the mismatch is found on opening it


class IndexDamagedError(RagError):
    pass


class IndexBusyError(RagError):
    pass


class ModelNotFoundError(RagError):
    pass


class ModelIntegrityError(RagError):
    pass


class LLMServerError(RagError):
    pass


class DocumentError(RagError):
    pass


class UnreadableError(DocumentError):
    """One file cannot be indexed; the message says why, without the file's name."""


class PromptTemplateError(RagError):
    pass
