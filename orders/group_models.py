"""Tables of group buys (拼团): the deals a host offers and the groups buyers open
(migration 0022; docs/social.md, "Group buys"). A group's members are its orders
(`orders.group_id`): a member holds a slot while their order awaits payment and is one once it
is paid, so every move of an order (paid, expired, cancelled, refunded) is a move of its
membership, with no second row to keep in step."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import to_epoch_ms
from core.columns import enum_column, now_column, references
from core.db import Base


class DealStatus(StrEnum):
    OPEN = "open"      # new groups may be opened
    ENDED = "ended"    # no new group; open groups run to their deadline, then it settles


DEAL_MOVES: dict[DealStatus, frozenset[DealStatus]] = {
    DealStatus.OPEN: frozenset({DealStatus.ENDED}),
    DealStatus.ENDED: frozenset(),
}


class GroupStatus(StrEnum):
    OPEN = "open"
    FORMED = "formed"
    FAILED = "failed"


GROUP_MOVES: dict[GroupStatus, frozenset[GroupStatus]] = {
    GroupStatus.OPEN: frozenset({GroupStatus.FORMED, GroupStatus.FAILED}),
    GroupStatus.FORMED: frozenset(),
    GroupStatus.FAILED: frozenset(),
}


class FailReason(StrEnum):
    EXPIRED = "expired"  # the deadline passed with fewer than `size` members paid


class GroupDeal(Base):
    """A host's group deal on a lineup product: groups of `group_size` buyers pay
    `price_minor` each. `units` were taken from the product's stock when the deal was made
    (as a flash sale's quantity is); a group sets `group_size` of them aside when it opens, so
    an open group can always form. Unsold units go back once the deal is ended and settled;
    `returned_units` counts every unit given back to the product since, so that
    `units = returned_units + available + held + sold` holds at every moment."""

    __tablename__ = "group_deals"
    __table_args__ = (
        CheckConstraint("status in ('open', 'ended')", name="status"),
        CheckConstraint("group_size between 2 and 10", name="group_size_range"),
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("price_minor >= 0", name="price_non_negative"),
        CheckConstraint("open_seconds > 0", name="open_seconds_positive"),
        CheckConstraint("returned_units between 0 and units", name="returned_range"),
        Index("ix_group_deals_room_id", "room_id"),
        Index("ix_group_deals_unsettled", "id", postgresql_where=text("settled_at is null")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = references("rooms.id", ondelete="CASCADE")
    product_id: Mapped[int] = references("products.id")
    host_id: Mapped[int] = references("users.id")
    price_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    group_size: Mapped[int] = mapped_column(SmallInteger)
    # How long a group stays open once opened.
    open_seconds: Mapped[int]
    units: Mapped[int]
    # The host's commission rate, resolved when the deal was made, copied onto its orders.
    commission_rate_bp: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[str] = enum_column(DealStatus.OPEN)
    returned_units: Mapped[int] = mapped_column(default=0, server_default="0")
    ended_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = now_column()

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.room_id, "product_id": self.product_id,
                "host_id": self.host_id, "price_minor": self.price_minor,
                "currency": self.currency, "group_size": self.group_size,
                "open_seconds": self.open_seconds, "units": self.units,
                "status": self.status}


class Group(Base):
    """One group of a deal, opened by `leader_id`. `paid_count` is moved only by a payment's
    conditional UPDATE (never past `size`, only while open and before `deadline`), which also
    forms the group at `size`; the failure sweep's conditional UPDATE fails it. Both hold the
    row, so a payment and the deadline are decided one after the other."""

    __tablename__ = "groups"
    __table_args__ = (
        CheckConstraint("status in ('open', 'formed', 'failed')", name="status"),
        CheckConstraint("paid_count between 0 and size", name="paid_range"),
        CheckConstraint("status <> 'formed' OR paid_count = size", name="formed_full"),
        Index("uq_groups_code", "code", unique=True),
        Index("ix_groups_deal_id", "deal_id"),
        # The failure sweep reads only open groups, earliest deadline first.
        Index("ix_groups_open_deadline", "deadline", postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = references("group_deals.id")
    # The group page's address (`/g/{code}`): random, so groups cannot be walked through.
    code: Mapped[str] = mapped_column(String(24))
    leader_id: Mapped[int] = references("users.id")
    size: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = enum_column(GroupStatus.OPEN)
    paid_count: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    deadline: Mapped[datetime]
    fail_reason: Mapped[str | None] = mapped_column(String(20))
    formed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = now_column()

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "deal_id": self.deal_id, "code": self.code,
                "leader_id": self.leader_id, "size": self.size, "status": self.status,
                "paid_count": self.paid_count, "deadline_ms": to_epoch_ms(self.deadline),
                "fail_reason": self.fail_reason}
