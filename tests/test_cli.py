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


def parsed_settings(*flags, command=("ask", "q")):
    from rag.cli import build_parser
    from rag.flags import settings_from

    return settings_from(build_parser().parse_args([*command, *flags]))


def test_every_setting_but_the_secrets_has_a_flag_on_every_subcommand():
    from rag.cli import build_parser
    from rag.settings import Settings

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        flags = {option for action in sub._actions for option in action.option_strings}
        for field in Settings.model_fields:
            flag = "--" + field.replace("_", "-")
            assert (flag in flags) == (field not in ("llm_api_key", "chroma_token")), (name, flag)


def test_flags_take_the_type_of_their_field():
    s = parsed_settings("--passage-chars", "320", "--temperature", "0.5", "--index-dir", "/tmp/i",
                        "--llm-backend", "openai", "--chroma-url", "http://127.0.0.1:8001", "--no-second-look",
                        "--top-k", "6", "--retrieval-mode", "bm25")
    assert (s.passage_chars, s.temperature, s.llm_backend, s.chroma_url) == (320, 0.5, "openai", "http://127.0.0.1:8001")
    assert s.second_look is False and s.top_k == 6 and s.retrieval_mode == "bm25"
    assert str(s.index_dir) == "/tmp/i"
    assert parsed_settings("--prefix-cache").prefix_cache is True


def test_a_flag_not_given_leaves_the_variable_and_none_clears_an_optional_one(monkeypatch):
    monkeypatch.setenv("RAG_PASSAGE_CHARS", "320")
    monkeypatch.setenv("RAG_SECOND_LOOK", "false")
    s = parsed_settings()
    assert s.passage_chars == 320 and s.second_look is False
    s = parsed_settings("--passage-chars", "none", "--second-look")
    assert s.passage_chars is None and s.second_look is True


@pytest.mark.parametrize("flags, says", [
    (["--llm-backend", "vllm"], "invalid choice: 'vllm'"),
    (["--top-k", "many"], "invalid int value: 'many'"),
    (["--top-k", "none"], "invalid int value: 'none'"),  # none only for an optional setting
    (["--llm-api-key", "secret"], "unrecognized arguments"),  # secrets come from RAG_* variables only
])
def test_a_bad_flag_is_a_usage_error(flags, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        parsed_settings(*flags)
    assert exit_.value.code == 2 and says in capsys.readouterr().err


def test_settings_env_gives_another_process_the_same_settings(monkeypatch, tmp_path):
    from rag.settings import Settings, settings_env

    given = Settings(top_k=6, passage_chars=320, second_look=False, index_dir=tmp_path, retrieval_mode="bm25",
                     refusal_threshold=0.4, llm_api_key="k")
    for name, value in settings_env(given).items():
        monkeypatch.setenv(name, value)
    assert Settings() == given
