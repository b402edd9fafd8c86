"""What a question and its conversation must be, and the search query they make.

    >>> search_query("What did he say about drones?", [{"role": "user", "content": "Who is Colin Clarke?"}])
    'Who is Colin Clarke? What did he say about drones?'

Checked before anything loads (rag.pipeline, and `ask()` for its defaults).
"""

from __future__ import annotations

import re

from rag.errors import InvalidQuestionError


def validate_question(question: object, max_chars: int) -> str:
    if not isinstance(question, str):
        raise InvalidQuestionError(f"the question must be text, not {type(question).__name__}")
    if not question.strip():
        raise InvalidQuestionError("the question is empty: type a question about the documents")
    if len(question) > max_chars:
        raise InvalidQuestionError(
            f"the question is {len(question)} characters long; the limit is {max_chars} "
            "(set RAG_MAX_QUESTION_CHARS to change it)"
        )
    return question.strip()


def validate_history(history: object, max_turns: int, max_chars: int) -> list[dict]:
    """The history, checked for shape and size before anything is loaded: an oversized turn
    would otherwise be searched with and tokenized under the model lock, again and again."""
    if history is None:
        return []
    if not isinstance(history, list) or not all(
        isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str)
        for t in history
    ):
        raise InvalidQuestionError("history must be a list of {'role': 'user'|'assistant', 'content': str}")
    if len(history) > max_turns:
        raise InvalidQuestionError(
            f"the conversation history has {len(history)} turns; the limit is {max_turns} "
            "(start a new chat, or set RAG_MAX_HISTORY_TURNS to change it)"
        )
    for n, turn in enumerate(history, 1):
        if len(turn["content"]) > max_chars:
            raise InvalidQuestionError(
                f"turn {n} of the conversation history is {len(turn['content'])} characters long; the limit "
                f"is {max_chars} (set RAG_MAX_HISTORY_CHARS to change it)"
            )
    return history


# Words that point back into the conversation: "he", "those weapons", "which other country", "in return".
_REFERS_BACK = re.compile(
    r"^\s*(?:and|but|so|also|then|what about|how about)\b"
    r"|\b(?:he|she|him|his|her|hers|they|them|their|theirs|its|this|that|these|those|there|then"
    r"|other|another|else|same|besides|former|latter|also|too|in return|afterwards?)\b",
    re.IGNORECASE,
)


def depends_on_conversation(question: str) -> bool:
    """Does the question lean on earlier turns? "Who founded it?" does; "What is the capital of France?" not."""
    return bool(_REFERS_BACK.search(question))


def search_query(question: str, history: list[dict]) -> str:
    """A standalone search query: a follow-up borrows the previous user question's words;
    a question that stands alone (a change of topic) is searched by itself."""
    earlier = [t["content"] for t in history if t["role"] == "user"]
    if earlier and depends_on_conversation(question):
        return f"{earlier[-1]} {question}"
    return question
