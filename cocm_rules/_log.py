"""Logging for a library: silent until the host turns it on.

Every module logs through ``log = get_logger(__name__)``: structured events, each a dotted
name and fields that are ids, versions and counts (never answers, values or free text).
Where an event goes is the host's choice:

* the host configured structlog (``structlog.configure``, as the command line does; also
  ``structlog.testing.capture_logs`` in tests): through that configuration, as any
  ``structlog.get_logger(__name__)`` logger;
* otherwise to the standard :mod:`logging` logger of the module (``cocm_rules.engine``,
  ``cocm_rules.rules.loader``, ...). Their parent ``cocm_rules`` has a ``NullHandler`` (as
  libraries do), so nothing is printed unless the host configures logging, e.g.
  ``logging.basicConfig(level=logging.INFO)`` or a handler on ``logging.getLogger("cocm_rules")``.
  The record's message is ``event key=value ...``; the event and its fields are also on the
  record as the attribute ``cocm_rules`` (a dict), for structured handlers.

structlog's own default (no configuration) would print every event, debug included, on
stdout: a library that does that writes into its host's output. Events are emitted per load
and per batch (and one warning per invalid record), never per patient, so a disabled event
costs one check per batch.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

__all__ = ["Logger", "get_logger", "host_logging_configured"]

_ROOT = "cocm_rules"
_root = logging.getLogger(_ROOT)
if not any(isinstance(h, logging.NullHandler) for h in _root.handlers):
    _root.addHandler(logging.NullHandler())


class Logger:
    """A module's logger: structlog's when the host configured structlog, else stdlib logging."""

    __slots__ = ("_std", "_struct")

    def __init__(self, name: str) -> None:
        self._std = logging.getLogger(name)
        self._struct = structlog.get_logger(name)  # a lazy proxy: follows later configuration

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            getattr(self._struct, method)(event, **fields)
        elif self._std.isEnabledFor(level):
            text = " ".join([event, *(f"{key}={value!r}" for key, value in fields.items())])
            # stacklevel 3: the record names the library function that logged, not this module
            self._std.log(level, "%s", text, extra={"cocm_rules": {"event": event, **fields}}, stacklevel=3)

    def debug(self, event: str, **fields: Any) -> None:
        """Log ``event`` at DEBUG level."""
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log ``event`` at INFO level."""
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log ``event`` at WARNING level."""
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log ``event`` at ERROR level."""
        self._emit(logging.ERROR, "error", event, fields)


def get_logger(name: str) -> Logger:
    """The logger of module ``name`` (pass ``__name__``)."""
    return Logger(name)


def host_logging_configured() -> bool:
    """Whether the process configured structlog or stdlib logging (a handler on the root
    logger); a program the library provides (the CDS Hooks service's ``python -m``) configures
    stderr logging only when nothing else has."""
    return structlog.is_configured() or bool(logging.getLogger().handlers)
