"""Reliability of the index: kills, a second writer, bad files, another embedder, damaged files.

Numbers refer to the table in docs/reliability.md. Every fault test ends by
checking that an index still answers a retrieval: nothing indexed is lost.
Real Chroma, real subprocesses (killed with SIGKILL for real); the fake
embedder stands in for the model, whose behaviour is not under test here.
"""

import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rag.errors import DocumentError, IndexBusyError, IndexDamagedError, IndexMismatchError
from rag.index.build import build_index, ensure_index, write_lock
from rag.index.reader import current_path, open_store
from rag.pipeline import RAG
from rag.retrieval.retrieve import Retriever
from rag.settings import Settings

from fakes import FakeEmbedder, FakeGenerator

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
WORKER = TESTS / "index_worker.py"


# ---------------------------------------------------------------- helpers


def answers_from_seeds(settings, embedder) -> bool:
    """The current index opens and finds the Soufan Group passage of the seed articles."""
    passages = Retriever(open_store(settings), embedder).search("Colin Clarke Soufan Group", 4)
    return any("Soufan Group" in p.text for p in passages)


def write_many_documents(folder: Path, files: int = 20, sentences: int = 700) -> None:
    """About 3,000 chunks of distinct made-up sentences: a Chroma write that takes seconds."""
    rng = random.Random(6)
    vocabulary = [f"w{n}x" for n in range(5000)]
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        text = " ".join(" ".join(rng.choices(vocabulary, k=rng.randint(8, 14))).capitalize() + "." for _ in range(sentences))
        (folder / f"made_up_{f:02d}.txt").write_text(text)


def start_worker(docs: Path, index_dir: Path, hold_until: Path | None = None) -> subprocess.Popen:
    command = [sys.executable, str(WORKER), str(docs), str(index_dir)]
    if hold_until:
        command += ["--hold-until", str(hold_until)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen, expected: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == expected:
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"worker never printed {expected!r}: {proc.stderr.read()[-2000:]}")


