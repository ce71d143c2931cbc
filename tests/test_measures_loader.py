"""Loading measure definitions: the bundled files, copies of them, and broken files.

``tests/fixtures/measures_broken/`` keeps one file per error message; each is loaded on its
own and must fail with one Problem at the expected ``file:line:column``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cocm_rules import CocmRulesError, DefinitionError, MeasureDefinitionError, load_measures, score
from cocm_rules.measures import bundled_path

FIXTURES = Path(__file__).parent / "fixtures"
BROKEN = FIXTURES / "measures_broken"
BUNDLED_FILES = sorted(bundled_path().glob("*.yaml"))


def load_error(path: Path) -> MeasureDefinitionError:
    """The error of loading ``path`` (fails the test if it loads)."""
    with pytest.raises(MeasureDefinitionError) as caught:
        load_measures(path)
    return caught.value


# -- the bundled measures ---------------------------------------------------------------------------


def test_bundled_library() -> None:
    """The bundled set holds the 14 measures, one per file."""
    library = load_measures()
    expected = {
        "asrm",
        "auditc",
        "bprs",
        "cssrs_screener",
        "gad2",
        "gad7",
        "mdq",
        "pcl5",
        "phq2",
        "phq9",
        "phqa",
        "psychosis_dimensions",
        "ras",
        "whodas12",
    }
    assert expected == set(library)
    assert expected == {path.stem for path in BUNDLED_FILES}


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=[path.stem for path in BUNDLED_FILES])
def test_each_bundled_file_loads_alone(path: Path) -> None:
    """Every bundled file is valid on its own, and its id is its file name."""
    library = load_measures(path)
    assert [path.stem] == list(library)
    assert {path.stem: str(path)} == library.files


def test_a_copy_of_the_bundled_directory_loads(tmp_path: Path) -> None:
    """``load_measures(directory)`` loads every ``*.yaml`` in it and scores like the bundle."""
    copy = tmp_path / "measures"
    shutil.copytree(bundled_path(), copy)
    library = load_measures(copy)
    assert list(load_measures()) == list(library)
    answers = [2, 1, 3, 0, 1, 2, 0, 1, 1]
    assert score("phq9", answers) == score("phq9", answers, library=library)


def test_the_valid_fixture_loads() -> None:
    """The base of the broken fixtures is itself valid, so each broken file has one fault."""
    library = load_measures(FIXTURES / "measures_ok")
    assert ["tiny"] == list(library)
    result = score("tiny", [2, 2], library=library)
    assert (4, "high", ["often_first"]) == (result.total, result.band, result.flags)


# -- broken files: one fixture per message -----------------------------------------------------------

# file stem: (line, column, message, suggestion or None)
BROKEN_CASES: dict[str, tuple[int, int, str, str | None]] = {
    "bad_id": (2, 5, "measure 'Tiny-Screen': measure id 'Tiny-Screen' must be snake_case (a-z, 0-9, _)", None),
    "bands_gap": (33, 25, "band 'high' starts at 3; bands must be contiguous, expected 2", None),
    "bands_short": (32, 5, "bands end at 3 but the total reaches 4", None),
    "condition_out_of_scale": (42, 33, "5 is outside the values of item 'item1'", None),
    "condition_without_comparison": (
        42,
        11,
        "flag 'often_first': 'of' needs a comparison: 'at_least', 'at_most', 'equals' or 'in'",
        None,
    ),
    "duplicate_key": (4, 1, "duplicate key 'name' (first at line 3); each key may appear once", None),
    "empty": (1, 1, "the file is empty", None),
    "example_unknown_band": (48, 66, "unknown band 'hihg'", "high"),
    "invalid_syntax": (25, 9, "this is not valid YAML: while parsing a flow sequence", None),
    "merge_key": (8, 1, "merge keys ('<<') are not allowed; write the keys out", None),
    "missing_key": (2, 1, "missing required key 'missing'", None),
    "not_a_mapping": (2, 1, "a measure file must be a mapping of keys to values", None),
    "not_allowed_value": (7, 13, "'doctor' (text) is not allowed", None),
    "prorate_without_max": (36, 3, "policy 'prorate' needs 'max_missing' (how many items may be missing)", None),
    "total_range": (24, 10, "measure 'tiny': range [0, 6] does not match the items, which give 0..4", None),
    "unknown_condition_name": (42, 16, "measure 'tiny': unknown name 'item3'", "item2"),
    "unknown_key": (6, 1, "unknown key 'descripton'", "description"),
    "unknown_scale": (21, 39, "measure 'tiny': unknown scale 'frequncy'", "frequency"),
    "unknown_source": (25, 11, "measure 'tiny': source 'refs' is not listed under 'sources'", "ref"),
    "wrong_type": (5, 21, "expected text, got 1 (number); put it in quotes to make it text", None),
    "yaml_alias": (21, 39, "this is not valid YAML: anchors and aliases ('*name') are not allowed", None),
    "yaml_anchor": (13, 14, "this is not valid YAML: anchors ('&freq') are not allowed; write the value out", None),
}


def test_every_broken_fixture_has_a_case() -> None:
    """Each broken fixture file is checked below, and each case has its file."""
    assert sorted(BROKEN_CASES) == sorted(path.stem for path in BROKEN.glob("*.yaml"))


@pytest.mark.parametrize("stem", sorted(BROKEN_CASES))
def test_broken_file_is_reported_with_its_location(stem: str) -> None:
    """Loading the file alone fails with one Problem at ``file:line:column`` with the message."""
    line, column, message, suggestion = BROKEN_CASES[stem]
    path = BROKEN / f"{stem}.yaml"
    err = load_error(path)
    [problem] = err.problems
    assert (str(path), line, column) == (problem.file, problem.line, problem.column)
    assert str(problem).startswith(f"{path}:{line}:{column}: ")
    assert message in str(problem).splitlines()[0]
    assert suggestion == problem.suggestion
    if suggestion is not None:
        assert f"  did you mean '{suggestion}'?" in str(problem).splitlines()
    assert str(err).endswith("1 error in 1 file; nothing was loaded.")


def test_allowed_keys_are_listed() -> None:
    """An unknown key lists the keys allowed in its place."""
    [problem] = load_error(BROKEN / "unknown_key.yaml").problems
    assert problem.allowed is not None
    assert "description" in problem.allowed.split(", ")
    assert "  allowed here: id, name, instrument_version" in str(problem)


def test_definition_errors_are_library_errors() -> None:
    """A broken measure is a MeasureDefinitionError, DefinitionError, ValueError and CocmRulesError."""
    err = load_error(BROKEN / "unknown_key.yaml")
    assert isinstance(err, DefinitionError)
    assert isinstance(err, ValueError)
    assert isinstance(err, CocmRulesError)


def test_all_problems_in_a_directory_are_reported_together() -> None:
    """Loading the whole broken directory reports every file's problem at once."""
    err = load_error(BROKEN)
    assert len(BROKEN_CASES) == len(err.problems)
    assert {str(BROKEN / f"{stem}.yaml") for stem in BROKEN_CASES} == {p.file for p in err.problems}
    assert str(err).endswith(f"{len(BROKEN_CASES)} errors in {len(BROKEN_CASES)} files; nothing was loaded.")


