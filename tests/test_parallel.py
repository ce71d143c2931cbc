"""Every core (issue 14, part 2): the batch functions in worker processes give what one process
gives, byte for byte and in input order, with every record accounted; the command line's
``--jobs``; workers that die; worker log events. No timing is asserted here (the speed-up is a
benchmark figure: ``benchmarks/run.py``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from cocm_rules import Engine, EngineError, InvalidInput, load_rulesets, parallel
from cocm_rules.batch import read_records
from cocm_rules.caseload import caseload_metrics
from cocm_rules.measures import load_measures
from cocm_rules.records import JsonLine, RecordError
from cocm_rules.review import review_list
from cocm_rules.synth import generate

pytestmark = pytest.mark.usefixtures("restore_structlog")

ROOT = Path(__file__).resolve().parent.parent
CASELOAD = ROOT / "examples" / "caseload.jsonl"
AS_OF = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def example_lines() -> list[JsonLine]:
    return list(read_records(CASELOAD, lines_as_text=True))


def synthetic_file(path: Path, patients: int) -> Path:
    """A synthetic caseload (with its deliberate data errors) as JSON Lines, with what batches
    must survive spread through it: blank lines (lines and records then differ), a line that
    is not JSON, one that repeats a key, one that is not UTF-8, an invalid status, a patient
    sent twice (both valid), and a patient whose first record is invalid and second valid."""
    records = [json.dumps(r) for r in generate(patients, seed=14, as_of=AS_OF)]
    first = json.loads(records[10])
    invalid_then_valid = dict(first, patient_id="p-twice-invalid-first", status="no_such_status")
    lines: list[bytes] = []
    for i, text in enumerate(records):
        lines.append(text.encode())
        if i == 3:
            lines += [b"", b"   "]
        if i == 250:
            lines.append(b'{"patient_id": "p-broken", ')
        if i == 401:
            lines.append(b'{"patient_id": "p-dup-key", "status": "active_treatment", "status": "discharged"}')
        if i == 560:
            lines.append(b'{"patient_id": "p-latin1", "program": "caf\xe9"}')
        if i == 700:
            lines.append(json.dumps(invalid_then_valid).encode())
        if i == 900:
            lines.append(records[10].encode())  # the same patient as record 10, again
        if i == 1100:
            lines.append(json.dumps(dict(invalid_then_valid, status=first["status"])).encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m cocm_rules`` as a real process (its worker processes are real too)."""
    return subprocess.run(
        [sys.executable, "-m", "cocm_rules", *args],
        capture_output=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160"},
    )


# -- the Python functions, on the example caseload (small chunks, so the workers do the work) ----


def test_evaluate_on_workers_gives_the_lines_and_results_of_one_process(engine: Engine) -> None:
    """The example caseload in chunks of 7 on 2 workers: every line is the one a single process
    writes, in input order; the results and error records as objects are equal too."""
    one = [line.text for line in parallel.evaluate_lines(engine, example_lines(), AS_OF, jobs=1)]
    two = [line.text for line in parallel.evaluate_lines(engine, example_lines(), AS_OF, jobs=2, chunk_size=7)]
    objects = list(parallel.evaluate_many(engine, example_lines(), AS_OF, jobs=2, chunk_size=7))

    assert [r.model_dump_json() for r in engine.evaluate_many(example_lines(), AS_OF)] == one
    assert one == two
    assert list(engine.evaluate_many(example_lines(), AS_OF)) == objects
    assert list(range(len(one))) == [json.loads(line)["record"] for line in two]


def test_review_and_caseload_on_workers_equal_one_process(engine: Engine) -> None:
    """The review list (all of it, and with a limit) and the caseload metrics of the example
    caseload from 2 workers are those of one process, to the byte of their JSON."""
    for limit in (None, 5):
        expected = review_list(engine, example_lines(), AS_OF, limit=limit).model_dump_json()
        actual = parallel.review_list(engine, example_lines(), AS_OF, limit=limit, jobs=2, chunk_size=7)
        assert expected == actual.model_dump_json()
    expected_metrics = caseload_metrics(example_lines(), AS_OF).model_dump_json()
    assert expected_metrics == parallel.caseload_metrics(example_lines(), AS_OF, jobs=2, chunk_size=7).model_dump_json()


