"""A real model's tokenizer and chat template, for tests about prompt sizes and markup.

    tok = ChatTokenizer.load("smollm2-135m", cache_dir)
    tok.count("Hello")                 # what LlamaGenerator.count_tokens says, through the real code
    tok.prompt_tokens(messages)        # the tokens llama.cpp evaluates for a chat call

`prompt_tokens` renders the messages with the GGUF's own chat template and
tokenizes them the way llama-cpp-python's chat completion does (special tokens
on), so it is the true prompt size, not the pipeline's estimate.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rag.answer.generate import LlamaGenerator
from rag.models.catalogue import resolve_llm
from rag.settings import Settings


class ChatTokenizer:
    def __init__(self, model_path: Path):
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        # The pipeline's own counting code, on a vocabulary-only load (no weights: quick).
        self.generator = LlamaGenerator(model_path, Settings())
        llm = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
        self.llm = llm
        self.formatter = Jinja2ChatFormatter(
            template=llm.metadata["tokenizer.chat_template"],
            eos_token=llm.detokenize([llm.token_eos()]).decode("utf-8", "replace"),
            bos_token=llm.detokenize([llm.token_bos()]).decode("utf-8", "replace"),
        )

    @staticmethod
    @lru_cache(maxsize=4)
    def load(model: str, cache_dir: Path) -> ChatTokenizer:
        return ChatTokenizer(resolve_llm(model, cache_dir))

    def count(self, text: str) -> int:
        return self.generator.count_tokens(text)

    def prompt_token_ids(self, messages: list[dict]) -> list[int]:
        result = self.formatter(messages=messages)
        return self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    def prompt_tokens(self, messages: list[dict]) -> int:
        return len(self.prompt_token_ids(messages))

    def token_id(self, piece: str) -> int:
        (token,) = self.llm.tokenize(piece.encode("utf-8"), add_bos=False, special=True)
        return token
