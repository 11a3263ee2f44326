"""One clock. Windows and expiries are decided by the database's now() or Redis TIME;
this is for timestamps the application writes itself."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