def test_caseload_size_settings_reach_the_workers_result() -> None:
    """The caseload size check (care managers' FTE, the payer mix) on 2 workers is the one
    process's, and the settings change it (so they are not dropped on the way)."""
    settings = {"care_manager_fte": {"cm1": 0.5}, "payer_mix": "commercial_behavioral"}
    expected = caseload_metrics(example_lines(), AS_OF, **settings).model_dump_json()  # type: ignore[arg-type]
    actual = parallel.caseload_metrics(example_lines(), AS_OF, jobs=2, chunk_size=7, **settings)  # type: ignore[arg-type]
    assert expected == actual.model_dump_json()
    assert caseload_metrics(example_lines(), AS_OF).model_dump_json() != expected


def test_a_patient_sent_twice_counts_once_on_workers_as_in_one_process(engine: Engine) -> None:
    """The one-record-per-patient rule applied to the workers' outputs in input order: the
    second record of a patient in another chunk is the same error record naming the first;
    a patient whose first record is invalid counts with its first valid one."""
    lines = example_lines()
    again = JsonLine(str(lines[2]), len(lines) + 1)
    invalid = json.loads(lines[5]) | {"patient_id": "p-late", "status": "no_such_status"}
    valid = json.loads(lines[5]) | {"patient_id": "p-late"}
    records = [
        *lines,
        again,
        JsonLine(json.dumps(invalid), len(lines) + 2),
        JsonLine(json.dumps(valid), len(lines) + 3),
    ]

    expected_review = review_list(engine, records, AS_OF)
    expected_metrics = caseload_metrics(records, AS_OF)
    actual_review = parallel.review_list(engine, records, AS_OF, jobs=2, chunk_size=4)
    actual_metrics = parallel.caseload_metrics(records, AS_OF, jobs=2, chunk_size=4)

    assert expected_review.model_dump_json() == actual_review.model_dump_json()
    assert expected_metrics.model_dump_json() == actual_metrics.model_dump_json()
    repeated = [e for e in actual_metrics.errors if e.field == "patient_id"]
    assert [len(lines)] == [e.record for e in repeated]
    assert "this patient_id was already in record 2 (line 3)" in repeated[0].error
    assert len(lines) + 1 == actual_metrics.records  # p-late counted with its valid record


def test_caseload_chunks_counted_whole_give_the_metrics_of_one_process() -> None:
    """Each worker counts its chunk (one part per chunk, merged here) without the later
    records of a patient within the chunk; a patient repeated within a chunk, across chunks,
    and both, gives the metrics and error records of one process."""
    lines = example_lines()
    records = [lines[0], lines[1], JsonLine(str(lines[1]), 101), *lines[2:9], JsonLine(str(lines[7]), 102)]
    records += [JsonLine(str(lines[1]), 103), *lines[9:]]
    expected = caseload_metrics(records, AS_OF)
    assert 3 == len(expected.errors)
    for chunk_size in (4, 7, 30):
        assert expected == parallel.caseload_metrics(records, AS_OF, jobs=2, chunk_size=chunk_size), chunk_size


def test_small_inputs_and_one_job_run_in_this_process(engine: Engine) -> None:
    """``jobs=1``, or an input of at most one chunk (the example caseload: 60 records), starts
    no worker: the batch is the engine's own, whose summary has no ``jobs``."""
    for jobs, chunk_size in ((1, 7), (2, parallel.CHUNK_SIZE), (2, 60)):
        with capture_logs() as logs:
            lines = [
                line.text
                for line in parallel.evaluate_lines(engine, example_lines(), AS_OF, jobs=jobs, chunk_size=chunk_size)
            ]
        assert [r.model_dump_json() for r in engine.evaluate_many(example_lines(), AS_OF)] == lines
        [finished] = [e for e in logs if e["event"] == "batch.finished"]
        assert "jobs" not in finished
    with capture_logs() as logs:
        list(parallel.evaluate_lines(engine, example_lines(), AS_OF, jobs=2, chunk_size=59))
    assert 2 == next(e for e in logs if e["event"] == "batch.finished")["jobs"]


