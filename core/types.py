"""Shared field types for what crosses HTTP and websocket boundaries: ids and text.

Ids are PostgreSQL bigint identities: 1 .. 2**63 - 1. A bigger number is not an id that could
exist, and asyncpg refuses to send it, so it is refused at the edge instead of deep in a query.

PostgreSQL's text types refuse the NUL character, and control characters in names and titles
only ever come from broken or hostile clients, so text fields refuse them with a message that
names the field. Text that may span lines (descriptions, chat) keeps newline, tab and carriage
return.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

# PostgreSQL bigint; every id column is one (core.db maps int to BigInteger).
MAX_ID = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]

# C0 controls, DEL and C1 controls (Unicode category Cc).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def is_id(value: int) -> bool:
    return 1 <= value <= MAX_ID


def check_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (NUL, newlines, tabs, ...)")
    return value


def check_text(value: str) -> str:
    if _CONTROL_EXCEPT_LINES.search(value):
        raise ValueError("must not contain control characters other than newline and tab")
    return value


# One line of text: a title, a name, an email, a currency code.
Line = Annotated[str, AfterValidator(check_line)]

# Text that may hold line breaks and tabs: a description, a chat message.
Text = Annotated[str, AfterValidator(check_text)]


# How far ahead a room or a sale may be scheduled. A year covers any real campaign; beyond it
# a date is a typo or a probe (year 9999 overflowed the millisecond arithmetic of sales).
SCHEDULE_HORIZON = timedelta(days=366)
# Before this, a date is not a schedule either; it also keeps far-past values out of arithmetic.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def check_schedule(value: datetime | None, *, horizon: timedelta = SCHEDULE_HORIZON) -> datetime | None:
    """A timezone-aware time between 2000 and `horizon` from now (the local clock: a sanity
    bound at the edge, not a sale window, which Redis TIME decides)."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a timezone, e.g. 2026-01-01T20:00:00Z")
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    latest = datetime.now(UTC) + horizon
    if in_utc > latest:
        raise ValueError(f"must be at most {horizon.days} days ahead")
    if in_utc < EARLIEST:
        raise ValueError("must be after 2000-01-01")
    return value


def is_line(value: str) -> bool:
    return _CONTROL.search(value) is None


def refuse_null(value: object) -> object:
    """For a PATCH field whose value cannot be empty: run only on a value the client sent
    (pydantic does not validate defaults), so an explicit null is refused by name."""
    if value is None:
        raise ValueError("may not be null; omit the field to keep its value")
    return value
