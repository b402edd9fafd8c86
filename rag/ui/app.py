"""The browser chat (Gradio Blocks) and its `/ask` API endpoint.

- Answers stream in; each checked `[n]` becomes a chip that jumps to the cited
  passage, shown inside its article with the checked quote highlighted. Only
  cited passages are shown, never the whole retrieved pile.
- Follow-ups: earlier turns go to the pipeline, which condenses them into the
  search query; the query is shown under each answer. "New chat" forgets them.
- Settings (model, passages, retrieval mode), the indexed documents with their
  chunk counts, and adding documents (same index, dedup by content hash).
- Safety: 127.0.0.1 and no share link by default; everything from documents and
  the model is escaped (rag.ui.html); one bounded queue for all LLM calls; the
  index and model folders are blocked from Gradio's file routes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from rag.offline import keep_libraries_offline

keep_libraries_offline()  # Gradio reads its analytics switch when it is imported: nothing leaves the machine
import gradio as gr  # noqa: E402  (after the analytics switch)

from rag.errors import RagError
from rag.ingest.documents import SUFFIXES
from rag.ingest.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES, add_files, document_counts
from rag.models.catalogue import CATALOGUE, is_installed
from rag.pipeline import RAG
from rag.settings import Settings
from rag.ui.html import answer_html, documents_table, inline, sources_html, streaming_html
from rag.ui.web_guard import LOOPBACK_NAMES, RequestGuard

LLM_QUEUE = "llm"  # every event that calls the model shares this queue: one call at a time
MAX_QUEUED = 16  # a burst beyond this gets "queue is full" instead of piling up
EXAMPLES = [
    "Who is Colin Clarke?",
    "How is Russia helping the Huthis?",
    "Why does Moscow court the axis of resistance?",
]
FORMATS_LABEL = ", ".join(SUFFIXES)  # ".txt, .md, .pdf, .docx, .html, .htm"
NO_SOURCES = "<p class='hint'>Click a [n] in an answer to see the passage it rests on.</p>"


class ChatService:
    """The sessions behind the page: one per model, sharing the embedder and the index."""

    def __init__(self, rag: RAG):
        self.base = rag
        self._sessions = {rag.settings.model: rag}
        self._lock = threading.Lock()

    def session(self, model: str | None) -> RAG:
        model = model or self.base.settings.model
        with self._lock:
            if model not in self._sessions:
                settings = self.base.settings.model_copy(update={"model": model})
                self._sessions[model] = RAG(settings, embedder=self.base.embedder, store=self.base.store)
            return self._sessions[model]

    def models(self) -> list[str]:
        """Installed catalogue LLMs, plus the configured model when it is a file path."""
        names = [e.name for e in CATALOGUE.values() if e.role == "llm" and is_installed(e)]
        current = self.base.settings.model
        return names if current in names else [current, *names]

    def documents(self) -> list[tuple[str, int]]:
        return document_counts(self.base.store.chunks())

    def article_text(self, source: str) -> str | None:
        """The document's indexed text (a PDF's or Word file's extracted text), or None."""
        document = self.base.texts.document(source)
        return document.text if document is not None else None

    def add_documents(self, files: list[Path], progress: bool = True) -> str:
        docs_dir = Path(self.base.store.info.docs_dir)
        report = add_files(self.base.settings, self.base.embedder, files, docs_dir, progress)
        if report.added:
            with self._lock:
                for rag in self._sessions.values():
                    rag.reload_index()
            if self.base.library is not None:  # read the grown library now, under the upload's progress bar
                self.base.hold_library(self.base.library)
        return report.summary()


ERROR_MARK = "⚠"


def api_ask(service: ChatService) -> Callable[[str, list[dict] | None], dict]:
    """The `/ask` endpoint: a question (and earlier turns) in, the checked answer as JSON out."""

    def ask(question: str, history: list[dict] | None = None) -> dict:
        try:
            return service.session(None).ask(question, history or []).to_dict()
        except RagError as error:
            raise gr.Error(str(error)) from error

    return ask


