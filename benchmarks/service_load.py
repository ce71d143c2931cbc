"""A bounded load test of the CDS Hooks service on loopback, and where one request's time goes.

``python benchmarks/service_load.py`` (also figure 7 of ``benchmarks/run.py``):

1. **load**: starts the real service (``python -m cocm_rules.cdshooks`` in a subprocess,
   uvicorn on 127.0.0.1, a real JWT configuration: one trusted client with an ES384 key
   generated here, as ``tests/test_cdshooks.py`` does) and drives it with a minimal async
   HTTP/1.1 client (asyncio streams, keep-alive, requests built in advance) at concurrency
   1, 8, 32 and 64: a fixed number of ``patient-view`` calls per level
   (the request of ``tests/fixtures/cdshooks/patient-view-request.json``, with its prefetch:
   no FHIR server is called), each with its own freshly signed JWT (signed before the level
   starts, so the client's signing is not timed). It checks every answer (200, and the
   critical suicide-risk card first), reports requests/s, p50 and p99 per level, and stops
   the service. Nothing runs longer than ``--requests`` calls per level; the service is
   terminated at the end whatever happens.
2. **stages**: the same request's work in this process, timed by stage: JWT verification,
   reading the request (strict JSON + model), gathering the prefetch into one Bundle,
   ``FhirReader.read_patient``, ``Engine.evaluate``, building the cards, and the whole
   ``patient-view`` handler (everything after the JWT).

Target: p99 < 100 ms at 32 concurrent calls on this project's 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUEST = ROOT / "tests" / "fixtures" / "cdshooks" / "patient-view-request.json"
ISS = "https://ehr.example.org"
AS_OF = dt.date(2026, 11, 6)
SERVICE_ID = "cocm-patient-view"
LEVELS = (1, 8, 32, 64)


class Client:
    """The CDS client's ES384 key pair and its JWK Set (public key only)."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        from jwt.algorithms import ECAlgorithm

        self.key = ec.generate_private_key(ec.SECP384R1())
        public = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [public | {"kid": "es-1", "use": "sig", "alg": "ES384"}]}

    def tokens(self, aud: str, n: int) -> list[str]:
        """``n`` tokens for ``aud``, each with its own jti (valid two minutes)."""
        import jwt

        now = int(time.time())
        return [
            jwt.encode(
                {"iss": ISS, "aud": aud, "exp": now + 120, "iat": now, "jti": str(uuid.uuid4())},
                self.key,
                algorithm="ES384",
                headers={"kid": "es-1"},
            )
            for _ in range(n)
        ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(client: Client, base: str, threads: int | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "service_url": base,
        "trusted_clients": {ISS: {"jwks": client.jwks}},
        "as_of": AS_OF.isoformat(),
    }
    if threads is not None:
        config["server"] = {"threads": threads}
    return config


def _percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


class _Connection:
    """One keep-alive HTTP/1.1 connection of the load client: a request is bytes built before
    the level starts; of an answer only the status line and the headers are read, then the
    body by its Content-Length (the service answers with one; a chunked answer is refused)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request``; the answer's status and body. Opens the connection when it is not
        open (first call, or the server closed it after the last answer)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length: int | None = None
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise ValueError("a chunked answer (the load client reads answers by their Content-Length)")
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def _requests(host: str, port: int, tokens: Sequence[str], body: bytes) -> list[bytes]:
    """The bytes of each call (one per token), built before the level starts."""
    head = (
        f"POST /cds-services/{SERVICE_ID} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    ).encode()
    return [head + b"Authorization: Bearer " + tok.encode() + b"\r\n\r\n" + body for tok in tokens]


def _check(status: int, body: bytes) -> str | None:
    """What is wrong with an answer (None: a 200 whose first card is the critical one)."""
    if status != 200:
        return f"HTTP {status}"
    try:
        cards = json.loads(body)["cards"]
    except (ValueError, KeyError, TypeError):
        return "not a CDS Hooks answer"
    if not cards or cards[0].get("indicator") != "critical":
        return "the first card is not the critical suicide-risk card"
    return None


async def _level(base: str, tokens: list[str], body: bytes, concurrency: int) -> dict[str, Any]:
    """``len(tokens)`` calls, ``concurrency`` at a time (closed loop: each of ``concurrency``
    callers, each with its own keep-alive connection, sends its next call when the last one
    is answered). The client is a minimal HTTP/1.1 one over asyncio streams (requests built
    before the level starts, JWTs signed before), so that it takes little of the CPU the
    service runs on; its CPU time per call is reported (``client_cpu_ms_per_call``)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    requests = _requests(host, int(port), tokens, body)
    latencies: list[float] = []
    failures: list[str] = []
    queue = list(reversed(requests))
    connections = [_Connection(host, int(port)) for _ in range(concurrency)]

    async def caller(connection: _Connection) -> None:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            try:
                status, answer = await connection.call(request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
                failures.append(type(e).__name__)  # a failed call, counted; the next one reconnects
                await connection.close()
                continue
            latencies.append(time.perf_counter() - started)
            problem = _check(status, answer)
            if problem is not None:
                failures.append(problem)

    cpu = time.process_time()
    started = time.perf_counter()
    try:
        await asyncio.gather(*(caller(c) for c in connections))
    finally:
        for c in connections:
            await c.close()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "concurrency": concurrency,
        "requests": len(tokens),
        "failures": len(failures),
        "failure_kinds": sorted(set(failures)),
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 1) if latencies else 0.0,
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 1) if latencies else None,
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1) if latencies else None,
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "client_cpu_ms_per_call": round(cpu * 1000 / len(tokens), 3),
    }


