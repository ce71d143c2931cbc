"""Benchmarks of the rule engine, one command: ``python benchmarks/run.py`` (or ``make bench``).

Measures, in ONE run, on ONE core (the process pins itself to CPU 0 where it can):

1. rules only, on prebuilt facts: the compiled backend vs a hand-written Python function of
   the same 50 default rules (``benchmarks/handwritten.py``; target: compiled >= 0.5x);
2. end to end, episode JSON text -> alerts, compiled backend: patients/s (target >= 10,000),
   with the share of time spent parsing JSON + validating the episode; and (2b) what reading
   the JSON strictly costs (duplicate keys, numbers beyond float range), parse + validate with
   and without the checks, as ratios to ``json.loads``;
3. the durable backend: end-to-end patients/s, and its wrapper vs raw durable-rules
   ``assert_fact`` + ``retract_fact`` of the same rules and facts (target: overhead <= 1.5x);
4. memory: RSS growth while streaming 200,000 patients through ``evaluate_many``, per backend,
   each in a fresh subprocess (target: < 20 MB);
5. caseload memory: peak RSS of ``caseload_metrics`` streaming 20,000 patients in a fresh
   subprocess, sampled along the way (it must stay flat). ``--rss-million`` runs only this
   figure, on 1,000,000 patients (about 20 minutes on one core).
6. ``--jobs 2`` vs ``--jobs 1``: ``cocm-rules evaluate`` and ``caseload --json`` on one synthetic
   caseload file (``--parallel-patients``, default 1,000,000, written once to a temporary
   folder; or ``--jobs-caseload FILE``), in subprocesses allowed on every core (not pinned):
   wall time and the peak RSS of each process tree; one run each from 200,000 patients on,
   interleaved repeats below; the outputs are checked equal byte for byte (target: >= 1.8x on
   2 cores);
7. the CDS Hooks service under load (``benchmarks/service_load.py``): the real service in a
   subprocess on loopback with a real JWT configuration, driven at concurrency 1, 8, 32 and 64
   for a fixed number of calls each; requests/s, p50 and p99 per level, with 1 worker and with
   one worker per core (target: p99 < 100 ms at 32 concurrent), and where one call's time goes;
8. Spark ``local[2]`` (``cocm_rules.spark``, run as ``benchmarks/spark.py`` runs it) vs the
   ``--jobs 2`` evaluate run of figure 6, interleaved with it on the same file: patients/s, the
   ratio, the peak RSS of each process tree, and Spark's output checked equal byte for byte to
   ``--jobs 1``'s. Skipped, with the reason printed, where PySpark or Java is missing.

``--only jobs,service,spark`` (any of them) runs only those of figures 6, 7 and 8.

``--speed`` runs only 1, 1b, 2 and 2b (the compiled backend's speed; results in
``benchmarks/results/speed-latest.json``).

Ratios compare interleaved repeats of both sides (the median of each), so machine noise hits
both alike. The prepared inputs are moved out of the garbage collector's reach (``gc.freeze``)
so a full collection does not rescan them. Results go to stdout and
``benchmarks/results/latest.json``. The caseload is the deterministic synthetic one
(``cocm_rules.synth``), so runs are comparable.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import itertools
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import structlog

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

AS_OF = dt.date(2026, 11, 20)
SEED = 2026


def _quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


_AFFINITY: set[int] | None = None  # the CPUs this process could use before _pin()


def _pin() -> str:
    global _AFFINITY
    try:
        _AFFINITY = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        _AFFINITY = None
    try:
        os.sched_setaffinity(0, {0})
        return "pinned to CPU 0"
    except (AttributeError, OSError):
        return "not pinned"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _interleaved(*fns: Callable[[], Any], repeats: int) -> list[float]:
    """Median seconds of each of ``fns``, timed in turn in every repeat."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            gc.collect()
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def _caseload(n: int) -> list[dict[str, Any]]:
    from cocm_rules.synth import generate

    return list(generate(n, seed=SEED, as_of=AS_OF))


