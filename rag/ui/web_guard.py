"""What the chat page's HTTP server refuses before Gradio handles a request (an ASGI middleware).

- Requests from other web pages. Gradio's CORS middleware only keeps a foreign page from
  *reading* an answer: a `<form>` on any site can still post files to `/gradio_api/upload`,
  and Gradio stores them. A browser names the page behind every POST in `Origin`, so a
  POST (PUT, PATCH, DELETE) whose `Origin` is not this server's own address gets 403.
  Clients that are not browsers (gradio_client, curl) send no `Origin` and pass.
- Other host names (DNS rebinding): served on loopback, a request whose `Host` is not a
  loopback name came through a foreign name that resolves to this machine; 403.
- Upload size and count. A multipart post larger than `max_files` files of `max_file_bytes`
  (Content-Length, or counted as it streams in) gets 413, and one holding more than
  `max_files` files gets 400, before its files fill Gradio's temporary folder; Gradio's
  own `max_file_size` (set in rag.ui) caps each file.

    Middleware(RequestGuard, max_file_bytes=20 * 2**20, max_files=20, loopback=True)
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gradio.route_utils import MultiPartException
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PART_OVERHEAD = 64 * 1024  # part headers and form fields around each file, generously


def _hostname(netloc: str) -> str:
    return (urlsplit(f"//{netloc}").hostname or "").lower()


class _FileCounter:
    """Counts the file parts of a multipart body as it streams by (parts with a filename)."""

    def __init__(self, boundary: bytes):
        self.files = 0
        self._headers = b""
        self._parser: MultipartParser | None = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_value": self._value, "on_headers_finished": self._finished,
        })

    def _begin(self) -> None:
        self._headers = b""

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._headers += data[start:end]

    def _finished(self) -> None:
        if b"filename" in self._headers:  # only Content-Disposition can carry it
            self.files += 1

    def write(self, data: bytes) -> None:
        if self._parser is not None:
            try:
                self._parser.write(data)
            except MultipartParseError:  # a malformed body: Gradio's own parser says so
                self._parser = None


class RequestGuard:
    def __init__(self, app: ASGIApp, max_file_bytes: int, max_files: int, loopback: bool = True):
        self.app = app
        self.max_files = max_files
        self.max_body = max_files * (max_file_bytes + PART_OVERHEAD)
        self.too_large = (
            f"File size exceeded maximum allowed size: one upload holds at most {max_files} files "
            f"of {max_file_bytes // 2**20} MB"
        )
        self.too_many = f"Too many files: at most {max_files} files can be added at once"
        self.loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        refusal = self._refusal(scope["method"], headers)
        if refusal:
            return await PlainTextResponse(refusal, status_code=403)(scope, receive, send)
        content_type, options = parse_options_header(headers.get("content-type", ""))
        if scope["method"] in SAFE_METHODS or content_type != b"multipart/form-data" or b"boundary" not in options:
            return await self.app(scope, receive, send)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            return await PlainTextResponse(self.too_large, status_code=413)(scope, receive, send)
        await self.app(scope, self._counting(receive, options[b"boundary"]), send)

    def _refusal(self, method: str, headers: Headers) -> str | None:
        host = _hostname(headers.get("host", ""))
        if self.loopback and host not in LOOPBACK_NAMES:
            return f"refused: this server answers only as 127.0.0.1 or localhost, not {host or 'no host'}"
        origin = headers.get("origin")
        if method not in SAFE_METHODS and origin is not None:
            parts = urlsplit(origin)
            if origin == "null" or parts.netloc.lower() != headers.get("host", "").lower():
                return "refused: a request from another web page"
        return None

    def _counting(self, receive: Receive, boundary: bytes) -> Receive:
        """`receive`, stopping the body (as Gradio's parser stops an oversized file) once it is
        too large or holds too many files; the parser then removes what it wrote."""
        counter, received = _FileCounter(boundary), 0

        async def guarded():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > self.max_body:
                    raise MultiPartException(self.too_large)
                counter.write(body)
                if counter.files > self.max_files:
                    raise MultiPartException(self.too_many)
            return message

        return guarded
