"""The Spark adapter: evaluate caseloads larger than one machine, with the same results.

Install with ``pip install 'cocm-rules[spark]'`` (PySpark 4, pyarrow, pandas; Java 17+).
The per-patient work is the library's own (:meth:`Engine.evaluate_many
<cocm_rules.Engine.evaluate_many>`, :func:`~cocm_rules.review.review_list`, the caseload
module), run inside Spark over partitions with ``mapInArrow``; this module holds no clinical
logic. Every input row yields one result or one error record: nothing is dropped.

Input is a DataFrame with one episode per row, in one of three forms:

* a ``string`` column of episode JSON (``column="episode"`` by default);
* a ``binary`` column of UTF-8 episode JSON, e.g. from :func:`read_jsonl`, which reads a
  JSON Lines file the way ``cocm-rules evaluate`` does (blank lines skipped; each error
  record names its ``line``);
* an episode ``struct`` column, or with ``column=None`` the whole row (see
  :data:`EPISODE_DDL`); a null struct field is taken as absent.

An optional integral column named by ``line`` holds each record's 1-based line in a JSON
Lines file (``read_jsonl`` adds it): error records and review entries then name their
``line``, as they do when the library reads the file itself.

Each record's index (its 0-based input position, ``record`` in every output) comes from an
integral column named by ``index`` if the DataFrame has one, otherwise it is derived from
the DataFrame's row order (:func:`with_record_index`; ``monotonically_increasing_id`` alone
is not consecutive). A derived index reads the input twice (a count per partition, then the
work), so the input must give the same rows in the same order each time: a file is fine,
anything else should be ``persist()``-ed first.

A patient sent twice is evaluated twice by :func:`evaluate` (each result stands on its own
record, as with ``cocm-rules evaluate``), and counted once by :func:`review` and
:func:`caseload`: the first valid record of a ``patient_id`` counts, each later one is an
error record naming it, as :func:`~cocm_rules.review.review_list` and
:func:`~cocm_rules.caseload.caseload_metrics` do (found with one shuffle by patient id).

The rulesets are loaded and validated on the driver (a :class:`~cocm_rules.RulesetError` or
:class:`~cocm_rules.SafetyFloorError` is raised there, before any job runs); their files'
text is broadcast, and each executor's Python worker loads it once and keeps the Engine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import _json
from ._log import get_logger
from ._once import repeated_patient
from .caseload import CaseloadCounter, CaseloadMetrics, PatientOutcome
from .engine import Engine, check_as_of
from .errors import BackendUnavailable, InvalidInput
from .records import RecordError
from .review import REVIEW_CATEGORIES, REVIEW_MIN_SEVERITY, ReviewEntry, ReviewList, rank_key, review_list

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = [
    "EPISODE_DDL",
    "Evaluation",
    "caseload",
    "evaluate",
    "local_session",
    "read_jsonl",
    "review",
    "with_record_index",
]

log = get_logger(__name__)

#: The episode as a Spark struct (DDL), for hosts whose episodes are typed tables (Parquet,
#: Delta): every field of :class:`~cocm_rules.Episode`, in its order. Dates are text
#: (``YYYY-MM-DD``, or a date-time: its date as written), answers a list of integers (null:
#: unanswered), a reported total a double (``12.0`` is read as ``12``). Answers given as a
#: mapping of item id to value, or as text, need the JSON text form.
EPISODE_DDL = (
    "patient_id string, program string, enrollment_date string, status string, care_manager string, "
    "sex string, "
    "assessments array<struct<measure: string, date: string, answers: array<bigint>, total: double, "
    "context: map<string, string>, id: string>>, "
    "contacts array<struct<date: string, kind: string, minutes: bigint, mode: string, care_manager: string, "
    "role: string>>, "
    "recommendations array<struct<date: string, status: string, resolved_date: string>>, "
    "relapse_prevention_plan_date string, "
    "consent_date string, "
    "billed_services array<struct<code: string, date: string>>, "
    "smi_events array<struct<date: string, kind: string, status: string>>, "
    "observations array<struct<date: string, kind: string, value: double, unit: string, status: string, id: string>>, "
    "medications array<struct<kind: string, start_date: string, stop_date: string, name: string>>, "
    "set_aside array<struct<kind: string, reason: string, date: string, measure: string, source: string>>"
)

#: Python's whitespace (``str.strip``), as a Java regular expression class: a line of only
#: these is blank, and skipped as the CLI skips it.
_BLANK = "^[" + "".join(f"\\u{c:04x}" for c in range(0x3001) if chr(c).isspace()) + "]*$"
_MID = "__cocm_mid"
_ROW_BITS = 33  # monotonically_increasing_id: partition index << 33 | row number in the partition


def _require() -> None:
    """Import what the adapter needs, or raise BackendUnavailable with the install hint."""
    try:
        import pandas  # noqa: F401  (PySpark's mapInArrow refuses to run without it)
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as e:
        raise BackendUnavailable("the Spark adapter", "spark", cause=str(e)) from e


# -- sessions and input ---------------------------------------------------------------------------


def local_session(
    cores: int = 2, *, app_name: str = "cocm-rules", config: Mapping[str, str] | None = None
) -> SparkSession:
    """A local Spark session on ``cores`` cores, bound to the loopback address only.

    The driver binds to 127.0.0.1, the web UI is off and the Python workers run this
    interpreter (``sys.executable``), so they import the same cocm-rules. ``config`` adds or
    overrides Spark settings. For a cluster, build the session as the cluster requires
    (see docs/spark.md); the other functions take any session's DataFrames.
    """
    _require()
    if not isinstance(cores, int) or isinstance(cores, bool) or cores < 1:
        raise InvalidInput("cores must be a whole number of at least 1", field="cores", value=cores)
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # read by the JVM it launches
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # read by the SparkContext for its workers
    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        .config("spark.sql.session.timeZone", "UTC")
    )
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def with_record_index(df: DataFrame, name: str = "record") -> DataFrame:
    """``df`` with a column ``name``: each row's 0-based position, consecutive, in the
    DataFrame's partition order (partition 0's rows first, each partition in its order).

    Runs one small job (a count per partition). The index is exact only if ``df`` gives the
    same rows in the same partitions each time it is computed: a file read does;
    ``persist()`` anything else (e.g. the output of a shuffle) first.
    """
    _require()
    from pyspark.sql import functions as F

    if name in df.columns:
        raise InvalidInput("the DataFrame already has this column", field="name", value=name)
    tagged = df.withColumn(_MID, F.monotonically_increasing_id())
    part = F.shiftright(F.col(_MID), _ROW_BITS)
    counts = sorted((r[0], r[1]) for r in tagged.groupBy(part.alias("p")).count().collect())
    offsets, total = [], 0
    for p, n in counts:
        offsets += [F.lit(p).cast("bigint"), F.lit(total).cast("bigint")]
        total += n
    if not offsets:  # an empty DataFrame: no row needs an index
        return tagged.withColumn(name, F.lit(None).cast("bigint")).drop(_MID)
    row = F.col(_MID).bitwiseAND(F.lit((1 << _ROW_BITS) - 1))
    return tagged.withColumn(name, F.create_map(*offsets)[part] + row).drop(_MID)


def read_jsonl(spark: SparkSession, path: str) -> DataFrame:
    """A JSON Lines file as a DataFrame of ``line`` (its 1-based line number) and ``episode``
    (the line's bytes), read as ``cocm-rules evaluate`` reads it: lines end at ``\\n``, blank
    lines are skipped (they are not records), a byte order mark before the first line is
    ignored, and a line that is not UTF-8 or not JSON becomes an error record naming its line.

    Give one file: with a directory or a pattern the line numbers run on across the files,
    in the order Spark lists them. Runs one small job (to number the lines).
    """
    _require()
    from pyspark.sql import functions as F

    if not isinstance(path, str | Path):
        raise TypeError(f"path must be a str or a Path, not {type(path).__name__}")
    raw = spark.read.option("lineSep", "\n").text(str(path))
    numbered = with_record_index(raw, "line").withColumn("line", F.col("line") + 1)
    text = F.when(F.col("line") == 1, F.regexp_replace("value", "^\ufeff", "")).otherwise(F.col("value"))
    return numbered.where(~text.rlike(_BLANK)).select("line", F.col("value").cast("binary").alias("episode"))


# -- preparing the input ---------------------------------------------------------------------------


class _Prepared:
    """The input as three columns (``record``, ``line``, ``episode``) and how it holds episodes."""

    def __init__(self, df: DataFrame, column: str | None, index: str, line: str) -> None:
        from pyspark.sql import DataFrame as SparkDataFrame
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        if not isinstance(df, SparkDataFrame):
            raise TypeError(f"df must be a pyspark DataFrame, not {type(df).__name__}")
        types = {f.name: f.dataType for f in df.schema.fields}
        for what, name in (("index", index), ("line", line)):
            if not isinstance(name, str):
                raise TypeError(f"{what} must be a column name (str), not {type(name).__name__}")
            if name in types and not isinstance(types[name], T.IntegralType):
                raise InvalidInput(
                    f"the {what} column is of type {types[name].simpleString()}: it must hold whole numbers",
                    field=name,
                    allowed="tinyint, smallint, int, bigint",
                )
        episode: Column
        if column is None:
            rest = [c for c in df.columns if c not in (index, line)]
            if not rest:
                raise InvalidInput(
                    "the DataFrame has no episode columns", field="column", allowed=", ".join(df.columns)
                )
            episode, self.kind = F.struct(*(F.col(_quoted(c)) for c in rest)), "struct"
        elif not isinstance(column, str):
            raise TypeError(f"column must be a column name (str) or None, not {type(column).__name__}")
        elif column not in types:
            raise InvalidInput(
                "the DataFrame has no such column", field="column", value=column, allowed=", ".join(df.columns)
            )
        else:
            kinds = {T.StringType: "text", T.BinaryType: "binary", T.StructType: "struct"}
            kind = next((k for t, k in kinds.items() if isinstance(types[column], t)), None)
            if kind is None:
                raise InvalidInput(
                    f"the episode column is of type {types[column].simpleString()}: it must hold episode JSON "
                    "(string), UTF-8 JSON (binary) or an episode struct",
                    field=column,
                    allowed="string, binary, struct",
                )
            episode, self.kind = F.col(_quoted(column)), kind
        #: Whether rows come in record order, partition by partition (a derived index).
        self.in_order = index not in types
        source = with_record_index(df, "__cocm_record") if self.in_order else df
        record = F.col("__cocm_record" if self.in_order else _quoted(index)).cast("bigint")
        number = F.col(_quoted(line)).cast("bigint") if line in types else F.lit(None).cast("bigint")
        self.df = source.select(record.alias("record"), number.alias("line"), episode.alias("episode"))


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _ddl(schema: Any) -> str:
    """A pyarrow schema of the worker module as a Spark DDL string."""
    import pyarrow as pa

    def spark_type(t: Any) -> str:
        if pa.types.is_list(t):
            return f"array<{spark_type(t.value_type)}>"
        if pa.types.is_struct(t):
            return "struct<" + ", ".join(f"{f.name}: {spark_type(f.type)}" for f in t) + ">"
        return {
            pa.string(): "string",
            pa.bool_(): "boolean",
            pa.int32(): "int",
            pa.int64(): "bigint",
            pa.date32(): "date",
        }[t]

    return ", ".join(f"{f.name} {spark_type(f.type)}" for f in schema)


def _engine_and_rulesets(df: DataFrame, rulesets: Any, backend: str) -> tuple[Engine, Any]:
    """The Engine (validated here, on the driver) and its rulesets as data for the executors:
    a broadcast where the session has a SparkContext, else the bundle itself."""
    from . import _spark_worker as worker

    engine = Engine.load(rulesets, backend=backend)
    files = tuple((Path(rs.file).name, Path(rs.file).read_bytes()) for rs in engine.rulesets.rulesets)
    bundle = worker.RulesetBundle(files=files, backend=backend, digest=engine.program.digest)
    context = getattr(df.sparkSession, "_sc", None)  # None under Spark Connect
    return engine, (context.broadcast(bundle) if context is not None else bundle)


# -- evaluate --------------------------------------------------------------------------------------


class Evaluation:
    """The outputs of :func:`evaluate`, as lazy DataFrames (each action runs the engine again;
    ``persist()`` :attr:`results` to use several outputs of one run).

    - :attr:`results`: one row per input record: ``record``, ``line`` (of an error record,
      when the input has line numbers), ``kind`` (``result`` or ``error``), ``patient_id``,
      ``as_of``, ``alerts`` (a list of alert structs), ``field``, ``error`` and ``json`` (the
      line ``cocm-rules evaluate`` writes for the record);
    - :attr:`alerts`: one row per alert: ``record``, ``patient_id``, ``as_of``, ``position``
      (0-based, in review order) and the alert's fields, ``evidence`` and ``parameters`` as
      JSON text;
    - :attr:`errors`: one row per record that could not be evaluated: ``record``, ``line``,
      ``patient_id``, ``field``, ``error`` (the fields of its
      :class:`~cocm_rules.RecordError`).

    Each record is evaluated on its own, as ``cocm-rules evaluate`` does: a patient sent twice
    gets two results (:func:`review` and :func:`caseload` count a patient once).
    """

    def __init__(self, prepared: _Prepared, task: Any) -> None:
        from . import _spark_worker as worker

        self._prepared = prepared
        self._lines = functools.partial(worker.evaluate_batches, dataclasses.replace(task, lines_only=True))
        self._lines_schema = _ddl(worker.LINES_SCHEMA)
        self.results: DataFrame = prepared.df.mapInArrow(
            functools.partial(worker.evaluate_batches, task), _ddl(worker.RESULT_SCHEMA)
        )

    @property
    def alerts(self) -> DataFrame:
        """One row per alert (see the class docstring)."""
        from pyspark.sql import functions as F

        from ._spark_worker import ALERT_FIELDS

        exploded = self.results.where(F.col("kind") == "result").select(
            "record", "patient_id", "as_of", F.posexplode("alerts").alias("position", "alert")
        )
        return exploded.select(
            "record",
            "patient_id",
            "as_of",
            "position",
            *(F.col(f"alert.{name}").alias(name) for name, _ in ALERT_FIELDS),
        )

    @property
    def errors(self) -> DataFrame:
        """One row per error record (see the class docstring)."""
        from pyspark.sql import functions as F

        return self.results.where(F.col("kind") == "error").select("record", "line", "patient_id", "field", "error")

    def _ordered(self) -> DataFrame:
        """The lines (``record``, ``json``), partitions in record order: partition order is
        input order. Only the lines are built (no alert structs)."""
        source = self._prepared.df if self._prepared.in_order else self._prepared.df.orderBy("record")
        return source.mapInArrow(self._lines, self._lines_schema)

    def lines(self) -> Iterator[str]:
        """The JSON lines ``cocm-rules evaluate`` writes for the same input, in input order,
        brought to the driver (for a large caseload, :meth:`write_text` writes them in parallel).

        The engine runs once, on the whole cluster; the lines are then read back partition
        by partition.
        """
        from pyspark import StorageLevel

        cached = self._ordered().select("json").persist(StorageLevel.MEMORY_AND_DISK)
        try:
            cached.count()
            for row in cached.toLocalIterator(prefetchPartitions=True):
                yield row[0]
        finally:
            cached.unpersist()

    def write_jsonl(self, stream: IO[str]) -> int:
        """Write :meth:`lines` to a text stream, one per line; return how many were written."""
        n = 0
        for line in self.lines():
            stream.write(line)
            stream.write("\n")
            n += 1
        return n

    def write_text(self, path: str, *, mode: str = "errorifexists") -> None:
        """Write the JSON lines as a directory of text files (``part-00000-...``), in
        parallel: the part files, concatenated in name order, are what ``cocm-rules
        evaluate`` writes for the same input."""
        self._ordered().select("json").write.mode(mode).text(path)


def evaluate(
    df: DataFrame,
    as_of: dt.date,
    *,
    rulesets: str | Path | Iterable[str | Path] | None = None,
    backend: str = "compiled",
    column: str | None = "episode",
    index: str = "record",
    line: str = "line",
) -> Evaluation:
    """Evaluate every episode of ``df`` as of ``as_of``: alerts and error records.

    ``rulesets`` are paths as for :meth:`Engine.load <cocm_rules.Engine.load>` (files on the
    driver; the bundled set by default). ``column`` names the episode column (JSON text,
    UTF-8 bytes or a struct; None: the whole row is the episode), ``index`` an integral
    column of record positions (derived from the row order when absent), ``line`` an
    optional column of line numbers for the messages. See the module docstring.

    Raises :class:`~cocm_rules.InvalidInput` for a wrong column or ``as_of``,
    :class:`~cocm_rules.RulesetError` for invalid rulesets, before any Spark job runs.
    """
    _require()
    from . import _spark_worker as worker

    check_as_of(as_of)
    _, shipped = _engine_and_rulesets(df, rulesets, backend)
    prepared = _Prepared(df, column, index, line)
    log.info("spark.evaluate", episode=prepared.kind, derived_index=prepared.in_order)
    return Evaluation(prepared, worker.Task(as_of=as_of, episode=prepared.kind, rulesets=shipped))


# -- one record per patient ------------------------------------------------------------------------


def _once(rows: DataFrame, partitions: int) -> DataFrame:
    """``rows`` (``record``, ``line``, ``kind``, ``patient_id``, ...) with ``first``: for a
    valid episode (a kind other than ``error``), the ``record`` and ``line`` of the first
    valid episode with its ``patient_id``; and ``repeated``: whether it is a later one. The
    rule of :func:`~cocm_rules._once.episodes_once`, found with Spark: one shuffle by id into
    ``partitions`` partitions (as many as the input has, rather than
    ``spark.sql.shuffle.partitions``: the result is persisted and read back per partition)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    valid = (F.col("kind") != "error").alias("valid")
    by_id = rows.withColumn("valid", valid).repartition(partitions, "valid", "patient_id")
    first = F.min(F.struct("record", "line")).over(Window.partitionBy("valid", "patient_id"))
    with_first = by_id.withColumn("first", F.when(F.col("valid"), first))
    return with_first.withColumn("repeated", F.col("valid") & (F.col("first.record") != F.col("record")))


def _partitions(df: DataFrame) -> int:
    """How many partitions ``df`` has (planned, no job runs); under Spark Connect, which has
    no RDDs, ``spark.sql.shuffle.partitions``."""
    if getattr(df.sparkSession, "_sc", None) is None:
        return int(df.sparkSession.conf.get("spark.sql.shuffle.partitions") or 200)
    return max(1, df.rdd.getNumPartitions())


def _errors(rows: DataFrame) -> list[RecordError]:
    """The error records of ``rows`` (see :func:`_once`), repeated patients' included, in
    input order, brought to the driver (in one job; the caller's result holds them all)."""
    from pyspark.sql import functions as F

    chosen = rows.where((F.col("kind") == "error") | F.col("repeated"))
    found = chosen.select("record", "line", "patient_id", "first", "repeated", "json").collect()
    found.sort(key=lambda r: r[0])
    return [
        repeated_patient(record, line, patient_id, first[0], first[1])
        if repeated
        else RecordError.model_validate_json(text)
        for record, line, patient_id, first, repeated, text in found
    ]


# -- review list -----------------------------------------------------------------------------------


def review(
    df: DataFrame,
    as_of: dt.date,
    *,
    rulesets: str | Path | Iterable[str | Path] | None = None,
    backend: str = "compiled",
    column: str | None = "episode",
    index: str = "record",
    line: str = "line",
    categories: Iterable[str] = REVIEW_CATEGORIES,
    min_severity: str = REVIEW_MIN_SEVERITY,
    limit: int | None = None,
) -> ReviewList:
    """The psychiatric consultant's review list of ``df``, equal to
    :func:`~cocm_rules.review.review_list` on the same records (as JSON, and as objects).

    Each record is assessed on the executors; a patient sent twice is listed once (its
    later records are error records naming the first, as in the local list); with a
    ``limit``, the first entries are chosen in Spark and only they reach the driver (without
    one, every entry does), which ranks them with :func:`~cocm_rules.review.rank_key`;
    error records are listed in input order. The other arguments are those of :func:`evaluate`
    and :func:`~cocm_rules.review.review_list`.
    """
    _require()
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from . import _spark_worker as worker

    check_as_of(as_of)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
    cats = tuple(categories)
    engine, shipped = _engine_and_rulesets(df, rulesets, backend)
    review_list(engine, [], as_of, categories=cats, min_severity=min_severity)  # the local checks of the arguments
    prepared = _Prepared(df, column, index, line)
    task = worker.Task(as_of=as_of, episode=prepared.kind, rulesets=shipped, categories=cats, min_severity=min_severity)
    assessed = prepared.df.mapInArrow(functools.partial(worker.review_batches, task), _ddl(worker.REVIEW_SCHEMA))
    rows = _once(assessed, _partitions(prepared.df)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        evaluated = rows.where((F.col("kind") != "error") & ~F.col("repeated")).count()
        errors = _errors(rows)
        listed = rows.where((F.col("kind") == "listed") & ~F.col("repeated"))
        if limit is not None and limit >= 0:  # only the first entries reach the driver
            listed = listed.orderBy("order", "record").limit(limit)
        chosen = [_entry(r[0], engine) for r in listed.select("json").collect()]
    finally:
        rows.unpersist()
    # The order of review_list, in Python (Spark's order above is the same key).
    chosen.sort(key=lambda e: (rank_key(e.reasons, e.patient_id), e.record))
    if limit is not None and limit < 0:
        chosen = chosen[:limit]
    entries = [e.model_copy(update={"rank": rank}) for rank, e in enumerate(chosen, start=1)]
    log.info("spark.review", records=evaluated + len(errors), listed=len(entries), errors=len(errors))
    return ReviewList(as_of=as_of, patients_evaluated=evaluated, entries=entries, errors=errors)


def _entry(text: str, engine: Engine) -> ReviewEntry:
    """A review entry read back from its JSON; evidence values of date facts become dates
    again (JSON holds them as text), so the entry equals the local one."""
    data = _json.loads(text)
    specs = engine.catalog.specs
    for key in ("reasons", "other_alerts"):
        for alert in data.get(key, []):
            for name, value in alert["evidence"].items():
                spec = specs.get(name)
                if spec is not None and spec.type == "date" and isinstance(value, str):
                    alert["evidence"][name] = dt.date.fromisoformat(value)
    return ReviewEntry.model_validate(data)


# -- caseload metrics ------------------------------------------------------------------------------


def caseload(
    df: DataFrame,
    as_of: dt.date,
    *,
    column: str | None = "episode",
    index: str = "record",
    line: str = "line",
    per_care_manager: bool = True,
    care_manager_fte: Mapping[str, float] | None = None,
    payer_mix: str | None = None,
) -> CaseloadMetrics:
    """The caseload metrics of ``df``, equal to :func:`~cocm_rules.caseload.caseload_metrics`
    on the same records (``care_manager_fte`` and ``payer_mix`` as there: they are used on the
    driver only).

    Each record is reduced on the executors to its
    :class:`~cocm_rules.caseload.PatientOutcome` (a few flags and numbers); a patient sent
    twice counts once (its later records are error records naming the first, as in the local
    metrics); the outcomes are streamed to the driver, which counts them with a
    :class:`~cocm_rules.caseload.CaseloadCounter`.
    """
    _require()
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from . import _spark_worker as worker

    counter = CaseloadCounter(  # checks as_of, the FTEs and the payer mix before any job runs
        as_of, per_care_manager=per_care_manager, care_manager_fte=care_manager_fte, payer_mix=payer_mix
    )
    prepared = _Prepared(df, column, index, line)
    task = worker.Task(as_of=as_of, episode=prepared.kind)
    reduced = prepared.df.mapInArrow(functools.partial(worker.caseload_batches, task), _ddl(worker.CASELOAD_SCHEMA))
    rows = _once(reduced, _partitions(prepared.df)).persist(StorageLevel.MEMORY_AND_DISK)
    patients = 0
    try:
        rows.count()  # reduce on every executor at once; then read the outcomes back
        counted = rows.where((F.col("kind") == "patient") & ~F.col("repeated")).select("json")
        for (text,) in counted.toLocalIterator(prefetchPartitions=True):
            counter.add(_outcome(text))
            patients += 1
        errors = _errors(rows)
    finally:
        rows.unpersist()
    for error in errors:
        counter.add(error)
    log.info("spark.caseload", records=patients + len(errors), errors=len(errors))
    return counter.metrics()


def _outcome(text: str) -> PatientOutcome:
    """A PatientOutcome from the JSON of its values (``dataclasses.astuple``)."""
    values = _json.loads(text)
    fields = [f.name for f in dataclasses.fields(PatientOutcome)]
    data = dict(zip(fields, values, strict=True))
    data["improvement"] = tuple(tuple(i) if i is not None else None for i in data["improvement"])
    data["smi"] = tuple(data["smi"]) if data["smi"] is not None else None
    return PatientOutcome(**data)