def bench_rules(engine: Any, facts: Sequence[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Compiled backend vs the hand-written function, on the same prebuilt facts."""
    import handwritten

    matches = engine.backend.matches
    mismatch = [i for i, f in enumerate(facts) if sorted(handwritten.rules(f)) != sorted(r.rule_id for r in matches(f))]
    if mismatch:
        f = facts[mismatch[0]]
        raise SystemExit(
            f"hand-written rules disagree with the engine on {len(mismatch)} patients, e.g. "
            f"{sorted(handwritten.rules(f))} vs {sorted(r.rule_id for r in matches(f))}"
        )

    def compiled() -> None:
        for f in facts:
            matches(f)

    def hand() -> None:
        for f in facts:
            handwritten.rules(f)

    t_compiled, t_hand = _interleaved(compiled, hand, repeats=repeats)
    n = len(facts)
    return {
        "patients": n,
        "rules": len(engine.program.rules),
        "compiled_per_s": round(n / t_compiled),
        "handwritten_per_s": round(n / t_hand),
        "compiled_vs_handwritten": round(t_hand / t_compiled, 3),
        "target": ">= 0.5",
    }


def handwritten_uncovered(engine: Any) -> dict[str, list[str]]:
    """The bundled rules that read a fact the hand-written pipeline does not compute yet
    (``handwritten.NOT_COMPUTED``), each with those facts. Stops on a bundled rule the
    yardstick lacks altogether, or a fact it neither computes nor lists as not computed."""
    import handwritten

    rule_ids = {r.rule_id for r in engine.program.rules}
    unknown_rules = sorted(rule_ids - handwritten.RULE_IDS)
    known = set(handwritten.FACT_NAMES) | set(handwritten.NOT_COMPUTED)
    unknown_facts = sorted(set(engine.needed) - known)
    if unknown_rules or unknown_facts:
        raise SystemExit(
            "the hand-written pipeline (benchmarks/handwritten.py) lacks bundled rules "
            f"{unknown_rules or 'none'} and facts {unknown_facts or 'none'}: add them to it before timing"
        )
    missing = set(handwritten.NOT_COMPUTED)
    return {r.rule_id: sorted(set(r.facts) & missing) for r in engine.program.rules if set(r.facts) & missing}


def check_handwritten_end_to_end(engine: Any, texts: Sequence[str]) -> int:
    """Stop unless the hand-written pipeline gives, on every patient, the alerts the engine
    gives (rule ids, categories, severities, priorities, messages and evidence, in review
    order) of every rule whose facts it computes; the rules it does not cover yet
    (:func:`handwritten_uncovered`) are left out on both sides. The number of alerts compared."""
    import handwritten

    uncovered = handwritten_uncovered(engine)
    keys = ("rule_id", "category", "severity", "priority", "message", "evidence", "alert_id")
    compared = 0
    for i, (text, result) in enumerate(zip(texts, engine.evaluate_many(texts, AS_OF), strict=True)):
        expected = [
            {k: getattr(a, k) for k in keys} for a in getattr(result, "alerts", ()) if a.rule_id not in uncovered
        ]
        actual = [a for a in handwritten.pipeline(text, AS_OF) if a["rule_id"] not in uncovered]
        if expected != actual:
            raise SystemExit(
                f"the hand-written pipeline disagrees with the engine on patient {i}: rule ids "
                f"{[a['rule_id'] for a in actual]} vs {[a['rule_id'] for a in expected]}"
                + ("" if [a["rule_id"] for a in actual] != [a["rule_id"] for a in expected] else " (same rules)")
            )
        compared += len(expected)
    return compared


def bench_handwritten_end_to_end(engine: Any, texts: Sequence[str], repeats: int) -> dict[str, Any]:
    """End to end, JSON text -> alerts: the engine (compiled backend, ``evaluate_many``) against
    the hand-written pipeline of all bundled rules (``handwritten.pipeline``: ``json.loads``,
    the answers it relies on checked and scored, the facts, the rules, the alerts as dicts),
    after checking that both give the same alerts on every patient; interleaved repeats."""
    import handwritten

    alerts = check_handwritten_end_to_end(engine, texts)
    uncovered = handwritten_uncovered(engine)
    pipeline = handwritten.pipeline
    as_of = AS_OF

    def full() -> None:
        for _ in engine.evaluate_many(texts, as_of):
            pass

    def hand() -> None:
        for t in texts:
            pipeline(t, as_of)

    t_full, t_hand = _interleaved(full, hand, repeats=repeats)
    n = len(texts)
    return {
        "patients": n,
        "alerts_compared": alerts,
        "engine_per_s": round(n / t_full),
        "handwritten_per_s": round(n / t_hand),
        "engine_us_per_patient": round(t_full * 1e6 / n, 1),
        "handwritten_us_per_patient": round(t_hand * 1e6 / n, 1),
        "engine_vs_handwritten": round(t_hand / t_full, 3),
        "target": ">= 0.5",
        "rules_compared": len(engine.program.rules) - len(uncovered),
        "rules_not_compared": uncovered,
    }


def bench_end_to_end(
    engine: Any, texts: Sequence[str], facts: Sequence[dict[str, Any]], repeats: int
) -> dict[str, Any]:
    """Episode JSON text -> alerts through evaluate_many, and where the time goes: parsing and
    validating the episodes alone (and the standard library's ``json.loads`` alone, for scale),
    and the rules plus the alerts on the prebuilt ``facts`` of the same patients. What is left
    is building the facts (scoring included); without it, the ceiling would be
    1 / (parse + rules + alerts)."""
    from cocm_rules.records import iter_light_episodes

    as_of = AS_OF
    library = engine.library

    def full() -> None:
        for _ in engine.evaluate_many(texts, as_of):
            pass

    def parse_only() -> None:  # the engine's own reader, as evaluate_many reads the texts
        for _ in iter_light_episodes(texts, library):
            pass

    def json_only() -> None:
        for t in texts:
            json.loads(t)

    alerts_for = engine._alerts  # rules + alert building, as evaluate runs them after the facts

    def rules_and_alerts() -> None:
        for f in facts:
            alerts_for(f, as_of, "p")

    t_full, t_parse, t_json, t_rest = _interleaved(full, parse_only, json_only, rules_and_alerts, repeats=repeats)
    n = len(texts)
    us = 1e6 / n
    return {
        "patients": n,
        "patients_per_s": round(n / t_full),
        "us_per_patient": round(t_full * us, 1),
        "parse_us_per_patient": round(t_parse * us, 1),
        "json_loads_us_per_patient": round(t_json * us, 1),
        "rules_and_alerts_us_per_patient": round(t_rest * us, 1),
        "facts_us_per_patient": round((t_full - t_parse - t_rest) * us, 1),
        "ceiling_without_facts_per_s": round(n / (t_parse + t_rest)),
        "parse_share": round(t_parse / t_full, 3),
        "target": ">= 10,000 patients/s",
    }


def bench_strict_json(texts: Sequence[str], repeats: int) -> dict[str, Any]:
    """What reading the episode JSON strictly costs, each as a ratio to the standard library's
    ``json.loads`` of the same texts, in the same run: the engine's batch reader
    (``read_light``: jiter's duplicate-key pass, then one msgspec pass that validates the
    episode and refuses NaN, lone surrogates and numbers beyond float range); the same msgspec
    pass without the duplicate-key pass (what that check costs); and the full path
    (``parse_episode``: the strict reader, then pydantic), which records that are not plainly
    valid take."""
    from cocm_rules.episode import parse_episode
    from cocm_rules.light_episode import LightEpisode, read_light

    light = sum(read_light(t) is not None for t in texts)
    decode = __import__("msgspec").json.Decoder(LightEpisode).decode

    def strict() -> None:
        for t in texts:
            read_light(t)

    def unchecked() -> None:
        for t in texts:
            decode(t)

    def full_path() -> None:
        for t in texts:
            parse_episode(t)

    def json_only() -> None:
        for t in texts:
            json.loads(t)

    t_strict, t_unchecked, t_full, t_json = _interleaved(strict, unchecked, full_path, json_only, repeats=repeats)
    n = len(texts)
    us = 1e6 / n
    return {
        "patients": n,
        "light_path_patients": light,
        "strict_us_per_patient": round(t_strict * us, 1),
        "unchecked_us_per_patient": round(t_unchecked * us, 1),
        "full_path_us_per_patient": round(t_full * us, 1),
        "json_loads_us_per_patient": round(t_json * us, 1),
        "strict_vs_json_loads": round(t_strict / t_json, 2),
        "unchecked_vs_json_loads": round(t_unchecked / t_json, 2),
        "full_path_vs_json_loads": round(t_full / t_json, 2),
        "check_cost_vs_json_loads": round((t_strict - t_unchecked) / t_json, 2),
        "target": "strict <= 1.5x json.loads",
    }


def bench_durable(engine_d: Any, facts: Sequence[dict[str, Any]], texts: Sequence[str], repeats: int) -> dict[str, Any]:
    """The durable wrapper vs raw durable-rules assert + retract of the same rules and facts."""
    from durable import engine as durable_engine

    from cocm_rules.rules._durable import _encode, _on_rule
    from cocm_rules.rules.ir import nnf

    backend = engine_d.backend
    raw_name = f"raw_{backend.ruleset}"
    hits: list[int] = []

    def make(i: int) -> Any:
        def run(c: Any) -> None:
            hits.append(i)

        return run

    definition = {
        f"r{i}": {"all": [{"m": {"$and": [{"kind": "cocm_patient"}, backend._cond(nnf(r.condition))]}}], "run": make(i)}
        for i, r in enumerate(backend.rules)
    }
    assert _on_rule  # the wrapper's own action shim is the same one-argument closure
    host = durable_engine.Host()
    host.set_rulesets({raw_name: definition})
    encoded = []
    for f in facts:
        fact = {"kind": "cocm_patient", "token": 0}
        for name, key in backend.keys.items():
            if f[name] is not None:
                fact[key] = _encode(f[name])
        encoded.append(fact)
    tokens = itertools.count(10**9)

    def raw() -> None:
        for fact in encoded:
            hits.clear()
            fact["token"] = next(tokens)
            try:
                host.assert_fact(raw_name, fact)
            except durable_engine.MessageNotHandledException:
                continue
            host.retract_fact(raw_name, fact)

    matches = backend.matches

    def wrapper() -> None:
        for f in facts:
            matches(f)

    t_raw, t_wrapper = _interleaved(raw, wrapper, repeats=repeats)

    def full() -> None:
        for _ in engine_d.evaluate_many(texts, AS_OF):
            pass

    (t_full,) = _interleaved(full, repeats=max(1, repeats // 2))
    n = len(facts)
    return {
        "patients": n,
        "raw_durable_per_s": round(n / t_raw),
        "wrapper_per_s": round(n / t_wrapper),
        "wrapper_overhead": round(t_wrapper / t_raw, 3),
        "end_to_end_per_s": round(len(texts) / t_full),
        "target": "overhead <= 1.5x",
    }


def memory_child(backend: str, patients: int) -> dict[str, Any]:
    """Stream ``patients`` through evaluate_many in this (fresh) process and watch RSS."""
    from cocm_rules import Engine
    from cocm_rules.synth import generate

    engine = Engine.load(backend=backend)
    texts = (json.dumps(r) for r in generate(patients, seed=SEED, as_of=AS_OF))
    warmup = min(5000, patients // 10)
    base = peak = 0.0
    count = alerts = 0
    for i, result in enumerate(engine.evaluate_many(texts, AS_OF)):
        count += 1
        alerts += len(getattr(result, "alerts", ()))
        if i == warmup:
            gc.collect()
            base = _rss_mb()
        if i > warmup and i % 10000 == 0:
            peak = max(peak, _rss_mb())
    gc.collect()
    end = _rss_mb()
    peak = max(peak, end)
    return {
        "backend": backend,
        "patients": count,
        "alerts": alerts,
        "rss_after_warmup_mb": round(base, 1),
        "rss_end_mb": round(end, 1),
        "growth_mb": round(peak - base, 1),
        "target": "< 20 MB",
    }


def caseload_memory_child(patients: int, pool_size: int = 10_000) -> dict[str, Any]:
    """Stream ``patients`` synthetic JSON lines through ``caseload_metrics`` in this (fresh)
    process and sample RSS every 10% of the way; report the peak (``ru_maxrss``).

    The lines are not written to disk: a pool of up to ``pool_size`` generated patients is cycled,
    each round under new patient ids (a patient repeated would be an error record, not a
    patient counted), so the stream is as long as asked while the pool stays fixed.
    """
    import resource

    from cocm_rules.batch import JsonLine
    from cocm_rules.caseload import caseload_metrics
    from cocm_rules.synth import generate

    records = list(generate(min(patients, pool_size), seed=SEED, as_of=AS_OF))
    pool = [(json.dumps(r), f'"patient_id": "{r["patient_id"]}"', r["patient_id"]) for r in records]
    del records
    caseload_metrics([JsonLine(text, 1) for text, _key, _pid in pool[:50]], AS_OF)  # warm-up: load definitions
    gc.collect()
    base = _rss_mb()
    samples: list[tuple[int, float]] = []
    step = max(1, patients // 10)

    def stream() -> Any:
        for i in range(patients):
            text, key, pid = pool[i % len(pool)]
            cycle = i // len(pool)
            if cycle:
                text = text.replace(key, f'"patient_id": "{pid}-{cycle}"', 1)
            yield JsonLine(text, i + 1)
            if (i + 1) % step == 0:
                samples.append((i + 1, round(_rss_mb(), 1)))

    started = time.perf_counter()
    metrics = caseload_metrics(stream(), AS_OF)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {
        "patients": patients,
        "records": metrics.records,
        "errors": len(metrics.errors),
        "care_managers": len(metrics.per_care_manager),
        "rss_before_mb": round(base, 1),
        "rss_samples_mb": samples,
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(max(0.0, max(rss for _n, rss in samples) - base), 1) if samples else 0.0,
        "us_per_patient": round(seconds / patients * 1e6, 1),
        "note": "growth includes the patient ids seen (duplicate check), about 120 bytes per patient",
    }


def bench_caseload_memory(patients: int) -> dict[str, Any]:
    """:func:`caseload_memory_child` in a fresh subprocess."""
    proc = subprocess.run(
        [sys.executable, __file__, "--caseload-child", str(patients)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _print_caseload_memory(m: dict[str, Any]) -> None:
    samples = ", ".join(f"{n:,}: {rss}" for n, rss in m["rss_samples_mb"])
    print(
        f"5. caseload metrics, {m['patients']:,} patients streamed ({m['records']:,} counted, {m['errors']} errors): "
        f"RSS {m['rss_before_mb']} MB before, growth {m['growth_mb']} MB; the process's peak {m['peak_rss_mb']} MB "
        f"({m['us_per_patient']} us/patient)\n   RSS (MB) after N patients: {samples}",
        flush=True,
    )


@contextlib.contextmanager
def _every_core() -> Iterator[None]:
    """This process, and what it starts, allowed on every CPU it could use before pinning
    itself (the figures that use every core; a shared machine's client shares it too); pinned
    as before afterwards."""
    mine = os.sched_getaffinity(0) if _AFFINITY is not None else None
    try:
        if _AFFINITY is not None:
            os.sched_setaffinity(0, _AFFINITY)
        yield
    finally:
        if mine is not None:
            os.sched_setaffinity(0, mine)


#: From this many patients on, figures 6 and 8 time one run of each side (at 1,000,000 one run
#: takes minutes and the start-up is noise); below it, interleaved repeats (medians).
ONE_RUN_FROM = 200_000


def parallel_caseload(patients: int, work: Path, caseload: Path | None = None) -> tuple[Path, int]:
    """The caseload file of figures 6 and 8 and its number of patients: ``caseload`` (its
    non-blank lines counted), or the synthetic one of ``patients`` written once to ``work``."""
    import spark

    if caseload is None:
        return spark.caseload_file(work, patients), patients
    with open(caseload, "rb") as counted:
        return caseload, sum(1 for line in counted if line.strip())


#: A side of a comparison: its command line, the output it writes (a file or a folder of part
#: files), and whether that output is the command's stdout.
Side = tuple[list[str], Path, bool]


def _timed(command: str, sides: dict[str, Side], patients: int, runs: int) -> dict[str, Any]:
    """Every side run ``runs`` times, interleaved, each run timed by ``spark.measure`` (wall
    time, the peak RSS of its process tree, the SHA-256 of its output): per side the median of
    each timing and the highest peak RSS; the 1-minute load average before and after. Stops
    unless every run of every side wrote the bytes of the first side's first run."""
    import spark

    measured: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    digests: dict[str, set[str]] = {name: set() for name in sides}
    load_before = round(os.getloadavg()[0], 2)
    for _ in range(runs):
        for name, (cmd, out, to_stdout) in sides.items():
            result, digest = spark.measure(cmd, out, patients, to_stdout=to_stdout, ok=(0, 3))
            measured[name].append(result)
            digests[name].add(digest)
    first = next(iter(sides))
    for name, seen in digests.items():
        if len(seen) != 1:
            raise SystemExit(f"cocm-rules {command}: {name} wrote other bytes from one run to the next")
        if seen != digests[first]:
            raise SystemExit(f"cocm-rules {command}: {name} wrote other bytes than {first}")
    summary: dict[str, dict[str, Any]] = {}
    for name, results in measured.items():
        seconds = statistics.median(r["seconds"] for r in results)
        side = summary[name] = {"seconds": round(seconds, 2), "patients_per_s": round(patients / seconds)}
        side["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
        for key in sorted(results[0].keys() - side.keys()):  # Spark's start-up, and its rate after it
            median = statistics.median(r[key] for r in results)
            side[key] = round(median) if isinstance(results[0][key], int) else round(median, 2)
    return {"sides": summary, "same_output": True, "load_average_1min": [load_before, round(os.getloadavg()[0], 2)]}


def bench_parallel(path: Path, patients: int, repeats: int, work: Path, which: set[str]) -> dict[str, Any]:
    """Figures 6 and 8 on one caseload file of ``patients``: ``cocm-rules evaluate`` with
    ``--jobs 1`` and ``--jobs 2`` and, if ``"spark"`` is in ``which``, ``cocm_rules.spark`` on
    ``local[2]`` (``benchmarks/spark.py``'s runners), interleaved; then, if ``"jobs"`` is,
    ``cocm-rules caseload --json`` with ``--jobs 1`` and ``--jobs 2``. Subprocesses of a
    process on every core; one run each from :data:`ONE_RUN_FROM` patients on, else
    ``repeats`` interleaved runs; every output checked equal to ``--jobs 1``'s, byte for byte."""
    import spark

    runs = 1 if patients >= ONE_RUN_FROM else repeats
    evaluate: dict[str, Side] = {
        "--jobs 1": (spark.one_process(path, work / "evaluate-1", 1), work / "evaluate-1", True),
        "--jobs 2": (spark.jobs_n(path, work / "evaluate-2", 2), work / "evaluate-2", True),
    }
    if "spark" in which:
        evaluate["spark local[2]"] = (spark.spark_local(path, work / "spark", 2), work / "spark", False)
    out: dict[str, Any] = {
        "patients": patients,
        "runs_each": runs,
        "evaluate": _timed("evaluate", evaluate, patients, runs),
    }
    if "jobs" in which:
        caseload: dict[str, Side] = {}
        for jobs in (1, 2):
            cmd = [sys.executable, "-m", "cocm_rules", "caseload", "--json", str(path), "--as-of", AS_OF.isoformat()]
            caseload[f"--jobs {jobs}"] = ([*cmd, "--jobs", str(jobs)], work / f"caseload-{jobs}", True)
        out["caseload"] = _timed("caseload --json", caseload, patients, runs)
    return out


def jobs_figure(measured: dict[str, Any], caseload: Path | None) -> dict[str, Any]:
    """Figure 6 from :func:`bench_parallel`'s runs: ``--jobs 2`` vs ``--jobs 1``, per command."""
    out: dict[str, Any] = {"patients": measured["patients"], "file": None if caseload is None else str(caseload)}
    out |= {"cpus_allowed": len(_AFFINITY) if _AFFINITY else os.cpu_count(), "runs_each": measured["runs_each"]}
    for command in ("evaluate", "caseload"):
        timed = measured[command]
        one, two = timed["sides"]["--jobs 1"], timed["sides"]["--jobs 2"]
        out[command] = {
            "jobs_1_s": one["seconds"],
            "jobs_2_s": two["seconds"],
            "speedup": round(one["seconds"] / two["seconds"], 2),
            "target": ">= 1.8 on 2 cores",
            "jobs_1_patients_per_s": one["patients_per_s"],
            "jobs_2_patients_per_s": two["patients_per_s"],
            "jobs_1_peak_rss_mb": one["peak_rss_mb"],
            "jobs_2_peak_rss_mb": two["peak_rss_mb"],
            "same_output": timed["same_output"],
            "load_average_1min": timed["load_average_1min"],  # before, after: a shared machine
        }
    return out


def spark_figure(measured: dict[str, Any]) -> dict[str, Any]:
    """Figure 8 from :func:`bench_parallel`'s runs: Spark local[2] vs ``--jobs 2``, evaluate."""
    timed = measured["evaluate"]
    spark_, two = timed["sides"]["spark local[2]"], timed["sides"]["--jobs 2"]
    return {
        "patients": measured["patients"],
        "runs_each": measured["runs_each"],
        "spark_s": spark_["seconds"],
        "jobs_2_s": two["seconds"],
        "spark_vs_jobs_2": round(two["seconds"] / spark_["seconds"], 2),
        "target": None,  # issue 14 asks for the figure, not a bound
        "spark_patients_per_s": spark_["patients_per_s"],
        "jobs_2_patients_per_s": two["patients_per_s"],
        "spark_session_s": spark_.get("session_s"),
        "spark_patients_per_s_after_start": spark_.get("patients_per_s_after_start"),
        "spark_peak_rss_mb": spark_["peak_rss_mb"],
        "jobs_2_peak_rss_mb": two["peak_rss_mb"],
        "same_output_as_jobs_1": timed["same_output"],
        "load_average_1min": timed["load_average_1min"],
    }


def bench_service(requests: int, levels: Sequence[int]) -> dict[str, Any]:
    """The service under load (service_load.load), with 1 worker and one per core, in
    subprocesses on every core; and the stages of one call, in this process (one core)."""
    import service_load

    cores = len(_AFFINITY) if _AFFINITY else (os.cpu_count() or 1)
    out: dict[str, Any] = {"stages_median_us": service_load.stages()}
    with _every_core():  # the client too: it shares the machine as a real one would not
        out["runs"] = [
            service_load.load(requests=requests, levels=levels, workers=workers) for workers in sorted({1, cores})
        ]
    return out


def _runs(n: int) -> str:
    return "1 run each" if n == 1 else f"median of {n} interleaved runs each"


def _print_jobs(r: dict[str, Any]) -> None:
    for command, label in (("evaluate", "evaluate"), ("caseload", "caseload --json")):
        c = r[command]
        print(
            f"6. {label}, {r['patients']:,} patients ({_runs(r['runs_each'])}): --jobs 2 {c['jobs_2_s']} s vs "
            f"--jobs 1 {c['jobs_1_s']} s -> --jobs 2 vs 1: {c['speedup']}x (target >= 1.8 on 2 cores; "
            f"{c['jobs_2_patients_per_s']:,} vs {c['jobs_1_patients_per_s']:,} patients/s; peak RSS of the "
            f"process tree {c['jobs_2_peak_rss_mb']:,} vs {c['jobs_1_peak_rss_mb']:,} MB); the same bytes: "
            f"{c['same_output']}; load average {c['load_average_1min'][0]} -> {c['load_average_1min'][1]}",
            flush=True,
        )


def _print_spark(r: dict[str, Any]) -> None:
    if "skipped" in r:
        print(f"8. spark local[2] vs --jobs 2: skipped, {r['skipped']}", flush=True)
        return
    start = (
        f"; Spark {r['spark_patients_per_s_after_start']:,}/s after its {r['spark_session_s']} s start-up"
        if r["spark_session_s"] is not None
        else ""
    )
    print(
        f"8. evaluate, {r['patients']:,} patients ({_runs(r['runs_each'])}): spark local[2] {r['spark_s']} s vs "
        f"--jobs 2 {r['jobs_2_s']} s -> spark local[2] vs --jobs 2: {r['spark_vs_jobs_2']}x (no target; "
        f"{r['spark_patients_per_s']:,} vs {r['jobs_2_patients_per_s']:,} patients/s{start}; peak RSS of the "
        f"process tree {r['spark_peak_rss_mb']:,} vs {r['jobs_2_peak_rss_mb']:,} MB); the same bytes as "
        f"--jobs 1: {r['same_output_as_jobs_1']}; load average {r['load_average_1min'][0]} -> "
        f"{r['load_average_1min'][1]}",
        flush=True,
    )


def _print_service(r: dict[str, Any]) -> None:
    import service_load

    stages = ", ".join(f"{k} {v}" for k, v in r["stages_median_us"].items())
    print(f"7. CDS Hooks service: one call's stages (median us, one process): {stages}", flush=True)
    for run in r["runs"]:
        print(
            f"   --workers {run['workers']} ({run['requests_per_level']} calls per level; target p99 < 100 ms at 32):"
        )
        service_load.print_load(run)


def bench_memory(patients: int) -> list[dict[str, Any]]:
    out = []
    for backend in ("compiled", "durable"):
        proc = subprocess.run(
            [sys.executable, __file__, "--memory-child", backend, "--memory-patients", str(patients)],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000, help="caseload size for the speed benchmarks")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per comparison")
    parser.add_argument("--memory-patients", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    parser.add_argument("--caseload-patients", type=int, default=20_000, help="patients for the caseload RSS figure")
    parser.add_argument(
        "--speed", action="store_true", help="only the compiled backend's speed figures (1, 1b, 2, 2b; ~3 min)"
    )
    parser.add_argument(
        "--rss-million", action="store_true", help="only the caseload RSS figure, on 1,000,000 patients (~20 min)"
    )
    parser.add_argument(
        "--parallel-patients",
        type=int,
        default=1_000_000,
        help="patients in the synthetic caseload file of the --jobs and Spark figures (6 and 8)",
    )
    parser.add_argument(
        "--jobs-caseload", type=Path, help="a JSON Lines caseload for figures 6 and 8 (default: the synthetic one)"
    )
    parser.add_argument("--service-requests", type=int, default=1000, help="calls per concurrency level")
    parser.add_argument(
        "--only", help="comma-separated figures to run: jobs (6), service (7), spark (8) (default: every figure)"
    )
    parser.add_argument("--memory-child", choices=("compiled", "durable"), help=argparse.SUPPRESS)
    parser.add_argument("--caseload-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _quiet()
    pinned = _pin()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.memory_patients)))
        return 0
    if args.caseload_child:
        print(json.dumps(caseload_memory_child(args.caseload_child)))
        return 0
    if args.rss_million:
        result = bench_caseload_memory(1_000_000)
        _print_caseload_memory(result)
        out = HERE / "results"
        out.mkdir(exist_ok=True)
        (out / "caseload_rss_million.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0
    if args.quick:
        args.patients, args.repeats, args.memory_patients, args.caseload_patients = 500, 2, 5000, 1000
        args.parallel_patients, args.service_requests = 2000, 100
    only = set(args.only.split(",")) if args.only else None
    if only is not None:
        return _only(only, args)

    from cocm_rules import Engine

    records = _caseload(args.patients)
    texts = [json.dumps(r) for r in records]
    engine = Engine.load()
    facts = [engine.facts(r, AS_OF) for r in records]
    # The fixtures above stay alive for the whole run; a real stream holds one patient at a
    # time. Freeze them so the cyclic GC does not rescan thousands of live objects on every
    # collection (that cost belongs to the benchmark, not to the engine).
    gc.collect()
    gc.freeze()
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "affinity": pinned},
        "as_of": AS_OF.isoformat(),
        "seed": SEED,
    }
    print(f"caseload: {len(records)} synthetic patients (seed {SEED}); {pinned}", flush=True)
    results["rules_only"] = r = bench_rules(engine, facts, args.repeats)
    print(
        f"1. rules on prebuilt facts: compiled {r['compiled_per_s']:,}/s, hand-written {r['handwritten_per_s']:,}/s"
        f" -> compiled is {r['compiled_vs_handwritten']}x the hand-written speed (target >= 0.5)",
        flush=True,
    )
    results["end_to_end_vs_handwritten"] = r = bench_handwritten_end_to_end(engine, texts, args.repeats)
    print(
        f"1b. end to end (JSON -> alerts), all {len(engine.program.rules)} rules ({r['rules_compared']} of them "
        "compared with the hand-written pipeline): engine (compiled) "
        f"{r['engine_per_s']:,}/s ({r['engine_us_per_patient']} us), hand-written pipeline "
        f"{r['handwritten_per_s']:,}/s ({r['handwritten_us_per_patient']} us), the same {r['alerts_compared']:,} "
        f"alerts -> the engine is {r['engine_vs_handwritten']}x the hand-written speed (target >= 0.5)"
        + (
            f"\n    not compared (facts the hand-written pipeline does not compute yet): "
            f"{', '.join(r['rules_not_compared'])}"
            if r["rules_not_compared"]
            else ""
        ),
        flush=True,
    )
    results["end_to_end_compiled"] = r = bench_end_to_end(engine, texts, facts, args.repeats)
    print(
        f"2. end to end (JSON -> alerts), compiled: {r['patients_per_s']:,} patients/s "
        f"({r['us_per_patient']} us/patient; parsing+validation {r['parse_us_per_patient']} us of it; "
        f"json.loads alone {r['json_loads_us_per_patient']} us; "
        f"rules and alerts {r['rules_and_alerts_us_per_patient']} us; "
        f"building the facts, scoring included, the remaining {r['facts_us_per_patient']} us)\n"
        f"   with no time at all for the facts: {r['ceiling_without_facts_per_s']:,} patients/s",
        flush=True,
    )
    results["strict_json"] = r = bench_strict_json(texts, args.repeats)
    print(
        f"2b. reading the episode JSON strictly (the engine's reader, {r['light_path_patients']:,} of "
        f"{r['patients']:,} on its light path): parse+validate {r['strict_us_per_patient']} us/patient "
        f"({r['strict_vs_json_loads']}x json.loads, target <= 1.5) vs {r['unchecked_us_per_patient']} us without the "
        f"duplicate-key pass ({r['unchecked_vs_json_loads']}x): that check costs {r['check_cost_vs_json_loads']}x "
        f"json.loads ({r['json_loads_us_per_patient']} us); the full pydantic path {r['full_path_us_per_patient']} us "
        f"({r['full_path_vs_json_loads']}x)",
        flush=True,
    )
    if args.speed:
        return _write(results, "speed-latest.json")
    try:
        engine_d = Engine.load(backend="durable")
    except Exception as e:
        results["durable"] = {"error": str(e)}
        print(f"3. durable backend unavailable: {e}")
    else:
        results["durable"] = r = bench_durable(engine_d, facts, texts, args.repeats)
        print(
            f"3. durable: raw assert+retract {r['raw_durable_per_s']:,}/s, wrapper {r['wrapper_per_s']:,}/s "
            f"-> overhead {r['wrapper_overhead']}x (target <= 1.5); end to end {r['end_to_end_per_s']:,} "
            "patients/s",
            flush=True,
        )
    results["memory"] = mem = bench_memory(args.memory_patients)
    for m in mem:
        print(
            f"4. memory, {m['backend']}: {m['patients']:,} patients streamed, RSS {m['rss_after_warmup_mb']} -> "
            f"{m['rss_end_mb']} MB, growth {m['growth_mb']} MB (target < 20)",
            flush=True,
        )
    results["caseload_memory"] = cm = bench_caseload_memory(args.caseload_patients)
    _print_caseload_memory(cm)
    _parallel_figures(results, args, set(FIGURES))
    return _write(results, "latest.json")


def _write(results: dict[str, Any], name: str) -> int:
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / name).write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out / name}")
    return 0


#: What ``--only`` accepts: the figures that use every core.
FIGURES = {"jobs": 6, "service": 7, "spark": 8}


def _parallel_figures(results: dict[str, Any], args: argparse.Namespace, which: set[str]) -> None:
    """Figures 6, 7 and 8, those in ``which``; 6 and 8 from the same runs on one caseload file
    (written once to a temporary folder, unless ``--jobs-caseload`` gives one). Figure 8 is
    skipped, with its reason, where Spark cannot run (no PySpark or no Java)."""
    import tempfile

    import spark

    skipped = spark.unavailable() if "spark" in which else None
    runs = which & {"jobs", "spark"} - ({"spark"} if skipped else set())
    measured: dict[str, Any] = {}
    if runs:
        with tempfile.TemporaryDirectory(prefix="cocm-bench-") as tmp, _every_core():
            work = Path(tmp)
            path, patients = parallel_caseload(args.parallel_patients, work, args.jobs_caseload)
            measured = bench_parallel(path, patients, min(args.repeats, 3), work, runs)
    if "jobs" in which:
        results["jobs"] = r = jobs_figure(measured, args.jobs_caseload)
        _print_jobs(r)
    if "service" in which:
        results["service"] = r = bench_service(args.service_requests, (1, 8, 32, 64))
        _print_service(r)
    if "spark" in which:
        results["spark"] = r = {"skipped": skipped} if skipped else spark_figure(measured)
        _print_spark(r)


def _only(which: set[str], args: argparse.Namespace) -> int:
    unknown = which - set(FIGURES)
    if unknown:
        raise SystemExit(f"--only: unknown figures {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    results: dict[str, Any] = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    _parallel_figures(results, args, which)
    return _write(results, "parallel-latest.json")


if __name__ == "__main__":
    raise SystemExit(main())
