"""The located, safe YAML loader (``cocm_rules._yaml``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocm_rules._yaml import MAX_BYTES, Document, Mark, YamlError, load_bytes, load_file, load_text


def problems_of(text: str) -> list[str]:
    """The rendered problems of loading ``text`` as ``f.yaml`` (fails if it loads)."""
    with pytest.raises(YamlError) as caught:
        load_text(text, "f.yaml")
    return [str(p) for p in caught.value.problems]


def test_data_is_plain_python() -> None:
    """Mappings, lists and scalars load as dicts, lists and Python scalars."""
    doc = load_text("a: 1\nb:\n  c: [1, two, 3.5, true, null]\n", "f.yaml")
    assert {"a": 1, "b": {"c": [1, "two", 3.5, True, None]}} == doc.data
    assert "f.yaml" == doc.file


def test_positions_are_one_based_line_and_column() -> None:
    """Every value and key has a 1-based ``line:column``."""
    doc = load_text("a: 1\nb:\n  c: [1, 2]\n", "f.yaml")
    assert Mark(1, 1) == doc.keys[("a",)]
    assert Mark(1, 4) == doc.values[("a",)]
    assert Mark(2, 1) == doc.keys[("b",)]
    assert Mark(3, 3) == doc.keys[("b", "c")]
    assert Mark(3, 6) == doc.values[("b", "c")]
    assert Mark(3, 10) == doc.values[("b", "c", 1)]


def test_where_falls_back_to_the_nearest_parent() -> None:
    """A path that is not in the file (a missing key) is located at its parent."""
    doc = load_text("a:\n  b: 1\n", "f.yaml")
    assert Mark(2, 3) == doc.where(("a", "missing"))
    assert Mark(2, 3) == doc.where(("a", "b"), key=True)
    assert Mark(2, 6) == doc.where(("a", "b"))


def test_problem_is_located() -> None:
    """``Document.problem`` builds a Problem at the path's position."""
    doc = load_text("a:\n  b: 1\n", "f.yaml")
    problem = doc.problem(("a", "b"), "bad value", context="measure 'x'", allowed="2, 3")
    assert ("f.yaml", 2, 6, ("a", "b")) == (problem.file, problem.line, problem.column, problem.path)
    assert "f.yaml:2:6: measure 'x': bad value\n  allowed here: 2, 3" == str(problem)


def test_duplicate_keys_are_rejected() -> None:
    """PyYAML silently keeps the last of two equal keys; this loader refuses them."""
    assert ["f.yaml:3:1: duplicate key 'a' (first at line 1); each key may appear once"] == problems_of(
        "a: 1\nb: 2\na: 3\n"
    )


def test_nested_duplicate_keys_are_rejected() -> None:
    """Duplicates are found at any depth, and every one is reported."""
    problems = problems_of("x:\n  a: 1\n  a: 2\ny:\n  b: 1\n  b: 2\n")
    assert 2 == len(problems)
    assert problems[0].startswith("f.yaml:3:3: duplicate key 'a'")
    assert problems[1].startswith("f.yaml:6:3: duplicate key 'b'")


def test_anchors_are_rejected() -> None:
    """An anchor (``&name``) is refused where it is defined."""
    assert ["f.yaml:1:4: this is not valid YAML: anchors ('&x') are not allowed; write the value out"] == problems_of(
        "a: &x 1\nb: *x\n"
    )


def test_aliases_are_rejected() -> None:
    """An alias (``*name``) is refused."""
    [problem] = problems_of("a: 1\nb: *x\n")
    assert problem.startswith("f.yaml:2:4: ")
    assert "anchors and aliases ('*name') are not allowed" in problem


