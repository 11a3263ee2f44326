"""A room's video stream: the stream key, and nginx-rtmp's publish callbacks (docs/video.md).

The encoder (OBS, ffmpeg) publishes to `rtmp://HOST:PORT/live/<stream key>`. nginx asks the
app (`on_publish`) before it accepts the stream; the app says yes only for a room's current
key, a room that has not ended, and no other publisher in that room, and answers with the
stream's public name (`room-{id}`), which nginx publishes (and writes the HLS) under. The key
is never in a playback address. nginx tells the app every `update_seconds` that the publisher
is still there (`on_update`, which also cuts off a rotated key), and when it leaves
(`on_publish_done`).

Each publish is a `RoomStream` row; at most one is open per room (a partial unique index).
The room goes live with the first stream (through `live.actions.move_room`, as the host's
button does); a stream's end is only recorded, because encoders drop and reconnect: a room
whose stream has been gone for the grace period is ended by `end_rooms_without_stream`.

The room's `on_air` state (in the hub's snapshot, and an `on_air` room event) follows: true
from an accepted publish, still true through a drop within the grace period, false when the
sweep finds the grace period over (and when the room ends). The live room's player loads the
stream only while it is true (web/static/js/player.js); `live.queries.on_air` rebuilds it
from PostgreSQL.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Actor
from core.context import Services
from core.db import database_now
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from core.events import unit_of_work
from live import actions
from live.errors import RoomEnded
from live.models import Room, RoomEventType, RoomStatus, RoomStream

log = logging.getLogger(__name__)

# `secrets.token_urlsafe(24)`: 32 characters, 192 bits. A key is at most 64 (the column).
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# nginx-rtmp's client ids are decimal connection numbers.
CLIENT_ID_PATTERN = re.compile(r"[0-9]{1,20}")
PUBLIC_NAME = re.compile(r"room-([0-9]{1,18})")
# nginx has not reported on a publisher for this many update intervals: nginx is gone (killed,
# restarted) and never sent on_publish_done, so the stream is over.
STALE_AFTER_UPDATES = 3


class StreamRefused(PermissionDenied):
    """nginx must not accept this publish (or must drop it now)."""

    code = "stream_refused"


class StreamBusy(Conflict):
    """The room already has a publisher."""

    code = "stream_busy"


def new_stream_key() -> str:
    return secrets.token_urlsafe(24)


def public_stream_name(room_id: int) -> str:
    """The name the stream is published and played under: the room's public id."""
    return f"room-{room_id}"


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def check_key(raw: str) -> str:
    if not KEY_PATTERN.fullmatch(raw):
        raise ValidationError([{"field": "name", "message": "not a stream key"}])
    return raw


def check_client_id(raw: str) -> str:
    if not CLIENT_ID_PATTERN.fullmatch(raw):
        raise ValidationError([{"field": "clientid", "message": "not an nginx client id"}])
    return raw


@dataclass(frozen=True, slots=True)
class PublishAccepted:
    room_id: int
    stream_id: int
    stream_name: str
    went_live: bool


async def start_publish(svc: Services, key: str, client_id: str, address: str,
                        *, update_seconds: int, grace_seconds: float) -> PublishAccepted:
    """nginx's on_publish: accept the encoder for the key's room, or refuse (nothing written)."""
    check_key(key)
    check_client_id(client_id)
    went_live = False
    # A room that goes live here records `RoomWentLive` (move_room): the room hears it after
    # the commit.
    async with unit_of_work(svc) as session:
        room = await session.scalar(select(Room).where(Room.stream_key == key).with_for_update())
        if room is None:
            # A wrong key and a rotated one look the same: neither says which rooms exist.
            raise StreamRefused("no room has this stream key", field="name")
        if room.status == RoomStatus.ENDED:
            raise RoomEnded("the room has ended", field="name")
        await _close_stale(session, room.id, update_seconds)
        if await _open_stream(session, room.id) is not None:
            raise StreamBusy("the room already has a publisher", field="name")
        last_end = await session.scalar(
            select(func.max(RoomStream.ended_at)).where(RoomStream.room_id == room.id))
        now = await database_now(session)
        resumed = last_end is not None and now - last_end <= timedelta(seconds=grace_seconds)
        stream = RoomStream(room_id=room.id, client_id=client_id,
                            key_fingerprint=key_fingerprint(key), address=address[:64])
        session.add(stream)
        await session.flush()
        if room.status == RoomStatus.SCHEDULED:
            await actions.move_room(session, room, RoomStatus.LIVE, room.host_id)
            went_live = True
        actions.record_room_event(session, room.id, RoomEventType.STREAM_STARTED, room.host_id,
                                  {"stream_id": stream.id, "resumed": resumed})
        accepted = PublishAccepted(room.id, stream.id, public_stream_name(room.id), went_live)
    # Every accepted publish, a resumed one too: a player that gave up on a stream that
    # dropped is told to look again (the state is the same either way).
    await actions.publish_on_air(svc, room.id, True)
    return accepted


async def stream_alive(svc: Services, name: str, client_id: str) -> int:
    """nginx's on_update: the publisher is still there. Refused (nginx drops it) when the
    stream is not open any more, its key was rotated since, or the room has ended."""
    check_client_id(client_id)
    async with svc.db.transaction() as session:
        stream = await _stream_of(session, name, client_id)
        if stream is None:
            raise StreamRefused("no open stream for this publisher", field="name")
        room = (await session.execute(select(Room.stream_key, Room.status)
                                      .where(Room.id == stream.room_id))).one()
        if key_fingerprint(room.stream_key) != stream.key_fingerprint:
            raise StreamRefused("the stream key was rotated", field="name")
        if room.status == RoomStatus.ENDED:
            # The host pressed "End": the encoder is cut off too.
            raise RoomEnded("the room has ended", field="name")
        await session.execute(update(RoomStream).where(RoomStream.id == stream.id)
                              .values(last_seen_at=func.now()))
        return stream.room_id


