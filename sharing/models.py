"""Share links, the visits through them and the attributions they set (migration 0017).
Visits and attributions are append-only: "last click wins" and "who brought whom" are both
read from the attributions' history, never from an edited row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.columns import now_column, references
from core.db import Base


class ShareLink(Base):
    """One per sharer and target: asking again gives the same link."""

    __tablename__ = "share_links"
    __table_args__ = (
        CheckConstraint("target_kind in ('room', 'product', 'group')", name="target_kind"),
        UniqueConstraint("sharer_id", "target_kind", "target_id",
                         name="uq_share_links_sharer_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sharer_id: Mapped[int] = references("users.id")
    target_kind: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[int]
    issued_at: Mapped[datetime] = now_column()


class ShareVisit(Base):
    """A counted visit: at most one per client and link per dedupe window."""

    __tablename__ = "share_visits"
    __table_args__ = (Index("ix_share_visits_link_id", "link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = references("share_links.id")
    visitor_id: Mapped[int | None] = references("users.id")
    visited_at: Mapped[datetime] = now_column()


class ShareAttribution(Base):
    """A signed-in visitor's click through a sharer's link, standing until `expires_at`."""

    __tablename__ = "share_attributions"
    __table_args__ = (
        CheckConstraint("user_id <> sharer_id", name="not_self"),
        CheckConstraint("expires_at > clicked_at", name="window"),
        Index("ix_share_attributions_user_clicked", "user_id", "clicked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = references("users.id")
    sharer_id: Mapped[int] = references("users.id")
    link_id: Mapped[int] = references("share_links.id")
    clicked_at: Mapped[datetime] = now_column()
    expires_at: Mapped[datetime]

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "sharer_id": self.sharer_id, "link_id": self.link_id,
                "clicked_at": self.clicked_at.isoformat(),
                "expires_at": self.expires_at.isoformat()}
