import json
import subprocess
import sys

import pytest

from rag.cli import main


def run_cli(*args, env_home=None):
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_one_line_and_nonzero(question):
    result = run_cli("ask", question)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: the question is empty")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_oversized_question_is_refused_with_the_limit():
    result = run_cli("ask", "x" * 100_000)
    assert result.returncode == 1 and "limit is 4000" in result.stderr and "Traceback" not in result.stderr


def test_bad_setting_is_one_line():
    result = run_cli("ask", "hi", "--top-k", "0")
    assert result.returncode == 2 and result.stderr.startswith("error: setting top_k") and "Traceback" not in result.stderr


def test_models_lists_the_catalogue(capsys):
    assert main(["models", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["qwen2.5-coder-0.5b"]["installed"] is True
    assert rows["all-minilm-l6-v2"]["installed"] is True


def test_missing_model_file_is_one_line(tmp_path, capsys):
    code = main(["ask", "Who is Colin Clarke?", "--model", str(tmp_path / "nope.gguf"),
                 "--index-dir", str(tmp_path / "i"), "--model-cache-dir", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 1 and "neither a catalogue entry" in err