def test_records_are_read_as_results_are_consumed(engine: Engine) -> None:
    """Memory stays flat: when the first result arrives, at most two chunks per worker (and
    the first chunk read to decide whether workers are worth starting) have been read."""
    pulled = [0]

    def stream() -> Iterator[str]:
        for record in generate(400, seed=3, as_of=AS_OF):
            pulled[0] += 1
            yield json.dumps(record)

    results = parallel.evaluate_many(engine, stream(), AS_OF, jobs=2, chunk_size=5)
    first = next(iter(results))
    assert 0 == first.record
    assert pulled[0] <= 2 * 2 * 5 + 5 + 1
    rest = list(results)
    assert 400 == 1 + len(rest)


def test_evaluate_text_on_workers_is_the_text_of_one_process(engine: Engine) -> None:
    """evaluate_text (what `cocm-rules evaluate` writes, one block per chunk made in the
    worker) on 2 workers: the same text, error records and counts as the lines of one
    process, in input order; in one process it gives blocks of chunk_size records."""
    lines = [*example_lines(), JsonLine('{"patient_id": "p-x", "status": "zzz"}', 99), JsonLine("[1]", 100)]
    one = list(parallel.evaluate_lines(engine, lines, AS_OF, jobs=1))
    with capture_logs():
        blocks = list(parallel.evaluate_text(engine, lines, AS_OF, jobs=2, chunk_size=7))
    assert "".join(line.text + "\n" for line in one) == "".join(b.text for b in blocks)
    assert [line.error for line in one if line.error is not None] == [e for b in blocks for e in b.errors]
    assert (60, sum(line.alerts for line in one)) == (sum(b.results for b in blocks), sum(b.alerts for b in blocks))
    assert 9 == len(blocks)  # 62 records in chunks of 7
    in_process = list(parallel.evaluate_text(engine, lines, AS_OF, jobs=1, chunk_size=25))
    assert [25, 25, 12] == [b.text.count("\n") for b in in_process]
    assert "".join(b.text for b in blocks) == "".join(b.text for b in in_process)


def test_a_lost_chunk_in_evaluate_text_is_a_block_of_error_records(engine: Engine) -> None:
    """A chunk whose workers die twice reaches evaluate_text's consumer as the block of its
    error records (one line each, counted as errors); the other blocks are the results."""
    lines = example_lines()
    task = parallel._Evaluate(parallel._EngineSpec.of(engine), AS_OF, True, block=True)
    pipeline = parallel._Pipeline(task, 2, executor=lambda jobs: _Flaky({14}))
    with capture_logs() as logs:
        blocks = list(parallel._evaluated_blocks(engine, pipeline, lines, 7))
    lost = blocks[2]
    assert list(range(14, 21)) == [e.record for e in lost.errors]
    assert (0, 7) == (lost.results, lost.text.count("\n"))
    assert [e.model_dump_json() + "\n" for e in lost.errors] == lost.text.splitlines(keepends=True)
    expected = list(engine.evaluate_many(lines, AS_OF))
    assert "".join(r.model_dump_json() + "\n" for r in expected[:14]) == blocks[0].text + blocks[1].text
    [finished] = [e for e in logs if e["event"] == "batch.finished" and "jobs" in e]  # not _Flaky's own
    assert (60, 53, 7) == (finished["records"], finished["results"], finished["errors"])


