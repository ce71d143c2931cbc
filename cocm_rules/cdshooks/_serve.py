"""Running the service: :func:`serve` (for the ``cocm-rules serve`` command) and
:func:`main_serve` (the same from a list of arguments: ``python -m cocm_rules.cdshooks``).

uvicorn runs it with the limits of the configuration's ``server`` section
(:func:`uvicorn_config`): the request line and headers must arrive within
``header_timeout_seconds`` of the connection (or of the first byte of a kept-alive
connection's next request), which uvicorn alone does not bound, so a client trickling a
request without ever sending a token cannot hold a connection; the body has its own timeout
in the app. uvicorn's access log is off: it writes each request's query string, which may
carry a patient id; the app logs method, path, status and duration instead
(``cdshooks.http_request``).

``workers`` > 1 (``cocm-rules serve --workers N``) runs N worker processes behind one socket
(uvicorn's supervisor): each loads the configuration and the rulesets itself
(:func:`worker_app`), and they share one replay cache (:mod:`._replay`), so a token's jti is
accepted once whichever worker it reaches. A Python process evaluates on one core at a time;
the workers use every core.

Where the system has ``SO_REUSEPORT`` (Linux, the BSDs, macOS), each worker listens on a
socket of its own on the same port and the kernel spreads new connections over them. With
one socket shared by all workers, the worker that wakes first accepts every connection
waiting, so a client opening its connections at once (an EHR's connection pool) had them
all on one worker while the other stood idle (measured: 32 connections on one worker of
two, about 400 calls/s and a p99 of 110-120 ms at 32 concurrent callers). ``serve`` first
binds the port the usual way, so a port in use (by anything, another ``serve`` included) is
still refused at start, then keeps it reserved for its workers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from .._log import get_logger, host_logging_configured
from ..errors import CocmRulesError, InvalidInput
from ._app import create_app
from ._config import ServerConfig, ServiceConfig, is_loopback_host, load_config
from ._replay import SharedReplayCache

__all__ = ["build_app", "main_serve", "serve", "uvicorn_config", "worker_app"]

#: The environment variable through which :func:`serve` tells its worker processes what to run.
WORKER_ENV = "COCM_RULES_CDS_WORKER"

log = get_logger(__name__)


class _HeaderTimeout(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request line and headers do not
    arrive within :attr:`header_timeout` (uvicorn bounds only the idle time between requests)."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._arm()  # a request has begun (or the next one): its head has header_timeout to arrive
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.warning("cdshooks.header_timeout", seconds=self.header_timeout)
            self.transport.close()


class _WorkerHeaderTimeout(_HeaderTimeout):
    """The protocol of :func:`serve`'s worker processes (importable by name, as they need);
    :func:`worker_app` sets its ``header_timeout`` from the configuration."""


def uvicorn_config(
    app: Any, host: str, port: int, server: ServerConfig, *, log_level: str = "info", workers: int = 1
) -> uvicorn.Config:
    """The uvicorn configuration :func:`serve` runs ``app`` with: the ``server`` limits, no
    access log (the app writes its own, without query strings), no ``Server`` header. With
    ``workers`` > 1, ``app`` is the import string of :func:`worker_app`."""
    if workers > 1:
        protocol: type[_HeaderTimeout] = _WorkerHeaderTimeout
    else:
        protocol = type(
            "HeaderTimeoutH11Protocol", (_HeaderTimeout,), {"header_timeout": server.header_timeout_seconds}
        )
    return uvicorn.Config(
        app,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        http=protocol,
        access_log=False,
        server_header=False,
        timeout_keep_alive=server.keep_alive_seconds,
        h11_max_incomplete_event_size=server.max_header_bytes,
        limit_concurrency=server.max_concurrency,
    )


def build_app(host: str, port: int, config_path: str | Path | None, insecure_dev: bool) -> object:
    """The app :func:`serve` would run (checks the same things, starts nothing)."""
    if insecure_dev and not is_loopback_host(host):
        raise InvalidInput(
            "--insecure-dev turns authentication off, so it only binds to a loopback address",
            field="host",
            value=host,
            allowed="127.0.0.1, ::1, localhost",
        )
    if config_path is None:
        if not insecure_dev:
            raise InvalidInput(
                "--config is required: it names the CDS clients allowed to call and their public keys "
                "(for a local trial without authentication, use --insecure-dev)",
                field="config",
            )
        config = ServiceConfig(service_url=f"http://{'[' + host + ']' if ':' in host else host}:{port}")
    else:
        config = load_config(config_path)
    return create_app(config, insecure_dev=insecure_dev)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    config_path: str | Path | None = None,
    insecure_dev: bool = False,
    *,
    log_level: str = "info",
    workers: int = 1,
) -> None:
    """Run the CDS Hooks service with uvicorn until interrupted.

    ``config_path`` is the YAML configuration (required unless ``insecure_dev``). Behind a
    TLS-terminating proxy, ``service_url`` in the configuration is the public https URL.
    ``insecure_dev`` disables JWT verification (loudly) and is refused on a non-loopback host.
    ``workers`` > 1 runs that many worker processes (see the module docstring).
    Raises :class:`~cocm_rules.InvalidInput` for bad arguments and
    :class:`~cocm_rules.cdshooks.ServiceConfigError` for a bad configuration.
    """
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise TypeError(f"workers must be an int, not {type(workers).__name__}")
    if workers < 1:
        raise InvalidInput("there must be at least one worker", field="workers", value=workers, allowed="1 or more")
    app = build_app(host, port, config_path, insecure_dev)  # every check, here, before any worker starts
    server = app.state.cds.config.server  # type: ignore[attr-defined]
    log.info("cdshooks.serving", host=host, port=port, insecure_dev=insecure_dev, workers=workers)
    if workers > 1:
        del app
        _serve_workers(host, port, config_path, insecure_dev, server, log_level, workers)
        return
    running = uvicorn.Server(uvicorn_config(app, host, port, server, log_level=log_level))
    with contextlib.suppress(KeyboardInterrupt):  # an interrupted server stops, as with uvicorn.run
        running.run()
    if not running.started:
        sys.exit(3)  # as uvicorn.run: the server could not start (e.g. the port is taken)


def _serve_workers(
    host: str,
    port: int,
    config_path: str | Path | None,
    insecure_dev: bool,
    server: ServerConfig,
    log_level: str,
    workers: int,
) -> None:
    """Run ``workers`` processes of :func:`worker_app` behind one socket until interrupted,
    with their shared replay cache in a private temporary directory, removed at the end."""
    private = tempfile.mkdtemp(prefix="cocm-rules-serve-")  # mode 0700
    replay = str(Path(private) / "replay.sqlite3")
    SharedReplayCache.create(replay)
    spec = {
        "host": host,
        "port": port,
        "config": None if config_path is None else str(Path(config_path).resolve()),
        "insecure_dev": insecure_dev,
        "replay": replay,
        "log_level": log_level,
        "log_to_stderr": bool(logging.getLogger().handlers),  # as this process logs (spawned: not inherited)
    }
    os.environ[WORKER_ENV] = json.dumps(spec)  # the spawned workers inherit it
    reserved: socket.socket | None = None
    try:
        config = uvicorn_config(f"{__name__}:worker_app", host, port, server, log_level=log_level, workers=workers)
        shared = config.bind_socket()  # a port in use stops here, as with one worker
        if hasattr(socket, "SO_REUSEPORT"):
            shared.close()
            reserved = _reserve(host, port)
            sockets: list[Any] = [OwnSocket(host, port, config.backlog)]
        else:  # pragma: no cover - no SO_REUSEPORT (Windows): the workers share one socket
            sockets = [shared]
        with contextlib.suppress(KeyboardInterrupt):
            Multiprocess(config, sockets=sockets).run()
    finally:
        os.environ.pop(WORKER_ENV, None)
        shutil.rmtree(private, ignore_errors=True)
        if reserved is not None:
            reserved.close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses


def _reserve(host: str, port: int) -> socket.socket:
    """The port held for the workers (bound with SO_REUSEPORT, not listening: no connection
    is given to it) while ``serve`` runs, so no other program takes it between restarts."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def bind_own_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A worker's own listening socket on ``host:port`` (SO_REUSEPORT: the kernel spreads new
    connections over the workers' sockets)."""
    sock = _reserve(host, port)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class OwnSocket:
    """Stands in for the listening socket uvicorn hands each worker process: sent to a worker,
    it becomes that worker's own socket (:func:`bind_own_socket`), bound in the worker."""

    def __init__(self, host: str, port: int, backlog: int) -> None:
        self.host, self.port, self.backlog = host, port, backlog

    def __reduce__(self) -> tuple[Any, tuple[str, int, int]]:
        return bind_own_socket, (self.host, self.port, self.backlog)


