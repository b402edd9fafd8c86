"""A llama-cpp-python model's cache of a prompt start: read once, saved, restored, never trusted blind.

`hold(llm, tokens, path)` leaves the model's cache holding `tokens` (the cached
library): already there, put back from a copy in memory when one is given,
restored from `path` when the file checks out, or read
now (with a progress bar) and saved. The file sits beside a small JSON record of
its sha256 and its tokens; a file that does not match is rebuilt, not loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from rag.answer.llama_focus import put_back

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger("rag")

READ_BATCH = 256  # tokens per step while reading the library (the progress bar's step)
KEEP_STATES = 2  # state files kept per folder: the current one and the one before


def holds(llm: Llama, tokens: list[int]) -> bool:
    """Does the model's cache start with exactly `tokens`?"""
    n = len(tokens)
    return llm.n_tokens >= n and llm.input_ids[:n].tolist() == tokens


def hold(llm: Llama, tokens: list[int], path: Path, progress: bool = True, copy: bytes | None = None) -> str:
    """Make the cache hold `tokens`; returns how: "held", "restored" (from `copy`, a copy of its cache
    in memory), "loaded" (from `path`) or "read"."""
    if holds(llm, tokens):
        return "held"
    if copy is not None and put_back(llm, tokens, copy):
        return "restored"
    if restore(llm, tokens, path):
        return "loaded"
    read(llm, tokens, progress)
    save(llm, tokens, path)
    return "read"


def read(llm: Llama, tokens: list[int], progress: bool) -> None:
    llm.reset()
    with tqdm(total=len(tokens), desc="Reading the library into the model", unit="tok", disable=not progress) as bar:
        for at in range(0, len(tokens), READ_BATCH):
            step = tokens[at : at + READ_BATCH]
            llm.eval(step)
            bar.update(len(step))


def _record_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _tokens_sha(tokens: list[int]) -> str:
    return hashlib.sha256(json.dumps(tokens).encode()).hexdigest()


def save(llm: Llama, tokens: list[int], path: Path) -> None:
    """Write the cache of `tokens` (sequence 0) to `path`, then its record; both atomically."""
    import llama_cpp

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.partial")
    array = (llama_cpp.llama_token * len(tokens))(*tokens)
    try:
        written = llama_cpp.llama_state_seq_save_file(llm.ctx, str(partial).encode(), 0, array, len(tokens))
        if not written:
            log.warning("could not save the library's model state to %s", path)
            return
        record = {"sha256": _sha256(partial), "tokens": len(tokens), "tokens_sha256": _tokens_sha(tokens)}
        os.replace(partial, path)
        _record_path(path).write_text(json.dumps(record))
    except OSError as exc:  # a full or read-only disk costs speed, not answers
        log.warning("could not save the library's model state to %s: %s", path, exc)
    finally:
        partial.unlink(missing_ok=True)
    _remove_older(path)


def restore(llm: Llama, tokens: list[int], path: Path) -> bool:
    """Load `path` into the cache when its record, hash and tokens all match; False otherwise."""
    import llama_cpp

    if not path.is_file():
        return False
    try:
        record = json.loads(_record_path(path).read_text())
        valid = record == {"sha256": _sha256(path), "tokens": len(tokens), "tokens_sha256": _tokens_sha(tokens)}
    except (OSError, ValueError):
        valid = False
    if not valid:
        log.warning("the saved library state %s does not match its record: reading the library again", path)
        return False
    llm.reset()
    out = (llama_cpp.llama_token * len(tokens))()
    count = ctypes.c_size_t(0)
    loaded = llama_cpp.llama_state_seq_load_file(llm.ctx, str(path).encode(), 0, out, len(tokens), ctypes.byref(count))
    if not loaded or count.value != len(tokens) or list(out) != tokens:
        llm.reset()
        log.warning("the saved library state %s could not be loaded: reading the library again", path)
        return False
    llm.input_ids[: len(tokens)] = tokens
    llm.n_tokens = len(tokens)
    return True


def _remove_older(path: Path) -> None:
    """Keep the newest few state files: a rebuilt index leaves its old state behind once."""
    states = sorted(path.parent.glob("*.state"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in states[KEEP_STATES:]:
        old.unlink(missing_ok=True)
        _record_path(old).unlink(missing_ok=True)
