"""Every example in docs/ is executed: Python blocks run, rulesets load and pass their tests,
error examples reproduce their exact message, CLI lines exit 0, and the generated catalog
matches the code."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cocm_rules import RulesetError, load_rulesets, run_tests
from cocm_rules.facts import catalog_markdown

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"(?P<marker><!-- error -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)


def _blocks(lang: str) -> list[tuple[str, int, bool, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            if m.group("lang") == lang:
                line = text.count("\n", 0, m.start()) + 1
                out.append((f"{doc.name}:{line}", line, bool(m.group("marker")), m.group("body")))
    return out


def _following_text_block(doc_line: str) -> str:
    name, line = doc_line.split(":")
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    rest = "\n".join(text.splitlines()[int(line) :])
    m = re.search(r"```yaml\n.*?```\s*```text\n(.*?)```", "```yaml\n" + rest.split("```yaml\n", 1)[-1], re.S)
    assert m, f"{doc_line}: an error example needs a ```text block with the expected message after it"
    return m.group(1).rstrip("\n")


def test_docs_exist() -> None:
    """The clinical-lead guide and the generated fact catalog are there."""
    assert {"rulesets.md", "facts.md"} <= {d.name for d in DOCS}


@pytest.mark.parametrize(("where", "line", "error", "body"), _blocks("python"), ids=lambda v: str(v)[:40])
def test_python_examples_run(where: str, line: int, error: bool, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ```python block runs without error from the repository root."""
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": f"docs_example_{line}"}
    exec(compile(body, where, "exec"), namespace)
    assert namespace  # the block ran to the end


RULESET_BLOCKS = [b for b in _blocks("yaml") if b[3].startswith("ruleset:")]


@pytest.mark.parametrize(("where", "line", "error", "body"), RULESET_BLOCKS, ids=[b[0] for b in RULESET_BLOCKS])
def test_ruleset_examples(where: str, line: int, error: bool, body: str) -> None:
    """A complete ruleset in the docs loads and passes its tests; an error example gives
    exactly the message printed after it."""
    if error:
        with pytest.raises(RulesetError) as info:
            load_rulesets(text=body)
        assert _following_text_block(where) == str(info.value)
        return
    rulesets = load_rulesets(text=body)
    results = run_tests(rulesets)
    assert results, f"{where}: a documented ruleset should show tests"
    assert [] == [(r.name, r.missing, r.unexpected, r.error) for r in results if not r.passed]


CONSOLE = [
    (where, cmd)
    for where, _line, _error, body in _blocks("console")
    for cmd in (ln[2:] for ln in body.splitlines() if ln.startswith("$ cocm-rules"))
]


@pytest.mark.parametrize(("where", "command"), CONSOLE, ids=[c[1] for c in CONSOLE])
def test_console_examples_exit_zero(where: str, command: str) -> None:
    """Each documented `cocm-rules` command succeeds from the repository root."""
    args = shlex.split(command)
    proc = subprocess.run(
        [sys.executable, "-m", "cocm_rules", *args[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160"},
    )
    assert 0 == proc.returncode, f"{where}: {command}\n{proc.stdout}\n{proc.stderr}"


def test_fact_catalog_doc_is_generated_from_the_code() -> None:
    """docs/facts.md is exactly what the code renders (regenerate with
    `cocm-rules facts --catalog --markdown > docs/facts.md`)."""
    assert catalog_markdown() == (ROOT / "docs" / "facts.md").read_text(encoding="utf-8")