def test_workers_use_the_bundled_rulesets_their_server_read(engine: Engine, monkeypatch: Any) -> None:
    """A worker takes the rulesets its server read at start (parallel.warm) only when they are
    the batch's files with the same SHA-256; other bytes are read from the files again."""
    warmed = load_rulesets()
    monkeypatch.setattr(parallel, "_WARM", [warmed])
    spec = parallel._EngineSpec.of(engine)
    assert warmed is parallel._rulesets(spec)
    other = parallel._EngineSpec(**{**spec.__dict__, "sha256": ("0" * 64, *spec.sha256[1:])})
    again = parallel._rulesets(other)
    assert warmed is not again
    assert [rs.sha256 for rs in warmed.rulesets] == [rs.sha256 for rs in again.rulesets]


def test_worker_processes_start_with_the_rulesets_read(tmp_path: Path) -> None:
    """The workers are forked from a server that imported the library and read the bundled
    rulesets once (cocm_rules._warm): a worker logs its engine, but loads no ruleset itself;
    prepare() starts that server early and returns at once."""
    script = tmp_path / "run.py"
    script.write_text(
        "import datetime as dt, json\n"
        "from structlog.testing import capture_logs\n"
        "from cocm_rules import Engine, parallel\n"
        "from cocm_rules.batch import read_records\n"
        "if __name__ == '__main__':\n"
        f"    parallel.prepare(2)\n"
        "    engine = Engine.load()\n"
        f"    lines = list(read_records({str(CASELOAD)!r}, lines_as_text=True))\n"
        "    with capture_logs() as logs:\n"
        "        list(parallel.evaluate_many(engine, lines, dt.date(2026, 11, 20), jobs=2, chunk_size=7))\n"
        "    print(json.dumps(sorted({e['event'] for e in logs if 'worker_pid' in e})))\n",
        encoding="utf-8",
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=300, cwd=ROOT, env={**os.environ})
    assert 0 == proc.returncode, proc.stderr.decode()[-2000:]
    events = json.loads(proc.stdout.decode().splitlines()[-1])
    assert "engine.loaded" in events
    assert "ruleset.loaded" not in events


# -- the command line -------------------------------------------------------------------------------


def test_cli_jobs_2_writes_the_bytes_of_jobs_1_with_error_records_and_exit_3(tmp_path: Path) -> None:
    """`evaluate`, `review --json`, `review --csv` and `caseload --json` on 1,200 synthetic
    patients with invalid lines, a repeated key, a line that is not UTF-8 and patients sent
    twice: --jobs 2 writes the bytes --jobs 1 writes, exits 3 as it does, and stderr names the
    same records."""
    path = str(synthetic_file(tmp_path / "caseload.jsonl", 1200))
    commands = [
        ["evaluate", path, "--as-of", AS_OF.isoformat()],
        ["review", path, "--as-of", AS_OF.isoformat(), "--json"],
        ["review", path, "--as-of", AS_OF.isoformat(), "--csv", "--limit", "40"],
        ["caseload", path, "--as-of", AS_OF.isoformat(), "--json"],
    ]
    for command in commands:
        one, two = cli(*command, "--jobs", "1"), cli(*command, "--jobs", "2")
        assert (3, 3) == (one.returncode, two.returncode), (command, two.stderr.decode()[-2000:])
        assert one.stdout == two.stdout, command
        summary = [ln for ln in one.stderr.decode().splitlines() if ln.startswith("  record ")]
        assert summary == [ln for ln in two.stderr.decode().splitlines() if ln.startswith("  record ")]
        assert (4 if command[0] == "evaluate" else 5) == len(summary)  # evaluate takes a patient twice
    metrics = json.loads(cli(*commands[3], "--jobs", "2").stdout)
    reasons = [e["error"] for e in metrics["errors"]]
    assert 1 == sum("this patient_id was already in record 10 (line 13)" in r for r in reasons)
    assert 1 == sum("appears more than once" in r for r in reasons)


