"""Verbs of the analytics package: build (and rebuild) broadcast reports.

A report is a pure function of the room, its recorded events, its event log and its orders
(`analytics.metrics.compute_report`); building it stores the result in `broadcast_reports`,
one row per room, replaced in place. Running it twice gives the same row (only `built_at`
moves), so the Celery task, the sweep and the rebuild command can all call it freely.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, cast, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from analytics import queries
from analytics.errors import RoomNotEnded
from analytics.metrics import (
    PAID_STATUSES,
    LogEntry,
    OrderFacts,
    ProductFacts,
    Recorded,
    RoomFacts,
    compute_report,
    split_paid,
)
from analytics.models import AnalyticsEvent, BroadcastReport, EventKind
from analytics.queries import check_can_read
from analytics.recorder import Recorder
from analytics.videos import room_sources
from core.accounts import Actor, Role, User
from core.context import Services
from core.db import database_now
from core.errors import RateLimited, ValidationError
from live.errors import RoomEnded
from live.models import LineupItem, Product, Room, RoomEvent, RoomEventType, RoomStatus
from live.queries import get_room
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from social import follows

log = logging.getLogger(__name__)

# Room event types that matter to the report: pins and the end of the room.
LOG_TYPES = (RoomEventType.PIN, RoomEventType.UNPIN, RoomEventType.LINEUP_SET,
             RoomEventType.ROOM_ENDED)


async def load_facts(session: AsyncSession, room: Room) -> dict[str, Any]:
    """Everything `compute_report` needs about one room, read in one session."""
    host_name = await session.scalar(select(User.display_name).where(User.id == room.host_id))
    # Times as epoch milliseconds from the database: cheaper than a datetime per row.
    at_ms = cast(func.floor(func.extract("epoch", AnalyticsEvent.at) * 1000), BigInteger)
    event_rows = await session.execute(
        select(AnalyticsEvent.id, AnalyticsEvent.kind, at_ms,
               AnalyticsEvent.viewer_key, AnalyticsEvent.user_id, AnalyticsEvent.product_id,
               AnalyticsEvent.count)
        .where(AnalyticsEvent.room_id == room.id)
        .order_by(AnalyticsEvent.at, AnalyticsEvent.id))
    events: list[Recorded] = []
    last_event_id = 0
    for event_id, kind, moment, viewer_key, user_id, product_id, count in event_rows:
        last_event_id = max(last_event_id, event_id)
        events.append(Recorded(kind, moment, viewer_key, user_id, product_id, count))
    log = [LogEntry(e.type, e.created_at, e.data or {}) for e in await session.scalars(
        select(RoomEvent).where(RoomEvent.room_id == room.id, RoomEvent.type.in_(LOG_TYPES))
        .order_by(RoomEvent.created_at, RoomEvent.id))]

    paid_event = (select(OrderEvent.order_id, func.min(OrderEvent.created_at).label("at"))
                  .where(OrderEvent.to_status == OrderStatus.PAID.value).group_by(OrderEvent.order_id)
                  .subquery())
    refund_event = (select(OrderEvent.order_id, func.min(OrderEvent.created_at).label("at"))
                    .where(OrderEvent.to_status == OrderStatus.REFUNDED.value).group_by(OrderEvent.order_id)
                    .subquery())
    order_rows = await session.execute(
        select(Order, paid_event.c.at, refund_event.c.at)
        .outerjoin(paid_event, paid_event.c.order_id == Order.id)
        .outerjoin(refund_event, refund_event.c.order_id == Order.id)
        .where(Order.room_id == room.id).order_by(Order.created_at, Order.id))
    lines: dict[int, list[tuple[int, int, int]]] = {}
    for order_id, product_id, quantity, amount_minor in await session.execute(
            select(OrderLine.order_id, OrderLine.product_id, OrderLine.quantity,
                   OrderLine.amount_minor).join(Order, Order.id == OrderLine.order_id)
            .where(Order.room_id == room.id).order_by(OrderLine.id)):
        lines.setdefault(order_id, []).append((product_id, quantity, amount_minor))
    orders: list[OrderFacts] = []
    for order, paid_at, refunded_at in order_rows:
        # The event log is the truth; an order whose move left no event falls back to its row.
        if paid_at is None and order.status in PAID_STATUSES:
            paid_at = order.paid_at or order.updated_at
        if refunded_at is None and order.status == "refunded":
            refunded_at = order.updated_at
        items = lines.get(order.id) or [(order.product_id, order.quantity, order.amount_minor)]
        # A regular-price order counts per line for its products (metrics.distinct counts
        # orders once), each line at its share of the amount paid: a coupon's discount comes
        # off the lines, whose own amounts are before it (docs/engagement.md).
        paid_shares = split_paid(order.amount_minor, [amount for _, _, amount in items])
        for (product_id, quantity, _), amount_minor in zip(items, paid_shares, strict=True):
            orders.append(OrderFacts(order.id, product_id, order.user_id, quantity,
                                     amount_minor, order.currency, order.status,
                                     order.created_at, paid_at, refunded_at))
    last_order_event_id = await session.scalar(
        select(func.coalesce(func.max(OrderEvent.id), 0))
        .join(Order, Order.id == OrderEvent.order_id).where(Order.room_id == room.id)) or 0

    # Ops who watched the room (a live data screen, a check-in) are staff, not audience.
    user_ids = {int(e.viewer_key[2:]) for e in events
                if e.viewer_key and e.viewer_key.startswith("u:") and e.viewer_key[2:].isdigit()}
    staff = set(await session.scalars(select(User.id).where(
        User.id.in_(user_ids), User.role == Role.OPS.value))) if user_ids else set()

    product_ids = set(await session.scalars(
        select(LineupItem.product_id).where(LineupItem.room_id == room.id)))
    product_ids |= {o.product_id for o in orders}
    product_ids |= {e.product_id for e in events if e.product_id is not None}
    product_ids |= {int(e.data["product_id"]) for e in log if e.type == RoomEventType.PIN}
    products = {p.id: ProductFacts(p.id, p.title, p.currency, p.price_minor)
                for p in await session.scalars(select(Product).where(Product.id.in_(product_ids)))}
    return {
        "room": RoomFacts(room.id, room.title, room.host_id, host_name or "", room.status,
                          room.created_at, room.started_at, room.ended_at),
        "events": events, "log": log, "orders": orders, "products": products,
        "last_event_id": last_event_id, "last_order_event_id": int(last_order_event_id),
        "staff_keys": frozenset(f"u:{user_id}" for user_id in staff),
    }


async def compute(svc: Services, room_id: int) -> dict[str, Any]:
    """The report of a room as of now, stored nowhere (a live room's numbers so far)."""
    async with svc.db.session() as session:
        room = await get_room(session, room_id)
        facts = await load_facts(session, room)
        now = await database_now(session)
        report = compute_report(facts["room"], facts["events"], facts["log"], facts["orders"],
                                facts["products"], as_of=now, staff_keys=facts["staff_keys"])
        await add_new_follows(session, report, room.host_id, room.started_at, now)
    return report


async def add_new_follows(session: AsyncSession, report: dict[str, Any], host_id: int,
                          started_at: datetime | None, until: datetime) -> None:
    """The follows the host gained while on air (made between going live and the end, and
    not undone since): the report's `summary.new_follows`."""
    report["summary"]["new_follows"] = (
        0 if started_at is None
        else await follows.new_follows_between(session, host_id, started_at, until))


async def build_report(svc: Services, room_id: int) -> dict[str, Any]:
    """Build the report of an ended room and store it, replacing any earlier one."""
    async with svc.db.transaction() as session:
        room = await get_room(session, room_id)
        if room.status != RoomStatus.ENDED or room.ended_at is None:
            raise RoomNotEnded(f"room {room_id} has not ended", field="room_id")
        facts = await load_facts(session, room)
        report = compute_report(facts["room"], facts["events"], facts["log"], facts["orders"],
                                facts["products"], as_of=room.ended_at,
                                staff_keys=facts["staff_keys"])
        await add_new_follows(session, report, room.host_id, room.started_at, room.ended_at)
        summary = report["summary"]
        values = {
            "host_id": room.host_id, "started_at": room.started_at, "ended_at": room.ended_at,
            "currency": summary["currency"], "gmv_minor": summary["gmv_minor"],
            "net_gmv_minor": summary["net_gmv_minor"], "paid_orders": summary["paid_orders"],
            "buyers": summary["buyers"], "peak_viewers": summary["peak_viewers"],
            "unique_viewers": summary["unique_viewers"], "data": report,
            "last_order_event_id": facts["last_order_event_id"],
            "last_event_id": facts["last_event_id"], "built_at": func.now(),
        }
        statement = insert(BroadcastReport).values(room_id=room_id, **values)
        await session.execute(statement.on_conflict_do_update(
            index_elements=[BroadcastReport.room_id], set_=values))
    return report


async def rooms_needing_reports(svc: Services, *, limit: int = 50) -> list[int]:
    """Ended rooms without a report, or whose report predates an order event (a late payment
    or a refund) or a recorded event (the recorder's last flush) of the room."""
    report = BroadcastReport
    newer_order_event = exists(
        select(OrderEvent.id).join(Order, Order.id == OrderEvent.order_id)
        .where(Order.room_id == Room.id, OrderEvent.id > report.last_order_event_id))
    newer_event = exists(
        select(AnalyticsEvent.id)
        .where(AnalyticsEvent.room_id == Room.id, AnalyticsEvent.id > report.last_event_id))
    async with svc.db.session() as session:
        rows = await session.scalars(
            select(Room.id).outerjoin(report, report.room_id == Room.id)
            .where(Room.status == RoomStatus.ENDED.value,
                   or_(report.room_id.is_(None), and_(report.room_id.is_not(None),
                                                      or_(newer_order_event, newer_event))))
            .order_by(Room.ended_at, Room.id).limit(limit))
        return list(rows)


async def build_missing_reports(svc: Services, *, limit: int = 50) -> list[int]:
    """The periodic sweep: (re)build what `rooms_needing_reports` finds. A crash between a room
    ending and its build task being enqueued loses nothing; it only waits for the sweep."""
    built = []
    for room_id in await rooms_needing_reports(svc, limit=limit):
        try:
            await build_report(svc, room_id)
        except Exception:
            # One room that cannot be built must not hold up every room after it.
            log.exception("analytics: building the report of room %s failed", room_id)
            continue
        built.append(room_id)
    return built


async def ended_rooms_between(svc: Services, since: datetime, until: datetime) -> list[int]:
    async with svc.db.session() as session:
        return list(await session.scalars(
            select(Room.id).where(Room.status == RoomStatus.ENDED.value,
                                  Room.ended_at >= since, Room.ended_at < until)
            .order_by(Room.ended_at, Room.id)))


async def rebuild_reports(svc: Services, since: datetime, until: datetime,
                          progress: Callable[[int, int, int], None] | None = None) -> list[int]:
    """Rebuild the reports of every room that ended in [since, until). `progress(done, total,
    room_id)` is called after each one."""
    room_ids = await ended_rooms_between(svc, since, until)
    for done, room_id in enumerate(room_ids, start=1):
        await build_report(svc, room_id)
        if progress is not None:
            progress(done, len(room_ids), room_id)
    return room_ids


# Reading a report -------------------------------------------------------------------------


async def report_for(svc: Services, reader: Actor, room_id: int) -> dict[str, Any]:
    """The report a reader may see: the stored one of an ended room (built now if the sweep
    has not got to it yet), or the numbers so far of a room on air."""
    async with svc.db.session() as session:
        room = await get_room(session, room_id)
        check_can_read(reader, room)
        stored = await queries.get_report(session, room_id)
    if stored is not None:
        report = stored.data
    elif room.status == RoomStatus.ENDED:
        report = await build_report(svc, room_id)
    else:
        report = await compute(svc, room_id)
    # Where the room's orders were bought, and its replay: read now, never stored, since a
    # replay keeps selling after the report is built (analytics/videos.py).
    async with svc.db.session() as session:
        return {**report, "sources": await room_sources(session, room_id)}


async def live_numbers_for(svc: Services, reader: Actor, room_id: int) -> dict[str, Any]:
    async with svc.db.session() as session:
        room = await get_room(session, room_id)
        check_can_read(reader, room)
        return await queries.live_numbers(session, room)


# Product card events from the page -------------------------------------------------------

# A viewer's page reports a view when a card scrolls into sight and a click when it is tapped;
# 30 in 10 seconds is far above a person and well below a script worth worrying about.
TRACK_LIMIT = 30
TRACK_WINDOW_SECONDS = 10


async def record_product_event(svc: Services, recorder: Recorder, room_id: int,
                               viewer_key: str, user_id: int | None, event: str,
                               product_id: int, *, rate_key: str | None = None) -> None:
    """Check and record a product card view or click. Raises RateLimited past the limit,
    RoomEnded after the room ended, ValidationError for a product not in the lineup.
    `rate_key` is who the limit counts (default: the viewer; the edge passes the client's
    address for a request without a cookie, whose viewer key is new each time)."""
    counter = svc.keys.room(room_id, "track", rate_key or viewer_key)
    # A fixed window: the first event of a window creates the counter with its expiry, and
    # INCR keeps it. SET NX EX works on every Redis we run (the embedded one is 6.2), where
    # `EXPIRE ... NX` needs Redis 7 and failed every request there. One round trip (MULTI).
    pipe = svc.redis.pipeline(transaction=True)
    pipe.set(counter, 0, ex=TRACK_WINDOW_SECONDS, nx=True)
    pipe.incr(counter)
    _, used = await pipe.execute()
    if int(used) > TRACK_LIMIT:
        raise RateLimited(f"at most {TRACK_LIMIT} product events in {TRACK_WINDOW_SECONDS} s",
                          extra={"retry_after": TRACK_WINDOW_SECONDS})
    async with svc.db.session() as session:
        room = await get_room(session, room_id)
        if room.status == RoomStatus.ENDED:
            raise RoomEnded("the room has ended", field="room_id")
        in_lineup = await session.scalar(select(LineupItem.id).where(
            LineupItem.room_id == room_id, LineupItem.product_id == product_id))
    if in_lineup is None:
        raise ValidationError([{"field": "product_id",
                                "message": "not a product of this room's lineup"}])
    if event == EventKind.PRODUCT_CLICK:
        recorder.product_click(room_id, product_id, viewer_key, user_id)
    else:
        recorder.product_view(room_id, product_id, viewer_key, user_id)
