"""Safe YAML loading that remembers where every key and value came from.

Definitions (measures, rulesets) are data. This loader builds plain Python values from PyYAML's
*safe* node graph (no tags that construct objects) and records the ``line:column`` of every
key and value, so validation errors can point at the exact place in the file. It also refuses
two things PyYAML accepts silently: duplicate keys (the second silently wins) and
anchors/aliases (a denial-of-service vector, and confusing to edit). A value PyYAML cannot
build (a date that does not exist, such as ``2026-02-30``) and nesting deeper than
:data:`MAX_DEPTH` levels are located problems, not exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Problem

Path_ = tuple[str | int, ...]

#: The deepest nesting of mappings and lists a definition may have (a ruleset needs about 15).
MAX_DEPTH = 64


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column in a file."""

    line: int
    column: int


@dataclass
class Document:
    """A loaded YAML document: its data plus the position of every value and key."""

    data: Any
    file: str
    values: dict[Path_, Mark] = field(default_factory=dict)
    keys: dict[Path_, Mark] = field(default_factory=dict)
    scalar_styles: dict[Path_, str | None] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def where(self, path: Path_, *, key: bool = False) -> Mark | None:
        """Position of ``path`` (its key when ``key``), else of its nearest known parent."""
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while True:
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return None
            path = path[:-1]

    def locate(self, path: Path_, offset: int) -> Mark | None:
        """Where character ``offset`` of the text scalar at ``path`` is in the file.

        Follows YAML's folding: a plain or quoted scalar continued on the next line, or a
        ``>``/``|`` block, turns each line break into one character of the text.
        """
        mark = self.values.get(tuple(path))
        style = self.scalar_styles.get(tuple(path), "?")
        if mark is None or style not in (None, "'", '"', ">", "|"):
            return mark
        lines = self.lines
        line, col = mark.line - 1, mark.column - 1
        indent = None
        if style in ("'", '"'):
            col += 1
        elif style in (">", "|"):
            line += 1
            while line < len(lines) and not lines[line].strip():
                line += 1
            if line >= len(lines):
                return mark
            indent = col = len(lines[line]) - len(lines[line].lstrip())
        remaining = offset
        while line < len(lines):
            rest = len(lines[line].rstrip()) - col
            if remaining <= rest:
                return Mark(line + 1, col + remaining + 1)
            remaining -= rest + 1  # the line break folds into one character
            line += 1
            while line < len(lines) and not lines[line].strip():
                line += 1
            if line >= len(lines):
                break
            lead = len(lines[line]) - len(lines[line].lstrip())
            col = lead if indent is None else min(indent, lead)
        return mark

    def problem(
        self,
        path: Path_,
        message: str,
        *,
        key: bool = False,
        context: str | None = None,
        allowed: str | None = None,
        suggestion: str | None = None,
        column_offset: int = 0,
    ) -> Problem:
        """Build a :class:`Problem` located at ``path`` in this document."""
        mark = self.where(path, key=key)
        return Problem(
            message,
            file=self.file,
            line=mark.line if mark else None,
            column=(mark.column + column_offset) if mark else None,
            context=context,
            allowed=allowed,
            suggestion=suggestion,
            path=tuple(path),
        )


class YamlError(Exception):
    """Internal: carries the Problems found while reading a YAML text."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


_MAP = "tag:yaml.org,2002:map"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SEQ = "tag:yaml.org,2002:seq"


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.doc = Document(data=None, file=file)
        self.problems: list[Problem] = []

    def _problem(self, node: Node, message: str) -> None:
        m = _mark(node)
        self.problems.append(Problem(message, file=self.file, line=m.line, column=m.column))

    def build(self, node: Node, path: Path_) -> Any:
        self.doc.values[path] = _mark(node)
        expected_tag = {MappingNode: _MAP, SequenceNode: _SEQ}.get(type(node))
        if expected_tag is not None and node.tag != expected_tag:
            self._problem(node, f"the tag {node.tag!r} is not allowed; a definition is plain data")
            return None
        if isinstance(node, MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    self._problem(key_node, "a key must be plain text, not a list or mapping")
                    continue
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self._problem(key_node, "merge keys ('<<') are not allowed; write the keys out")
                    continue
                key = self._scalar(key_node)
                if key is _INVALID:
                    continue
                if not isinstance(key, str | int | bool | float) or key is None:
                    self._problem(key_node, f"unsupported key {key!r}")
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in out:
                    first = self.doc.keys.get((*path, key))
                    where = f" (first at line {first.line})" if first else ""
                    self._problem(key_node, f"duplicate key {key!r}{where}; each key may appear once")
                    continue
                self.doc.keys[(*path, key)] = _mark(key_node)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        self.doc.scalar_styles[path] = node.style
        value = self._scalar(node)
        return None if value is _INVALID else value

    def _scalar(self, node: ScalarNode) -> Any:
        """Build a scalar; a value PyYAML cannot build is a problem (and ``_INVALID``)."""
        try:
            return self.loader.construct_object(node)
        except (ValueError, TypeError, OverflowError):
            if node.tag == _TIMESTAMP:
                self._problem(node, f"{node.value!r} is not a real date")
            else:
                self._problem(node, f"{node.value!r} cannot be read as a value")
            return _INVALID


_INVALID = object()


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases, and nesting deeper than :data:`MAX_DEPTH`."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:  # type: ignore[override]
        if self._depth >= MAX_DEPTH and not self.check_event(yaml.ScalarEvent, yaml.AliasEvent):
            raise yaml.MarkedYAMLError(
                problem=f"nested too deeply: at most {MAX_DEPTH} levels of lists and mappings",
                problem_mark=self.peek_event().start_mark,
            )
        self._depth += 1
        try:
            return self._compose_node(parent, index)
        finally:
            self._depth -= 1

    def _compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                problem="anchors and aliases ('*name') are not allowed; write the value out",
                problem_mark=event.start_mark,
            )
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.MarkedYAMLError(
                problem=f"anchors ('&{anchor}') are not allowed; write the value out",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)


def load_text(text: str, file: str = "<string>") -> Document:
    """Load one YAML document from ``text`` with positions; raise :class:`YamlError`."""
    loader = _NoAliasLoader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                raise YamlError([Problem("the file is empty", file=file, line=1, column=1)])
            builder = _Builder(loader, file)
            builder.doc.lines = text.splitlines()
            builder.doc.data = builder.build(node, ())
        except yaml.MarkedYAMLError as e:
            raise YamlError([_marked_problem(e, file)]) from e
        except yaml.YAMLError as e:
            raise YamlError([Problem(f"this is not valid YAML: {e}", file=file)]) from e
        if builder.problems:
            raise YamlError(builder.problems)
        return builder.doc
    finally:
        loader.dispose()


def _marked_problem(e: yaml.MarkedYAMLError, file: str) -> Problem:
    mark = e.problem_mark or e.context_mark
    message = str(e.problem or "invalid YAML")
    if e.context:
        message = f"{e.context}, {message}"
    return Problem(
        f"this is not valid YAML: {message}",
        file=file,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
    )


def load_file(path: str | Path) -> Document:
    """Read and load a YAML file with positions; the document's ``file`` is the path given."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise YamlError([Problem(f"the file is not UTF-8 text ({e.reason})", file=str(path))]) from e
    except OSError as e:
        raise YamlError([Problem(f"cannot read the file: {e.strerror}", file=str(path))]) from e
    return load_text(text, str(path))