def wait_for_chroma_write(builds: Path, old: Path, proc: subprocess.Popen, timeout: float = 60) -> Path:
    """The new build folder, once Chroma has started writing into it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        fresh = [b for b in builds.iterdir() if b != old and (b / "chroma.sqlite3").exists()]
        if fresh:
            return fresh[0]
        time.sleep(0.01)
    raise AssertionError("the worker never started writing a build")


def sigkill(proc: subprocess.Popen) -> None:
    assert proc.poll() is None, "the worker finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


# ---------------------------------------------------------------- 1: kill -9 during indexing


@pytest.mark.parametrize("phase", ["embedding", "writing"])
def test_r01_sigkill_during_indexing_keeps_old_index(settings, embedder, tmp_path, phase):
    build_index(settings, embedder, progress=False)
    old = current_path(settings.index_dir).resolve()
    old_count = open_store(settings).count()
    bigger = tmp_path / "bigger"
    write_many_documents(bigger)

    # A real second process indexes `bigger` into the same index, and dies by SIGKILL:
    # while it holds the lock and embeds, or while Chroma writes the new build.
    hold = tmp_path / "never-created" if phase == "embedding" else None
    proc = start_worker(bigger, settings.index_dir, hold)
    try:
        wait_for_line(proc, "embedding")
        if phase == "writing":
            half = wait_for_chroma_write(settings.index_dir / "builds", old, proc)
            time.sleep(0.3)  # well inside a write of several seconds
        sigkill(proc)
    finally:
        if proc.poll() is None:  # a failed wait above: leave no worker behind
            proc.kill()
            proc.wait()
    if phase == "writing":
        assert half.exists(), "the kill should leave a half-written build behind"

    # The old index is still the current one, whole, and answers.
    assert current_path(settings.index_dir).resolve() == old
    assert open_store(settings).count() == old_count
    assert answers_from_seeds(settings, embedder)

    # The next run works: the dead process's lock is free, leftovers are removed.
    info = build_index(settings, embedder, bigger, progress=False)
    assert open_store(settings).count() == info.chunk_count > 2000
    assert [b.name for b in (settings.index_dir / "builds").iterdir()] == [current_path(settings.index_dir).resolve().name]


# ---------------------------------------------------------------- 2: a second indexer


def test_r02_second_indexer_is_refused_and_old_index_still_answers(settings, embedder, tmp_path):
    build_index(settings, embedder, progress=False)
    (settings.docs_dir / "new.txt").write_text("The zebra council met in Narnia on Tuesday.")
    release = tmp_path / "release"
    first = start_worker(settings.docs_dir, settings.index_dir, hold_until=release)
    try:
        wait_for_line(first, "embedding")  # the first indexer holds the write lock now

        # A second indexer, the real command line, refuses with one clear line.
        second = subprocess.run(
            [sys.executable, "-m", "rag.cli", "index", str(settings.docs_dir), "--index-dir", str(settings.index_dir)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert second.returncode == 1
        assert second.stderr.strip() == (
            f"error: another process is writing the index in {settings.index_dir}; wait for it to finish"
        )

        # Meanwhile the previous index answers, also for a session that sees the changed
        # documents and would like to rebuild: it uses the current index instead of failing.
        assert answers_from_seeds(settings, embedder)
        store = ensure_index(settings, embedder, progress=False)
        assert "new.txt" not in {c.source for c in store.chunks()}
    finally:
        release.touch()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and out.strip().endswith(f"done {open_store(settings).count()}"), err[-2000:]
    assert "new.txt" in {c.source for c in open_store(settings).chunks()}
    assert answers_from_seeds(settings, embedder)


def test_r02_a_writer_in_this_process_is_refused_too(settings, embedder):
    build_index(settings, embedder, progress=False)
    with write_lock(settings.index_dir):
        with pytest.raises(IndexBusyError, match="another process is writing the index"):
            build_index(settings, embedder, progress=False)
    assert answers_from_seeds(settings, embedder)


# ---------------------------------------------------------------- 8: bad files among the documents


def add_bad_files(folder: Path) -> list[str]:
    (folder / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "latin1.md").write_bytes("Caf\xe9 cr\xe8me, na\xefve r\xe9sum\xe9.".encode("latin-1"))
    (folder / "utf16.txt").write_text("Saved by a Windows editor.", encoding="utf-16")
    (folder / "empty.txt").write_text("  \n\n")
    (folder / "folder.txt").mkdir()  # a directory with a document's name
    (folder / "dangling.md").symlink_to(folder / "no-such-file")
    return ["picture.txt", "latin1.md", "utf16.txt", "empty.txt"]


def test_r08_bad_files_are_skipped_by_name_and_the_rest_indexed(settings, embedder, caplog):
    bad = add_bad_files(settings.docs_dir)
    with caplog.at_level(logging.WARNING, logger="rag"):
        build_index(settings, embedder, progress=False)
    for name in bad:
        assert any(name in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records), name
    sources = {c.source for c in open_store(settings).chunks()}
    assert sources == {p.name for p in settings.docs_dir.glob("0*.txt")}  # the three seed articles
    assert answers_from_seeds(settings, embedder)


def test_r08_folder_of_only_bad_files_leaves_the_old_index(settings, embedder, tmp_path):
    build_index(settings, embedder, progress=False)
    old = current_path(settings.index_dir).resolve()
    junk = tmp_path / "junk"
    junk.mkdir()
    add_bad_files(junk)
    with pytest.raises(DocumentError, match="no readable"):
        build_index(settings, embedder, junk, progress=False)
    assert current_path(settings.index_dir).resolve() == old
    assert answers_from_seeds(settings, embedder)


def test_r08_duplicate_files_are_indexed(settings, embedder):
    # Found by this suite: a copied file gives chunks with identical vectors, and the
    # build check ("a chunk is found by its own vector") failed the whole build.
    first = settings.docs_dir / "000_65cd94371b4e6bf0.txt"
    for n in range(1, 21):  # many copies: which one a tie returns is arbitrary
        (settings.docs_dir / f"copy {n} of {first.name}").write_bytes(first.read_bytes())
    build_index(settings, embedder, progress=False)
    sources = {c.source for c in open_store(settings).chunks()}
    assert {first.name, f"copy 20 of {first.name}"} <= sources and len(sources) == 23
    assert answers_from_seeds(settings, embedder)


# ---------------------------------------------------------------- 14: another embedding model


def test_r14_index_from_another_embedding_model_asks_for_a_rebuild(settings, embedder):
    build_index(settings, embedder, progress=False)
    other = settings.model_copy(update={"embedding_model": "all-minilm-l6-v2"})
    rag = RAG(other, embedder=FakeEmbedder(), generator=FakeGenerator(), progress=False)
    with pytest.raises(IndexMismatchError, match=r"built with embedding model 'fake-embedder'.*rebuild it with `rag index"):
        rag.ask("Who is Colin Clarke?")
    assert answers_from_seeds(settings, embedder)  # nothing was changed by the refusal


def test_r14_same_name_but_other_dimension_asks_for_a_rebuild(settings, embedder):
    # The setting names a model folder whose model was swapped: the name matches, vectors do not.
    build_index(settings, embedder, progress=False)
    retriever = Retriever(open_store(settings), FakeEmbedder(dimension=32))
    with pytest.raises(IndexMismatchError, match="64-dimensional vectors but the embedding model gives 32: rebuild"):
        retriever.search("Colin Clarke", 4)


def test_r14_cli_names_the_mismatch_in_one_line(settings, embedder):
    build_index(settings, embedder, progress=False)
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", "Who is Colin Clarke?", "--index-dir", str(settings.index_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "built with embedding model 'fake-embedder'" in result.stderr and "rebuild it with `rag index" in result.stderr


# ---------------------------------------------------------------- 15: a damaged index file

# The "application" runs in a child process so that a crash (a segfault in Chroma's
# HNSW reader, which is what a damaged segment file causes without the probe) fails
# this test instead of killing the test run. It must survive, say what is wrong,
# then rebuild and answer.
APP = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from fakes import FakeEmbedder
    from rag.errors import RagError
    from rag.index.build import build_index
    from rag.index.reader import open_store
    from rag.retrieval.retrieve import Retriever
    from rag.settings import Settings

    settings = Settings(docs_dir={docs!r}, index_dir={index!r}, embedding_model="fake-embedder")
    try:
        open_store(settings)
        error = None
    except RagError as exc:
        error = f"{{type(exc).__name__}}: {{exc}}"
    build_index(settings, FakeEmbedder(), progress=False)
    passages = Retriever(open_store(settings), FakeEmbedder()).search("w1x w2x w3x", 3)
    print(json.dumps({{"error": error, "answered": len(passages)}}))
    """
)


