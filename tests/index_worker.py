"""A separate indexing process for the reliability tests (pytest does not collect it).

    python tests/index_worker.py DOCS INDEX_DIR [--hold-until FILE]

Indexes DOCS into INDEX_DIR through the real `rag.index.build_index`, with the
fake embedder so that no model load hides the timing. Prints "embedding" once
it holds the write lock; with --hold-until it then waits for FILE to exist, so
a test can act while this process holds the lock. Prints "done" at the end.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rag.index.build import build_index  # noqa: E402
from rag.settings import Settings  # noqa: E402

from fakes import FakeEmbedder  # noqa: E402


class SignallingEmbedder(FakeEmbedder):
    def __init__(self, hold_until: Path | None):
        super().__init__()
        self.hold_until = hold_until
        self.announced = False

    def embed(self, texts, batch_size=64):
        if not self.announced:  # embedding happens inside build_index, with the lock held
            print("embedding", flush=True)
            self.announced = True
            deadline = time.monotonic() + 120
            while self.hold_until and not self.hold_until.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return super().embed(texts, batch_size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("docs")
    parser.add_argument("index_dir")
    parser.add_argument("--hold-until", type=Path)
    args = parser.parse_args()
    settings = Settings(docs_dir=args.docs, index_dir=args.index_dir, embedding_model="fake-embedder")
    info = build_index(settings, SignallingEmbedder(args.hold_until), progress=False)
    print(f"done {info.chunk_count}", flush=True)


if __name__ == "__main__":
    main()
