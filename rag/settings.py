"""One settings object, built once at the edge (CLI, UI, `ask()`), passed down.

Every field can be set by an environment variable with the `RAG_` prefix
(`RAG_TOP_K=6`), by keyword (`Settings(top_k=6)`) or, on the command line, by
the flag `rag.cli` derives from the field (`--top-k 6`). Stages never read the
environment themselves (the variables third-party libraries read are set in
one place, `rag.offline`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic.json_schema import JsonDict
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE_ROOT = Path.home() / ".cache" / "rag"
# The prompt templates: the top-level prompts/ folder of a checkout, which an installed
# package carries as rag/templates/ (pyproject.toml maps one onto the other).
_PACKAGED_PROMPTS = Path(__file__).resolve().parent / "templates"
PROMPTS_DIR = _PACKAGED_PROMPTS if _PACKAGED_PROMPTS.is_dir() else PROJECT_ROOT / "prompts"
# Marks a field that is read from its RAG_* variable or a keyword only, never from a
# command-line flag: a secret in argv is visible to every user of the machine (`ps`).
ENV_ONLY: JsonDict = {"env_only": True}


def _default_docs_dir() -> Path:
    # A checkout ships the seed articles next to the package.
    seeds = PROJECT_ROOT / "seeds"
    return seeds if seeds.is_dir() else Path("seeds")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", frozen=True, extra="forbid")

    docs_dir: Path = Field(
        default_factory=_default_docs_dir,
        description="Folder of documents (.txt, .md, .pdf, .docx, .html) the index follows when none is built yet.",
    )
    index_dir: Path = Field(
        default=CACHE_ROOT / "index", description="Folder holding the persistent Chroma index."
    )
    model_cache_dir: Path = Field(
        default=CACHE_ROOT / "models",
        description="Where split GGUF files are assembled (once) and verified.",
    )
    model: str = Field(
        default="qwen2.5-coder-1.5b",
        description="LLM: a catalogue name (see `rag models`) or a path to a .gguf file.",
    )
    embedding_model: str = Field(
        default="all-minilm-l6-v2",
        description="Embedding model: a catalogue name or a sentence-transformers folder.",
    )
    prompts_dir: Path = Field(
        default=PROMPTS_DIR, description="Folder of the prompt templates (*.txt)."
    )
    chunk_size: int = Field(default=500, ge=100, description="Target chunk length in characters.")
    chunk_overlap: int = Field(
        default=100, ge=0, description="Characters of trailing sentences repeated in the next chunk."
    )
    top_k: int = Field(default=4, ge=1, le=20, description="Number of passages given to the model.")
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = Field(
        default="hybrid", description="Dense vectors, BM25, or both fused by reciprocal rank."
    )
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal-rank-fusion constant.")
    n_ctx: int = Field(
        default=2048, ge=256,
        description="LLM context window in tokens for retrieved passages; the cached library grows it as it needs.",
    )
    answer_mode: Literal["auto", "library", "retrieval"] = Field(
        default="auto",
        description="library: the whole library is the (cached) start of every prompt; retrieval: the top "
        "passages only; auto: library when it fits library_max_tokens and the model's trained context.",
    )
    library_max_tokens: int = Field(
        default=8192, ge=256,
        description="Largest library (in tokens) that auto mode keeps whole in the model's cache.",
    )
    library_focus: int = Field(
        default=0, ge=0,
        description="With the cached library: the model reads only the N passages retrieval ranks first while "
        "it answers (the others are hidden in its cache, not read again); 0 shows it the whole library.",
    )
    max_tokens: int = Field(default=160, ge=16, description="Most tokens the LLM may write.")
    temperature: float = Field(default=0.0, ge=0.0, description="0 keeps answers deterministic.")
    seed: int = Field(default=0, description="Sampling seed.")
    n_threads: int | None = Field(default=None, description="LLM CPU threads (default: all cores).")
    kv_cache_keys: Literal["f16", "q8_0"] = Field(
        default="q8_0",
        description="How the LLM's cache stores attention keys: q8_0 (8 bits) reads a question's tokens and "
        "writes about 10-15% faster than f16 with a long cached library; answers are not identical "
        "(measured on both corpora: README, Evaluation). llama-cpp backend only.",
    )
    max_question_chars: int = Field(
        default=4000, ge=1, description="Longer questions are refused before reaching the model."
    )
    max_history_turns: int = Field(
        default=40, ge=0,
        description="Most turns (user and assistant messages) a conversation history may hold; more are "
        "refused before anything loads (the prompt uses the last four, the search the last question).",
    )
    max_history_chars: int = Field(
        default=8000, ge=1,
        description="Longest turn of a conversation history, in characters; longer ones are refused "
        "before anything loads.",
    )
    support_threshold: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Share of a sentence's content words that must occur in the cited passage.",
    )
    second_look: bool = Field(
        default=True,
        description="Ask the model to confirm each cited sentence and whether the passages answer at all, "
        "retry a refusal with the best passages named (and, from the cached library, an answer whose cited passages "
        "hold fewer of the question's words than one of the 3 best, or a refusal refused again, with only those 3 "
        "visible), and decide with the "
        "calibrated model (rag/answer/decision.json).",
    )
    cross_check: bool = Field(
        default=False,
        description="With the cached library and second_look on: every answer is also written from the retrieved "
        "passages alone, read afresh with their own checks (as answer_mode=retrieval answers; the library's cache is "
        "put back after). Refused when that answer refuses; else the answer whose cited passages hold more of the "
        "question's words is kept (the library's on a tie). About as long again as a retrieval answer.",
    )
    refusal_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Refuse below this probability that the answer is supported (None: the calibrated value).",
    )
    auto_index: bool = Field(
        default=True, description="Build or refresh the index when the documents changed."
    )
    # Latency levers (see `rag bench`); the defaults are what the evaluation measured.
    passage_chars: int | None = Field(
        default=None,
        ge=80,
        description="Passage budget: cut each passage to the sentences (at most this many characters) "
        "that share the most words with the question; shorter prompts answer sooner. None: whole chunks.",
    )
    prefix_cache: bool = Field(
        default=True,
        description="Reuse the model's cache for the prompt prefix shared with the previous call "
        "(the fixed system prompt); off re-reads the whole prompt every time.",
    )
    prompt_lookup: bool = Field(
        default=False,
        description="At temperature 0, guess the next tokens from where the last ones occur in the prompt and "
        "check the guess in one pass: answers about 0.7 s sooner, the text greedy decoding's up to llama.cpp's "
        "batch arithmetic (13 of 118 seed answers worded differently, 2 fewer accepted); llama-cpp backend only.",
    )
    embed_batch_size: int = Field(default=64, ge=1, description="Chunks embedded per batch when indexing.")
    # Backends: the embedded defaults, or servers chosen here with no change to the pipeline.
    llm_backend: Literal["llama-cpp", "openai"] = Field(
        default="llama-cpp",
        description="llama-cpp: the GGUF in this process; openai: an OpenAI-compatible server at llm_url "
        "(llama.cpp server, vLLM, Ollama), which is sent `model` as the model name.",
    )
    llm_url: str = Field(
        default="http://127.0.0.1:8000/v1", description="Base URL of the OpenAI-compatible server."
    )
    llm_api_key: str = Field(
        default="", description="Bearer key for the LLM server, if it asks for one.", json_schema_extra=ENV_ONLY
    )
    llm_timeout_s: float = Field(default=120.0, gt=0, description="Longest wait for the LLM server.")
    chroma_url: str | None = Field(
        default=None,
        description="A Chroma server (`chroma run`, e.g. http://127.0.0.1:8001) instead of the "
        "folder in index_dir; index_dir still holds the write lock and uploads.",
    )
    chroma_token: str = Field(
        default="",
        description="Sent as `Authorization: Bearer ...` to the Chroma server: the token of the authenticating "
        "reverse proxy in front of it (`chroma run` 1.5 itself checks no credentials).",
        json_schema_extra=ENV_ONLY,
    )
    chroma_collection: str = Field(
        default="rag",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,40}$",
        description="Name prefix of this index's collections on the Chroma server.",
    )


def is_env_only(name: str) -> bool:
    """True for a field that has no command-line flag (a secret: RAG_LLM_API_KEY, RAG_CHROMA_TOKEN)."""
    extra = Settings.model_fields[name].json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("env_only"))


def settings_env(settings: Settings) -> dict[str, str]:
    """The RAG_* variables that give another process these settings: every field that is
    not None (None is each optional field's default).

    >>> settings_env(Settings(top_k=6))["RAG_TOP_K"]
    '6'
    """
    values = settings.model_dump()
    return {f"RAG_{name.upper()}": str(value) for name, value in values.items() if value is not None}


# Fast mode: short retrieved passages for the small model, for libraries too large to cache
# (see `rag bench` and the README); RAG_MODEL=qwen2.5-coder-0.5b RAG_TOP_K=3
# RAG_PASSAGE_CHARS=320 RAG_ANSWER_MODE=retrieval does the same.
FAST_MODE = {"model": "qwen2.5-coder-0.5b", "top_k": 3, "passage_chars": 320, "answer_mode": "retrieval"}
