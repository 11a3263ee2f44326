"""Reads of the live package."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from live.errors import ProductNotFound, RoomNotFound
from live.models import (
    LineupItem,
    Product,
    Room,
    RoomEvent,
    RoomMute,
    RoomStatus,
    RoomStream,
    ShortVideo,
    ShortVideoTag,
    VideoStatus,
)


async def get_room(session: AsyncSession, room_id: int) -> Room:
    room = await session.get(Room, room_id)
    if room is None:
        raise RoomNotFound(f"room {room_id} does not exist", field="room_id")
    return room


async def get_product(session: AsyncSession, product_id: int) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise ProductNotFound(f"product {product_id} does not exist", field="product_id")
    return product


async def list_rooms(session: AsyncSession, *, host_id: int | None = None,
                     status: str | None = None, limit: int = 100) -> list[Room]:
    query = select(Room).order_by(Room.id.desc()).limit(limit)
    if host_id is not None:
        query = query.where(Room.host_id == host_id)
    if status is not None:
        query = query.where(Room.status == status)
    return list(await session.scalars(query))


async def list_products(session: AsyncSession, host_id: int) -> list[Product]:
    return list(await session.scalars(
        select(Product).where(Product.host_id == host_id).order_by(Product.id)))


async def lineup(session: AsyncSession, room_id: int) -> list[Product]:
    rows = await session.scalars(
        select(Product).join(LineupItem, LineupItem.product_id == Product.id)
        .where(LineupItem.room_id == room_id).order_by(LineupItem.position))
    return list(rows)


async def room_events(session: AsyncSession, room_id: int, *, limit: int = 500) -> list[RoomEvent]:
    return list(await session.scalars(
        select(RoomEvent).where(RoomEvent.room_id == room_id).order_by(RoomEvent.id).limit(limit)))


async def room_state(session: AsyncSession, room_id: int) -> dict[str, Any]:
    """The room's state as the hub's snapshot holds it, rebuilt from PostgreSQL."""
    room = await get_room(session, room_id)
    products = await lineup(session, room_id)
    pinned = next((p for p in products if p.id == room.pinned_product_id), None)
    state: dict[str, Any] = {
        "room": room.public(),
        "lineup": [p.public() for p in products],
        "on_air": await on_air(session, room),
    }
    if pinned is not None:
        state["pin"] = pinned.public()
    return state


async def on_air(session: AsyncSession, room: Room) -> bool:
    """Whether the room's video is on air, as PostgreSQL tells it: the room is live and has
    had a stream. A stream that ended stays on air through the grace period (the encoder may
    come back); past it, the stream sweep ends the room, which takes it off air. A live room
    that never had a stream (chat only, a pasted playback URL) is not on air."""
    if room.status != RoomStatus.LIVE:
        return False
    return await session.scalar(
        select(RoomStream.id).where(RoomStream.room_id == room.id).limit(1)) is not None


async def active_mutes(session: AsyncSession, room_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(RoomMute.user_id, RoomMute.until_epoch_s).where(RoomMute.room_id == room_id))
    return {user_id: until or 0 for user_id, until in rows}


async def ended_rooms(svc: Services, room_ids: list[int]) -> set[int]:
    """Which of these rooms have ended (orders asks, to stop the sales of a finished show)."""
    if not room_ids:
        return set()
    async with svc.db.session() as session:
        return set(await session.scalars(select(Room.id).where(
            Room.id.in_(room_ids), Room.status == RoomStatus.ENDED.value)))


async def video_shows_product(session: AsyncSession, kind: str, video_id: int,
                              product_id: int) -> bool:
    """Whether `video_id` is a ready video of `kind` ("replay": a room's replay, "video": a
    host's short video) with `product_id` among its tags: what an order attributed to it must
    hold (orders/sources.py)."""
    is_replay = ShortVideo.room_id.is_not(None) if kind == "replay" \
        else ShortVideo.room_id.is_(None)
    found = await session.scalar(
        select(ShortVideoTag.id).join(ShortVideo, ShortVideo.id == ShortVideoTag.video_id)
        .where(ShortVideoTag.video_id == video_id, ShortVideoTag.product_id == product_id,
               ShortVideo.status == VideoStatus.READY.value, is_replay).limit(1))
    return found is not None
