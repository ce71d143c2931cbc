"""Spark local[N] against the single-process engine, one command: ``python benchmarks/spark.py``.

For each caseload size (default 100,000 and 1,000,000 synthetic patients, ``cocm_rules.synth``,
seed 2026, as of 2026-11-20; written once to a JSON Lines file and reused) and each runner:

- ``one process``: ``cocm-rules evaluate FILE --as-of DATE --jobs 1 > OUT`` (the CLI, one core);
- ``--jobs N``: the same with ``--jobs N`` (N worker processes, one per Spark core);
- ``spark local[N]``: ``cocm_rules.spark``: ``read_jsonl`` -> ``evaluate`` -> ``write_text``
  (part files in input order) on a local Spark session with N cores (default 2);

it measures the wall time (patients/s; for Spark also without the session start-up), the peak
resident memory of the whole process tree (the runner, and for Spark the JVM and its Python
workers: the sum of their RSS, sampled every 0.1 s) and checks that the outputs are identical,
byte for byte. Results go to stdout and ``benchmarks/results/spark-latest.json``.

To compare another runner, add an
entry to :data:`RUNNERS`: a name and a function giving the command line. ``run.py`` (``make
bench``) uses these runners and :func:`measure` for its figures 6 and 8 (``--jobs 2`` vs 1 and
Spark local[2] vs ``--jobs 2`` on one caseload file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AS_OF = dt.date(2026, 11, 20)
SEED = 2026
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# -- measuring a process tree ----------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    tree = _children()
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(tree.get(p, []))
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_measured(cmd: list[str], stdout: Any, ok: Collection[int] = (0,)) -> tuple[float, int, str]:
    """Run ``cmd``; return its wall seconds, the peak RSS of its process tree and its stderr.
    Stop unless it exits with one of the ``ok`` codes."""
    peak = 0
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=err, env={**os.environ, "COLUMNS": "200"})
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(proc.pid))
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
        seconds = time.perf_counter() - started
        err.seek(0)
        text = err.read()
    if code not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{text[-3000:]}")
    return seconds, peak, text


def sha256_of(paths: Sequence[Path]) -> str:
    """The SHA-256 of the files concatenated in the given order."""
    h = hashlib.sha256()
    for p in paths:
        with p.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


# -- the runners -----------------------------------------------------------------------------------


def one_process(caseload: Path, out: Path, cores: int) -> list[str]:
    """The CLI in one process, JSON Lines to ``out`` (the benchmark redirects stdout)."""
    return [sys.executable, "-m", "cocm_rules", "evaluate", str(caseload), "--as-of", AS_OF.isoformat(), "--jobs", "1"]


def jobs_n(caseload: Path, out: Path, cores: int) -> list[str]:
    """The CLI on ``cores`` worker processes (``--jobs``), JSON Lines to ``out`` (stdout)."""
    return [*one_process(caseload, out, cores)[:-1], str(cores)]


def spark_local(caseload: Path, out: Path, cores: int) -> list[str]:
    """cocm_rules.spark on local[cores], JSON Lines part files under ``out``."""
    return [sys.executable, __file__, "--spark-child", str(caseload), str(out), "--cores", str(cores)]


#: name -> (command line for (caseload, output path, cores), whether the output is its stdout);
#: otherwise the command writes the output path itself (a file, or a folder of part files).
RUNNERS: dict[str, tuple[Callable[[Path, Path, int], list[str]], bool]] = {
    "one process": (one_process, True),
    "--jobs N": (jobs_n, True),
    "spark local[N]": (spark_local, False),
}


def spark_child(caseload: str, out: str, cores: int) -> None:
    """Run in a subprocess: evaluate with Spark and write the part files; print timings."""
    from cocm_rules import spark as cs  # the library logs nothing unless a host configures logging

    started = time.perf_counter()
    session = cs.local_session(cores, config={"spark.driver.memory": "2g"})
    session.sparkContext.setLogLevel("ERROR")
    ready = time.perf_counter()
    cs.evaluate(cs.read_jsonl(session, caseload), AS_OF).write_text(out)
    finished = time.perf_counter()
    session.stop()
    print(json.dumps({"session_s": ready - started, "evaluate_s": finished - ready}), file=sys.stderr)


# -- the benchmark ---------------------------------------------------------------------------------


def caseload_file(directory: Path, patients: int) -> Path:
    """The synthetic caseload of this size, generated once."""
    from cocm_rules.synth import write_caseload

    path = directory / f"synthetic-{patients}-seed{SEED}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        write_caseload(path.with_suffix(".tmp.jsonl"), patients, seed=SEED, as_of=AS_OF)
        path.with_suffix(".tmp.jsonl").rename(path)
        print(f"  generated {patients:,} patients in {time.perf_counter() - started:.0f} s ({path})", flush=True)
    return path


def measure(
    cmd: list[str], out: Path, patients: int, *, to_stdout: bool, ok: Collection[int] = (0,)
) -> tuple[dict[str, Any], str]:
    """Run ``cmd`` once on a caseload of ``patients``, its output going to ``out`` (its stdout
    redirected there, or the file or folder of part files the command writes itself); return
    its figures (wall seconds, patients/s, the peak RSS of its process tree; for Spark also its
    session's start-up and the rate after it) and the SHA-256 of the output, then removed."""
    subprocess.run(["rm", "-rf", str(out)], check=True)
    if to_stdout:
        with out.open("wb") as stdout:
            seconds, peak, err = run_measured(cmd, stdout, ok)
    else:
        seconds, peak, err = run_measured(cmd, subprocess.DEVNULL, ok)
    parts = sorted(out.glob("part-*")) if out.is_dir() else [out]
    digest = sha256_of(parts)
    result: dict[str, Any] = {
        "seconds": round(seconds, 2),
        "patients_per_s": round(patients / seconds),
        "peak_rss_mb": round(peak / 2**20),
    }
    timings = [json.loads(line) for line in err.splitlines() if line.startswith('{"session_s"')]
    if timings:
        result["session_s"] = round(timings[-1]["session_s"], 1)
        result["patients_per_s_after_start"] = round(patients / timings[-1]["evaluate_s"])
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return result, digest


def unavailable() -> str | None:
    """Why Spark cannot run on this machine (PySpark, pyarrow or pandas not installed, or no
    Java), or None when it can."""
    import importlib.util
    import shutil

    missing = [name for name in ("pyspark", "pyarrow", "pandas") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (pip install 'cocm-rules[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return "no Java on this machine (PySpark needs Java 17 or newer: java on the PATH or JAVA_HOME)"
    return None


def bench(patients: int, work: Path, cores: int) -> dict[str, Any]:
    caseload = caseload_file(work, patients)
    row: dict[str, Any] = {"patients": patients, "caseload_mb": round(caseload.stat().st_size / 1e6, 1)}
    digests = {}
    for name, (command, to_stdout) in RUNNERS.items():
        out = work / f"out-{patients}-{name.replace(' ', '_').replace('[', '').replace(']', '')}"
        row[name], digests[name] = measure(command(caseload, out, cores), out, patients, to_stdout=to_stdout)
        print(f"  {patients:,} patients, {name}: {row[name]}", flush=True)
    row["identical_output"] = len(set(digests.values())) == 1
    row["sha256"] = next(iter(digests.values())) if row["identical_output"] else digests
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="caseload sizes")
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N]")
    parser.add_argument("--work", type=Path, help="where the caseloads are kept (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="2,000 patients: checks the script runs")
    parser.add_argument("--spark-child", nargs=2, metavar=("CASELOAD", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.spark_child:
        spark_child(*args.spark_child, args.cores)
        return 0
    reason = unavailable()
    if reason:
        raise SystemExit(f"Spark cannot run here: {reason}")
    sizes = [2000] if args.quick else args.sizes
    with tempfile.TemporaryDirectory(prefix="cocm-spark-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = [bench(n, work, args.cores) for n in sizes]
    report = {
        "date": dt.date.today().isoformat(),  # the benchmark's own date, not used by the engine
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cores": args.cores,
        "sizes": rows,
    }
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "spark-latest.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0 if all(r["identical_output"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
