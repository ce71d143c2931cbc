"""Instructions per patient, end to end: a steadier figure than seconds on a shared machine.

    python benchmarks/instructions.py [--patients 1000] [--phase full|parse|json|handwritten]

Runs this script twice under ``valgrind --tool=cachegrind`` (no cache simulation): once
only setting up (loading the rulesets, generating and serialising the caseload), once also
doing the phase's work on the caseload twice; the difference divided by the work done is the
instructions per patient. Phases: ``full`` is ``Engine.evaluate_many`` (JSON text to
alerts); ``parse`` the engine's reader alone (``iter_light_episodes``: what ``evaluate_many``
does to read the texts; with code from before it, ``iter_episodes``, which it used then:
run it with that code first on ``PYTHONPATH``); ``json`` the standard library's ``json.loads``, for scale;
``handwritten`` the hand-written pipeline (``handwritten.pipeline``). Hash randomisation is
fixed (``PYTHONHASHSEED=0``) so two runs of the same code agree to within a fraction of a
percent. Needs valgrind (``apt-get install valgrind``); the
timing benchmark (``run.py``) does not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys

AS_OF = dt.date(2026, 11, 20)
ROUNDS = 2


def _child(phase: str, patients: int, rounds: int) -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import handwritten

    from cocm_rules import Engine
    from cocm_rules.synth import generate

    try:
        from cocm_rules.records import iter_light_episodes as read
    except ImportError:  # code from before the light reader (to count "before"): its reader
        from cocm_rules.records import iter_episodes as read

    texts = [json.dumps(r) for r in generate(patients, seed=2026, as_of=AS_OF)]
    engine = Engine.load()
    for _ in range(rounds):
        if phase == "full":
            for _ in engine.evaluate_many(texts, AS_OF):
                pass
        elif phase == "parse":
            for _ in read(texts, engine.library):
                pass
        elif phase == "json":
            for t in texts:
                json.loads(t)
        else:
            for t in texts:
                handwritten.pipeline(t, AS_OF)


def _instructions(phase: str, patients: int, rounds: int) -> int:
    cmd = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        phase,
        str(patients),
        str(rounds),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stderr
    match = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if match is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{out[-2000:]}")
    return int(match.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1], int(argv[2]), int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--phase", choices=("full", "parse", "json", "handwritten"), default="full")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    base = _instructions(args.phase, args.patients, 0)
    work = _instructions(args.phase, args.patients, ROUNDS)
    per = (work - base) / (args.patients * ROUNDS)
    print(f"{args.phase}: {per / 1000:,.1f}k instructions per patient ({args.patients} patients x {ROUNDS})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
