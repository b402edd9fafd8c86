import os
import shutil
from pathlib import Path

import pytest

from rag.settings import Settings

from fakes import FakeEmbedder, FakeGenerator

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No RAG_* variable from the caller leaks in; nothing is written outside tmp_path."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def docs_dir(tmp_path) -> Path:
    folder = tmp_path / "docs"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def settings(tmp_path, docs_dir) -> Settings:
    return Settings(
        docs_dir=docs_dir,
        index_dir=tmp_path / "index",
        model_cache_dir=tmp_path / "models",
        embedding_model="fake-embedder",
    )


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def generator() -> FakeGenerator:
    return FakeGenerator()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One folder per test run where split GGUF files are assembled (once)."""
    return tmp_path_factory.mktemp("model-cache")


# The real headless Chromium (Debian's, never a downloaded one), one per test module, and a fresh page per test.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from browser import CHROMIUM, CHROMIUM_ARGS

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make setup-test` installs Debian's chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 950})
    yield context.new_page()
    context.close()