def test_cli_jobs_must_be_at_least_one() -> None:
    """`--jobs 0` is a usage error (exit 2) that names the option."""
    result = cli("evaluate", str(CASELOAD), "--as-of", AS_OF.isoformat(), "--jobs", "0")
    assert 2 == result.returncode
    assert b"--jobs" in result.stderr


# -- what cannot be shipped, and checks ---------------------------------------------------------


def test_jobs_are_checked(engine: Engine) -> None:
    """`jobs` must be an int of at least 1 (None: every core this process may use)."""
    with pytest.raises(InvalidInput, match="at least one job"):
        list(parallel.evaluate_many(engine, example_lines(), AS_OF, jobs=0))
    with pytest.raises(TypeError, match="jobs must be an int"):
        parallel.caseload_metrics(example_lines(), AS_OF, jobs="2")  # type: ignore[arg-type]
    assert len(os.sched_getaffinity(0)) == parallel.default_jobs()


def test_an_engine_the_workers_cannot_load_again_is_refused_before_any_work() -> None:
    """A ruleset loaded from text has no file a worker could load, and another measure
    library cannot be shipped: jobs > 1 says so (and jobs=1 works)."""
    bundled = load_rulesets()
    text = (ROOT / "rulesets" / "suicide_risk.yaml").read_text(encoding="utf-8")
    from_text = Engine(load_rulesets(text=text), safety_floor=False, skip_reason="test")
    with pytest.raises(InvalidInput, match="rulesets loaded from files"):
        list(parallel.evaluate_many(from_text, example_lines(), AS_OF, jobs=2))
    assert 60 == len(list(parallel.evaluate_many(from_text, example_lines(), AS_OF, jobs=1)))
    other = Engine(load_rulesets(library=load_measures(ROOT / "measures")))  # loaded again: another library
    assert other.library is not bundled.library
    with pytest.raises(InvalidInput, match="bundled measure library"):
        parallel.review_list(other, example_lines(), AS_OF, jobs=2)


def test_a_worker_whose_rulesets_changed_refuses_to_work(tmp_path: Path) -> None:
    """The workers load the rulesets from their files; a file changed after the batch started
    (here only a title: the SHA-256 of its bytes differs, the compiled program may not) stops
    the batch with an EngineError that says so, rather than evaluate part of it with rules
    other than the ones the batch started with."""
    for f in (ROOT / "rulesets").glob("*.yaml"):
        shutil.copy(f, tmp_path)
    engine = Engine.load(tmp_path)
    target = tmp_path / "depression.yaml"
    text = target.read_text(encoding="utf-8")
    changed = text.replace("title:", "title: (changed)", 1)
    assert changed != text
    target.write_text(changed, encoding="utf-8")
    assert [rs.sha256 for rs in load_rulesets(tmp_path).rulesets] != [rs.sha256 for rs in engine.rulesets.rulesets]
    with pytest.raises(EngineError, match="a ruleset file changed meanwhile"):
        list(parallel.evaluate_many(engine, example_lines(), AS_OF, jobs=2, chunk_size=7))


# -- workers that die ----------------------------------------------------------------------------


