"""JSON-line logs with the request's context (request id, route, organization, user).

Callers log dotted event names with structured fields and never pass secrets; as a second
line of defence every line is scrubbed of anything shaped like a Stripe key, webhook secret
or bearer token before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any, TextIO

import orjson

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
organization_id: ContextVar[str | None] = ContextVar("organization_id", default=None)
user_id: ContextVar[str | None] = ContextVar("user_id", default=None)

_logger = logging.getLogger("connect_backend")
_SECRET = re.compile(
    r"(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+|whsec_[A-Za-z0-9+/=_-]+|(?i:bearer)\s+[^\s\"]+"
    r"|\b[a-z]+_secret_[A-Za-z0-9_-]+"  # Stripe's client secrets (`accs_secret__…`)
)


def configure(level: str, *, stream: TextIO | None = None) -> None:
    """Send the service's logs, one JSON object a line, to `stream` (stdout by default; a
    command whose stdout is its answer logs to stderr)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.handlers[:] = [handler]
    _logger.setLevel(level.upper())
    _logger.propagate = False


_CUES = ("_test_", "_live_", "whsec_", "_secret_", "bearer")
"""A substring each of `_SECRET`'s shapes holds (`bearer` in any case: looked for in the
lowered text). A line holding none of them holds no secret: the regex, tens of microseconds on
a log line, runs only on the few lines that hold one."""


def scrub(text: str) -> str:
    """`text` with anything shaped like a key, a webhook secret, a client secret or a bearer
    token masked."""
    lowered = text.lower()
    if not any(cue in lowered for cue in _CUES):
        return text
    return _SECRET.sub("[redacted]", text)


def _line(at: float, level: int, event: str, fields: dict[str, Any]) -> str:
    """One log line: `ts`, `level`, `event`, the request's context, then `fields`; scrubbed."""
    record: dict[str, Any] = {
        "ts": round(at, 3),
        "level": logging.getLevelName(level).lower(),
        "event": event,
    }
    for name, var in (
        ("request_id", request_id),
        ("organization_id", organization_id),
        ("user_id", user_id),
    ):
        value = var.get()
        if value is not None:
            record[name] = value
    record.update(fields)
    return scrub(orjson.dumps(record, default=str).decode())


def _emit(level: int, event: str, fields: dict[str, Any]) -> None:
    if not _logger.isEnabledFor(level):
        return
    _logger.log(level, _line(time.time(), level, event, fields))


class ServerLineFormatter(logging.Formatter):
    """uvicorn's own lines (start-up, shutdown, its supervisor's, its errors) as the service's
    JSON lines: event `uvicorn.log`, with the `logger` and its `message` (an exception's
    traceback, if any, as the `exception` field, so one record stays one line)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return _line(record.created, record.levelno, "uvicorn.log", fields)


def uvicorn_config() -> dict[str, Any]:
    """uvicorn's `log_config`: its loggers write `ServerLineFormatter`'s JSON lines to stdout,
    beside the service's own; its access log stays off (the service logs `request.done`)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,  # the service's own logger is configured already
        "formatters": {"json": {"()": ServerLineFormatter}},
        "handlers": {"server": handler},
        "loggers": {
            "uvicorn": {"handlers": ["server"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},  # to "uvicorn"'s handler
            "uvicorn.access": {"handlers": [], "level": "INFO", "propagate": False},
        },
    }


def debug(event: str, **fields: Any) -> None:
    """Log a debug event."""
    _emit(logging.DEBUG, event, fields)


def info(event: str, **fields: Any) -> None:
    """Log an info event."""
    _emit(logging.INFO, event, fields)


def warning(event: str, **fields: Any) -> None:
    """Log a warning event."""
    _emit(logging.WARNING, event, fields)


def error(event: str, **fields: Any) -> None:
    """Log an error event."""
    _emit(logging.ERROR, event, fields)
