"""The adapters at the edge (``cocm_rules.fhir``, ``cocm_rules.cdshooks``, ``cocm_rules.cli``),
the core they call, and the package as hosts see it: structure (issue 15)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cocm_rules"
ADAPTERS = [
    *sorted(p for d in ("fhir", "cdshooks", "cli") for p in (PACKAGE / d).glob("*.py")),
    PACKAGE / "unenrolled.py",
]


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
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            found.append(f"{where}: from {'.' * node.level}{node.module or ''} import {name}")
    return found


@pytest.mark.parametrize("path", ADAPTERS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_name_crosses_modules(path: Path) -> None:
    """A name another module needs is public (``reference_keys``, ``console``); a private
    ``_name`` stays in its module (issue 15: ``_ref_key`` and ``_console`` crossed modules)."""
    assert [] == _private_names_imported(path)


def test_the_core_of_unenrolled_patients_imports_no_adapter() -> None:
    """``cocm_rules.unenrolled`` decides which rules run without an enrollment: it is core, so
    it imports nothing from the FHIR, CDS Hooks or command-line adapters."""
    tree = ast.parse((PACKAGE / "unenrolled.py").read_text(encoding="utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert set() == {m for m in modules if m.split(".")[0] in ("fhir", "cdshooks", "cli")}


def test_the_package_says_it_is_typed() -> None:
    """PEP 561: the empty ``py.typed`` marker is in the package, and the wheel takes the whole
    package directory (hatch ships every file of ``packages`` that git does not ignore), so
    type checkers read the hosts' calls against the library's own hints."""
    assert "" == (PACKAGE / "py.typed").read_text(encoding="utf-8")
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert (["cocm_rules"], None, None) == (wheel["packages"], wheel.get("only-include"), wheel.get("exclude"))
    assert "Typing :: Typed" in pyproject["project"]["classifiers"]
    ignored = (PACKAGE.parent / ".gitignore").read_text(encoding="utf-8").split()
    assert "py.typed" not in ignored
