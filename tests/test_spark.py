"""The Spark adapter on a real local Spark session (local[2], loopback only): the same JSON
lines as ``cocm-rules evaluate``, byte for byte, the same review list and caseload metrics as
the local functions, and an error record for every bad row (nothing dropped).

One session serves the whole module (starting one takes ~10 s). The 100,000-patient
comparison is in ``benchmarks/spark.py`` (it takes minutes on 2 cores); here the synthetic
caseload has 20,000 patients.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cocm_rules import BackendUnavailable, Engine, EngineError, InvalidInput, RulesetError
from cocm_rules import spark as cs
from cocm_rules._spark_worker import RulesetBundle, engine_for
from cocm_rules.batch import read_records, write_jsonl
from cocm_rules.caseload import caseload_metrics
from cocm_rules.review import review_list
from cocm_rules.synth import write_caseload

ROOT = Path(__file__).resolve().parent.parent
CASELOAD = ROOT / "examples" / "caseload.jsonl"
AS_OF = dt.date(2026, 11, 20)
SYNTHETIC_PATIENTS = 100_000


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local Spark session (2 cores, bound to 127.0.0.1, no web UI) for the module."""
    session = cs.local_session(2, config={"spark.sql.shuffle.partitions": "4"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The bundled rulesets, compiled backend."""
    return Engine.load()


def local_lines(engine: Engine, path: Path) -> str:
    """What ``cocm-rules evaluate PATH`` writes, computed in this process (the CLI's calls)."""
    out = io.StringIO()
    write_jsonl(engine.evaluate_many(read_records(path, lines_as_text=True), AS_OF), out)
    return out.getvalue()


def spark_lines(evaluation: cs.Evaluation) -> str:
    """The Spark evaluation's JSON lines, in input order, as one text."""
    out = io.StringIO()
    evaluation.write_jsonl(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def bad_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSON Lines file with a byte order mark, a valid episode, a blank line, a line that is
    not JSON, one that is not UTF-8, an invalid episode, a JSON list, a line with CRLF, the
    first patient again, and a valid record of the patient whose record was invalid."""
    good = CASELOAD.read_bytes().splitlines()
    path = tmp_path_factory.mktemp("bad") / "bad.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + good[0]
        + b"\n   \n"
        + b'{"patient_id": "P9", "program": \n'
        + b'{"patient_id": "P\xff"}\n'
        + b'{"patient_id": "P10", "program": "cocm", "enrollment_date": "2026-01-05", "status": "actve"}\n'
        + b"[1, 2]\n"
        + good[1]
        + b"\r\n"
        + b"\t\n"
        + good[0]
        + b"\n"
        + b'{"patient_id": "P10", "program": "cocm", "enrollment_date": "2026-01-05", "status": "active_treatment"}\n'
    )
    return path


# -- evaluate ------------------------------------------------------------------------------------


def test_example_caseload_gives_the_cli_output_byte_for_byte(spark: Any) -> None:
    """On the example caseload, the Spark lines are exactly what the `cocm-rules evaluate`
    command writes to standard output."""
    cli = subprocess.run(
        [sys.executable, "-m", "cocm_rules", "evaluate", str(CASELOAD), "--as-of", AS_OF.isoformat()],
        capture_output=True,
        check=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "240"},
    )
    evaluation = cs.evaluate(cs.read_jsonl(spark, str(CASELOAD)), AS_OF)
    assert cli.stdout.decode("utf-8") == spark_lines(evaluation)


class _Digest:
    """A text sink that keeps only the SHA-256 of what is written to it and its line count
    (100,000 patients' lines are about 300 MB of text)."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.lines = 0

    def write(self, text: str) -> int:
        self.update(text.encode("utf-8"))
        return len(text)

    def update(self, data: bytes) -> None:
        self.sha.update(data)
        self.lines += data.count(b"\n")


def test_synthetic_caseload_gives_the_same_lines(spark: Any, engine: Engine, tmp_path: Path) -> None:
    """On 100,000 synthetic patients (deterministic: seed 2026; the deliberate data errors on)
    the part files Spark writes in parallel (``write_text``, the way for a large caseload),
    concatenated in name order, are the local lines byte for byte (the same SHA-256)."""
    path = tmp_path / "synthetic.jsonl"
    write_caseload(path, SYNTHETIC_PATIENTS, seed=2026, as_of=AS_OF)
    local, distributed = _Digest(), _Digest()
    write_jsonl(engine.evaluate_many(read_records(path, lines_as_text=True), AS_OF), local)
    cs.evaluate(cs.read_jsonl(spark, str(path)), AS_OF).write_text(str(tmp_path / "out"))
    parts = sorted((tmp_path / "out").glob("part-*"))
    assert len(parts) > 1
    for part in parts:
        with open(part, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                distributed.update(block)
    assert SYNTHETIC_PATIENTS == local.lines == distributed.lines
    assert local.sha.hexdigest() == distributed.sha.hexdigest()


def test_alert_and_error_tables_hold_every_alert_and_error(spark: Any, engine: Engine, bad_file: Path) -> None:
    """The results table has a row per record, the alerts table a row per alert (in review
    order, with evidence as JSON text) and the errors table a row per error record."""
    for path in (CASELOAD, bad_file):
        records = [json.loads(line) for line in local_lines(engine, path).splitlines()]
        evaluation = cs.evaluate(cs.read_jsonl(spark, str(path)), AS_OF)
        evaluation.results.persist()
        try:
            assert len(records) == evaluation.results.count()
            expected_alerts = [
                (r["record"], i, a["rule_id"], a["evidence"])
                for r in records
                if r["kind"] == "result"
                for i, a in enumerate(r["alerts"])
            ]
            actual_alerts = [
                (a["record"], a["position"], a["rule_id"], json.loads(a["evidence"]))
                for a in evaluation.alerts.orderBy("record", "position").collect()
            ]
            assert expected_alerts == actual_alerts
            expected_errors = [
                (r["record"], r["line"], r["patient_id"], r["field"], r["error"])
                for r in records
                if r["kind"] == "error"
            ]
            actual_errors = [tuple(r) for r in evaluation.errors.orderBy("record").collect()]
            assert expected_errors == actual_errors
        finally:
            evaluation.results.unpersist()


def test_bad_lines_become_the_clis_error_records(spark: Any, engine: Engine, bad_file: Path) -> None:
    """A line that is not JSON, not UTF-8, not an object or not a valid episode yields the
    error record the CLI writes (with its ``line``; the message names no place); blank lines
    are skipped and a byte order mark ignored, as the CLI does: nothing is dropped, nothing
    is added. A patient sent twice gets two results, as from the CLI."""
    cli = subprocess.run(
        [sys.executable, "-m", "cocm_rules", "evaluate", str(bad_file), "--as-of", AS_OF.isoformat()],
        capture_output=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "240"},
    )
    assert 3 == cli.returncode  # some records failed
    evaluation = cs.evaluate(cs.read_jsonl(spark, str(bad_file)), AS_OF)
    assert cli.stdout.decode("utf-8") == spark_lines(evaluation)
    errors = {r["record"]: r for r in evaluation.errors.collect()}
    assert [1, 2, 3, 4] == sorted(errors)
    assert (3, True) == (errors[1]["line"], errors[1]["error"].startswith("not valid JSON"))
    assert (4, True) == (errors[2]["line"], errors[2]["error"].startswith("not valid UTF-8"))
    assert ("P10", "status", 5) == (errors[3]["patient_id"], errors[3]["field"], errors[3]["line"])
    assert 8 == evaluation.results.count()


def test_a_string_column_with_its_own_index_in_any_order(spark: Any, engine: Engine) -> None:
    """A DataFrame of JSON text with an explicit record index, shuffled across partitions,
    gives the lines in index order; a null or non-object episode is an error record."""
    texts = [line for line in CASELOAD.read_text(encoding="utf-8").splitlines() if line.strip()][:20]
    texts[5] = None  # type: ignore[call-overload]
    texts[7] = "42"
    df = spark.createDataFrame(list(enumerate(texts)), "record long, episode string").repartition(3)
    expected = io.StringIO()
    write_jsonl(engine.evaluate_many(texts, AS_OF), expected)
    evaluation = cs.evaluate(df, AS_OF)
    assert expected.getvalue() == spark_lines(evaluation)
    assert [5, 7] == sorted(r[0] for r in evaluation.errors.select("record").collect())


def test_a_binary_column_without_lines_reads_bytes_as_the_library_does(spark: Any, engine: Engine) -> None:
    """UTF-8 JSON in a binary column, without line numbers, gives what evaluate_many gives for
    the same bytes: bytes that are not UTF-8 are an error record without a line."""
    good = [line.encode() for line in CASELOAD.read_text(encoding="utf-8").splitlines()[:3]]
    records = [good[0], b'{"patient_id": "P\xff"}', good[1], None, good[2]]
    df = spark.createDataFrame(list(enumerate(records)), "record long, episode binary").repartition(2)
    expected = io.StringIO()
    write_jsonl(engine.evaluate_many(records, AS_OF), expected)
    evaluation = cs.evaluate(df, AS_OF)
    assert expected.getvalue() == spark_lines(evaluation)
    errors = evaluation.errors.orderBy("record").select("record", "line").collect()
    assert [(1, None), (3, None)] == [tuple(r) for r in errors]


def test_episode_ddl_has_every_episode_field(spark: Any) -> None:
    """EPISODE_DDL names every field of Episode and of the records it holds (set_aside
    included), in the model's order, and nothing else."""
    from pydantic import BaseModel
    from pyspark.sql import types as T

    from cocm_rules import Episode

    def model_fields(model: type[BaseModel]) -> list[Any]:
        out: list[Any] = []
        for name, field in model.model_fields.items():
            args = [field.annotation, *typing.get_args(field.annotation)]
            inner = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
            out.append((name, model_fields(inner)) if inner is not None else name)
        return out

    def ddl_fields(struct: Any) -> list[Any]:
        out: list[Any] = []
        for f in struct.fields:
            inner = f.dataType.elementType if isinstance(f.dataType, T.ArrayType) else f.dataType
            out.append((f.name, ddl_fields(inner)) if isinstance(inner, T.StructType) else f.name)
        return out

    schema = spark.createDataFrame([], cs.EPISODE_DDL).schema
    assert model_fields(Episode) == ddl_fields(schema)


def test_struct_rows_give_the_same_alerts(spark: Any, engine: Engine) -> None:
    """Episodes read as typed rows (EPISODE_DDL, the whole row is the episode) give the same
    alerts as their JSON text: null struct fields are taken as absent."""
    df = spark.read.schema(cs.EPISODE_DDL).json(str(CASELOAD))
    evaluation = cs.evaluate(df, AS_OF, column=None)
    expected = local_lines(engine, CASELOAD)
    assert expected == spark_lines(evaluation)


def test_with_record_index_is_consecutive_in_partition_order(spark: Any) -> None:
    """The derived index numbers rows 0..n-1 in partition order, across uneven partitions
    (monotonically_increasing_id alone jumps at each partition)."""
    df = spark.range(0, 1000, numPartitions=7).where("id % 3 != 0")
    rows = cs.with_record_index(df, "record").collect()
    assert list(range(len(rows))) == [r["record"] for r in rows]
    assert sorted(r["id"] for r in rows) == [r["id"] for r in rows]


# -- review list and caseload metrics --------------------------------------------------------------


def test_review_list_equals_the_local_one(spark: Any, engine: Engine, bad_file: Path) -> None:
    """The review list from Spark equals review_list on the same records, as objects and as
    JSON, with and without a limit, error records included."""
    for path in (CASELOAD, bad_file):
        expected = review_list(engine, read_records(path, lines_as_text=True), AS_OF)
        actual = cs.review(cs.read_jsonl(spark, str(path)), AS_OF)
        assert expected == actual
        assert expected.model_dump_json() == actual.model_dump_json()
    limited = review_list(engine, read_records(CASELOAD, lines_as_text=True), AS_OF, limit=5, min_severity="high")
    assert limited == cs.review(cs.read_jsonl(spark, str(CASELOAD)), AS_OF, limit=5, min_severity="high")


def test_caseload_metrics_equal_the_local_ones(spark: Any, bad_file: Path, tmp_path: Path) -> None:
    """The caseload metrics from Spark equal caseload_metrics on the same records (per care
    manager too), on the example caseload, a file with bad lines and 3,000 synthetic patients,
    and with the care managers' FTEs and a payer mix (a care manager with an FTE and no patients)."""
    synthetic = tmp_path / "synthetic.jsonl"
    write_caseload(synthetic, 3000, seed=7, as_of=AS_OF)
    for path in (CASELOAD, bad_file, synthetic):
        expected = caseload_metrics(read_records(path, lines_as_text=True), AS_OF)
        actual = cs.caseload(cs.read_jsonl(spark, str(path)), AS_OF)
        assert expected.model_dump_json() == actual.model_dump_json()
        assert expected == actual
    sizes = {"care_manager_fte": {"cm1": 0.5, "cm9": 1.0}, "payer_mix": "commercial_behavioral"}
    expected = caseload_metrics(read_records(CASELOAD, lines_as_text=True), AS_OF, **sizes)
    assert expected == cs.caseload(cs.read_jsonl(spark, str(CASELOAD)), AS_OF, **sizes)


def test_the_first_entries_rank_suicide_risk_first_whatever_the_priorities(spark: Any) -> None:
    """With rules that give treat-to-target alerts a higher priority than suicide risk, the
    first ``limit`` entries chosen in Spark are the local ones: suicide risk first."""
    from cocm_rules.rules import bundled_rulesets_path

    rulesets = [bundled_rulesets_path() / "suicide_risk.yaml", ROOT / "tests/fixtures/rulesets_ok/outranking.yaml"]
    expected = review_list(Engine.load(rulesets), read_records(CASELOAD, lines_as_text=True), AS_OF, limit=4)
    actual = cs.review(cs.read_jsonl(spark, str(CASELOAD)), AS_OF, rulesets=rulesets, limit=4)
    assert ["suicide_risk"] * 4 == [e.reasons[0].category for e in actual.entries]
    assert expected == actual


def test_a_patient_sent_twice_counts_once_wherever_its_records_are(spark: Any, engine: Engine) -> None:
    """Records of one patient on different partitions, in any order: the review list and
    the caseload metrics count the first valid record (by index) and make each later one
    the local error record naming it; a record that is not valid does not count as a first."""
    texts = [line for line in CASELOAD.read_text(encoding="utf-8").splitlines() if line.strip()][:30]
    first = json.loads(texts[3])
    invalid = json.dumps({**json.loads(texts[20]), "status": "actve"})
    records = [invalid, *texts, texts[3], texts[20], json.dumps({**first, "care_manager": "cm9"}), texts[0]]
    df = spark.createDataFrame(list(enumerate(records)), "record long, episode string").repartition(4)
    expected_review = review_list(engine, records, AS_OF)
    actual_review = cs.review(df, AS_OF)
    assert expected_review.model_dump_json() == actual_review.model_dump_json()
    assert expected_review == actual_review
    expected_metrics = caseload_metrics(records, AS_OF)
    assert expected_metrics == cs.caseload(df, AS_OF)
    repeated = [(e.record, e.error.split(":")[0]) for e in expected_metrics.errors if e.field == "patient_id"]
    assert [
        (31, "this patient_id was already in record 4"),
        (32, "this patient_id was already in record 21"),
        (33, "this patient_id was already in record 4"),
        (34, "this patient_id was already in record 1"),
    ] == repeated


def test_review_entries_read_back_with_their_dates(engine: Engine) -> None:
    """An entry read back from the JSON the executors send equals the original: evidence
    values of date facts (text in JSON) become dates again, other text stays text."""
    entry = review_list(engine, read_records(CASELOAD, lines_as_text=True), AS_OF).entries[0]
    reason = entry.reasons[0]
    evidence = {**reason.evidence, "phq9.latest_date": dt.date(2026, 11, 2), "status": "active_treatment"}
    entry = entry.model_copy(update={"reasons": [reason.model_copy(update={"evidence": evidence})]})
    assert entry == cs._entry(entry.model_dump_json(), engine)


# -- mistakes are reported on the driver ---------------------------------------------------------


def test_a_wrong_column_is_named_with_what_is_allowed(spark: Any) -> None:
    """A missing episode column or one of the wrong type is an InvalidInput naming the
    column, its type and what is allowed, raised before any job runs."""
    df = spark.createDataFrame([(1, 2)], "a int, b int")
    with pytest.raises(InvalidInput) as missing:
        cs.evaluate(df, AS_OF)
    assert "field 'column': the DataFrame has no such column (got 'episode' (text)); allowed: a, b" == str(
        missing.value
    )
    with pytest.raises(InvalidInput) as wrong_type:
        cs.evaluate(df, AS_OF, column="a")
    assert (
        "field 'a': the episode column is of type int: it must hold episode JSON (string), UTF-8 JSON (binary) "
        "or an episode struct; allowed: string, binary, struct"
    ) == str(wrong_type.value)
    with pytest.raises(InvalidInput) as index:
        cs.evaluate(spark.createDataFrame([("x", "{}")], "record string, episode string"), AS_OF)
    assert "field 'record': the index column is of type string" in str(index.value)
    with pytest.raises(InvalidInput) as as_of:
        cs.evaluate(df, "2026-11-20")  # type: ignore[arg-type]
    assert "as_of" == as_of.value.field


def test_invalid_rulesets_fail_on_the_driver(spark: Any) -> None:
    """Broken rulesets raise the RulesetError of Engine.load (file:line:column), not a Spark
    job failure."""
    df = spark.createDataFrame([("{}",)], "episode string")
    with pytest.raises(RulesetError):
        cs.evaluate(df, AS_OF, rulesets=ROOT / "tests" / "fixtures" / "rulesets_broken")


def test_an_executor_that_compiles_differently_refuses() -> None:
    """An executor whose cocm-rules compiles the shipped rulesets to another program (another
    version installed there) raises EngineError instead of giving other alerts."""
    engine = Engine.load()
    files = tuple((Path(rs.file).name, Path(rs.file).read_bytes()) for rs in engine.rulesets.rulesets)
    assert engine.program.digest == engine_for(RulesetBundle(files, "compiled", engine.program.digest)).program.digest
    with pytest.raises(EngineError, match="install the same cocm-rules version"):
        engine_for(RulesetBundle(files[1:], "compiled", engine.program.digest))


@pytest.mark.usefixtures("restore_structlog")
def test_the_adapter_logs_through_the_library_logger(
    spark: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a structlog configuration the adapter's events are stdlib records of
    ``cocm_rules.spark`` (silent unless the host turns logging on), never printed on stdout."""
    import structlog

    structlog.reset_defaults()
    df = spark.createDataFrame([("{}",)], "episode string")
    with caplog.at_level(logging.INFO, logger="cocm_rules"):
        cs.evaluate(df, AS_OF)
    assert ["spark.evaluate"] == [r.cocm_rules["event"] for r in caplog.records if r.name == "cocm_rules.spark"]
    assert "" == capsys.readouterr().out


def test_missing_pyspark_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PySpark, using the adapter raises BackendUnavailable with the pip line of
    the 'spark' extra (importing the module still works)."""
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(BackendUnavailable) as info:
        cs.local_session()
    assert "pip install 'cocm-rules[spark]'" in str(info.value)
    assert "the Spark adapter" == info.value.what
    assert "spark" == info.value.extra
    blocked = "import sys; sys.modules['pyspark'] = sys.modules['pyarrow'] = None; import cocm_rules.spark"
    assert 0 == subprocess.run([sys.executable, "-c", blocked], capture_output=True, timeout=120).returncode