def test_merge_keys_are_rejected() -> None:
    """``<<`` merge keys are refused."""
    assert ["f.yaml:2:1: merge keys ('<<') are not allowed; write the keys out"] == problems_of("a: 1\n<<: {b: 2}\n")


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object:os.system x\n",
        "a: !!python/name:os.system ''\n",
        "a: !!python/none ''\n",
    ],
)
def test_python_tags_are_rejected(text: str) -> None:
    """Tags that would construct Python objects are refused (safe loading)."""
    [problem] = problems_of(text)
    assert problem.startswith("f.yaml:1:4: this is not valid YAML: could not determine a constructor for the tag")


def test_python_tags_on_collections_are_refused() -> None:
    """A Python tag on a list or mapping never builds an object or runs code, and is not
    silently dropped either: each one is reported where it stands."""
    expected = [
        "f.yaml:1:4: the tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed; "
        "a definition is plain data",
        "f.yaml:2:4: the tag 'tag:yaml.org,2002:python/object:os.Foo' is not allowed; a definition is plain data",
    ]
    assert expected == problems_of("a: !!python/object/apply:os.system [echo hi]\nb: !!python/object:os.Foo {x: 1}\n")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    """An empty document is an error, not ``None``."""
    assert ["f.yaml:1:1: the file is empty"] == problems_of(text)


def test_invalid_syntax_is_located() -> None:
    """A syntax error keeps PyYAML's position, made 1-based."""
    [problem] = problems_of("a: [1,\n")
    assert problem.startswith("f.yaml:2:1: this is not valid YAML: while parsing a flow node")


def test_several_documents_are_refused() -> None:
    """A definition file holds one document."""
    [problem] = problems_of("a: 1\n---\nb: 2\n")
    assert "expected a single document" in problem


def test_keys_must_be_scalars() -> None:
    """A complex key is refused."""
    assert ["f.yaml:1:3: a key must be plain text, not a list or mapping"] == problems_of("? [1]\n: 2\n")


def test_non_text_keys_become_text() -> None:
    """A number used as a key is read as its text."""
    assert {"1": "one"} == load_text("1: one\n").data


def test_load_file_names_the_path(tmp_path: Path) -> None:
    """``load_file`` records the path it was given as the document's file."""
    path = tmp_path / "m.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    doc = load_file(path)
    assert isinstance(doc, Document)
    assert (str(path), {"a": 1}) == (doc.file, doc.data)


def test_load_file_errors(tmp_path: Path) -> None:
    """A missing file and a non-UTF-8 file are YamlErrors that name the file."""
    with pytest.raises(YamlError) as caught:
        load_file(tmp_path / "absent.yaml")
    assert str(caught.value).startswith(f"{tmp_path / 'absent.yaml'}: cannot read the file")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: Löwe\n".encode("latin-1"))
    with pytest.raises(YamlError) as caught:
        load_file(latin1)
    assert "the file is not UTF-8 text" in str(caught.value)


def test_a_date_that_does_not_exist_is_a_located_problem() -> None:
    """``2026-02-30`` is reported where it is written, not raised as PyYAML's ValueError."""
    with pytest.raises(YamlError) as info:
        load_text("a: 1\nwhen: 2026-02-30\n", "f.yaml")
    assert [("f.yaml:2:7", "'2026-02-30' is not a real date")] == [(p.location, p.message) for p in info.value.problems]


def test_nesting_deeper_than_the_limit_is_a_located_problem() -> None:
    """400 nested mappings are refused with a located problem instead of a RecursionError."""
    text = "".join("  " * k + "not:\n" for k in range(400)) + "  " * 400 + "x\n"
    with pytest.raises(YamlError) as info:
        load_text(text, "f.yaml")
    expected = [("f.yaml:65:129", "this is not valid YAML: nested too deeply: at most 64 levels of lists and mappings")]
    assert expected == [(p.location, p.message) for p in info.value.problems]


# -- every way a text can fail to load is a located problem (issue 11) ------------------------


