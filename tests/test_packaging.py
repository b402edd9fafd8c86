"""The package as `pip install .` makes it: the wheel carries the prompt templates, and an
installed copy answers from its own files, not from a checkout's."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the tests run offline, and setuptools is in the environment.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--disable-pip-version-check", str(ROOT), "-w", str(out)],
                   check=True, capture_output=True, timeout=300)
    (built,) = out.glob("rag_local-*.whl")
    return built


def test_the_wheel_carries_every_prompt_template_and_the_decision(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = sorted(p.name for p in (ROOT / "prompts").glob("*.txt"))
    assert templates and all(f"rag/templates/{name}" in names for name in templates)
    assert "rag/answer/decision.json" in names
    assert {"rag/ui/static/chat.css", "rag/ui/static/chat.js"} <= names


def test_the_wheel_carries_every_module_of_every_subpackage(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "rag").rglob("*.py"))
    assert modules and [m for m in modules if m not in names] == []


def test_an_installed_copy_loads_its_templates_from_the_package(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import json, rag, rag.settings as s\n"
        "from rag.answer.prompts import build_messages\n"
        "from rag.types import Passage\n"
        "settings = s.Settings()\n"
        "messages = build_messages([Passage(1, 'c', 'a.txt', 0, 5, 'Hello', 1.0)], 'Who?', [], settings.prompts_dir)\n"
        "print(json.dumps({'package': rag.__file__, 'prompts_dir': str(settings.prompts_dir),"
        " 'messages': len(messages)}))\n"
    )
    # Run from outside the checkout, with the unpacked wheel ahead of the checkout's editable install.
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(site), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["package"]).is_relative_to(site)
    assert Path(found["prompts_dir"]) == site / "rag" / "templates"
    assert found["messages"] >= 2


def test_an_installed_copy_runs_the_command_and_reads_its_decision_from_another_directory(wheel, tmp_path):
    """The `rag` command of an unpacked wheel, run where no checkout is: its one-line errors, its
    model catalogue, and the refusal decision read from the package (answering needs the real
    models: the `models` tests answer through `python -m rag.cli ask`)."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {"PYTHONPATH": str(site), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env=env)

    empty = run("-m", "rag.cli", "ask", "   ")
    assert empty.returncode == 1 and empty.stderr.strip().count("\n") == 0 and "question is empty" in empty.stderr
    models = run("-m", "rag.cli", "models", "--json")
    assert models.returncode == 0, models.stderr
    assert {row["role"] for row in json.loads(models.stdout)} >= {"llm", "embedding"}
    decision = run("-c", "import rag.answer.decide as d, json; print(json.dumps([d.__file__, d.shipped_model().llm]))")
    assert decision.returncode == 0, decision.stderr
    where, llm = json.loads(decision.stdout)
    assert Path(where).is_relative_to(site) and llm
