import hashlib

import pytest

from rag.errors import ModelIntegrityError, ModelNotFoundError
from rag.models.catalogue import (
    CATALOGUE,
    CatalogueEntry,
    assemble,
    catalogue_rows,
    package_files,
    resolve_llm,
    verify_file,
)

# A small installed distribution stands in for a model package: the mechanism is the same.
TQDM_INIT = r"^tqdm/__init__\.py$"


def tqdm_entry(sha256):
    return CatalogueEntry("fake", "llm", "test", ("tqdm", "tqdm"), TQDM_INIT, sha256, 0, "n/a")


def test_package_files_are_found_through_metadata():
    files = package_files("tqdm", TQDM_INIT)
    assert len(files) == 1 and files[0].is_file()


def test_missing_package_names_the_install_step():
    entry = CatalogueEntry("ghost", "llm", "t", ("no-such-package-xyz",), "x", None, 0, "pip install ghost")
    with pytest.raises(ModelNotFoundError, match="pip install ghost"):
        assemble(entry, __import__("pathlib").Path("/nonexistent"))


def test_split_files_are_concatenated_once_and_checked(tmp_path):
    part = package_files("tqdm", TQDM_INIT)[0].read_bytes()
    good = hashlib.sha256(part + part).hexdigest()
    path = assemble(tqdm_entry(good), tmp_path)
    assert path.read_bytes() == part + part
    assert assemble(tqdm_entry(good), tmp_path) == path  # second call reuses the file


def test_parts_with_a_wrong_hash_are_refused_and_leave_nothing(tmp_path):
    with pytest.raises(ModelIntegrityError, match="do not add up"):
        assemble(tqdm_entry("0" * 64), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_truncated_or_changed_file_is_refused_before_loading(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"x" * 100)
    pin = hashlib.sha256(model.read_bytes()).hexdigest()
    marker = tmp_path / "m.gguf.verified.json"
    verify_file(model, pin, marker)
    model.write_bytes(b"GGUF" + b"x" * 50)  # truncated after a successful check
    with pytest.raises(ModelIntegrityError, match="refusing to load"):
        verify_file(model, pin, marker)


def test_any_gguf_by_path_and_clear_error_otherwise(tmp_path):
    model = tmp_path / "own.gguf"
    model.write_bytes(b"GGUF")
    assert resolve_llm(str(model), tmp_path) == model
    with pytest.raises(ModelNotFoundError, match="neither a catalogue entry"):
        resolve_llm(str(tmp_path / "missing.gguf"), tmp_path)


def test_catalogue_lists_the_design_models():
    names = {row["name"] for row in catalogue_rows()}
    assert {"all-minilm-l6-v2", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"} == names
    assert CATALOGUE["qwen2.5-coder-0.5b"].sha256.startswith("1d9614638d18")
