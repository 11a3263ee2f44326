"""Short videos: a host's upload, streamed to disk, and its transcode into an HLS ladder.

Status: uploaded -> processing -> ready | failed (with the reason kept). Each move is a
conditional UPDATE from the states `VIDEO_MOVES` allows, so a duplicate task or a retry
changes nothing twice. The transcode writes into a temporary folder beside the final one and
moves it into place last; only then is the video marked ready. A worker killed mid-transcode
leaves the video processing with a stray temporary folder, which the retry removes.

Files, under `VideoSettings.media_dir`: `uploads/{id}.src` (the original), `videos/{id}/`
(`master.m3u8`, `{height}p/index.m3u8` and segments, `poster.jpg`), served at
`/media/videos/{id}/…`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import BigInteger, DateTime, delete, func, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Actor, owns_or_ops
from core.context import Services
from core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    TooLarge,
    UnsupportedMediaType,
    ValidationError,
    present,
)
from core.events import record, unit_of_work
from core.settings import VideoSettings
from core.types import is_id
from live import transcode
from live.actions import LineupProduct, RoomTerms
from live.events import ShortVideoUploaded
from live.models import VIDEO_MOVES, Product, Room, ShortVideo, ShortVideoTag, VideoStatus
from live.schemas import VideoTagIn

log = logging.getLogger(__name__)

# What a phone or an editor exports. The bytes are checked too (`_looks_like_video`).
ACCEPTED_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm", "video/x-matroska"})
# The first bytes are enough to tell an MP4/MOV box or a Matroska/WebM header.
SNIFF_BYTES = 16
TITLE_MAX = 120


class VideoTooLarge(TooLarge):
    code = "video_too_large"


class NotAVideo(UnsupportedMediaType):
    code = "not_a_video"


class VideoNotFound(NotFound):
    code = "video_not_found"


class VideoNotReady(Conflict):
    code = "video_not_ready"


class NoRoomForVideo(Conflict):
    code = "no_room"


class NotVideoHost(PermissionDenied):
    code = "not_video_host"


@dataclass(frozen=True, slots=True)
class MediaLayout:
    root: Path

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    def source(self, video_id: int) -> Path:
        return self.uploads / f"{video_id}.src"

    def output(self, video_id: int) -> Path:
        return self.videos / str(video_id)

    def temporary_outputs(self, video_id: int) -> list[Path]:
        return list(self.videos.glob(f".tmp-{video_id}-*"))

    @classmethod
    def of(cls, settings: VideoSettings) -> MediaLayout:
        return cls(Path(settings.media_dir))


def _sources_of(target: VideoStatus) -> list[str]:
    return [status.value for status, targets in VIDEO_MOVES.items() if target in targets]


def _looks_like_video(head: bytes) -> bool:
    # ISO base media (MP4, MOV): a box size then a box type; Matroska/WebM: the EBML magic.
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip") or \
        head.startswith(b"\x1a\x45\xdf\xa3")


def check_title(raw: str | None) -> str:
    title = (raw or "").strip()
    if not title or len(title) > TITLE_MAX or not title.isprintable():
        raise ValidationError([{"field": "title",
                                "message": f"a title of 1 to {TITLE_MAX} printable characters"}])
    return title


def check_content_type(raw: str | None) -> str:
    content_type = (raw or "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise NotAVideo(f"send the file as one of {', '.join(sorted(ACCEPTED_TYPES))}",
                        field="content-type")
    return content_type


async def save_upload(svc: Services, settings: VideoSettings, actor: Actor, title: str,
                      content_type: str, chunks: AsyncIterator[bytes],
                      declared_length: int | None) -> ShortVideo:
    """Stream the body to disk (never whole in memory), check it, and record the video. The
    transcode is queued after the commit (`ShortVideoUploaded`)."""
    title = check_title(title)
    content_type = check_content_type(content_type)
    limit = settings.max_upload_bytes
    if declared_length is not None and declared_length > limit:
        raise VideoTooLarge(f"a video may be at most {limit} bytes", field="body")
    layout = MediaLayout.of(settings)
    await asyncio.to_thread(layout.uploads.mkdir, parents=True, exist_ok=True)
    part = layout.uploads / f".part-{secrets.token_hex(8)}"
    try:
        size = await _write_checked(part, chunks, limit)
        async with unit_of_work(svc) as session:
            video = ShortVideo(host_id=actor.id, title=title, size_bytes=size,
                               content_type=content_type)
            session.add(video)
            await session.flush()
            # In place before the commit: a row never points at a missing file (a rollback
            # leaves a stray file, which harms nothing).
            await asyncio.to_thread(os.replace, part, layout.source(video.id))
            record(session, ShortVideoUploaded(video_id=video.id))
            await session.flush()
            await session.refresh(video)
        return video
    finally:
        await asyncio.to_thread(_unlink, part)


async def _write_checked(path: Path, chunks: AsyncIterator[bytes], limit: int) -> int:
    size = 0
    head = b""
    handle: IO[bytes] = await asyncio.to_thread(open, path, "wb")
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > limit:
                raise VideoTooLarge(f"a video may be at most {limit} bytes", field="body")
            if len(head) < SNIFF_BYTES:
                head += chunk[:SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES and not _looks_like_video(head):
                    raise NotAVideo("the file is not a video", field="body")
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    if size == 0:
        raise ValidationError([{"field": "body", "message": "the file is empty"}])
    if not _looks_like_video(head):
        raise NotAVideo("the file is not a video", field="body")
    return size


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


# The transcode -------------------------------------------------------------------------


async def process_video(svc: Services, settings: VideoSettings, video_id: int) -> str:
    """Probe and transcode the upload, then mark the video ready (or failed, with the reason).
    Returns the status it leaves. A video already ready or failed is left alone."""
    async with svc.db.transaction() as session:
        claimed = (await session.execute(
            update(ShortVideo)
            .where(ShortVideo.id == video_id,
                   ShortVideo.status.in_(_sources_of(VideoStatus.PROCESSING)))
            .values(status=VideoStatus.PROCESSING.value, attempts=ShortVideo.attempts + 1)
            .returning(ShortVideo.id))).scalar_one_or_none()
        if claimed is None:
            status = await session.scalar(select(ShortVideo.status)
                                          .where(ShortVideo.id == video_id))
            if status is None:
                raise VideoNotFound(f"video {video_id} does not exist", field="video_id")
            return str(status)
    layout = MediaLayout.of(settings)
    try:
        info, heights = await asyncio.to_thread(_transcode_into_place, layout, settings, video_id)
    except transcode.TranscodeError as exc:
        reason = str(exc)[:300]
        log.info("video %s failed: %s", video_id, reason)
        await _move(svc, video_id, VideoStatus.FAILED, failure_reason=reason)
        return VideoStatus.FAILED.value
    moved = await _move(svc, video_id, VideoStatus.READY, duration_ms=round(info.duration_seconds * 1000),
                        width=info.width, height=info.height, renditions=heights,
                        ready_at=func.now(), failure_reason=None)
    return VideoStatus.READY.value if moved else await _status(svc, video_id)


def _transcode_into_place(layout: MediaLayout, settings: VideoSettings,
                          video_id: int) -> tuple[transcode.Probe, list[int]]:
    for stray in layout.temporary_outputs(video_id):  # a killed attempt's
        shutil.rmtree(stray, ignore_errors=True)
    source = layout.source(video_id)
    if not source.exists():
        raise transcode.TranscodeError("the uploaded file is missing")
    info = transcode.probe(source)
    if info.duration_seconds > settings.max_seconds:
        raise transcode.TranscodeError(
            f"the video is {info.duration_seconds:.0f} s long; at most {settings.max_seconds} s")
    temporary = layout.videos / f".tmp-{video_id}-{secrets.token_hex(4)}"
    temporary.mkdir(parents=True)
    try:
        heights = transcode.transcode(source, temporary, info,
                                      timeout=settings.transcode_timeout_seconds)
        final = layout.output(video_id)
        if final.exists():
            # An attempt that moved its output in and died before marking the video ready.
            shutil.rmtree(final)
        os.replace(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return info, heights


async def _move(svc: Services, video_id: int, target: VideoStatus, **values: Any) -> bool:
    async with svc.db.transaction() as session:
        moved = (await session.execute(
            update(ShortVideo)
            .where(ShortVideo.id == video_id, ShortVideo.status.in_(_sources_of(target)))
            .values(status=target.value, **values)
            .returning(ShortVideo.id))).scalar_one_or_none()
    return moved is not None


async def _status(svc: Services, video_id: int) -> str:
    async with svc.db.session() as session:
        return str(await session.scalar(select(ShortVideo.status).where(ShortVideo.id == video_id)))


async def videos_to_process(svc: Services, *, older_than_seconds: float) -> list[int]:
    """Videos left uploaded (the task's message was lost) for longer than a task takes to
    be picked up: the sweep queues them again."""
    async with svc.db.session() as session:
        return list(await session.scalars(
            select(ShortVideo.id).where(
                ShortVideo.status == VideoStatus.UPLOADED.value,
                ShortVideo.created_at < func.now() - timedelta(seconds=older_than_seconds))
            .order_by(ShortVideo.id).limit(100)))


# Reading -------------------------------------------------------------------------------


def video_view(video: ShortVideo) -> dict[str, Any]:
    ready = video.status == VideoStatus.READY
    base = f"/media/videos/{video.id}"
    return {
        "id": video.id,
        "host_id": video.host_id,
        "room_id": video.room_id,
        "title": video.title,
        "status": video.status,
        "failure_reason": video.failure_reason,
        "duration_ms": video.duration_ms,
        "width": video.width,
        "height": video.height,
        "renditions": video.renditions,
        "playlist_url": f"{base}/master.m3u8" if ready else None,
        "poster_url": f"{base}/poster.jpg" if ready else None,
        "created_at": video.created_at.isoformat(),
        "ready_at": video.ready_at.isoformat() if video.ready_at else None,
    }


async def get_video(svc: Services, video_id: int) -> ShortVideo:
    return await svc.db.get(ShortVideo, video_id, missing=VideoNotFound(
        f"video {video_id} does not exist", field="video_id"))


# The feeds ---------------------------------------------------------------------------------
#
# Every feed (everyone's here, the followed hosts' in social/feed.py) is ready videos and
# replays newest first, ordered by (ready_at, id) descending and paged by keyset: a page
# starts after the last video of the one before (`FeedCursor`), never at an OFFSET, so a
# video made ready while someone scrolls neither repeats nor hides one, and a deep page costs
# what the first does. The partial indexes on ready rows (`ix_short_videos_ready_feed`,
# `ix_short_videos_host_ready_feed`, migration 0018) are what make that true.

# A cursor is short; anything much longer is not one of ours.
CURSOR_MAX = 64


@dataclass(frozen=True, slots=True)
class FeedCursor:
    """Where a feed page ends: the last video's `ready_at` and id. Opaque to clients (an
    urlsafe base64 of `v1:{microseconds since the epoch}:{id}`)."""

    ready_at: datetime
    video_id: int

    def encode(self) -> str:
        micros = (self.ready_at - EPOCH) // timedelta(microseconds=1)
        return base64.urlsafe_b64encode(f"v1:{micros}:{self.video_id}".encode()).decode() \
            .rstrip("=")

    @classmethod
    def decode(cls, raw: str) -> FeedCursor:
        """Read a cursor from a query string; anything else is a 422 naming `cursor`."""
        try:
            if len(raw) > CURSOR_MAX:
                raise ValueError("too long")
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
            version, micros, video_id = text.split(":")
            if version != "v1" or not (micros.isdigit() and video_id.isdigit()):
                raise ValueError("not a cursor")
            cursor = cls(EPOCH + timedelta(microseconds=int(micros)), int(video_id))
        except (ValueError, OverflowError, binascii.Error):
            raise ValidationError([{"field": "cursor", "message": "not a cursor this feed "
                                    "gave; use next_cursor of the page before"}]) from None
        if not is_id(cursor.video_id):
            raise ValidationError([{"field": "cursor", "message": "not a cursor this feed gave"}])
        return cursor

    @classmethod
    def after(cls, video: ShortVideo) -> FeedCursor:
        # Only ready videos are in a feed.
        return cls(present(video.ready_at, f"video {video.id}'s ready_at"), video.id)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedPage:
    videos: list[ShortVideo]
    # The cursor of the next page; None on the last one.
    next_cursor: FeedCursor | None


def is_ready(videos: Any) -> Any:
    """`status = 'ready'` written into the SQL, not bound: the feeds' indexes are partial on
    that predicate, and a generic plan of a prepared statement (asyncpg prepares each query)
    cannot prove `status = $1` implies it."""
    return videos.status == literal(VideoStatus.READY.value, literal_execute=True)


def newest_first(videos: Any) -> Any:
    """The feeds' order (the columns of the Select or subquery `videos`)."""
    return (videos.ready_at.desc(), videos.id.desc())


