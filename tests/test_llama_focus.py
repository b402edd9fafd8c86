"""Hiding passages of the cached library: where a passage's tokens are (no model needed)."""

from rag.answer.llama_focus import TokenSpans

PIECES = [b"<|im_start|>", b"[1] ", b"Alpha", b" beta", b".\n\n", b"[2] ", b"Gam", b"ma", b"."]


def test_a_text_is_covered_by_the_tokens_wholly_inside_it():
    spans = TokenSpans(PIECES)
    assert spans.covering(["[2] Gamma."]) == [(5, 9)]
    # ".\n\n" holds the end of passage 1 and the gap before passage 2: it is not hidden with either
    assert spans.covering(["[1] Alpha beta."]) == [(1, 4)]


def test_texts_not_in_the_prompt_hide_nothing():
    spans = TokenSpans(PIECES)
    assert spans.covering(["[3] Delta.", "Alpha beta gamma"]) == []


def test_multibyte_text_is_found_by_its_bytes():
    spans = TokenSpans([b"x ", "é".encode(), b"t", "é!".encode(), b" y"])
    assert spans.covering(["été!"]) == [(1, 4)]