def _grandchildren() -> list[int]:
    """The pids of this process's grandchildren: the pool's workers (forked by the forkserver)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    children = {pid for pid, parent in parents.items() if parent == os.getpid()}
    return [pid for pid, parent in parents.items() if parent in children]


def test_workers_killed_mid_batch_lose_nothing(engine: Engine) -> None:
    """Every worker is killed (SIGKILL) while chunks are in flight: a fresh pool takes the
    chunks again, and the output is still every record's, equal to one process's; the restart
    is logged as an error."""
    texts = [json.dumps(r) for r in generate(300, seed=8, as_of=AS_OF)]
    killed: list[int] = []

    def stream() -> Iterator[str]:
        for i, text in enumerate(texts):
            if i == 120:
                for pid in _grandchildren():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            yield text

    with capture_logs() as logs:
        actual = [line.text for line in parallel.evaluate_lines(engine, stream(), AS_OF, jobs=2, chunk_size=10)]
    expected = [r.model_dump_json() for r in engine.evaluate_many(texts, AS_OF)]
    assert killed
    assert expected == actual
    stopped = [e for e in logs if e["event"] == "parallel.workers_stopped"]
    assert 1 <= len(stopped)
    assert "error" == stopped[0]["log_level"]
    [finished] = [e for e in logs if e["event"] == "batch.finished"]
    assert (300, 0, len(stopped)) == (finished["records"], finished["errors"], finished["worker_restarts"])


@dataclass(frozen=True)
class _DiesMidMessage:
    """A task that, the first time it meets the chunk starting at ``start`` (``marker`` not
    there yet), writes the first bytes of a result message into its worker's result pipe
    and dies: what a worker killed while it sends its outputs leaves behind."""

    task: Any
    start: int
    marker: str

    def __call__(self, start: int, records: list[Any]) -> list[Any]:
        if start == self.start and not os.path.exists(self.marker):
            Path(self.marker).write_text("died", encoding="utf-8")
            import gc
            import multiprocessing.queues
            import struct

            [queue] = [o for o in gc.get_objects() if isinstance(o, multiprocessing.queues.SimpleQueue)]
            os.write(queue._writer.fileno(), struct.pack("!i", 100_000) + b"half a message")
            os._exit(1)
        return self.task(start, records)


def test_a_worker_dying_in_the_middle_of_its_message_does_not_stop_the_batch(engine: Engine, tmp_path: Path) -> None:
    """A worker that dies while it writes its outputs leaves half a message in the pool's
    result pipe; the batch does not wait for the rest forever: the pool is replaced, the
    chunk sent again, and every record has its result, in input order."""
    lines = example_lines()
    task = _DiesMidMessage(
        parallel._Evaluate(parallel._EngineSpec.of(engine), AS_OF, False), 14, str(tmp_path / "marker")
    )
    pipeline = parallel._Pipeline(task, 2)
    with capture_logs() as logs:
        outputs = [out for chunk in pipeline.run(lines, 7) for out in chunk]
    assert list(engine.evaluate_many(lines, AS_OF)) == outputs
    assert 1 == pipeline.restarts
    assert (tmp_path / "marker").exists()
    assert any(e["event"] == "parallel.result_pipe_closed" for e in logs)


class _Flaky(Executor):
    """An executor running each chunk in this process, except that every pool it makes
    "dies" on the chunks starting at ``doomed`` (BrokenProcessPool, as when a worker is killed)."""

    pools = 0

    def __init__(self, doomed: set[int]) -> None:
        type(self).pools += 1
        self.doomed = doomed

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        task, start, packed = args
        if start in self.doomed:
            future.set_exception(BrokenProcessPool("a worker died"))
        else:  # what _work returns, without configuring this process's logging as a worker's
            future.set_result(parallel._Done(task(start, [parallel._unpack(p) for p in packed]), [], os.getpid()))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


def test_a_chunk_lost_twice_becomes_error_records_and_the_rest_is_kept(engine: Engine) -> None:
    """A chunk whose workers die each time it is sent: after its second try each of its
    records is an error record saying so (with its line), every other record has its
    result, in input order."""
    lines = example_lines()
    _Flaky.pools = 0
    task = parallel._Evaluate(parallel._EngineSpec.of(engine), AS_OF, False)
    pipeline = parallel._Pipeline(task, 2, executor=lambda jobs: _Flaky({14}))
    with capture_logs():
        outputs = [out for chunk in pipeline.run(lines, 7) for out in chunk]
    expected = list(engine.evaluate_many(lines, AS_OF))

    assert len(lines) == len(outputs)
    assert expected[:14] + expected[21:] == outputs[:14] + outputs[21:]
    lost = outputs[14:21]
    assert all(isinstance(e, RecordError) for e in lost)
    assert list(range(14, 21)) == [e.record for e in lost]
    assert [r.lineno for r in lines[14:21]] == [e.line for e in lost]
    assert "worker processes stopped (killed, or out of memory) twice while they had records 14 to 20" in lost[0].error
    assert 3 == _Flaky.pools  # the first pool, and one fresh pool per loss


def test_workers_that_keep_dying_stop_the_batch_with_a_clear_error(engine: Engine) -> None:
    """Every chunk dies every time: after MAX_RESTARTS fresh pools the batch stops with an
    EngineError naming where (never an endless loop, never a silent loss)."""
    task = parallel._Evaluate(parallel._EngineSpec.of(engine), AS_OF, False)
    pipeline = parallel._Pipeline(task, 1, executor=lambda jobs: _Flaky(set(range(0, 1000, 5))))
    with capture_logs(), pytest.raises(EngineError, match="stopped at record"):
        list(pipeline.run(example_lines(), 5))


# -- logging -----------------------------------------------------------------------------------------


def test_worker_log_events_are_logged_once_each_and_one_batch_summary(engine: Engine) -> None:
    """With 2 workers the parent logs what one process logs: a batch.record_invalid warning
    per invalid record, in input order with the same fields, and one batch.finished with the
    same counts (plus jobs, chunks, restarts); each worker's own events (loading the rulesets)
    come back once, with its pid. No answer or value in any event."""
    lines = [*example_lines(), JsonLine('{"patient_id": "p-x", "status": "zzz"}', 99), JsonLine("[1]", 100)]
    with capture_logs() as one_logs:
        list(engine.evaluate_many(lines, AS_OF))
    with capture_logs() as logs:
        list(parallel.evaluate_many(engine, lines, AS_OF, jobs=2, chunk_size=9))

    def invalid(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in events if e["event"] == "batch.record_invalid"]

    assert 2 == len(invalid(one_logs))
    assert invalid(one_logs) == invalid(logs)
    [expected] = [e for e in one_logs if e["event"] == "batch.finished"]
    [actual] = [e for e in logs if e["event"] == "batch.finished"]
    for key in ("records", "results", "errors", "alerts", "alerts_by_category"):
        assert expected[key] == actual[key], key
    assert (2, 7, 0) == (actual["jobs"], actual["chunks"], actual["worker_restarts"])
    loaded = [e for e in logs if e["event"] == "engine.loaded"]
    assert 1 <= len(loaded) <= 2
    assert all(e["worker_pid"] != os.getpid() for e in loaded)
    assert len({e["worker_pid"] for e in loaded}) == len(loaded)
    assert "zzz" not in repr(logs)


def test_review_and_caseload_log_one_summary_each(engine: Engine) -> None:
    """`parallel.finished` once per review list or caseload run on workers, with the counts."""
    with capture_logs() as logs:
        parallel.review_list(engine, example_lines(), AS_OF, jobs=2, chunk_size=20)
        parallel.caseload_metrics(example_lines(), AS_OF, jobs=2, chunk_size=20)
    summaries = [
        (e["batch"], e["records"], e["errors"], e["chunks"]) for e in logs if e["event"] == "parallel.finished"
    ]
    assert [("review", 60, 0, 3), ("caseload", 60, 0, 3)] == summaries


def test_stopping_early_stops_the_workers(engine: Engine) -> None:
    """A consumer that stops after the first result: the pool is shut down (no worker left
    behind) and the one batch summary says how far it got."""
    texts = [json.dumps(r) for r in generate(200, seed=2, as_of=AS_OF)]
    before = set(_grandchildren())
    with capture_logs() as logs:
        results = parallel.evaluate_many(engine, texts, AS_OF, jobs=2, chunk_size=10)
        assert 0 == next(results).record
        results.close()  # type: ignore[attr-defined]
    [finished] = [e for e in logs if e["event"] == "batch.finished"]
    assert 1 == finished["records"]
    assert set() == set(_grandchildren()) - before
