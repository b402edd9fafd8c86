"""Helpers for the tests that open the chat page in Debian's Chromium (driven by Playwright)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import expect

from servers import free_port

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and none of Chromium's own background traffic: the page is all it loads.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BOT = "#chat [data-testid='bot']"


@contextmanager
def serving(app, settings):
    """The Gradio app on a free loopback port, with the same launch options as `rag ui`."""
    from rag.ui.app import launch_options

    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               **launch_options(settings))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.close()


class PageWatch:
    """What a page did besides showing: requests off loopback, dialogs (alert), errors."""

    def __init__(self, page):
        self.page = page
        self.external: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", self._request)
        page.on("dialog", self._dialog)

    def _request(self, request) -> None:
        if not request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")):
            self.external.append(request.url)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def ask_in_page(page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def set_slider(page, elem_id: str, value: int, attempts: int = 5) -> None:
    """Type `value` into a Gradio slider's number box and leave it, as a user does, until the
    slider itself shows it: on a slow machine the first try can land before the page's
    handlers are attached, and is then lost."""
    box = page.locator(f"#{elem_id} input[type=number]")
    track = page.locator(f"#{elem_id} input[type=range]")
    for _ in range(attempts):
        box.fill(str(value))
        box.press("Tab")  # leaving the box commits the value
        try:
            expect(track).to_have_value(str(value), timeout=2000)
            return
        except AssertionError:
            continue
    expect(track).to_have_value(str(value), timeout=2000)


def watch_answer(page, index: int, timeout: float = 120) -> list[str]:
    """The texts bot message `index` showed, sampled every 50 ms, until it is final
    (it carries a citation chip, a refusal or an error)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    message = page.locator(BOT).nth(index)
    while time.monotonic() < deadline:
        if message.count():
            text = message.inner_text()
            if not seen or seen[-1] != text:
                seen.append(text)
            final = message.locator("a.cite, .refusal, .error").count() and "▌" not in text
            if final:
                return seen
        page.wait_for_timeout(50)
    raise TimeoutError(f"answer {index} not final after {timeout:.0f} s; last text: {seen[-1:]!r}")