def before(videos: Any, cursor: FeedCursor) -> Any:
    """Videos after `cursor` in the feeds' order: a row comparison the (…, ready_at, id)
    indexes answer directly."""
    return tuple_(videos.ready_at, videos.id) < tuple_(
        literal(cursor.ready_at, DateTime(timezone=True)), literal(cursor.video_id, BigInteger))


def page_of(rows: list[ShortVideo], limit: int) -> FeedPage:
    """A page from `limit + 1` rows read: the extra one only says that there is a next page."""
    shown = rows[:limit]
    return FeedPage(shown, FeedCursor.after(shown[-1]) if len(rows) > limit else None)


async def ready_videos(svc: Services, *, host_id: int | None, limit: int,
                       after: FeedCursor | None = None) -> FeedPage:
    """The feed "For you": everyone's ready videos and replays (or one host's), newest first,
    a page after `after`."""
    query = select(ShortVideo).where(is_ready(ShortVideo))
    if host_id is not None:
        query = query.where(ShortVideo.host_id == host_id)
    if after is not None:
        query = query.where(before(ShortVideo, after))
    async with svc.db.session() as session:
        rows = list(await session.scalars(query.order_by(*newest_first(ShortVideo))
                                          .limit(limit + 1)))
    return page_of(rows, limit)


