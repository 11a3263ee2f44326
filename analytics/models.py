"""Tables of the analytics package.

`analytics_events` holds the raw facts recorded while a room is live (viewer joins and leaves,
chat and likes, product card views and clicks); see docs/decisions/0010-analytics-raw-events.md.
`broadcast_reports` holds one built report per room, rebuilt in place. Rows with a `video_id`
are a short video's or a replay's (views, seconds watched, tag clicks), read by the video
report (analytics/videos.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.columns import now_column, references
from core.db import Base


class EventKind(StrEnum):
    VIEWER_JOINED = "viewer_joined"
    VIEWER_LEFT = "viewer_left"
    CHAT = "chat"
    LIKES = "likes"
    PRODUCT_VIEW = "product_view"
    PRODUCT_CLICK = "product_click"
    # A short video or a replay (rows with `video_id`): a play started, seconds watched.
    VIDEO_VIEW = "video_view"
    VIDEO_WATCH = "video_watch"


EVENT_KINDS = tuple(kind.value for kind in EventKind)


class AnalyticsEvent(Base):
    """One recorded fact. Append-only; the recorder writes it in batches.

    `count` lets the recorder fold many chat lines or likes of one minute into one row; joins and
    leaves always have count 1 and their exact time.
    """

    __tablename__ = "analytics_events"
    __table_args__ = (
        CheckConstraint(
            "kind in (" + ", ".join(f"'{k}'" for k in EVENT_KINDS) + ")", name="kind"),
        CheckConstraint("count > 0", name="count_positive"),
        # A row is a live room's or a video's (a short video or a replay), never both.
        CheckConstraint("(room_id IS NULL) <> (video_id IS NULL)", name="room_or_video"),
        Index("ix_analytics_events_room_at", "room_id", "at"),
        Index("ix_analytics_events_video_at", "video_id", "at",
              postgresql_where=text("video_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys: the recorder must never fail a batch because of one row, and rooms are
    # never deleted. The report reads only rows of rooms that exist.
    room_id: Mapped[int | None]
    # A short video's or a replay's events (views, watch time, tag clicks): migration 0015.
    video_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    viewer_key: Mapped[str | None] = mapped_column(String(80))
    user_id: Mapped[int | None]
    product_id: Mapped[int | None]
    count: Mapped[int] = mapped_column(default=1, server_default="1")


class BroadcastReport(Base):
    """The report of one broadcast. Headline numbers are columns (the dashboard filters and sorts
    on them); the full report is `data`. Rebuilt in place: same inputs, same row."""

    __tablename__ = "broadcast_reports"
    __table_args__ = (Index("ix_broadcast_reports_host_started", "host_id", "started_at"),)

    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE", primary_key=True)
    host_id: Mapped[int] = references("users.id")
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    gmv_minor: Mapped[int]
    net_gmv_minor: Mapped[int]
    paid_orders: Mapped[int]
    buyers: Mapped[int]
    peak_viewers: Mapped[int]
    unique_viewers: Mapped[int]
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # What the report was built from: the last order event id seen, so a sweep can tell that a
    # later refund or payment makes the report stale.
    last_order_event_id: Mapped[int] = mapped_column(default=0, server_default="0")
    # Likewise the last recorded event id: the recorder's final flush can land just after a
    # report was built at the room's end.
    last_event_id: Mapped[int] = mapped_column(default=0, server_default="0")
    built_at: Mapped[datetime] = now_column()
