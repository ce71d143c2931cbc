"""The adapters at the edge (``cocm_rules.fhir``, ``cocm_rules.cdshooks``, ``cocm_rules.cli``),
the core they call, and the package as hosts see it: structure (issue 15)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cocm_rules"
# No private name crosses modules: tests/test_architecture.py checks the whole package.


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