def test_two_files_with_the_same_id(tmp_path: Path) -> None:
    """Two files defining one id: the second is refused, naming the first."""
    shutil.copy(bundled_path() / "phq9.yaml", tmp_path / "a_phq9.yaml")
    shutil.copy(bundled_path() / "phq9.yaml", tmp_path / "b_phq9.yaml")
    err = load_error(tmp_path)
    [problem] = err.problems
    assert str(tmp_path / "b_phq9.yaml") == problem.file
    assert f"measure id 'phq9' is already defined in {tmp_path / 'a_phq9.yaml'}" == problem.message
    assert problem.line == 2  # the id line, after the header comment


def test_no_such_path(tmp_path: Path) -> None:
    """A path that does not exist is a definition error, not a crash."""
    assert "no such file or directory" in str(load_error(tmp_path / "absent"))


def test_empty_directory(tmp_path: Path) -> None:
    """A directory without measure files is refused."""
    assert "no measure files (*.yaml) in this directory" in str(load_error(tmp_path))


# -- names a host may send for a measure (issue 11) -------------------------------------------------


def _copy_with(tmp_path: Path, changes: dict[str, tuple[str, str]]) -> Path:
    """Copies of phq9.yaml and gad7.yaml, each with a text replacement (old, new)."""
    for stem in ("phq9", "gad7"):
        text = (bundled_path() / f"{stem}.yaml").read_text(encoding="utf-8")
        old, new = changes.get(stem, ("", ""))
        if old:
            assert old in text
            text = text.replace(old, new, 1)
        (tmp_path / f"{stem}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("alias", "owner"),
    [("PHQ 9", "phq9"), ("phq_9", "phq9"), ("44249-1", "phq9"), ("Patient Health", None)],
    ids=["the-short-name-of-another", "the-id-of-another", "the-panel-code-of-another", "new-name"],
)
def test_an_alias_may_belong_to_one_measure_only(tmp_path: Path, alias: str, owner: str | None) -> None:
    """An alias of the GAD-7 that matches (ignoring case, spaces, hyphens and underscores) a name
    of the PHQ-9 is refused, located at the alias; a new name is accepted."""
    directory = _copy_with(tmp_path, {"gad7": ('short_name: "GAD-7"', f'short_name: "GAD-7"\naliases: ["{alias}"]')})
    if owner is None:
        assert "gad7" == load_measures(directory).resolve(alias.lower())
        return

    problem = load_error(directory).problems[0]

    assert (str(directory / "gad7.yaml"), 5) == (problem.file, problem.line)
    assert f"{alias!r} also names measure 'phq9'" in problem.message


def test_an_alias_needs_a_letter_or_digit(tmp_path: Path) -> None:
    """An alias made only of what matching ignores could never be told apart: refused."""
    directory = _copy_with(tmp_path, {"gad7": ('short_name: "GAD-7"', 'short_name: "GAD-7"\naliases: [" - "]')})

    assert "has no letter or digit" in load_error(directory).problems[0].message


def test_an_unconfirmed_panel_code_is_not_a_name(tmp_path: Path) -> None:
    """A LOINC panel code is accepted as the measure's id only when its status is confirmed or
    secondary: an unconfirmed code is never used to read data."""
    directory = _copy_with(
        tmp_path,
        {
            "phq9": (
                "loinc_panel: {code: 44249-1, status: confirmed",
                "loinc_panel: {code: 44249-1, status: unconfirmed",
            )
        },
    )
    library = load_measures(directory)

    assert (None, "phq9") == (library.resolve("44249-1"), library.resolve("PHQ-9"))


def test_get_measure_stays_exact() -> None:
    """``get_measure`` takes the id as the library spells it (callers that key data by the name
    they passed rely on it); ``resolve`` gives the id of any declared name."""
    library = load_measures()

    assert ("phq9", "phqa") == (library.resolve("PHQ-9"), library.resolve("phq-9m"))
    with pytest.raises(CocmRulesError):
        library.get_measure("PHQ-9")
