"""Keep docs/architecture.md true to the code: its module table and layer list are generated.

    python tools/architecture.py          rewrite the generated parts of docs/architecture.md
    python tools/architecture.py --check  exit 1 if they differ from the code (the test suite runs this)

The layer list is read from ``.importlinter`` (the contract ``lint-imports`` enforces), the
module table from each module's docstring (its first line). Everything outside the two
marked blocks is written by hand.
"""

from __future__ import annotations

import ast
import configparser
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "cocm_rules"
BLOCKS = ("layers", "modules")


def _first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    line = " ".join(doc.split("\n\n")[0].split())
    return line.replace("|", "/")


def layers() -> str:
    """The layers of the import contract, top to bottom, as a Markdown list."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter", encoding="utf-8")
    rows = [r.strip() for r in config["importlinter:contract:layers"]["layers"].splitlines() if r.strip()]
    lines = ["| layer (top: may import everything below) | modules |", "|---|---|"]
    for n, row in enumerate(rows, start=1):
        mods = ", ".join(f"`{m.strip()}`" for m in row.split("|"))
        lines.append(f"| {n} | {mods} |")
    return "\n".join(lines)


def modules() -> str:
    """Every module and subpackage of cocm_rules with the first line of its docstring."""
    lines = ["| module | what it holds |", "|---|---|"]
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        lines.append(f"| `{name}` | {_first_line(path)} |")
    return "\n".join(lines)


def render(text: str) -> str:
    """``text`` with each generated block replaced by what the code says now."""
    for block, make in (("layers", layers), ("modules", modules)):
        start, end = f"<!-- begin generated: {block} -->", f"<!-- end generated: {block} -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        if not rest:
            raise SystemExit(f"{DOC}: the marker {start!r} is missing")
        text = f"{head}{start}\n{make()}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    current = DOC.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print(f"{DOC} is stale: run python tools/architecture.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