@pytest.mark.parametrize(
    ("text", "location", "what"),
    [
        ("ruleset: a\x00\n", "f.yaml:1:11", "U+0000 (NUL), a control character"),
        ("a: 1\nb: 2\nc: x\x1by\n", "f.yaml:3:5", "U+001B (ESC), a control character"),
        ("a: x\x07\n", "f.yaml:1:5", "U+0007 (BEL), a control character"),
        ("a: x\x7f\n", "f.yaml:1:5", "U+007F (DEL), a control character"),
        ("a: x\x9b\n", "f.yaml:1:5", "U+009B, a control character"),
        ("a: 1\r\nb: \x0c\n", "f.yaml:2:4", "U+000C (form feed), a control character"),
        ("a: 1\rb: \x00\n", "f.yaml:2:4", "U+0000 (NUL), a control character"),
        ("a: \ud800\n", "f.yaml:1:4", "U+D800, a lone surrogate (not a character)"),
        ("a: \uffff\n", "f.yaml:1:4", "U+FFFF, a noncharacter"),
    ],
)
def test_characters_yaml_forbids_are_located_problems(text: str, location: str, what: str) -> None:
    """PyYAML's reader raised an unlocated ReaderError (an uncaught crash in ``validate`` and
    ``serve --config``); each character is now a located problem that names it and says what to do."""
    with pytest.raises(YamlError) as info:
        load_text(text, "f.yaml")
    assert [
        (
            location,
            f"the file contains {what}; remove it (it is often pasted in from another program, "
            "or the file is not a text file)",
        )
    ] == [(p.location, p.message) for p in info.value.problems]


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("a: x\x85y\n", "U+0085"),
        ("a: x\u2028y\n", "U+2028"),
        ("a: x\u2029y\n", "U+2029"),
    ],
)
def test_invisible_line_separators_are_refused_where_the_editor_shows_them(text: str, what: str) -> None:
    """YAML reads U+0085/U+2028/U+2029 as line breaks, so PyYAML's error named a line 3 in a
    one-line file; they are refused at the line and column an editor shows."""
    assert [
        f"f.yaml:1:5: the file contains {what}, a line separator that YAML reads as a line break but most "
        "editors do not show; replace it with a real line break or a space"
    ] == problems_of(text)


def test_a_byte_order_mark_is_allowed_first_only() -> None:
    """A leading BOM (some editors write one) is fine; one inside the text is invisible and refused."""
    assert {"a": 1} == load_text("\ufeffa: 1\n", "f.yaml").data
    assert ["f.yaml:1:5: the file contains U+FEFF, an invisible byte order mark inside the text; remove it"] == (
        problems_of("a: x\ufeffy\n")
    )


def test_many_bad_characters_are_summarised() -> None:
    """Ten are listed, then how many more: a binary file does not flood the output."""
    problems = problems_of("a: " + "\x00" * 25 + "\n")
    assert 11 == len(problems)
    assert "f.yaml: ... and 15 more characters like these" == problems[-1]


def test_a_lone_surrogate_escape_is_not_text() -> None:
    """``"\\ud800"`` in double quotes builds a Python string that cannot be written out as UTF-8
    (the strict JSON reader refuses the same); it is a located problem."""
    assert [
        "f.yaml:2:4: the text holds a lone surrogate (an escape such as \\ud800), which is not a character"
    ] == problems_of('a: 1\nb: "x\\ud800"\n')


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf", "1.0e+400"])
def test_numbers_that_are_not_finite_are_refused(value: str) -> None:
    """NaN compares false with everything, so a band or parameter of ``.nan`` would silently
    never match; infinities are refused too, where they are written."""
    assert [f"f.yaml:1:4: {value!r} is not a finite number; write a number such as 10 or 0.5"] == problems_of(
        f"a: {value}\n"
    )


def test_a_value_too_long_to_read_is_shown_cut() -> None:
    """A 5000-digit number cannot be read (Python's limit is 4300 digits); the message shows its
    start and length, not 5000 digits."""
    assert [
        "f.yaml:1:4: '9999999999999999999999999999999999999999'... (5000 characters) cannot be read as a value"
    ] == (problems_of("a: " + "9" * 5000 + "\n"))


