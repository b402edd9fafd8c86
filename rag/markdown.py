"""Markdown tables for the reports (`rag bench`'s bench/results.md; the evaluation's report).

    >>> print(table(["a", "b"], [[1, None]]))
    | a | b |
    |---|---|
    | 1 |  |
"""

from __future__ import annotations


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table; a cell is shown with str(), None as an empty cell."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
