"""Tables of the social package: who follows whom, who asked to be reminded of a show, the
in-app notifications, the go-live alerts owed and sent, and reviews of completed orders."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.columns import now_column, references
from core.db import Base


class Follow(Base):
    """A viewer follows a host. One row per pair; unfollowing deletes it."""

    __tablename__ = "follows"
    __table_args__ = (
        CheckConstraint("follower_id <> host_id", name="not_self"),
        # A host's followers, newest first, and the alert's keyset walk by follower id.
        Index("ix_follows_host_follower", "host_id", "follower_id"),
    )

    follower_id: Mapped[int] = references("users.id", ondelete="CASCADE", primary_key=True)
    host_id: Mapped[int] = references("users.id", ondelete="CASCADE", primary_key=True)
    created_at: Mapped[datetime] = now_column()


class RoomReminder(Base):
    """A viewer asked to be told when a scheduled room goes live ("remind me")."""

    __tablename__ = "room_reminders"
    __table_args__ = (Index("ix_room_reminders_room_user", "room_id", "user_id"),)

    user_id: Mapped[int] = references("users.id", ondelete="CASCADE", primary_key=True)
    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE", primary_key=True)
    created_at: Mapped[datetime] = now_column()


class NotificationKind(StrEnum):
    ROOM_LIVE = "room_live"


class Notification(Base):
    """One in-app notification of one user. `dedupe_key` makes each alert exactly once per
    user however often the task that writes it runs (`room_live:{room_id}`)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "dedupe_key", name="uq_notifications_user_dedupe"),
        Index("ix_notifications_user_id_desc", "user_id", "id"),
        # The header's badge: a count of a user's unread rows.
        Index("ix_notifications_unread", "user_id", postgresql_where="read_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = references("users.id", ondelete="CASCADE")
    kind: Mapped[str] = mapped_column(String(20))
    dedupe_key: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(300), default="", server_default="")
    url: Mapped[str] = mapped_column(String(300), default="", server_default="")
    room_id: Mapped[int | None] = references("rooms.id", ondelete="CASCADE")
    host_id: Mapped[int | None] = references("users.id", ondelete="CASCADE")
    created_at: Mapped[datetime] = now_column()
    read_at: Mapped[datetime | None]

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "title": self.title, "body": self.body,
            "url": self.url, "room_id": self.room_id, "host_id": self.host_id,
            "created_at": self.created_at.isoformat(),
            "read_at": self.read_at.isoformat() if self.read_at else None,
        }


class GoLiveAlert(Base):
    """A room's go-live alert, written by the task that sends it (social/alerts.py) and
    finished once every follower's notification is in. A live room without a finished row is
    owed one: the sweep sends those a lost or crashed task left."""

    __tablename__ = "go_live_alerts"

    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE", primary_key=True)
    started_at: Mapped[datetime] = now_column()
    finished_at: Mapped[datetime | None]
    notified: Mapped[int] = mapped_column(default=0, server_default="0")


class Review(Base):
    """A buyer's rating (1-5) and words on one completed order of theirs, at most one per
    order; editable until `editable_until`, then fixed. The host may reply once."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating between 1 and 5", name="rating_range"),
        UniqueConstraint("order_id", name="uq_reviews_order_id"),
        Index("ix_reviews_host_created", "host_id", "created_at"),
        Index("ix_reviews_product_created", "product_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = references("orders.id", ondelete="CASCADE")
    buyer_id: Mapped[int] = references("users.id", ondelete="CASCADE")
    host_id: Mapped[int] = references("users.id", ondelete="CASCADE")
    product_id: Mapped[int] = references("products.id", ondelete="CASCADE")
    rating: Mapped[int]
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()
    editable_until: Mapped[datetime]
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None]
