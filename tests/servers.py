"""Servers that tests start themselves, on 127.0.0.1 at free ports."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def server(command: list[str], ready_url: str, log: Path, timeout: float = 120, env: dict | None = None):
    """Run `command` until the block ends; wait until `ready_url` answers 200."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + timeout
        while not answers(ready_url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{command[:3]} did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


CHROMA = Path(sys.executable).parent / "chroma"


@contextlib.contextmanager
def chroma_run(folder: Path, env: dict | None = None):
    """A real `chroma run` on 127.0.0.1 keeping its data in `folder`, until the block ends; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(CHROMA), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    with server(command, f"{url}/api/v2/heartbeat", folder / "log.txt", env=env):
        yield url