def test_billion_laughs_is_refused_at_the_first_anchor() -> None:
    """The classic alias bomb never expands: the first anchor is a located problem."""
    text = 'a: &a ["lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
    assert ["f.yaml:1:4: this is not valid YAML: anchors ('&a') are not allowed; write the value out"] == (
        problems_of(text)
    )


def test_deep_flow_nesting_is_a_located_problem() -> None:
    """``[[[[...]]]]`` 5000 deep is refused where the limit is reached, not a RecursionError."""
    assert ["f.yaml:1:67: this is not valid YAML: nested too deeply: at most 64 levels of lists and mappings"] == (
        problems_of("a: " + "[" * 5000 + "]" * 5000 + "\n")
    )


def test_a_text_longer_than_the_limit_is_refused() -> None:
    """A definition longer than MAX_BYTES is refused before PyYAML reads it (it would take minutes)."""
    text = "a: " + "x" * MAX_BYTES + "\n"
    assert [
        f"f.yaml: the file is {MAX_BYTES + 4:,} bytes; a definition file may be at most {MAX_BYTES:,} bytes "
        "(split a large ruleset into several files)"
    ] == problems_of(text)


def test_a_file_longer_than_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    """``load_file`` reads at most MAX_BYTES + 1 bytes, then reports the file's size."""
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: 1\n" + b"#" * (MAX_BYTES * 2))
    with pytest.raises(YamlError) as info:
        load_file(path)
    assert [(str(path), f"the file is {MAX_BYTES * 2 + 5:,} bytes")] == [
        (p.location, p.message.split(";")[0]) for p in info.value.problems
    ]


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    """The first byte that is not UTF-8 is named with its line and column (Latin-1 'é' here)."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nname: café\n".encode("latin-1"))
    with pytest.raises(YamlError) as info:
        load_file(path)
    assert [
        (
            f"{path}:2:10",
            "the file is not UTF-8 text: byte 0xe9 cannot be read (invalid continuation byte); save the file as UTF-8",
        )
    ] == [(p.location, p.message) for p in info.value.problems]


def test_load_bytes_decodes_utf8_with_or_without_a_bom() -> None:
    """``load_bytes`` is ``load_text`` after a strict UTF-8 decode; a UTF-16 file is refused at 1:1."""
    assert {"a": "é"} == load_bytes("a: é\n".encode(), "f.yaml").data
    assert {"a": 1} == load_bytes("\ufeffa: 1\n".encode(), "f.yaml").data
    with pytest.raises(YamlError) as info:
        load_bytes("a: 1\n".encode("utf-16"), "f.yaml")
    assert ["f.yaml:1:1"] == [p.location for p in info.value.problems]


def test_every_definition_loader_reports_a_nul_byte_located(tmp_path: Path) -> None:
    """Measures, rulesets, the metric definitions and the service configuration all read YAML
    through this module, so each reports the NUL byte as file:line:column, in its own error."""
    from cocm_rules import MeasureDefinitionError, RulesetError, load_measures
    from cocm_rules.caseload import load_metric_definitions
    from cocm_rules.cdshooks._config import ServiceConfigError, load_config
    from cocm_rules.rules import load_rulesets

    path = tmp_path / "nul.yaml"
    path.write_bytes(b"id: a\x00\n")
    message = "the file contains U+0000 (NUL), a control character"
    for load, error in (
        (load_measures, MeasureDefinitionError),
        (load_rulesets, RulesetError),
        (load_metric_definitions, MeasureDefinitionError),
        (load_config, ServiceConfigError),
    ):
        with pytest.raises(error) as info:
            load(str(path))
        assert [(f"{path}:1:6", True)] == [(p.location, p.message.startswith(message)) for p in info.value.problems], (
            load
        )
