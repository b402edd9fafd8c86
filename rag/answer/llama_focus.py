"""Hiding passages of the cached library from the model for one reply, without reading anything again.

The model's cache holds every token of the library. Removing a passage's tokens
from the cache (llama.cpp's `llama_memory_seq_rm` on a range of positions) leaves
the others where they were: the model then attends only to the passages left, as if
retrieval had chosen them, but nothing is read again. Afterwards the library's cache
is put back from a copy kept in memory (a few hundredths of a second for 5,000 tokens),
the same copy that puts the library back after a prompt that does not start with it.

    >>> spans = TokenSpans(pieces)            # the held prefix's tokens, as bytes
    >>> with hidden(llm, prefix, spans.covering(["[7] Passage text ..."]), backup):
    ...     llm.create_chat_completion(...)  # passage 7 is not seen
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llama_cpp import Llama


class TokenSpans:
    """Where texts of a prompt lie in its tokens."""

    def __init__(self, pieces: Sequence[bytes]):
        self.starts: list[int] = []  # byte offset of each token
        at = 0
        for piece in pieces:
            self.starts.append(at)
            at += len(piece)
        self.ends = self.starts[1:] + [at]
        self.text = b"".join(pieces)

    def covering(self, texts: Sequence[str]) -> list[tuple[int, int]]:
        """Token ranges [start, end) lying wholly inside each text (texts not found are skipped).

        A token that straddles a text's edge (".\\n\\n" before the next passage's number)
        stays: hiding only whole tokens of the text never hides a word of its neighbour.
        """
        ranges = []
        for text in texts:
            where = self.text.find(text.encode("utf-8"))
            if where < 0:
                continue
            first = bisect.bisect_left(self.starts, where)
            last = bisect.bisect_right(self.ends, where + len(text.encode("utf-8")))
            if first < last:
                ranges.append((first, last))
        return ranges


def keep_prefix(llm: Llama, prefix_tokens: int) -> None:
    """Drop everything the cache holds after its first `prefix_tokens` tokens (the last question, its answer)."""
    import llama_cpp

    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llm.ctx), -1, prefix_tokens, -1)
    llm.n_tokens = prefix_tokens


def seq_state(llm: Llama, prefix_tokens: int) -> bytes:
    """A copy of sequence 0 of the model's cache, cut to its first `prefix_tokens` tokens (the held library)."""
    import llama_cpp

    keep_prefix(llm, prefix_tokens)
    size = llama_cpp.llama_state_seq_get_size(llm.ctx, 0)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(llm.ctx, buffer, size, 0)
    # string_at copies the bytes at once; slicing a ctypes array would build a list of ints
    # first (1.5 s and about 0.9 GB more for a 100 MB cache).
    return ctypes.string_at(buffer, written)


@contextlib.contextmanager
def hidden(llm: Llama, prefix: list[int], ranges: list[tuple[int, int]], backup: bytes) -> Iterator[None]:
    """Within the block the cache lacks `ranges`; after it, it holds exactly `prefix` again (from `backup`)."""
    import llama_cpp

    keep_prefix(llm, len(prefix))
    memory = llama_cpp.llama_get_memory(llm.ctx)
    for start, end in ranges:
        llama_cpp.llama_memory_seq_rm(memory, 0, start, end)
    try:
        yield
    finally:
        put_back(llm, prefix, backup)


def put_back(llm: Llama, prefix: list[int], backup: bytes) -> bool:
    """Make the cache hold `prefix` again from its copy `backup` (whatever was read since); False if it would not load."""
    import llama_cpp

    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llm.ctx), -1, 0, -1)
    data = (ctypes.c_uint8 * len(backup)).from_buffer_copy(backup)
    if llama_cpp.llama_state_seq_set_data(llm.ctx, data, len(backup), 0) != len(backup):
        llm.reset()  # the next call reads the library again rather than trust a broken cache
        return False
    llm.input_ids[: len(prefix)] = prefix
    llm.n_tokens = len(prefix)
    llm._requires_eval = True  # the logits are not the prefix's: never sample from them
    return True
