"""Migration 0006 renames the room log's old pin entries to the wire's names."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import insert, select

from core.context import Services
from core.migrate import alembic_config
from core.settings import Settings
from live.models import Room, RoomEvent, RoomEventType
from tests.conftest import MakeUser


async def test_old_pinned_rows_become_pin_rows(services: Services, settings: Settings,
                                                make_user: MakeUser) -> None:
    # given a room log written before the rename, with `pinned` and `unpinned` entries
    host = await make_user("host")
    config = alembic_config(settings.database_url)
    await asyncio.to_thread(command.downgrade, config, "0005")
    try:
        async with services.db.transaction() as session:
            # Only the columns of 0005's rooms table: later columns are not there yet.
            room_id = await session.scalar(insert(Room).values(
                host_id=host.id, title="Old log", status="live", stream_key="key-old")
                .returning(Room.id))
            session.add_all([RoomEvent(room_id=room_id, type=kind, actor_id=host.id, data={})
                             for kind in ("pinned", "unpinned", "room_ended")])
    finally:
        # when the migration runs
        await asyncio.to_thread(command.upgrade, config, "head")

    # then the entries carry the names the code writes and reads
    async with services.db.session() as session:
        kinds = list(await session.scalars(
            select(RoomEvent.type).where(RoomEvent.room_id == room_id).order_by(RoomEvent.id)))
    assert kinds == [RoomEventType.PIN, RoomEventType.UNPIN, RoomEventType.ROOM_ENDED]
