"""The browser chat (Gradio Blocks): streamed answers, checked sources under them.

Listens on 127.0.0.1 by default, never creates a share link, and renders every
piece of document or model text escaped, so HTML in a source shows as text.
"""

from __future__ import annotations

import html
import os

from .errors import RagError
from .pipeline import RAG
from .settings import Settings
from .types import Answer

LLM_QUEUE = "llm"  # every event that calls the model shares this queue
MAX_QUEUED = 16
EXAMPLES = [
    "Who is Colin Clarke?",
    "How is Russia helping the Huthis?",
    "Why does Moscow court the axis of resistance?",
]


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def sources_html(answer: Answer) -> str:
    """The cited passages only, each with its file, offsets and the checked quote highlighted."""
    if answer.refused:
        return "<p class='refusal'>The documents do not support an answer to this question.</p>"
    by_n = {p.n: p for p in answer.passages}
    blocks = [f"<p>Grounding: {answer.grounding:.0%} of the answer's sentences carry a checked citation.</p>"]
    for c in answer.citations:
        p = by_n[c.n]
        before, after = p.text[: c.start - p.start], p.text[c.end - p.start :]
        blocks.append(
            f"<div class='source' id='source-{c.n}'><b>[{c.n}] {escape(c.source)}</b> "
            f"<small>characters {c.start}–{c.end}</small><br>"
            f"{escape(before)}<mark>{escape(c.quote)}</mark>{escape(after)}</div>"
        )
    return "\n".join(blocks)


def answer_markdown(text: str) -> str:
    # The chat renders Markdown: escape HTML so document or model text cannot inject markup.
    return escape(text)


def to_history(messages: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": m["content"]} for m in messages if isinstance(m.get("content"), str)]


def build_app(rag: RAG):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine
    import gradio as gr

    def respond(question: str, chat: list[dict], turns: list[dict]):
        chat = list(chat or [])
        chat.append({"role": "user", "content": escape(question or "")})
        chat.append({"role": "assistant", "content": "…"})
        yield chat, "", turns, ""
        try:
            streamed = ""
            for item in rag.stream(question, turns):
                if isinstance(item, str):
                    streamed += item
                    chat[-1] = {"role": "assistant", "content": answer_markdown(streamed)}
                    yield chat, "", turns, ""
                else:
                    chat[-1] = {"role": "assistant", "content": answer_markdown(item.text)}
                    turns = turns + [{"role": "user", "content": question}, {"role": "assistant", "content": item.text}]
                    yield chat, sources_html(item), turns, ""
        except RagError as error:
            chat[-1] = {"role": "assistant", "content": escape(f"⚠ {error}")}
            yield chat, "", turns, ""

    with gr.Blocks(title="Ask your documents", analytics_enabled=False) as app:
        gr.Markdown("## Ask your documents\nAnswers come only from the indexed documents; every citation is checked.")
        chatbot = gr.Chatbot(label="Chat", height=420)
        question = gr.Textbox(label="Question", placeholder="Ask something about the documents…")
        gr.Examples(EXAMPLES, inputs=question)
        sources = gr.HTML(label="Cited sources")
        turns = gr.State([])
        question.submit(
            respond,
            [question, chatbot, turns],
            [chatbot, sources, turns, question],
            concurrency_id=LLM_QUEUE,
            concurrency_limit=1,
            api_name=False,
        )
    return app.queue(max_size=MAX_QUEUED, default_concurrency_limit=1)


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    rag = RAG(settings).warm_up()  # index and models ready before the page opens
    app = build_app(rag)
    print(f"Chat ready on http://{host}:{port}")
    app.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        blocked_paths=[str(settings.index_dir), str(settings.model_cache_dir)],
    )
