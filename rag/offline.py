"""The environment variables third-party libraries read, set in this one place.

The project's own settings never come from here (see rag.settings: stages get a
`Settings` object). But some libraries take switches only from the environment,
and read them once, when they are first imported, so they are set just before
that import, and only where the caller has not set them already:

    HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1   huggingface_hub / transformers never ask the hub
                                               (the embedding model is a local folder)
    GRADIO_ANALYTICS_ENABLED=False             Gradio sends no usage analytics

Chroma's telemetry is switched off through its own settings object (rag.index.store).
"""

from __future__ import annotations

import os

LIBRARY_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
}


def keep_libraries_offline() -> None:
    """Set LIBRARY_ENV's variables that the caller has not set; call it before importing
    sentence_transformers or gradio (embed.py and ui.py do)."""
    for name, value in LIBRARY_ENV.items():
        os.environ.setdefault(name, value)
