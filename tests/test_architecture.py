"""The structure is checked, not hoped for (issue 15): the import contract, private names,
and docs/architecture.md kept true to the code. ruff's complexity rule and mypy run in
``make lint`` beside these."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cocm_rules"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_the_import_contract_is_kept() -> None:
    """lint-imports keeps every contract of ``.importlinter``: layers point down, the core
    imports no adapter, only the durable wrapper imports durable-rules, fact families are
    independent."""
    result = _lint_imports(ROOT / ".importlinter")
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_import_contract_catches_an_import_that_points_up(tmp_path: Path) -> None:
    """The contract is not vacuous: the engine imports the facts, so a contract that puts the
    facts above the engine is broken, and lint-imports says by which import."""
    config = (ROOT / ".importlinter").read_text(encoding="utf-8")
    lines = config.splitlines()
    engine, facts = lines.index("    engine"), lines.index("    facts")
    lines[engine], lines[facts] = "    facts", "    engine"
    broken = tmp_path / "inverted.ini"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _lint_imports(broken)
    assert 1 == result.returncode
    assert "cocm_rules.engine -> cocm_rules.facts" in result.stdout


def _private_names_imported(path: Path) -> list[str]:
    """``from X import _name`` where ``_name`` is not a module: a private name of X used here."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = path.parent
        for _ in range(max(node.level - 1, 0)):
            base = base.parent
        folder = base.joinpath(*(node.module or "").split(".")) if node.level else None
        for alias in node.names:
            name = alias.name
            if not name.startswith("_") or name.startswith("__"):
                continue
            if folder is not None and ((folder / f"{name}.py").exists() or (folder / name).is_dir()):
                continue  # a package importing its own private module
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{node.lineno}"
            found.append(f"{where}: from {'.' * node.level}{node.module or ''} import {name}")
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_name_crosses_modules(path: Path) -> None:
    """A name another module needs is public; a private ``_name`` stays in its module (issue 15:
    ``_Context``, ``_data_dir``, ``_ref_key``, ``_console`` crossed modules)."""
    assert [] == _private_names_imported(path)


def test_the_private_name_check_finds_one(tmp_path: Path) -> None:
    """The check is not vacuous: a module importing another module's private helper is found."""
    (tmp_path / "a.py").write_text("def _helper():\n    return 1\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("from .a import _helper\n", encoding="utf-8")
    assert 1 == len(_private_names_imported(tmp_path / "b.py"))


def test_the_architecture_page_is_true_to_the_code() -> None:
    """docs/architecture.md's layer list (from .importlinter) and module table (every module,
    from its docstring) are what ``python tools/architecture.py`` generates now."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "architecture.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert 0 == result.returncode, result.stderr