# Product tags ----------------------------------------------------------------------------


async def set_tags(svc: Services, actor: Actor, video_id: int, tags: list[VideoTagIn]
                   ) -> list[dict[str, Any]]:
    """Replace the video's tags: products of the video's host, within its length once known."""
    async with svc.db.transaction() as session:
        video = await session.scalar(select(ShortVideo).where(ShortVideo.id == video_id)
                                     .with_for_update())
        if video is None:
            raise VideoNotFound(f"video {video_id} does not exist", field="video_id")
        if not owns_or_ops(actor, video.host_id):
            raise NotVideoHost("only the video's host can tag it")
        product_ids = {tag.product_id for tag in tags}
        owned = set(await session.scalars(select(Product.id).where(
            Product.id.in_(product_ids), Product.host_id == video.host_id))) if tags else set()
        for index, tag in enumerate(tags):
            if tag.product_id not in owned:
                raise ValidationError([{"field": f"tags.{index}.product_id",
                                        "message": "not in the host's catalog"}])
            if video.duration_ms is not None and tag.at_ms > video.duration_ms:
                raise ValidationError([{"field": f"tags.{index}.at_ms",
                                        "message": f"past the video's end ({video.duration_ms} ms)"}])
        await session.execute(delete(ShortVideoTag).where(ShortVideoTag.video_id == video_id))
        session.add_all(ShortVideoTag(video_id=video_id, product_id=tag.product_id, at_ms=tag.at_ms)
                        for tag in tags)
        await session.flush()
        return await _tags(session, video_id)


