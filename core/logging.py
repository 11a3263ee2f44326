"""Logging: one JSON object per line in production, plain text for development, and the
request id on every line logged while a request (or a task it sent) runs.

The request id lives in a context variable: the HTTP middleware sets it for the request's
task, `asyncio.to_thread` and new tasks copy it, and the Celery signals (workers/app.py) carry
it in a task's headers and restore it in the worker around the task.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("livesell_request_id", default=None)

# An incoming X-Request-ID is kept only if it is short and made of safe characters: it goes
# into every log line and a response header, so it must not be able to forge either.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def sane_request_id(value: str | None) -> str | None:
    if value is not None and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


# A random prefix per process and a counter: unique across processes (32 random bits each)
# and within one, without a system call per request (os.urandom costs more than the rest of
# the request id's work together).
_ID_PREFIX = os.urandom(4).hex()
_id_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}-{next(_id_counter):x}"


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "request_id", "taskName",
    "color_message"}  # uvicorn's copy of the message with terminal colours


class JsonFormatter(logging.Formatter):
    """ts, level, logger, msg, request_id, then the record's `extra` fields and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """For a terminal: `time level logger [request id or -] message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def configure_logging(log_format: str, level: str | int = "INFO") -> None:
    """Send every logger (ours, uvicorn's, Celery's) through one stderr handler on the root."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # uvicorn's and Celery's loggers log through the root handler, not their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
