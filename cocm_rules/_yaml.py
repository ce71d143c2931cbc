"""Safe YAML loading that remembers where every key and value came from.

Definitions (measures, rulesets, metrics, the service configuration) are data. This loader
builds plain Python values from PyYAML's *safe* node graph (no tags that construct objects)
and records the ``line:column`` of every key and value, so validation errors can point at the
exact place in the file. It also refuses what PyYAML accepts silently: duplicate keys (the
second silently wins), anchors/aliases (a denial-of-service vector - "billion laughs" - and
confusing to edit), numbers that are not finite (``.nan``, ``.inf``) and lone surrogates
written as ``"\ud800"`` escapes (not text).

Every way a text can fail to load is a located :class:`~cocm_rules.errors.Problem` carried by
:class:`YamlError`, never a PyYAML exception: bytes that are not UTF-8 (with the line and
column of the first bad byte), characters YAML does not allow or that hide in an editor (NUL
and other control characters, lone surrogates, the line separators U+0085/U+2028/U+2029, a
byte order mark inside the text), a value PyYAML cannot build (a date that does not exist,
such as ``2026-02-30``), nesting deeper than :data:`MAX_DEPTH` levels, and a text longer than
:data:`MAX_BYTES`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Problem

Path_ = tuple[str | int, ...]

#: The deepest nesting of mappings and lists a definition may have (a ruleset needs about 15).
MAX_DEPTH = 64
#: The largest definition file, in bytes of UTF-8 (the largest bundled file is about 11 kB).
MAX_BYTES = 2 * 1024 * 1024
#: How many refused characters one text reports before it says how many more there are.
MAX_CHARACTER_PROBLEMS = 10


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
        tags: dict[type[Node], str] = {MappingNode: _MAP, SequenceNode: _SEQ}
        expected_tag = tags.get(type(node))
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
        """Build a scalar; a value PyYAML cannot build, a number that is not finite and text
        with a lone surrogate are problems (and ``_INVALID``)."""
        try:
            value = self.loader.construct_object(node)
        except (ValueError, TypeError, OverflowError):
            if node.tag == _TIMESTAMP:
                self._problem(node, f"{_shown(node.value)} is not a real date")
            else:
                self._problem(node, f"{_shown(node.value)} cannot be read as a value")
            return _INVALID
        if isinstance(value, float) and not math.isfinite(value):
            self._problem(node, f"{_shown(node.value)} is not a finite number; write a number such as 10 or 0.5")
            return _INVALID
        if isinstance(value, str) and _SURROGATE.search(value):
            self._problem(node, "the text holds a lone surrogate (an escape such as \\ud800), which is not a character")
            return _INVALID
        return value


_INVALID = object()
_SURROGATE = re.compile("[\ud800-\udfff]")


def _shown(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


# Characters refused before PyYAML reads the text: what YAML itself forbids (control characters
# other than tab and line breaks, DEL, C1 controls, surrogates, U+FFFE/U+FFFF), plus what YAML
# reads as a line break but editors do not show as one (U+0085, U+2028, U+2029) - a location
# would then name a line the reader cannot see - and a byte order mark after the first character.
_REFUSED = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|(?<!^)\ufeff")
_CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "backspace", 0x0B: "vertical tab", 0x0C: "form feed", 0x1B: "ESC", 0x7F: "DEL"}
_LINE_BREAK = re.compile("\r\n|\r|\n")


def _describe_character(char: str) -> str:
    """What a refused character is, and what to do about it."""
    code = ord(char)
    label = f"U+{code:04X}"
    if code in (0x85, 0x2028, 0x2029):
        return (
            f"{label}, a line separator that YAML reads as a line break but most editors do not show; "
            "replace it with a real line break or a space"
        )
    if code == 0xFEFF:
        return f"{label}, an invisible byte order mark inside the text; remove it"
    if code in _CONTROL_NAMES:
        what = f"{label} ({_CONTROL_NAMES[code]}), a control character"
    elif code < 0x20 or 0x7F <= code < 0xA0:
        what = f"{label}, a control character"
    elif 0xD800 <= code <= 0xDFFF:
        what = f"{label}, a lone surrogate (not a character)"
    else:
        what = f"{label}, a noncharacter"
    return f"{what}; remove it (it is often pasted in from another program, or the file is not a text file)"


def position(text: str, offset: int) -> Mark:
    """The 1-based line and column of character ``offset`` of ``text``, counting line breaks as
    YAML does (``\r\n``, ``\r`` or ``\n``)."""
    line, start = 1, 0
    for m in _LINE_BREAK.finditer(text, 0, offset):
        line, start = line + 1, m.end()
    return Mark(line, offset - start + 1)


def _character_problems(text: str, file: str) -> list[Problem]:
    found = list(_REFUSED.finditer(text))
    problems = []
    for m in found[:MAX_CHARACTER_PROBLEMS]:
        mark = position(text, m.start())
        problems.append(
            Problem(
                f"the file contains {_describe_character(m.group())}",
                file=file,
                line=mark.line,
                column=mark.column,
            )
        )
    if len(found) > MAX_CHARACTER_PROBLEMS:
        problems.append(Problem(f"... and {len(found) - MAX_CHARACTER_PROBLEMS} more characters like these", file=file))
    return problems


def _size_problem(size: int, file: str) -> Problem:
    return Problem(
        f"the file is {size:,} bytes; a definition file may be at most {MAX_BYTES:,} bytes "
        "(split a large ruleset into several files)",
        file=file,
    )


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases, and nesting deeper than :data:`MAX_DEPTH`."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
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
    if len(text) > MAX_BYTES // 4:  # only a long text can be too long once encoded
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_BYTES:
            raise YamlError([_size_problem(size, file)])
    refused = _character_problems(text, file)
    if refused:
        raise YamlError(refused)
    try:
        loader = _NoAliasLoader(text)
    except yaml.YAMLError as e:  # the reader's own check, should a character pass the one above
        raise YamlError([_reader_problem(e, text, file)]) from e
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
            raise YamlError([_reader_problem(e, text, file)]) from e
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


def _reader_problem(e: yaml.YAMLError, text: str, file: str) -> Problem:
    """A located Problem for a PyYAML error without a mark (e.g. its reader's ReaderError)."""
    offset = getattr(e, "position", None)
    if isinstance(offset, int):
        mark = position(text, offset)
        char = getattr(e, "character", None)
        what = _describe_character(chr(char)) if isinstance(char, int) else "a character YAML does not allow; remove it"
        return Problem(f"the file contains {what}", file=file, line=mark.line, column=mark.column)
    return Problem(f"this is not valid YAML: {e}", file=file)


def load_bytes(data: bytes, file: str = "<string>") -> Document:
    """Decode UTF-8 ``data`` (a byte order mark is allowed) and load it like :func:`load_text`.

    Bytes that are not UTF-8 are a problem at the line and column of the first bad byte.
    """
    if len(data) > MAX_BYTES:
        raise YamlError([_size_problem(len(data), file)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start].decode("utf-8", "replace")
        mark = position(before, len(before))
        bad = data[e.start : e.start + 1].hex()
        raise YamlError(
            [
                Problem(
                    f"the file is not UTF-8 text: byte 0x{bad} cannot be read ({e.reason}); save the file as UTF-8",
                    file=file,
                    line=mark.line,
                    column=mark.column,
                )
            ]
        ) from e
    return load_text(text, file)


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a definition file; raise :class:`YamlError` if it cannot be read or is
    longer than :data:`MAX_BYTES` (without reading more than that)."""
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                f.seek(0, 2)
                raise YamlError([_size_problem(f.tell(), str(path))])
    except OSError as e:
        raise YamlError([Problem(f"cannot read the file: {e.strerror}", file=str(path))]) from e
    return data


def load_file(path: str | Path) -> Document:
    """Read and load a YAML file with positions; the document's ``file`` is the path given."""
    return load_bytes(read_bytes(path), str(path))
