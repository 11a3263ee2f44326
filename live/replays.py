"""A room's replay: the show's recording as a short video, tagged with its pins.

nginx records each publish whole (`record all` in deploy/nginx: `room-{id}-{time}.flv` in
INGEST_RECORD_DIR). When the room has ended, `build_replay` joins the room's recordings into
one file, records a short video with `room_id` set, and tags it with every pin of the show at
its moment in the recording; the usual transcode (`ShortVideoUploaded`) does the rest. The
replay page then shows the pinned products as cards at their moments and a chapter per
product.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from core.events import record, unit_of_work
from core.settings import VideoSettings
from live.events import ShortVideoUploaded
from live.models import (
    Room,
    RoomEvent,
    RoomEventType,
    RoomStatus,
    RoomStream,
    ShortVideo,
    ShortVideoTag,
)
from live.videos import MediaLayout

# A show is hours at most; joining its recordings copies streams, it does not re-encode.
JOIN_TIMEOUT_SECONDS = 600


def recordings(record_dir: Path, room_id: int) -> list[Path]:
    """The room's recordings in the order they were made (nginx names them by start time)."""
    found = list(record_dir.glob(f"room-{room_id}-*.flv")) + list(
        record_dir.glob(f"room-{room_id}.flv"))
    return sorted((p for p in found if p.stat().st_size > 0),
                  key=lambda p: (p.stat().st_mtime, p.name))


def recording_offset_ms(moment: datetime, streams: list[tuple[datetime, datetime]]) -> int:
    """Where a moment of the show falls in the joined recording: the time streamed before it,
    the gaps between streams left out."""
    total = 0.0
    for started, ended in streams:
        if moment <= started:
            break
        total += (min(moment, ended) - started).total_seconds()
    return max(0, round(total * 1000))


async def build_replay(svc: Services, settings: VideoSettings, record_dir: Path,
                       room_id: int) -> int | None:
    """The room's replay video's id (made once), or None while there is nothing to make it
    from (the room has not ended, or nothing was recorded)."""
    async with svc.db.session() as session:
        room = await session.get(Room, room_id)
        if room is None or room.status != RoomStatus.ENDED:
            return None
        existing = await session.scalar(select(ShortVideo.id).where(ShortVideo.room_id == room_id))
        if existing is not None:
            return int(existing)
    files = await asyncio.to_thread(recordings, record_dir, room_id)
    if not files:
        return None
    layout = MediaLayout.of(settings)
    await asyncio.to_thread(layout.uploads.mkdir, parents=True, exist_ok=True)
    part = layout.uploads / f".part-replay-{secrets.token_hex(8)}.mp4"
    try:
        await asyncio.to_thread(_join, files, part)
        size = part.stat().st_size
        async with unit_of_work(svc) as session:
            # Checked again in the transaction (two builds at once): the unique index decides.
            if await session.scalar(select(ShortVideo.id).where(ShortVideo.room_id == room_id)):
                return await _replay_id(svc, room_id)
            video = ShortVideo(host_id=room.host_id, room_id=room_id,
                               title=f"{room.title} (replay)"[:120], size_bytes=size,
                               content_type="video/mp4")
            session.add(video)
            await session.flush()
            session.add_all(await _pin_tags(session, room_id, video.id))
            await asyncio.to_thread(os.replace, part, layout.source(video.id))
            record(session, ShortVideoUploaded(video_id=video.id))
            video_id = video.id
        return video_id
    finally:
        await asyncio.to_thread(part.unlink, missing_ok=True)


async def _replay_id(svc: Services, room_id: int) -> int | None:
    async with svc.db.session() as session:
        found = await session.scalar(select(ShortVideo.id).where(ShortVideo.room_id == room_id))
    return int(found) if found is not None else None


async def _pin_tags(session: AsyncSession, room_id: int, video_id: int) -> list[ShortVideoTag]:
    streams = [(started, ended) for started, ended in (await session.execute(
        select(RoomStream.started_at, RoomStream.ended_at).where(RoomStream.room_id == room_id)
        .order_by(RoomStream.started_at))).all() if ended is not None]
    pins = (await session.execute(
        select(RoomEvent.created_at, RoomEvent.data).where(
            RoomEvent.room_id == room_id, RoomEvent.type == RoomEventType.PIN.value)
        .order_by(RoomEvent.id))).all()
    return [ShortVideoTag(video_id=video_id, product_id=int(data["product_id"]),
                          at_ms=recording_offset_ms(created_at, streams))
            for created_at, data in pins if data.get("product_id")]


def _join(files: list[Path], out: Path) -> None:
    """One MP4 of the recordings, streams copied (nginx wrote H.264/AAC as the encoder sent)."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{f.resolve()}'\n" for f in files))
    try:
        result = subprocess.run(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat",
             "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(out)],
            capture_output=True, timeout=JOIN_TIMEOUT_SECONDS, check=False)
    finally:
        listing.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(f"joining the recordings failed: {result.stderr.decode()[-300:]}")


async def rooms_needing_replay(svc: Services, *, within_hours: int = 24,
                               settled_seconds: float = 10.0) -> list[int]:
    """Ended rooms that streamed and have no replay yet: ended within the last `within_hours`
    (older ones are left to an operator) and at least `settled_seconds` ago (nginx has closed
    the last recording)."""
    from datetime import timedelta

    from sqlalchemy import func

    async with svc.db.session() as session:
        return list(await session.scalars(
            select(Room.id).where(
                Room.status == RoomStatus.ENDED.value,
                Room.ended_at > func.now() - timedelta(hours=within_hours),
                Room.ended_at < func.now() - timedelta(seconds=settled_seconds),
                select(RoomStream.id).where(RoomStream.room_id == Room.id).exists(),
                ~select(ShortVideo.id).where(ShortVideo.room_id == Room.id).exists())
            .order_by(Room.id).limit(20)))
