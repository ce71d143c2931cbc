"""The located, safe YAML loader (``cocm_rules._yaml``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocm_rules._yaml import Document, Mark, YamlError, load_file, load_text


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
