"""The package's layering, read from the imports in the source (no module is imported).

The front ends (rag.cli, rag.ui, rag.eval, rag.bench) import the pipeline; nothing in the core
(the stages and the top-level modules under them) imports a front end back.
"""

import ast
from pathlib import Path

RAG = Path(__file__).resolve().parent.parent / "rag"
FRONT_ENDS = ("rag.cli", "rag.flags", "rag.ui", "rag.eval", "rag.bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(RAG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved: `from .x import y` in rag/a/b.py -> rag.a.x, rag.a.x.y."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def is_front_end(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FRONT_ENDS)


def test_the_import_reader_sees_relative_and_absolute_imports():
    assert "rag.ui.app" in imported(RAG / "cli.py") or "rag.ui" in imported(RAG / "cli.py")
    assert "rag.pipeline" in imported(RAG / "ui" / "app.py")


def test_nothing_in_the_core_imports_the_front_ends():
    core = [p for p in sorted(RAG.rglob("*.py")) if not is_front_end(module_name(p))]
    assert len(core) > 20
    wrong = {module_name(p): sorted(n for n in imported(p) if is_front_end(n)) for p in core}
    assert {m: names for m, names in wrong.items() if names} == {}


def test_every_stage_is_a_subpackage_with_a_docstring():
    for stage in ("ingest", "index", "retrieval", "answer", "models", "ui", "eval", "bench"):
        init = RAG / stage / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


def test_no_module_is_over_300_lines():
    long = {module_name(p): n for p in RAG.rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert long == {}