def worker_app() -> Any:
    """The app of one worker process of ``serve(workers=N)`` (uvicorn calls it in the worker):
    the configuration and rulesets loaded here, the shared replay cache, the header timeout."""
    spec = json.loads(os.environ[WORKER_ENV])
    if spec["log_to_stderr"] and not host_logging_configured():
        _log_to_stderr(spec["log_level"])
    app: Any = build_app(spec["host"], spec["port"], spec["config"], spec["insecure_dev"])
    service = app.state.cds
    _WorkerHeaderTimeout.header_timeout = service.config.server.header_timeout_seconds
    if service.verifier is not None:
        service.verifier.replay = SharedReplayCache(spec["replay"], service.config.auth.jti_cache_size, service.clock)
    log.info("cdshooks.worker_ready", worker_pid=os.getpid())
    return app


def _log_to_stderr(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cocm-rules serve", description="Run the cocm_rules CDS Hooks 2.0 service (patient-view)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--config", help="the service's YAML configuration (see docs/cds-hooks.md)")
    parser.add_argument(
        "--insecure-dev",
        action="store_true",
        help="turn JWT verification off, for a local trial on a loopback address only",
    )
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (default 1; one per core uses every core)"
    )
    return parser


def main_serve(argv: Sequence[str] | None = None) -> int:
    """``cocm-rules serve [--host] [--port] [--config] [--insecure-dev] [--workers]``: returns the exit
    status (2 with a one-line reason on stderr for bad arguments or configuration)."""
    args = _parser().parse_args(argv)
    if not host_logging_configured():  # run as a program, the service is its own host: log to stderr
        _log_to_stderr(args.log_level)
    try:
        serve(args.host, args.port, args.config, args.insecure_dev, log_level=args.log_level, workers=args.workers)
    except CocmRulesError as e:
        sys.stderr.write(f"cocm-rules serve: {e}\n")
        return 2
    return 0
