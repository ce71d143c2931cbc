"""Running the service: :func:`serve` (for the ``cocm-rules serve`` command) and
:func:`main_serve` (the same from a list of arguments: ``python -m cocm_rules.cdshooks``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from .._log import get_logger, host_logging_configured
from ..errors import CocmRulesError, InvalidInput
from ._app import create_app
from ._config import ServiceConfig, is_loopback_host, load_config

__all__ = ["build_app", "main_serve", "serve"]

log = get_logger(__name__)


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
    log.info("cdshooks.serving", host=host, port=port, insecure_dev=insecure_dev)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)  # type: ignore[arg-type]


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
