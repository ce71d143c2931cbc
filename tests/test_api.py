"""The public API: ``cocm_rules.__all__`` is sorted and complete, every name in it imports, and
importing the library pulls in none of the command line's or the tests' dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
from types import ModuleType

import pytest

import cocm_rules

#: Only the command line may import typer and rich; only cocm_rules.strategies hypothesis.
HEAVY = ("typer", "rich", "hypothesis")

#: Run in a fresh interpreter: which modules structlog and then cocm_rules add, and whether
#: every name in __all__ imports.
PROBE = """
import json, sys
start = set(sys.modules)
import structlog
after_structlog = set(sys.modules)
import cocm_rules
after_import = set(sys.modules)
missing = []
for name in cocm_rules.__all__:
    try:
        exec(f"from cocm_rules import {name}", {})
    except ImportError as error:
        missing.append(f"{name}: {error}")
print(json.dumps({
    "by_import": sorted(after_import - start),
    "by_cocm_rules": sorted(after_import - after_structlog),
    "not_importable": missing,
}))
"""


@pytest.fixture(scope="module")
def fresh() -> dict[str, list[str]]:
    """What a fresh interpreter loads for `import cocm_rules` (see PROBE)."""
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert 0 == proc.returncode, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _public_names() -> set[str]:
    """Names the package defines for users: not private, not submodules (plus __version__)."""
    names = {
        name
        for name, value in vars(cocm_rules).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    return names | {"__version__"}


def test_all_is_sorted() -> None:
    """__all__ is in plain sorted order (ruff's RUF022 is off; this test is the rule)."""
    assert sorted(cocm_rules.__all__) == list(cocm_rules.__all__)


def test_all_has_no_duplicates() -> None:
    """Each public name is listed once."""
    assert len(set(cocm_rules.__all__)) == len(cocm_rules.__all__)


def test_all_equals_the_public_names() -> None:
    """__all__ lists exactly the public names defined in cocm_rules."""
    assert _public_names() == set(cocm_rules.__all__)


def test_every_name_in_all_is_importable(fresh: dict[str, list[str]]) -> None:
    """`from cocm_rules import NAME` works for every name in __all__, in a fresh interpreter."""
    assert [] == fresh["not_importable"]


def test_import_does_not_load_typer_or_hypothesis(fresh: dict[str, list[str]]) -> None:
    """`import cocm_rules` in a fresh interpreter loads neither typer nor hypothesis."""
    assert [] == [m for m in fresh["by_import"] if m.split(".")[0] in ("typer", "hypothesis")]


def test_import_loads_no_cli_dependency_beyond_structlog(fresh: dict[str, list[str]]) -> None:
    """Beyond what structlog itself imports (structlog.dev imports rich when it is installed),
    `import cocm_rules` loads no typer, rich or hypothesis module."""
    assert [] == [m for m in fresh["by_cocm_rules"] if m.split(".")[0] in HEAVY]


def test_import_does_not_load_the_cli(fresh: dict[str, list[str]]) -> None:
    """The command line module is loaded only when asked for."""
    assert "cocm_rules.cli" not in fresh["by_import"]
