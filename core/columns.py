"""Column shapes that the packages' tables (their `models.py`) share: a reference to another
table's row, a time the database sets on insert, a StrEnum's value with its initial one, and
the columns of an append-only event log.

These are the models' view of the schema; the schema itself is made by the migrations
(`migrations/versions/`, with core/ddl.py), so a change here changes no table.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column


def references(target: str, *, ondelete: str | None = None, **column: Any) -> MappedColumn[Any]:
    """A column referring to `target` ("users.id"); `ondelete` e.g. "CASCADE", and any other
    `mapped_column` argument (`primary_key=True`, `index=True`)."""
    return mapped_column(ForeignKey(target, ondelete=ondelete), **column)


def now_column() -> MappedColumn[datetime]:
    """A time the database sets to `now()` when the row is inserted (one clock: the
    database's)."""
    return mapped_column(server_default=func.now())


def enum_column(initial: StrEnum, *, length: int = 10) -> MappedColumn[str]:
    """A StrEnum's value as `varchar(length)` (a status, a kind), starting at `initial` in
    Python and in the database both, so that a row inserted by hand starts there too. The
    table's check constraint lists the values."""
    return mapped_column(String(length), default=initial.value, server_default=initial.value)


class EventLogEntry:
    """The columns of a row of an append-only event log (a room's, a sale's, an order's): what
    happened (`type`, one of the log's event type names), who did it (`actor_id`, none for the
    system), its details and when. A log's table adds the row it is the log of."""

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = references("users.id")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = now_column()