def build_app(rag: RAG, max_queued: int = MAX_QUEUED) -> gr.Blocks:
    service = ChatService(rag)

    def respond(question: str, chat: list | None, turns: list | None, log: list | None, model: str | None,
                top_k: float, mode: str) -> Iterator[tuple]:
        """Stream one answer into the chat; on the end, add its sources block."""
        chat, turns, log = list(chat or []), list(turns or []), list(log or [])
        chat += [{"role": "user", "content": inline(question or "")}, {"role": "assistant", "content": "…"}]
        yield chat, "", turns, log, _panel(log)
        try:
            streamed = ""
            recent = turns[max(0, len(turns) - rag.settings.max_history_turns):]  # a long chat stays under the limit
            for item in service.session(model).stream(question, recent, top_k=int(top_k), mode=mode):
                if isinstance(item, str):
                    streamed += item
                    chat[-1] = {"role": "assistant", "content": streaming_html(streamed)}
                    yield chat, "", turns, log, _panel(log)
                else:
                    turn = len(log) + 1
                    chat[-1] = {"role": "assistant", "content": answer_html(item, turn)}
                    turns += [{"role": "user", "content": question}, {"role": "assistant", "content": item.text}]
                    log.append(sources_html(item, turn, question, service.article_text))
                    yield chat, "", turns, log, _panel(log)
        except RagError as error:
            chat[-1] = {"role": "assistant", "content": f"<span class='error'>{ERROR_MARK} {inline(str(error))}</span>"}
            yield chat, "", turns, log, _panel(log)

    def add(files: list[str] | None, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:
        if not files:
            return f"Choose {FORMATS_LABEL} files first.", documents_table(service.documents()), None
        try:
            summary = service.add_documents([Path(f) for f in files])
        except RagError as error:
            summary = f"Nothing was added: {error}"
        return summary, documents_table(service.documents()), None

    with gr.Blocks(title="Ask your documents", analytics_enabled=False) as app:
        gr.Markdown("## Ask your documents\nAnswers come only from the indexed documents; every citation is checked.")
        turns, log = gr.State([]), gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat", height=460, elem_id="chat", examples=[{"text": q} for q in EXAMPLES],
                    feedback_options=None, buttons=["copy"],  # no share button: nothing leaves the machine
                )
                with gr.Row():
                    question = gr.Textbox(
                        show_label=False, placeholder="Ask something about the documents…", scale=5, elem_id="question"
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                new_chat = gr.Button("New chat", size="sm", elem_id="new-chat")
            with gr.Column(scale=2):
                sources = gr.HTML(NO_SOURCES, label="Cited sources", elem_id="sources")
                with gr.Accordion("Settings", open=False):
                    models = service.models()
                    model = gr.Dropdown(models, value=rag.settings.model, label="Model", elem_id="model")
                    top_k = gr.Slider(1, 8, value=rag.settings.top_k, step=1, label="Passages", elem_id="top-k")
                    mode = gr.Radio(["hybrid", "dense", "bm25"], value=rag.settings.retrieval_mode,
                                    label="Retrieval", elem_id="mode")
                with gr.Accordion("Documents", open=False, elem_id="documents-panel"):
                    documents = gr.HTML(documents_table(service.documents()), elem_id="documents")
                    upload = gr.File(label=f"Add {FORMATS_LABEL} files", file_count="multiple",
                                     file_types=list(SUFFIXES), elem_id="upload")
                    add_button = gr.Button("Add to the index", elem_id="add")
                    add_status = gr.Textbox(label="Result", interactive=False, lines=2, elem_id="add-status")

        inputs = [question, chatbot, turns, log, model, top_k, mode]
        outputs = [chatbot, question, turns, log, sources]
        chat_event = dict(fn=respond, inputs=inputs, outputs=outputs, concurrency_id=LLM_QUEUE,
                          concurrency_limit=1, api_name=False)
        question.submit(**chat_event)
        ask_button.click(**chat_event)
        def pick_example(event: gr.SelectData) -> str:
            return event.value["text"]

        chatbot.example_select(pick_example, None, question, api_name=False,
                               queue=False).then(**chat_event)
        forget: dict[str, Any] = dict(fn=lambda: ([], [], [], NO_SOURCES, ""), inputs=None,
                      outputs=[chatbot, turns, log, sources, question], api_name=False, queue=False)
        new_chat.click(**forget)
        chatbot.clear(**forget)
        add_button.click(add, upload, [add_status, documents, upload], concurrency_id="index",
                         concurrency_limit=1, api_name=False)
        gr.api(api_ask(service), api_name="ask", concurrency_id=LLM_QUEUE, concurrency_limit=1)
    return app.queue(max_size=max_queued, default_concurrency_limit=1)


def _panel(log: list[str]) -> str:
    """The sources of every answer in this chat, newest first."""
    return "".join(reversed(log)) or NO_SOURCES


def static_text(name: str) -> str:
    """A file of the page's own: rag/ui/static/chat.css (its styles), chat.js (a click on a [n] chip
    scrolls its source into view and marks it, whatever the chat does with links)."""
    return resources.files("rag.ui").joinpath("static", name).read_text(encoding="utf-8")


def launch_options(settings: Settings, host: str = "127.0.0.1") -> dict:
    """What every launch of the page on `host` needs: no share link, our CSS and script,
    Gradio's file routes kept away from the index and model folders, uploads capped where
    Gradio receives them (each file, and per post by rag.ui.web_guard, which also refuses
    posts from other web pages and, on loopback, other host names)."""
    from starlette.middleware import Middleware

    guard = Middleware(RequestGuard, max_file_bytes=MAX_UPLOAD_BYTES, max_files=MAX_UPLOAD_FILES,
                       loopback=host in LOOPBACK_NAMES)
    return dict(
        share=False,
        inbrowser=False,
        css=static_text("chat.css"),
        head=f"<script>\n{static_text('chat.js')}</script>",
        allowed_paths=[],
        blocked_paths=[str(settings.index_dir), str(settings.model_cache_dir)],
        max_file_size=MAX_UPLOAD_BYTES,
        app_kwargs={"middleware": [guard]},
    )


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    rag = RAG(settings).warm_up()  # index and models ready before the page opens
    app = build_app(rag)
    print(f"Chat ready on http://{host}:{port}")
    app.launch(server_name=host, server_port=port, **launch_options(settings, host))