def damage(build: Path, how: str) -> None:
    segment = next(p for p in build.iterdir() if p.is_dir())
    if how == "truncated HNSW header":
        os.truncate(segment / "header.bin", 50)
    elif how == "garbage in HNSW data":
        data = bytearray((segment / "data_level0.bin").read_bytes())
        data[len(data) // 4 : len(data) // 2] = random.Random(15).randbytes(len(data) // 2 - len(data) // 4)
        (segment / "data_level0.bin").write_bytes(bytes(data))
    elif how == "truncated HNSW metadata":
        os.truncate(segment / "index_metadata.pickle", 1000)
    elif how == "truncated sqlite":
        os.truncate(build / "chroma.sqlite3", (build / "chroma.sqlite3").stat().st_size // 2)


@pytest.fixture(scope="module")
def large_index(tmp_path_factory):
    """An index big enough (over Chroma's 1,000-record sync threshold) to keep HNSW files on disk."""
    base = tmp_path_factory.mktemp("large")
    write_many_documents(base / "docs", files=8, sentences=700)
    build_index(Settings(docs_dir=base / "docs", index_dir=base / "index", embedding_model="fake-embedder"), FakeEmbedder(), progress=False)
    return base


@pytest.mark.parametrize(
    "how", ["truncated HNSW header", "garbage in HNSW data", "truncated HNSW metadata", "truncated sqlite"]
)
def test_r15_damaged_index_file_gives_a_clear_error_and_the_app_survives(large_index, tmp_path, how):
    index = tmp_path / "index"
    subprocess.run(["cp", "-a", str(large_index / "index"), str(index)], check=True)
    damage(current_path(index).resolve(), how)
    app = APP.format(tests=str(TESTS), docs=str(large_index / "docs"), index=str(index))
    result = subprocess.run([sys.executable, "-c", app], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"the application died (status {result.returncode}): {result.stderr[-2000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["error"].startswith("IndexDamagedError: the index in")
    assert "rebuild it with `rag index" in report["error"]
    assert report["answered"] == 3  # rebuilt over the damaged one, and it answers


def test_r15_rag_session_reports_damage_as_a_rag_error(settings, embedder):
    build_index(settings, embedder, progress=False)
    os.truncate(current_path(settings.index_dir).resolve() / "chroma.sqlite3", 4096)
    rag = RAG(settings.model_copy(update={"auto_index": False}), embedder=embedder, generator=FakeGenerator(), progress=False)
    with pytest.raises(IndexDamagedError, match="rebuild it with `rag index"):
        rag.ask("Who is Colin Clarke?")
    build_index(settings, embedder, progress=False)
    assert answers_from_seeds(settings, embedder)


def test_r15_the_child_probe_runs_only_when_segment_files_changed(settings, embedder, monkeypatch):
    build_index(settings, embedder, progress=False)
    open_store(settings)
    probes = []
    real_run = subprocess.run
    monkeypatch.setattr("rag.index.check.subprocess.run", lambda *a, **k: probes.append(a) or real_run(*a, **k))
    open_store(settings)
    assert probes == []  # unchanged since the last good read: no second process
    segment_file = next(p for p in current_path(settings.index_dir).resolve().glob("*/*") if p.is_file())
    os.utime(segment_file, ns=(0, 0))  # changed behind our back
    open_store(settings)
    assert len(probes) == 1


# ---------------------------------------------------------------- 16: a large library


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, counting the texts it was asked to embed."""

    def __init__(self, dimension: int = 8):
        super().__init__(dimension)
        self.texts = 0

    def embed(self, texts, batch_size=64):
        self.texts += len(texts)
        return super().embed(texts, batch_size)


def test_r16_updating_an_index_past_40000_chunks_keeps_the_unchanged_vectors(tmp_path):
    # Found by this suite: the update fetched the old vectors of every chunk id in one Chroma
    # `get`, and past 32,766 ids Chroma 1.5.9 fails with "too many SQL variables".
    docs = tmp_path / "docs"
    write_many_documents(docs, files=20, sentences=2050)  # one ~70-character sentence per chunk
    settings = Settings(docs_dir=docs, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                        chunk_size=100, chunk_overlap=0, embed_batch_size=4096)
    embedder = CountingEmbedder()
    first = build_index(settings, embedder, progress=False)
    assert first.chunk_count > 40_000
    before = open_store(settings)
    sample = [c.id for c in before.chunks()[::997]]
    old_vectors = before.vectors(sample)

    (docs / "new.txt").write_text("The zebra council met in Narnia on Tuesday.")
    embedder.texts = 0
    store = ensure_index(settings, embedder, progress=False)  # what `rag index`, an upload or a start does
    assert store.count() == first.chunk_count + 1
    assert embedder.texts == 1  # only the new chunk was embedded: every other vector was kept
    assert store.vectors(sample) == old_vectors
    assert store.info.chunk_count == first.chunk_count + 1


# ---------------------------------------------------------------- 21, 22: readers while others read and write

# A reader in its own process, through the real `open_store`: it opens the index, retrieves,
# prints what it found as JSON, and (with HOLD) waits for that file with the index open, so
# that a test can kill it there. With PAUSE it stops right after resolving `current`, until
# that file exists: the moment a rebuild may switch builds and delete the one it resolved.
READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from fakes import FakeEmbedder
    from rag.errors import RagError
    from rag.index.reader import open_store
    from rag.retrieval.retrieve import Retriever
    from rag.settings import Settings

    pause, hold = {pause!r}, {hold!r}

    def wait_for(name):
        deadline = time.monotonic() + 120
        while not Path(name).exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    real_resolve = Path.resolve
    def resolve(self, *args, **kwargs):
        global pause
        resolved = real_resolve(self, *args, **kwargs)
        if pause and self.name == "current":
            print("resolved", resolved, flush=True)
            wait_for(pause)
            pause = None
        return resolved
    Path.resolve = resolve

    settings = Settings(docs_dir={docs!r}, index_dir={index!r}, embedding_model="fake-embedder")
    try:
        passages = Retriever(open_store(settings), FakeEmbedder()).search({query!r}, 4)
        report = {{"texts": [p.text for p in passages]}}
    except RagError as exc:
        report = {{"error": f"{{type(exc).__name__}}: {{exc}}"}}
    print("queried", flush=True)
    if hold:
        wait_for(hold)
    print(json.dumps(report), flush=True)
    """
)


def start_reader(settings, query: str, pause: Path | None = None, hold: Path | None = None) -> subprocess.Popen:
    code = READER.format(tests=str(TESTS), docs=str(settings.docs_dir), index=str(settings.index_dir),
                         query=query, pause=str(pause) if pause else None, hold=str(hold) if hold else None)
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def reader_report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"the reader died (status {proc.returncode}): {err[-2000:]}"
    return json.loads(out.strip().splitlines()[-1])


def folder_state(folder: Path) -> dict[str, tuple]:
    """Size, mtime and sha256 of every file under `folder`."""
    import hashlib

    return {
        f.relative_to(folder).as_posix(): (f.stat().st_size, f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest())
        for f in sorted(folder.rglob("*")) if f.is_file()
    }


def test_r21_readers_at_once_and_a_killed_reader_leave_the_index_files_untouched(settings, embedder, tmp_path):
    # Found by this suite: opening and querying a small collection (under Chroma's 1,000-record
    # sync threshold) rewrote its HNSW files and its SQLite file in place, so two `rag ask` at
    # once, or a reader killed mid-write, could tear the files that crash Chroma (row 15).
    build_index(settings, embedder, progress=False)
    build = current_path(settings.index_dir).resolve()
    before = folder_state(build)
    hold = tmp_path / "release-held-reader"
    held = start_reader(settings, "Colin Clarke Soufan Group", hold=hold)  # two readers at once,
    other = start_reader(settings, "Colin Clarke Soufan Group")  # the second one while the first holds it open
    try:
        wait_for_line(held, "queried")
        assert any("Soufan Group" in t for t in reader_report(other)["texts"])
        sigkill(held)  # killed with the index open
    finally:
        hold.touch()
        if held.poll() is None:
            held.kill()
        held.wait()
    assert any("Soufan Group" in t for t in reader_report(start_reader(settings, "Colin Clarke Soufan Group"))["texts"])
    after = folder_state(build)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert changed == [], f"readers wrote to the published build: {changed}"
    # Each reader opened a private copy: gone when it exited, or (the killed one) at the next open.
    assert list((settings.index_dir / ".readers").iterdir()) == []
    assert answers_from_seeds(settings, embedder)


def test_r22_a_reader_whose_build_a_rebuild_deleted_reads_the_new_build(settings, embedder, tmp_path):
    # Found by this suite: a reader that resolved `current` just before a rebuild switched and
    # deleted that build got "index damaged, rebuild it", and Chroma recreated an empty
    # database at the deleted path.
    build_index(settings, embedder, progress=False)
    old = current_path(settings.index_dir).resolve()
    (settings.docs_dir / "new.txt").write_text("The zebra council met in Narnia on Tuesday.")
    go = tmp_path / "go"
    reader = start_reader(settings, "zebra council Narnia", pause=go)
    try:
        wait_for_line(reader, f"resolved {old}")
        rebuild = start_worker(settings.docs_dir, settings.index_dir)  # a real rebuild: switches, deletes `old`
        out, err = rebuild.communicate(timeout=120)
        assert rebuild.returncode == 0, err[-2000:]
        assert not old.exists()
    finally:
        go.touch()
    report = reader_report(reader)
    assert "error" not in report, report["error"]
    assert any("Narnia" in t for t in report["texts"])  # it read the build that is current now
    assert not old.exists(), "Chroma created a database at the deleted build's path"
    assert [b.name for b in (settings.index_dir / "builds").iterdir()] == [current_path(settings.index_dir).resolve().name]
