"""The CDS Hooks service on every core (issue 14, part 2): ``--workers N`` with one replay
cache shared by the workers, and the calls worked on off the event loop, at most
``server.threads`` at once per process. No timing is asserted (the load figures are in
``benchmarks/service_load.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cocm_rules import Engine
from cocm_rules.cdshooks import SERVICE_ID, AuthError, ServerConfig, ServiceConfig, create_app, main_serve
from cocm_rules.cdshooks._replay import SharedReplayCache

ROOT = Path(__file__).resolve().parent.parent
REQUEST = ROOT / "tests" / "fixtures" / "cdshooks" / "patient-view-request.json"
ISS = "https://ehr.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the shared replay cache --------------------------------------------------------------------


def test_a_jti_seen_by_one_worker_is_refused_by_another(tmp_path: Path) -> None:
    """Two caches on one file (two worker processes): a token accepted by one is a replay for
    the other while it can be valid, and accepted again once it has expired."""
    now = [1000.0]
    path = tmp_path / "replay.sqlite3"
    SharedReplayCache.create(path)
    one, two = (SharedReplayCache(path, 10, lambda: now[0]) for _ in range(2))
    one.add(ISS, "jti-1", until=1060.0)
    with pytest.raises(AuthError) as refused:
        two.add(ISS, "jti-1", until=1060.0)
    assert ("jti_replayed", 401) == (refused.value.reason, refused.value.status)
    two.add("https://other.example.org", "jti-1", until=1060.0)  # another issuer's jti
    now[0] = 1061.0
    two.add(ISS, "jti-1", until=1120.0)
    with pytest.raises(AuthError, match="jti_replayed"):
        one.add(ISS, "jti-1", until=1120.0)
    assert 2 == len(one) == len(two)


def test_a_full_shared_cache_forgets_only_expired_jtis_and_then_fails_closed(tmp_path: Path) -> None:
    """Full of unexpired jtis, the shared cache refuses new tokens with 503 (never forgets one
    that could still be replayed); expired ones make room."""
    now = [0.0]
    path = tmp_path / "replay.sqlite3"
    SharedReplayCache.create(path)
    one, two = (SharedReplayCache(path, 3, lambda: now[0]) for _ in range(2))
    one.add(ISS, "a", until=10.0)
    two.add(ISS, "b", until=100.0)
    one.add(ISS, "c", until=100.0)
    with pytest.raises(AuthError) as full:
        two.add(ISS, "d", until=100.0)
    assert ("replay_cache_full", 503) == (full.value.reason, full.value.status)
    now[0] = 11.0  # "a" expired: its place is free
    two.add(ISS, "d", until=100.0)
    with pytest.raises(AuthError, match="jti_replayed"):
        one.add(ISS, "b", until=100.0)
    assert 3 == len(one)


def test_a_worker_waits_for_its_turn_on_the_lock_beside_the_cache(tmp_path: Path) -> None:
    """A write waits while another process holds the lock file beside the cache (so SQLite
    never finds the database busy and never sleeps between tries) and goes through as soon
    as the lock is released."""
    import fcntl

    path = tmp_path / "replay.sqlite3"
    SharedReplayCache.create(path)
    cache = SharedReplayCache(path, 10, lambda: 0.0)
    other = os.open(f"{path}.lock", os.O_RDWR)  # another process's hold on the lock
    fcntl.flock(other, fcntl.LOCK_EX)
    done = threading.Event()
    writer = threading.Thread(target=lambda: (cache.add(ISS, "jti-1", until=60.0), done.set()))
    writer.start()
    try:
        assert not done.wait(0.3)  # still waiting for its turn
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    writer.join(timeout=10)
    assert done.is_set()
    assert 1 == len(cache)
    cache.close()


def test_the_shared_cache_takes_concurrent_adds_from_threads_and_processes_once_each(tmp_path: Path) -> None:
    """The same 50 jtis added at once by 4 threads over 2 caches: each accepted exactly once."""
    path = tmp_path / "replay.sqlite3"
    SharedReplayCache.create(path)
    caches = [SharedReplayCache(path, 1000, time.time) for _ in range(2)]
    accepted: list[str] = []

    def adder(cache: SharedReplayCache) -> None:
        for i in range(50):
            try:
                cache.add(ISS, f"jti-{i}", until=time.time() + 60)
            except AuthError:
                continue
            accepted.append(f"jti-{i}")

    threads = [threading.Thread(target=adder, args=(caches[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(f"jti-{i}" for i in range(50)) == sorted(accepted)


# -- calls off the event loop, a few at a time ----------------------------------------------------


def test_calls_run_off_the_event_loop_at_most_server_threads_at_once() -> None:
    """Eight calls at once: each runs in a thread other than the event loop's, and never more
    than ``server.threads`` (here 2) at the same time; the others wait their turn."""
    config = ServiceConfig(service_url="http://127.0.0.1:1", server=ServerConfig(threads=2))
    service = create_app(config, insecure_dev=True, engine=Engine.load()).state.cds
    running = [0]
    most = [0]
    threads: set[int] = set()
    lock = threading.Lock()

    def work() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            threads.add(threading.get_ident())
        time.sleep(0.05)  # overlap with the others, if they were let in
        with lock:
            running[0] -= 1

    async def main() -> int:
        await asyncio.gather(*(service.off_loop(work) for _ in range(8)))
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert 2 == most[0]
    assert loop_thread not in threads


# -- several worker processes --------------------------------------------------------------------


def test_workers_must_be_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    """`--workers 0` is refused with exit 2 and a reason naming the workers."""
    assert 2 == main_serve(["--insecure-dev", "--workers", "0"])
    assert "at least one worker" in capsys.readouterr().err


def test_two_worker_processes_answer_and_accept_a_token_once_whichever_worker_gets_it(tmp_path: Path) -> None:
    """`python -m cocm_rules.cdshooks --workers 2` with a real JWT configuration: both workers
    start and log that they are ready; calls are answered with the cards; one token sent 12
    times over separate connections is accepted once (the workers share the replay cache),
    fresh tokens are each accepted; terminated, it stops and removes its private directory."""
    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(ECAlgorithm.to_jwk(key.public_key())) | {"kid": "es-1", "use": "sig", "alg": "ES384"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "service.yaml"
    config.write_text(
        json.dumps(
            {"service_url": base, "trusted_clients": {ISS: {"jwks": {"keys": [public]}}}, "as_of": "2026-11-06"}
        ),
        encoding="utf-8",
    )
    aud = f"{base}/cds-services/{SERVICE_ID}"

    def token() -> str:
        now = int(time.time())
        claims = {"iss": ISS, "aud": aud, "exp": now + 120, "iat": now, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, key, algorithm="ES384", headers={"kid": "es-1"})

    def call(tok: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
        return httpx.post(aud, content=REQUEST.read_bytes(), headers=headers, timeout=30)  # a new connection each

    env = {**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "cocm_rules.cdshooks", "--config", str(config), "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--workers", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                httpx.get(f"{base}/cds-services", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
        private = [p for p in tmp_path.iterdir() if p.name.startswith("cocm-rules-serve-")]
        same = token()
        replays = [call(same).status_code for _ in range(12)]
        fresh = [call(token()) for _ in range(6)]
    finally:
        proc.terminate()
        try:
            output = proc.communicate(timeout=60)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0].decode()
    assert [200] + [401] * 11 == replays
    assert [200] * 6 == [r.status_code for r in fresh]
    assert "critical" == fresh[0].json()["cards"][0]["indicator"]
    assert 1 == len(private)
    assert not private[0].exists()
    assert 2 == output.count("cdshooks.worker_ready"), output[-3000:]
    assert 11 == output.count("jti_replayed"), output[-3000:]


def _worker_pids(parent: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2 :].split()[1]) == parent:
                pids.append(int(entry))
    return pids


def _inodes(port: int, state: str) -> set[str]:
    """The socket inodes of the TCP sockets on local port ``port`` in ``state`` (01
    established, 0A listening)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def _connections_of(pid: int, inodes: set[str]) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