async def video_tags(svc: Services, video_id: int) -> list[dict[str, Any]]:
    async with svc.db.session() as session:
        return await _tags(session, video_id)


async def _tags(session: AsyncSession, video_id: int) -> list[dict[str, Any]]:
    rows = (await session.execute(
        select(ShortVideoTag.at_ms, Product).join(Product, Product.id == ShortVideoTag.product_id)
        .where(ShortVideoTag.video_id == video_id)
        .order_by(ShortVideoTag.at_ms, ShortVideoTag.id))).all()
    return [{"at_ms": at_ms, "product": product.public()} for at_ms, product in rows]


# Regular-price buying from a video or replay ----------------------------------------------


def video_kind(video_room_id: int | None) -> str:
    """The order source a video's buys carry: a room's replay, or a host's short video."""
    return "replay" if video_room_id is not None else "video"


async def video_terms(session: AsyncSession, video_id: int,
                      product_ids: list[int]) -> RoomTerms:
    """Inside a regular-price order's transaction (orders/regular.py), for a buy from a video's
    page: the video must be ready; answers those of `product_ids` that it tags and that are its
    host's (the others are absent, and the order is refused naming the line), whether or not a
    room is live. The order's room is the replay's room; a short video has none, and an order
    needs one (orders.room_id and commission_entries.room_id are NOT NULL foreign keys to
    rooms; statements and reports group by room): it is the host's newest room, whose rate does
    not apply (the product's own rate, else the default). docs/video.md."""
    # One round trip: the video, its room's rate, and the tagged products among those asked
    # (a row with no product when none is).
    rows = (await session.execute(
        select(ShortVideo.host_id, ShortVideo.status, ShortVideo.room_id,
               Room.commission_rate_bp, Product.id, Product.title, Product.price_minor,
               Product.currency, Product.commission_rate_bp)
        .select_from(ShortVideo)
        .outerjoin(Room, Room.id == ShortVideo.room_id)
        .outerjoin(ShortVideoTag, (ShortVideoTag.video_id == ShortVideo.id)
                   & ShortVideoTag.product_id.in_(product_ids))
        .outerjoin(Product, (Product.id == ShortVideoTag.product_id)
                   & (Product.host_id == ShortVideo.host_id))
        .where(ShortVideo.id == video_id))).all()
    if not rows:
        raise VideoNotFound(f"video {video_id} does not exist", field="video_id")
    host_id, status, room_id, room_rate_bp = rows[0][0], rows[0][1], rows[0][2], rows[0][3]
    if status != VideoStatus.READY.value:
        raise VideoNotReady(f"the video is {status}: its products sell once it is ready",
                            field="video_id")
    if room_id is None:
        room_id = await session.scalar(select(Room.id).where(Room.host_id == host_id)
                                       .order_by(Room.id.desc()).limit(1))
        if room_id is None:
            raise NoRoomForVideo("the video's host has no room to file its orders under",
                                 field="video_id")
    products = {row[4]: LineupProduct(row[4], row[5], row[6], row[7], row[8])
                for row in rows if row[4] is not None}
    return RoomTerms(room_id, host_id, room_rate_bp, products)
