"""Reads of the analytics package: the broadcast list, stored reports, orders for export and
the live numbers of a room on air."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from analytics.errors import NotYourBroadcast
from analytics.metrics import PAID_STATUSES, iso
from analytics.models import AnalyticsEvent, BroadcastReport, EventKind
from core.accounts import Actor, Role, User, owns_or_ops
from core.db import database_now
from live.models import Product, Room, RoomStatus
from orders.models import Order, OrderEvent, OrderStatus


def check_can_read(reader: Actor, room: Room) -> None:
    """Ops read every broadcast; a host reads their own."""
    if not owns_or_ops(reader, room.host_id):
        raise NotYourBroadcast("only the room's host and ops can read its numbers",
                               field="room_id")


@dataclass(frozen=True)
class BroadcastRow:
    room: Room
    host_name: str
    report: BroadcastReport | None

    def public(self) -> dict[str, Any]:
        report = self.report
        return {
            "room_id": self.room.id,
            "title": self.room.title,
            "status": self.room.status,
            "host_id": self.room.host_id,
            "host_name": self.host_name,
            "started_at": self.room.started_at.isoformat() if self.room.started_at else None,
            "ended_at": self.room.ended_at.isoformat() if self.room.ended_at else None,
            "report": None if report is None else {
                "currency": report.currency, "gmv_minor": report.gmv_minor,
                "net_gmv_minor": report.net_gmv_minor, "paid_orders": report.paid_orders,
                "buyers": report.buyers, "peak_viewers": report.peak_viewers,
                "unique_viewers": report.unique_viewers,
                "avg_watch_seconds": report.data["summary"]["avg_watch_seconds"],
                "conversion_rate": report.data["summary"]["conversion_rate"],
                "built_at": report.built_at.isoformat(),
            },
        }


async def list_broadcasts(session: AsyncSession, *, host_id: int | None = None,
                          since: datetime | None = None, until: datetime | None = None,
                          limit: int = 200) -> list[BroadcastRow]:
    """Rooms that went live (live or ended), newest first, with their report when built.
    `since`/`until` filter on the time the room went live: [since, until)."""
    query = (select(Room, User.display_name, BroadcastReport)
             .join(User, User.id == Room.host_id)
             .outerjoin(BroadcastReport, BroadcastReport.room_id == Room.id)
             .where(Room.status.in_([RoomStatus.LIVE.value, RoomStatus.ENDED.value]))
             .order_by(Room.started_at.desc().nulls_last(), Room.id.desc()).limit(limit))
    if host_id is not None:
        query = query.where(Room.host_id == host_id)
    if since is not None:
        query = query.where(Room.started_at >= since)
    if until is not None:
        query = query.where(Room.started_at < until)
    rows = await session.execute(query)
    return [BroadcastRow(room, name, report) for room, name, report in rows]


async def list_hosts(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(User.id, User.display_name).where(User.role == Role.HOST.value)
        .order_by(User.display_name, User.id))
    return [{"id": user_id, "display_name": name} for user_id, name in rows]


async def get_report(session: AsyncSession, room_id: int) -> BroadcastReport | None:
    return await session.get(BroadcastReport, room_id)


ORDER_COLUMNS = ("order_id", "created_at", "status", "product_id", "product_title", "quantity",
                 "amount_minor", "currency", "buyer_id", "buyer_name", "paid_at", "refunded_at",
                 "sale_id")


async def broadcast_orders(session: AsyncSession, room_id: int) -> list[dict[str, Any]]:
    """Every order of the room, oldest first, with the times it was paid and refunded (from the
    order event log). Buyers appear by id and display name only: no emails in an export."""
    paid = (select(OrderEvent.order_id, func.min(OrderEvent.created_at).label("at"))
            .where(OrderEvent.to_status == OrderStatus.PAID.value).group_by(OrderEvent.order_id).subquery())
    refunded = (select(OrderEvent.order_id, func.min(OrderEvent.created_at).label("at"))
                .where(OrderEvent.to_status == OrderStatus.REFUNDED.value).group_by(OrderEvent.order_id)
                .subquery())
    buyer = aliased(User)
    rows = await session.execute(
        select(Order, Product.title, buyer.display_name, paid.c.at, refunded.c.at)
        .join(Product, Product.id == Order.product_id)
        .join(buyer, buyer.id == Order.user_id)
        .outerjoin(paid, paid.c.order_id == Order.id)
        .outerjoin(refunded, refunded.c.order_id == Order.id)
        .where(Order.room_id == room_id).order_by(Order.created_at, Order.id))
    result = []
    for order, title, buyer_name, paid_at, refunded_at in rows:
        paid_at = paid_at or (order.paid_at if order.status in PAID_STATUSES else None)
        result.append({
            "order_id": order.id, "created_at": iso_or_none(order.created_at),
            "status": order.status, "product_id": order.product_id, "product_title": title,
            "quantity": order.quantity, "amount_minor": order.amount_minor,
            "currency": order.currency, "buyer_id": order.user_id, "buyer_name": buyer_name,
            "paid_at": iso_or_none(paid_at), "refunded_at": iso_or_none(refunded_at),
            "sale_id": order.sale_id,
        })
    return result


def iso_or_none(moment: datetime | None) -> str | None:
    return iso(int(moment.timestamp() * 1000)) if moment is not None else None


async def live_numbers(session: AsyncSession, room: Room, *, top: int = 5) -> dict[str, Any]:
    """The numbers of a room so far, cheap enough to poll every few seconds: three aggregate
    queries, no per-event work in Python."""
    paid = Order.status.in_(PAID_STATUSES)
    money_rows = (await session.execute(
        select(Order.currency, func.count(), func.count().filter(paid),
               func.coalesce(func.sum(Order.amount_minor).filter(paid), 0),
               func.coalesce(func.sum(Order.amount_minor).filter(Order.status == "refunded"), 0),
               func.count(func.distinct(Order.user_id)).filter(paid))
        .where(Order.room_id == room.id).group_by(Order.currency))).all()
    ranked = sorted(money_rows, key=lambda row: (-int(row[3]), -int(row[1]), str(row[0])))
    by_currency: list[dict[str, Any]] = [
        {"currency": currency, "orders": orders, "paid_orders": paid_orders,
         "gmv_minor": int(gmv), "net_gmv_minor": int(gmv) - int(refunded), "buyers": buyers}
        for currency, orders, paid_orders, gmv, refunded, buyers in ranked]
    headline = by_currency[0] if by_currency else {
        "currency": None, "orders": 0, "paid_orders": 0, "gmv_minor": 0, "net_gmv_minor": 0,
        "buyers": 0}

    top_rows = (await session.execute(
        select(Order.product_id, Product.title,
               func.coalesce(func.sum(Order.quantity).filter(paid), 0),
               func.coalesce(func.sum(Order.amount_minor).filter(paid), 0), func.count())
        .join(Product, Product.id == Order.product_id)
        .where(Order.room_id == room.id, Order.currency == headline["currency"])
        .group_by(Order.product_id, Product.title)
        .order_by(func.coalesce(func.sum(Order.amount_minor).filter(paid), 0).desc(),
                  func.count().desc(), Order.product_id)
        .limit(top))).all()

    # Viewers now: viewers whose joins outnumber their leaves (the host and ops left out).
    not_staff = ~exists(select(User.id).where(User.id == AnalyticsEvent.user_id,
                                              User.role == Role.OPS.value))
    balance = func.sum(case((AnalyticsEvent.kind == EventKind.VIEWER_JOINED.value, 1), else_=-1))
    per_viewer = (select(AnalyticsEvent.viewer_key, balance.label("open"))
                  .where(AnalyticsEvent.room_id == room.id,
                         AnalyticsEvent.kind.in_([EventKind.VIEWER_JOINED.value,
                                                  EventKind.VIEWER_LEFT.value]),
                         AnalyticsEvent.viewer_key != f"u:{room.host_id}", not_staff)
                  .group_by(AnalyticsEvent.viewer_key).subquery())
    viewers_now, unique_viewers = (await session.execute(
        select(func.count().filter(per_viewer.c.open > 0), func.count())
        .select_from(per_viewer))).one()
    counters: dict[str, int] = {kind: int(total) for kind, total in (await session.execute(
        select(AnalyticsEvent.kind, func.sum(AnalyticsEvent.count))
        .where(AnalyticsEvent.room_id == room.id,
               AnalyticsEvent.kind.in_([EventKind.CHAT.value, EventKind.LIKES.value,
                                        EventKind.PRODUCT_CLICK.value]),
               AnalyticsEvent.viewer_key.is_distinct_from(f"u:{room.host_id}"))
        .group_by(AnalyticsEvent.kind))).all()}
    now = await database_now(session)
    return {
        "room": room.public(),
        "as_of": iso_or_none(now),
        **headline,
        "viewers_now": int(viewers_now or 0),
        "unique_viewers": int(unique_viewers or 0),
        "chat_messages": int(counters.get(EventKind.CHAT.value, 0)),
        "likes": int(counters.get(EventKind.LIKES.value, 0)),
        "product_clicks": int(counters.get(EventKind.PRODUCT_CLICK.value, 0)),
        "top_products": [{"product_id": product_id, "title": title, "units_sold": int(units),
                          "gmv_minor": int(gmv), "orders": orders}
                         for product_id, title, units, gmv, orders in top_rows],
        "other_currencies": by_currency[1:],
    }