def test_connections_opened_at_once_are_spread_over_the_workers(tmp_path: Path) -> None:
    """32 connections opened at once (as an EHR's connection pool opens them) reach both
    worker processes of `--workers 2`, each of which answers on them: with one socket shared
    by the workers, the first to wake accepted all 32 and the other stood idle."""
    port = free_port()
    env = {**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "cocm_rules.cdshooks", "--insecure-dev", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while len(_inodes(port, "0A")) < 2:  # both workers listen (a call waits for one still loading)
            assert proc.poll() is None
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)

        async def open_and_call() -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
            streams = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(32)))
            for _, writer in streams:
                writer.write(b"GET /cds-services HTTP/1.1\r\nHost: x\r\n\r\n")
            for reader, _ in streams:
                assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            return list(streams)

        loop = asyncio.new_event_loop()
        try:
            streams = loop.run_until_complete(open_and_call())
            inodes, listening = _inodes(port, "01"), _inodes(port, "0A")
            workers = [pid for pid in _worker_pids(proc.pid) if _connections_of(pid, listening)]
            per_worker = [_connections_of(pid, inodes) for pid in workers]
            for _, writer in streams:
                writer.close()
        finally:
            loop.close()
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert 32 == sum(per_worker)
    assert 2 == len(per_worker)
    assert min(per_worker) > 0, per_worker


def test_a_workers_own_socket_is_bound_in_the_worker_and_shares_the_port() -> None:
    """What uvicorn hands each worker is a recipe: unpickled (in the worker) it is a listening
    TCP socket of its own on the port (SO_REUSEPORT, so several bind it; a TCP protocol, so
    asyncio turns Nagle's algorithm off on its connections: without it, calls waited ~40 ms
    for delayed ACKs)."""
    import pickle

    from cocm_rules.cdshooks._serve import OwnSocket

    port = free_port()
    one, two = (pickle.loads(pickle.dumps(OwnSocket("127.0.0.1", port, 16))) for _ in range(2))
    try:
        for sock in (one, two):
            assert isinstance(sock, socket.socket)
            assert ("127.0.0.1", port) == sock.getsockname()
            assert socket.IPPROTO_TCP == sock.proto
            assert 1 == sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    finally:
        one.close()
        two.close()