def _tree_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid`` and its descendants (Linux
    /proc; None elsewhere). Finished children are not counted: the service's workers live
    as long as it does."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    used: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = int(fields[11]) + int(fields[12])
    tree, grew = {pid}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(used.get(p, 0) for p in tree) / ticks


def _wait_ready(proc: subprocess.Popen[bytes], base: str, deadline_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the service stopped while starting (exit status {proc.returncode})")
        try:
            httpx.get(f"{base}/cds-services", timeout=2)  # 401 without a token: it answers
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("the service did not start within 60 s") from None
            time.sleep(0.1)


def load(
    *,
    requests: int = 1000,
    levels: Sequence[int] = LEVELS,
    workers: int | None = None,
    threads: int | None = None,
    log_level: str = "info",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Start the service in a subprocess, run each level, stop it; return the figures.

    ``workers`` is passed as ``--workers`` (None: the service's default), ``threads`` as
    ``server.threads`` in the configuration (None: its default). The service's log
    (``log_level``: one access-log event and one ``cdshooks.patient_view`` event per call)
    goes to a temporary file, as a deployment's would go to its log."""
    client = Client()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    body = REQUEST.read_bytes()
    out: dict[str, Any] = {"requests_per_level": requests, "workers": workers, "threads": threads}
    out["log_level"] = log_level
    with tempfile.TemporaryDirectory(prefix="cocm-bench-") as tmp:
        config = Path(tmp) / "service.yaml"
        config.write_text(json.dumps(_config(client, base, threads)), encoding="utf-8")  # JSON is YAML
        command = [sys.executable, "-m", "cocm_rules.cdshooks", "--config", str(config), "--port", str(port)]
        command += ["--log-level", log_level]
        if workers is not None:
            command += ["--workers", str(workers)]
        with open(Path(tmp) / "service.log", "wb") as log_file:
            proc = subprocess.Popen(
                command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env or dict(os.environ)
            )
            try:
                _wait_ready(proc, base)
                aud = f"{base}/cds-services/{SERVICE_ID}"
                asyncio.run(_level(base, client.tokens(aud, 20), body, 2))  # warm-up (every worker)
                out["levels"] = []
                for concurrency in levels:
                    tokens = client.tokens(aud, requests)
                    before, load_before = _tree_cpu_s(proc.pid), round(os.getloadavg()[0], 2)
                    level = asyncio.run(_level(base, tokens, body, concurrency))
                    after = _tree_cpu_s(proc.pid)
                    if before is not None and after is not None:
                        level["server_cpu_ms_per_call"] = round((after - before) * 1000 / requests, 3)
                    level["load_average_1min"] = [load_before, round(os.getloadavg()[0], 2)]
                    out["levels"].append(level)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        out["service_exit_status"] = proc.returncode
    return out


def stages(n: int = 300) -> dict[str, Any]:
    """Median microseconds of each stage of one patient-view call, in this process."""
    from cocm_rules.cdshooks import ServiceConfig, create_app
    from cocm_rules.cdshooks._app import _hook_request
    from cocm_rules.cdshooks._cards import cards_for
    from cocm_rules.cdshooks._prefetch import gather

    client = Client()
    base = "http://127.0.0.1:1"
    app = create_app(ServiceConfig.model_validate(_config(client, base)))
    service = app.state.cds
    body = REQUEST.read_bytes()
    aud = f"{base}/cds-services/{SERVICE_ID}"
    tokens = client.tokens(aud, n)
    as_of = service.as_of()
    times: dict[str, list[float]] = {
        k: [] for k in ("jwt_verify", "request", "gather", "read_patient", "evaluate", "cards", "handler")
    }
    for tok in tokens:
        t0 = time.perf_counter()
        service.verifier.verify(f"Bearer {tok}", [aud])
        t1 = time.perf_counter()
        req, patient_id = _hook_request(body, {})
        t2 = time.perf_counter()
        got = gather(
            patient_id=patient_id,
            prefetch=req.prefetch,
            templates=service.templates,
            fhir_server=None,
            access_token=None,
            cfg=service.config.fhir_server,
            insecure_dev=False,
        )
        t3 = time.perf_counter()
        reading = service.reader.read_patient(got.bundle)
        t4 = time.perf_counter()
        alerts = service.engine.evaluate(reading.episode, as_of)
        t5 = time.perf_counter()
        cards_for(alerts, service.config, as_of=as_of, version="bench")
        t6 = time.perf_counter()
        service.patient_view(body, None)
        t7 = time.perf_counter()
        for name, a, b in zip(times, (t0, t1, t2, t3, t4, t5, t6), (t1, t2, t3, t4, t5, t6, t7), strict=True):
            times[name].append(b - a)
    skip = min(50, n // 5)  # warm-up
    return {name: round(statistics.median(v[skip:]) * 1e6) for name, v in times.items()}


def print_load(result: dict[str, Any], label: str = "") -> None:
    """Print the load figures, one line per concurrency level."""
    for lv in result["levels"]:
        failed = f", {lv['failures']} FAILED ({', '.join(lv['failure_kinds'])})" if lv["failures"] else ""
        print(
            f"   {label}concurrency {lv['concurrency']:>2}: {lv['requests_per_s']:>6} req/s, "
            f"p50 {lv['p50_ms']} ms, p99 {lv['p99_ms']} ms (max {lv['max_ms']} ms; {lv['requests']} calls{failed}; "
            f"CPU per call: client {lv['client_cpu_ms_per_call']} ms, service {lv.get('server_cpu_ms_per_call')} ms; "
            f"load average {lv.get('load_average_1min')})",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="calls per concurrency level")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrency levels, comma-separated")
    parser.add_argument("--workers", type=int, default=None, help="the service's --workers (default: its own)")
    parser.add_argument("--threads", type=int, default=None, help="the service's server.threads (default: its own)")
    parser.add_argument("--log-level", default="info", help="the service's --log-level")
    parser.add_argument("--stages-only", action="store_true", help="only the in-process breakdown by stage")
    args = parser.parse_args(argv)
    print("stages of one call (median us):", stages(), flush=True)
    if args.stages_only:
        return 0
    levels = [int(x) for x in args.levels.split(",")]
    result = load(
        requests=args.requests, levels=levels, workers=args.workers, threads=args.threads, log_level=args.log_level
    )
    print_load(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
