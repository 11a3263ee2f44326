"""Room event log: a pin is `pin` and an unpin `unpin`, as on the wire (live.models.RoomEventType).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 18:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'

# Old name -> new name; the downgrade maps them back.
RENAMES = {"pinned": "pin", "unpinned": "unpin"}


def upgrade() -> None:
    for old, new in RENAMES.items():
        op.execute(f"UPDATE room_events SET type = '{new}' WHERE type = '{old}'")


def downgrade() -> None:
    for old, new in RENAMES.items():
        op.execute(f"UPDATE room_events SET type = '{old}' WHERE type = '{new}'")
