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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .._log import get_logger, host_logging_configured
from ..errors import CocmRulesError, InvalidInput
from ._app import create_app
from ._config import ServerConfig, ServiceConfig, is_loopback_host, load_config

__all__ = ["build_app", "main_serve", "serve", "uvicorn_config"]

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


def uvicorn_config(app: Any, host: str, port: int, server: ServerConfig, *, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn configuration :func:`serve` runs ``app`` with: the ``server`` limits, no
    access log (the app writes its own, without query strings), no ``Server`` header."""
    protocol = type("HeaderTimeoutH11Protocol", (_HeaderTimeout,), {"header_timeout": server.header_timeout_seconds})
    return uvicorn.Config(
        app,
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
) -> None:
    """Run the CDS Hooks service with uvicorn until interrupted.

    ``config_path`` is the YAML configuration (required unless ``insecure_dev``). Behind a
    TLS-terminating proxy, ``service_url`` in the configuration is the public https URL.
    ``insecure_dev`` disables JWT verification (loudly) and is refused on a non-loopback host.
    Raises :class:`~cocm_rules.InvalidInput` for bad arguments and
    :class:`~cocm_rules.cdshooks.ServiceConfigError` for a bad configuration.
    """
    app = build_app(host, port, config_path, insecure_dev)
    server = app.state.cds.config.server  # type: ignore[attr-defined]
    log.info("cdshooks.serving", host=host, port=port, insecure_dev=insecure_dev)
    running = uvicorn.Server(uvicorn_config(app, host, port, server, log_level=log_level))
    with contextlib.suppress(KeyboardInterrupt):  # an interrupted server stops, as with uvicorn.run
        running.run()
    if not running.started:
        sys.exit(3)  # as uvicorn.run: the server could not start (e.g. the port is taken)


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
    return parser


def main_serve(argv: Sequence[str] | None = None) -> int:
    """``cocm-rules serve [--host] [--port] [--config] [--insecure-dev]``: returns the exit
    status (2 with a one-line reason on stderr for bad arguments or configuration)."""
    args = _parser().parse_args(argv)
    if not host_logging_configured():  # run as a program, the service is its own host: log to stderr
        logging.basicConfig(
            level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
        )
    try:
        serve(args.host, args.port, args.config, args.insecure_dev, log_level=args.log_level)
    except CocmRulesError as e:
        sys.stderr.write(f"cocm-rules serve: {e}\n")
        return 2
    return 0
