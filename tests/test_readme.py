"""README.md stays true: every ```python block runs, every `$ cocm-rules` line in a ```console
or ```bash block exits 0 (or the status an ``<!-- exit N -->`` comment before the block
gives, and then prints the error lines shown under it), and the measure table lists exactly
the bundled measures."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocm_rules import load_measures
from cocm_rules.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCK = re.compile(r"(?:<!-- exit (?P<exit>\d+) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)


def _blocks(*langs: str) -> list[tuple[str, int, str]]:
    """(``README.md:line``, expected exit status, body) of each block in one of ``langs``."""
    return [
        (f"README.md:{TEXT.count(chr(10), 0, m.start('body'))}", int(m.group("exit") or 0), m.group("body"))
        for m in BLOCK.finditer(TEXT)
        if m.group("lang") in langs
    ]


PYTHON = _blocks("python")
COMMANDS = [
    (where, status, line[2:], body)
    for where, status, body in _blocks("console", "bash")
    for line in body.splitlines()
    if line.startswith("$ cocm-rules")
]


def test_readme_has_examples() -> None:
    """The README shows Python and command-line examples (so the tests below are not empty)."""
    assert PYTHON
    assert len(COMMANDS) >= 4


@pytest.mark.parametrize(("where", "status", "body"), PYTHON, ids=[b[0] for b in PYTHON])
def test_python_block_runs(where: str, status: int, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ```python block runs to its end from the repository root."""
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(body + "\n_ran_to_the_end = True\n", where, "exec"), namespace)
    assert True is namespace["_ran_to_the_end"]


def _expected_output(body: str, command: str) -> list[str]:
    """The lines shown under a command, up to the next `$` line."""
    lines = body.splitlines()
    start = lines.index(f"$ {command}") + 1
    out = []
    for line in lines[start:]:
        if line.startswith("$ "):
            break
        out.append(line)
    return out


@pytest.mark.usefixtures("restore_structlog")
@pytest.mark.parametrize(("where", "status", "command", "body"), COMMANDS, ids=[c[2] for c in COMMANDS])
def test_command_exit_status(where: str, status: int, command: str, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each documented `cocm-rules` command exits as documented; a failing one prints exactly
    the error lines shown under it on stderr. (Run in-process; tests/test_cli.py checks real
    processes.)"""
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(app, args, env={"NO_COLOR": "1", "COLUMNS": "160"})
    assert status == result.exit_code, f"{where}: {command}\n{result.output}\n{result.exception!r}"
    if status:
        assert _expected_output(body, command) == result.stderr.splitlines()
        assert "" == result.stdout


def test_measure_table_lists_the_bundled_measures() -> None:
    """The README's measure table has one row per bundled measure, by id."""
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", TEXT, re.M)
    assert sorted(load_measures()) == sorted(documented)
    assert len(documented) == len(set(documented))


def test_set_up_commands_are_documented() -> None:
    """The two set-up commands are in the README and in the Makefile."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert f"make {target}" in TEXT
        assert re.search(rf"^{target}:", makefile, re.M), target
