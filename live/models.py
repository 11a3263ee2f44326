"""Tables of the live package."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    column,
    func,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, column_property, mapped_column

from core.columns import EventLogEntry, enum_column, now_column, references
from core.db import Base


class RoomStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


ROOM_MOVES: dict[RoomStatus, frozenset[RoomStatus]] = {
    RoomStatus.SCHEDULED: frozenset({RoomStatus.LIVE, RoomStatus.ENDED}),
    RoomStatus.LIVE: frozenset({RoomStatus.ENDED}),
    RoomStatus.ENDED: frozenset(),
}


class RoomEventType(StrEnum):
    """What the room event log (`room_events.type`) records. Live writes these and readers
    (analytics, the event log API) import them. A change the room also hears about has the
    wire's name (realtime.protocol.ServerEvent): a pin is `pin` in both."""

    ROOM_CREATED = "room_created"
    ROOM_UPDATED = "room_updated"
    ROOM_LIVE = "room_live"
    ROOM_ENDED = "room_ended"
    LINEUP_SET = "lineup_set"
    PIN = "pin"
    UNPIN = "unpin"
    USER_MUTED = "user_muted"
    USER_UNMUTED = "user_unmuted"
    CHAT_DELETED = "chat_deleted"
    # Video ingest (live/streams.py): a publisher accepted by nginx, its end, a new key.
    STREAM_STARTED = "stream_started"
    STREAM_ENDED = "stream_ended"
    STREAM_KEY_ROTATED = "stream_key_rotated"


# The log entry of each move of ROOM_MOVES' targets (a room is never moved back to scheduled).
STATUS_EVENTS = {RoomStatus.LIVE: RoomEventType.ROOM_LIVE, RoomStatus.ENDED: RoomEventType.ROOM_ENDED}


# orders' variants, as far as a product's stock needs them (read-only).
_VARIANTS = table("product_variants", column("product_id"), column("stock"), column("active"))


