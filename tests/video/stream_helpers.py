"""Helpers for stream-lifecycle tests: nginx's publish and its end as the app sees them, the
sweep with the grace period the tests use, and moving a room's streams into the past."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from core.context import Services
from live import streams
from live.models import RoomStream

# nginx reports a stream every ten seconds; a room waits a minute for its stream to come back
UPDATE_SECONDS = 10
GRACE_SECONDS = 60


async def publish(services: Services, key: str, client_id: str = "7") -> streams.PublishAccepted:
    """nginx accepted an encoder's publish on this stream key."""
    return await streams.start_publish(services, key, client_id, "127.0.0.1",
                                       update_seconds=UPDATE_SECONDS, grace_seconds=GRACE_SECONDS)


async def publish_and_end(services: Services, key: str, client_id: str = "7") -> int:
    """An encoder published and dropped: the room's id."""
    accepted = await publish(services, key, client_id)
    await streams.end_publish(services, key, client_id)
    return accepted.room_id


async def sweep(services: Services) -> list[int]:
    """The sweep that ends rooms whose stream stayed gone past the grace period."""
    return await streams.end_rooms_without_stream(services, grace_seconds=GRACE_SECONDS,
                                                  update_seconds=UPDATE_SECONDS)


async def age_streams(services: Services, room_id: int, seconds: float) -> None:
    """Move the room's streams `seconds` into the past (the sweep compares with now())."""
    async with services.db.transaction() as session:
        await session.execute(update(RoomStream).where(RoomStream.room_id == room_id).values(
            started_at=RoomStream.started_at - timedelta(seconds=seconds),
            last_seen_at=RoomStream.last_seen_at - timedelta(seconds=seconds),
            ended_at=RoomStream.ended_at - timedelta(seconds=seconds)))