async def end_publish(svc: Services, name: str, client_id: str) -> int:
    """nginx's on_publish_done: record the end of the stream. The room stays live (see the
    module's note on the grace period)."""
    check_client_id(client_id)
    async with svc.db.transaction() as session:
        stream = await _stream_of(session, name, client_id)
        if stream is None:
            raise NotFound("no open stream for this publisher", field="name",
                           code="stream_not_found")
        await _end(session, stream, "done")
        return stream.room_id


async def rotate_stream_key(svc: Services, actor: Actor, room_id: int) -> Room:
    """A new key for the room; the old one stops working at once for a new publish, and a
    publisher using it is cut off at nginx's next update."""
    async with svc.db.transaction() as session:
        room = await actions.room_for_update(session, room_id, actor)
        if room.status == RoomStatus.ENDED:
            raise RoomEnded("the room has ended", field="room_id")
        room.stream_key = new_stream_key()
        # Never the key itself: the log is read by more people than the host.
        actions.record_room_event(session, room.id, RoomEventType.STREAM_KEY_ROTATED, actor.id,
                                  {"fingerprint": key_fingerprint(room.stream_key)[:6]})
        await session.flush()
        await session.refresh(room)
    return room


async def end_rooms_without_stream(svc: Services, *, grace_seconds: float,
                                   update_seconds: int) -> list[int]:
    """End live rooms whose stream ended (or went stale) more than `grace_seconds` ago and did
    not come back. Rooms that never had a stream (a host live with a pasted playback URL, or
    chat only) are left alone. Run by the beat (`live.end_rooms_without_stream`)."""
    stale_before = func.now() - timedelta(seconds=update_seconds * STALE_AFTER_UPDATES)
    async with svc.db.transaction() as session:
        stale = list(await session.scalars(select(RoomStream).where(
            RoomStream.ended_at.is_(None), RoomStream.last_seen_at < stale_before)))
        for stream in stale:
            await _end(session, stream, "lost")
    ended: list[int] = []
    cutoff = func.now() - timedelta(seconds=grace_seconds)
    async with svc.db.session() as session:
        candidates = list(await session.scalars(
            select(Room.id).where(Room.status == RoomStatus.LIVE.value)
            .where(select(RoomStream.id).where(RoomStream.room_id == Room.id).exists())
            .where(~select(RoomStream.id).where(RoomStream.room_id == Room.id,
                                                 RoomStream.ended_at.is_(None)
                                                 | (RoomStream.ended_at > cutoff)).exists())))
    for room_id in candidates:
        async with unit_of_work(svc) as session:
            room = await session.scalar(select(Room).where(Room.id == room_id).with_for_update())
            # Checked again under the lock: the encoder may have come back meanwhile.
            if room is None or room.status != RoomStatus.LIVE or await _open_stream(
                    session, room_id) is not None:
                continue
            # Records `RoomEnded`: the room hears of it and the report is built after the commit.
            await actions.move_room(session, room, RoomStatus.ENDED, None)
        # The grace period is over: off air (players stop looking for the stream); the room
        # hears it ended from the `RoomEnded` handler.
        await actions.publish_on_air(svc, room_id, False)
        ended.append(room_id)
    return ended


# Helpers ---------------------------------------------------------------------------------


async def _open_stream(session: AsyncSession, room_id: int) -> RoomStream | None:
    return await session.scalar(select(RoomStream).where(
        RoomStream.room_id == room_id, RoomStream.ended_at.is_(None)).with_for_update())


async def _close_stale(session: AsyncSession, room_id: int, update_seconds: int) -> None:
    stale_before = func.now() - timedelta(seconds=update_seconds * STALE_AFTER_UPDATES)
    stream = await session.scalar(select(RoomStream).where(
        RoomStream.room_id == room_id, RoomStream.ended_at.is_(None),
        RoomStream.last_seen_at < stale_before).with_for_update())
    if stream is not None:
        await _end(session, stream, "lost")


async def _stream_of(session: AsyncSession, name: str, client_id: str) -> RoomStream | None:
    """The open stream of nginx's publisher `client_id`, named by the key it published with or
    by its public name (nginx-rtmp's later callbacks carry one or the other)."""
    public = PUBLIC_NAME.fullmatch(name)
    query = select(RoomStream).where(RoomStream.client_id == client_id,
                                     RoomStream.ended_at.is_(None))
    if public is not None:
        query = query.where(RoomStream.room_id == int(public.group(1)))
    else:
        query = query.where(RoomStream.key_fingerprint == key_fingerprint(check_key(name)))
    return await session.scalar(query.with_for_update())


async def _end(session: AsyncSession, stream: RoomStream, reason: str) -> None:
    ended_at = stream.last_seen_at if reason == "lost" else func.now()
    await session.execute(update(RoomStream).where(RoomStream.id == stream.id)
                          .values(ended_at=ended_at, end_reason=reason))
    await session.flush()
    await session.refresh(stream)
    started = stream.started_at
    seconds = (stream.ended_at - started).total_seconds() if stream.ended_at else None
    room_owner = await session.scalar(select(Room.host_id).where(Room.id == stream.room_id))
    actions.record_room_event(session, stream.room_id, RoomEventType.STREAM_ENDED, room_owner,
                              {"stream_id": stream.id, "reason": reason,
                               "seconds": round(seconds, 1) if seconds is not None else None})