class Product(Base):
    """An item in a host's catalog. Price is integer minor units plus an ISO currency code."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="price_non_negative"),
        CheckConstraint("char_length(currency) = 3", name="currency_code"),
        CheckConstraint("share_rate_bp IS NULL OR (share_rate_bp >= 0 AND "
                        "share_rate_bp <= 10000)", name="share_rate_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = references("users.id", index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    image_url: Mapped[str | None] = mapped_column(String(500))
    price_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # The host's commission on this product, in basis points (100 = 1%); NULL falls back to the
    # room's rate, then to the default (orders/commissions.py). Snapshotted on each sale.
    commission_rate_bp: Mapped[int | None]
    # What a sharer earns on this product's orders, in basis points; NULL: the platform's
    # default; never more than the platform's cap (docs/social.md). Public: a sharer sees it.
    share_rate_bp: Mapped[int | None]
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    # The product's stock is its variants' (`orders.product_variants`, read here through a
    # stand-in: live writes none of it): the units of every size and colour on sale at the
    # regular price, held and bought ones included, flash sales' taken out (docs/decisions/
    # 0021). A product without options has one variant, whose stock the host sets as the
    # product's (`ProductStockSet`).
    stock: Mapped[int] = column_property(
        select(func.coalesce(func.sum(_VARIANTS.c.stock), 0).cast(Integer))
        .where(_VARIANTS.c.product_id == id, _VARIANTS.c.active)
        .correlate_except(_VARIANTS).scalar_subquery(), deferred=False)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host_id": self.host_id,
            "title": self.title,
            "description": self.description,
            "image_url": self.image_url,
            "price_minor": self.price_minor,
            "currency": self.currency,
            "stock": self.stock,
        }


def with_private(public: dict[str, Any], commission_rate_bp: int | None) -> dict[str, Any]:
    """What only the owner (and ops) see besides the public view: the commission terms."""
    return {**public, "commission_rate_bp": commission_rate_bp}


def product_private(product: Product) -> dict[str, Any]:
    """The owner's view of a product: the public one, the host commission and the share rate
    the host set (null: the platform's default)."""
    return {**with_private(product.public(), product.commission_rate_bp),
            "share_rate_bp": product.share_rate_bp}


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (
        CheckConstraint("status in ('scheduled', 'live', 'ended')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = references("users.id", index=True)
    title: Mapped[str] = mapped_column(String(120))
    scheduled_at: Mapped[datetime | None]
    status: Mapped[str] = enum_column(RoomStatus.SCHEDULED)
    playback_url: Mapped[str | None] = mapped_column(String(500))
    stream_key: Mapped[str] = mapped_column(String(64), unique=True)
    pinned_product_id: Mapped[int | None] = references("products.id")
    slow_mode_seconds: Mapped[int] = mapped_column(default=0, server_default="0")
    # Whether a viewer's chat line can buy the pinned product (orders/chat_buy.py). In the
    # room's public view, so the hub's copy of the room answers it without a query per line.
    # No Python-side default: an insert that does not set it leaves it to the server, so code
    # that writes rooms against an older schema (the migration tests) still can.
    comment_to_buy: Mapped[bool] = mapped_column(server_default="false")
    # The host's commission in this room, in basis points; NULL falls back to the default. A
    # product's own rate overrides it.
    commission_rate_bp: Mapped[int | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = now_column()

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host_id": self.host_id,
            "title": self.title,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "status": self.status,
            "playback_url": self.playback_url,
            "pinned_product_id": self.pinned_product_id,
            "slow_mode_seconds": self.slow_mode_seconds,
            "comment_to_buy": bool(self.comment_to_buy),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }


class LineupItem(Base):
    """A product in a room's lineup, in order."""

    __tablename__ = "lineup_items"
    __table_args__ = (
        UniqueConstraint("room_id", "product_id", name="uq_lineup_items_room_product"),
        Index("ix_lineup_items_room_position", "room_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE")
    product_id: Mapped[int] = references("products.id")
    position: Mapped[int]


class RoomEvent(EventLogEntry, Base):
    """Append-only log of every change to a room (`type`: a RoomEventType). Analytics read it;
    nothing edits it."""

    __tablename__ = "room_events"
    __table_args__ = (Index("ix_room_events_room_created", "room_id", "created_at"),)

    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE")


class RoomMute(Base):
    """A user muted in a room. Redis holds the live set; this is the truth it is rebuilt from."""

    __tablename__ = "room_mutes"
    __table_args__ = (UniqueConstraint("room_id", "user_id", name="uq_room_mutes_room_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE")
    user_id: Mapped[int] = references("users.id")
    muted_by: Mapped[int] = references("users.id")
    # Unix time the mute ends; NULL means until unmuted.
    until_epoch_s: Mapped[int | None]
    created_at: Mapped[datetime] = now_column()


class RoomStream(Base):
    """One publish of a room's video through the ingest (nginx-rtmp): from the encoder's
    connect to its disconnect. At most one is open per room (the partial unique index), which
    is what "one publisher at a time" rests on."""

    __tablename__ = "room_streams"
    __table_args__ = (
        Index("uq_room_streams_open", "room_id", unique=True,
              postgresql_where="ended_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE", index=True)
    # nginx-rtmp's id of the publishing connection, which its later callbacks carry.
    client_id: Mapped[str] = mapped_column(String(32))
    # The first characters of the key's SHA-256: which key was used, without keeping it.
    key_fingerprint: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64), default="", server_default="")
    started_at: Mapped[datetime] = now_column()
    last_seen_at: Mapped[datetime] = now_column()
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20))


class VideoStatus(StrEnum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


# A retry of a transcode that was killed finds the video processing and takes it again.
VIDEO_MOVES: dict[VideoStatus, frozenset[VideoStatus]] = {
    VideoStatus.UPLOADED: frozenset({VideoStatus.PROCESSING, VideoStatus.FAILED}),
    VideoStatus.PROCESSING: frozenset({VideoStatus.PROCESSING, VideoStatus.READY,
                                       VideoStatus.FAILED}),
    VideoStatus.READY: frozenset(),
    VideoStatus.FAILED: frozenset(),
}


class ShortVideo(Base):
    """A host's uploaded short video and its transcode (live/videos.py, docs/video.md)."""

    __tablename__ = "short_videos"
    __table_args__ = (
        CheckConstraint("status in ('uploaded', 'processing', 'ready', 'failed')",
                        name="status"),
        Index("ix_short_videos_status_created", "status", "created_at"),
        # The feeds (live/videos.py, social/feed.py): ready rows in (ready_at, id) order,
        # everyone's and per host, so a page is an index range read backwards from its
        # cursor, not a sort of every ready video (EXPLAIN figures in docs/video.md).
        Index("ix_short_videos_ready_feed", "ready_at", "id",
              postgresql_where="status = 'ready'"),
        Index("ix_short_videos_host_ready_feed", "host_id", "ready_at", "id",
              postgresql_where="status = 'ready'"),
        Index("uq_short_videos_room_replay", "room_id", unique=True,
              postgresql_where="room_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = references("users.id", index=True)
    # A room's replay (live/replays.py): its recording, tagged with the show's pins. At most
    # one per room (the partial unique index).
    room_id: Mapped[int | None] = references("rooms.id", ondelete="CASCADE")
    title: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = enum_column(VideoStatus.UPLOADED, length=12)
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    size_bytes: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(60))
    duration_ms: Mapped[int | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    # The ladder's heights, highest first, once ready (e.g. [720, 360]).
    renditions: Mapped[list[int]] = mapped_column(JSONB, default=list, server_default="[]")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    ready_at: Mapped[datetime | None]


class ShortVideoTag(Base):
    """A product shown in a short video from a moment on: the page shows its card from then."""

    __tablename__ = "short_video_tags"
    __table_args__ = (
        CheckConstraint("at_ms >= 0", name="at_ms_non_negative"),
        Index("ix_short_video_tags_video_at", "video_id", "at_ms"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = references("short_videos.id", ondelete="CASCADE")
    product_id: Mapped[int] = references("products.id")
    at_ms: Mapped[int]
