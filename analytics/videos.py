"""Short videos' and replays' analytics: what their pages record, and each one's report.

The video page reports, through `POST /api/videos/{id}/track`: a view when playback first
starts on a page load, the seconds actually played (a heartbeat every 15 s of playing and one
as the page goes away; at most `MAX_WATCH_SECONDS` each), and a click on a product card. They
go through the same in-process `Recorder` as a live room's events, as rows with `video_id`
set (migration 0015), in the same batched INSERT.

A report is computed when read, never stored: a video keeps selling and being watched for as
long as it is up, so there is no "ended" moment to build it at. It reads the video's events
(one index range, `ix_analytics_events_video_at`) and the orders attributed to it
(`orders.source_kind`/`source_id`, set by the buy from its page; orders/sources.py).

A replay's numbers also appear in its room's broadcast report (`sources`), next to the room's
orders split by where they were bought: a replay is the broadcast's own second source.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.metrics import PAID_STATUSES, div_half_up, rate
from analytics.models import AnalyticsEvent, EventKind
from analytics.recorder import Recorder
from core.accounts import Actor, owns_or_ops
from core.context import Services
from core.errors import PermissionDenied, RateLimited, ValidationError
from live.models import Product, ShortVideo, ShortVideoTag, VideoStatus
from live.videos import VideoNotFound
from orders.models import Order, OrderSource

# A heartbeat carries the seconds played since the last one: the page sends one every 15 s of
# playing, so 60 leaves room for a throttled background tab and refuses made-up hours.
MAX_WATCH_SECONDS = 60
# Per viewer and video: a page sends a view, a heartbeat each 15 s and a click per tap (taps
# on one card 2 s apart at most); 30 in 10 s is far above that and stops a script.
VIDEO_TRACK_LIMIT = 30
VIDEO_TRACK_WINDOW_SECONDS = 10


class NotYourVideo(PermissionDenied):
    code = "not_your_video"


def source_kind_of(video: ShortVideo) -> str:
    return OrderSource.REPLAY.value if video.room_id is not None else OrderSource.VIDEO.value


async def record_video_event(svc: Services, recorder: Recorder, video_id: int, viewer_key: str,
                             user_id: int | None, event: str, *, product_id: int | None = None,
                             seconds: int | None = None, rate_key: str | None = None) -> None:
    """Check and record one event of a video's page. Raises RateLimited past the limit,
    VideoNotFound for a video that is not ready (or does not exist), ValidationError for a
    product the video does not tag or a watch without its seconds."""
    counter = svc.keys("video", video_id, "track", rate_key or viewer_key)
    pipe = svc.redis.pipeline(transaction=True)
    pipe.set(counter, 0, ex=VIDEO_TRACK_WINDOW_SECONDS, nx=True)
    pipe.incr(counter)
    _, used = await pipe.execute()
    if int(used) > VIDEO_TRACK_LIMIT:
        raise RateLimited(f"at most {VIDEO_TRACK_LIMIT} video events in "
                          f"{VIDEO_TRACK_WINDOW_SECONDS} s",
                          extra={"retry_after": VIDEO_TRACK_WINDOW_SECONDS})
    async with svc.db.session() as session:
        status = await session.scalar(select(ShortVideo.status).where(ShortVideo.id == video_id))
        if status != VideoStatus.READY:
            raise VideoNotFound(f"no ready video {video_id}", field="video_id")
        if event == EventKind.PRODUCT_CLICK:
            if product_id is None:
                raise ValidationError([{"field": "product_id", "message": "required for a click"}])
            tagged = await session.scalar(select(ShortVideoTag.id).where(
                ShortVideoTag.video_id == video_id, ShortVideoTag.product_id == product_id)
                .limit(1))
            if tagged is None:
                raise ValidationError([{"field": "product_id",
                                        "message": "not a product this video shows"}])
    if event == EventKind.VIDEO_VIEW:
        recorder.video_view(video_id, viewer_key, user_id)
    elif event == EventKind.VIDEO_WATCH:
        if seconds is None:
            raise ValidationError([{"field": "seconds", "message": "required for a watch"}])
        recorder.video_watch(video_id, viewer_key, user_id, seconds)
    elif product_id is not None:
        recorder.video_product_click(video_id, product_id, viewer_key, user_id)


# The report ----------------------------------------------------------------------------------


async def video_numbers(session: AsyncSession, video: ShortVideo) -> dict[str, Any]:
    """Views, unique viewers, watch time, product clicks, orders and GMV of one video."""
    events = AnalyticsEvent
    rows = (await session.execute(
        select(events.kind, events.product_id, func.coalesce(func.sum(events.count), 0))
        .where(events.video_id == video.id)
        .group_by(events.kind, events.product_id))).all()
    views = watch_seconds = clicks = 0
    clicks_of: dict[int, int] = {}
    for kind, product_id, total in rows:
        if kind == EventKind.VIDEO_VIEW:
            views += int(total)
        elif kind == EventKind.VIDEO_WATCH:
            watch_seconds += int(total)
        elif kind == EventKind.PRODUCT_CLICK and product_id is not None:
            clicks += int(total)
            clicks_of[int(product_id)] = clicks_of.get(int(product_id), 0) + int(total)
    # Unique viewers: anyone who started it (a view) or watched any of it.
    unique_viewers = int(await session.scalar(
        select(func.count(func.distinct(events.viewer_key))).where(
            events.video_id == video.id,
            events.kind.in_([EventKind.VIDEO_VIEW.value, EventKind.VIDEO_WATCH.value]))) or 0)
    clickers = int(await session.scalar(
        select(func.count(func.distinct(events.viewer_key))).where(
            events.video_id == video.id, events.kind == EventKind.PRODUCT_CLICK.value)) or 0)

    orders = list(await session.scalars(select(Order).where(
        Order.source_kind == source_kind_of(video), Order.source_id == video.id)))
    paid = [o for o in orders if o.status in PAID_STATUSES]
    by_currency: dict[str, dict[str, int]] = {}
    for order in paid:
        money = by_currency.setdefault(order.currency, {"paid_orders": 0, "gmv_minor": 0,
                                                        "refunded_minor": 0})
        money["paid_orders"] += 1
        money["gmv_minor"] += order.amount_minor
        if order.status == "refunded":
            money["refunded_minor"] += order.amount_minor
    # The headline is in the currency with the most paid orders; any other is listed apart.
    ranked = sorted(by_currency.items(), key=lambda item: (-item[1]["paid_orders"], item[0]))
    currency, main = ranked[0] if ranked else (None, {"paid_orders": 0, "gmv_minor": 0,
                                                      "refunded_minor": 0})
    buyers = len({o.user_id for o in paid})

    tags = (await session.execute(
        select(ShortVideoTag.product_id, func.min(ShortVideoTag.at_ms))
        .where(ShortVideoTag.video_id == video.id).group_by(ShortVideoTag.product_id))).all()
    first_at = {int(product_id): int(at_ms) for product_id, at_ms in tags}
    product_ids = set(first_at) | set(clicks_of) | {o.product_id for o in orders}
    titles = dict((await session.execute(
        select(Product.id, Product.title).where(Product.id.in_(product_ids)))).all()) \
        if product_ids else {}
    products: list[dict[str, Any]] = []
    for product_id in product_ids:
        mine = [o for o in orders if o.product_id == product_id]
        mine_paid = [o for o in mine if o.status in PAID_STATUSES and o.currency == currency]
        products.append({
            "product_id": product_id, "title": titles.get(product_id, ""),
            "first_at_ms": first_at.get(product_id), "clicks": clicks_of.get(product_id, 0),
            "orders": len(mine), "paid_orders": len(mine_paid),
            "gmv_minor": sum(o.amount_minor for o in mine_paid),
        })
    products.sort(key=lambda p: (-p["gmv_minor"], -p["clicks"], p["product_id"]))
    return {
        "video": {"id": video.id, "title": video.title, "kind": source_kind_of(video),
                  "room_id": video.room_id, "host_id": video.host_id, "status": video.status,
                  "duration_ms": video.duration_ms, "created_at": video.created_at.isoformat()},
        "views": views,
        "unique_viewers": unique_viewers,
        "watch_seconds": watch_seconds,
        "avg_watch_seconds": div_half_up(watch_seconds, views) if views else 0,
        "product_clicks": clicks,
        "clickers": clickers,
        "orders": len(orders),
        "paid_orders": main["paid_orders"],
        "buyers": buyers,
        "currency": currency,
        "gmv_minor": main["gmv_minor"],
        "refunded_minor": main["refunded_minor"],
        "net_gmv_minor": main["gmv_minor"] - main["refunded_minor"],
        "click_rate": rate(clickers, unique_viewers),
        "conversion_rate": rate(buyers, unique_viewers),
        "other_currencies": [{"currency": code, **money} for code, money in ranked[1:]],
        "products": products,
    }


async def video_report(svc: Services, reader: Actor, video_id: int) -> dict[str, Any]:
    """The report of a video or a replay, for its host and ops."""
    async with svc.db.session() as session:
        video = await session.get(ShortVideo, video_id)
        if video is None:
            raise VideoNotFound(f"video {video_id} does not exist", field="video_id")
        if not owns_or_ops(reader, video.host_id):
            raise NotYourVideo("only the video's host and ops can read its numbers",
                               field="video_id")
        return await video_numbers(session, video)


async def room_sources(session: AsyncSession, room_id: int) -> dict[str, Any]:
    """For a broadcast's report: the room's paid orders split by where they were bought (the
    live room, a replay, a short video), and the numbers of the room's own replay."""
    rows = (await session.execute(
        select(Order.source_kind, Order.currency, func.count(),
               func.coalesce(func.sum(Order.amount_minor), 0))
        .where(Order.room_id == room_id, Order.status.in_(sorted(PAID_STATUSES)))
        .group_by(Order.source_kind, Order.currency)
        .order_by(Order.source_kind, Order.currency))).all()
    replay = await session.scalar(select(ShortVideo).where(ShortVideo.room_id == room_id))
    return {
        "orders_by_source": [{"kind": kind, "currency": currency, "paid_orders": int(count),
                              "gmv_minor": int(total)} for kind, currency, count, total in rows],
        "replay": await video_numbers(session, replay) if replay is not None else None,
    }



# The list ------------------------------------------------------------------------------------

# The dashboard lists this many videos, newest first.
VIDEO_LIST_LIMIT = 100


async def list_videos(session: AsyncSession, *, host_id: int | None,
                      limit: int = VIDEO_LIST_LIMIT) -> list[dict[str, Any]]:
    """Ready videos and replays, newest first (one host's, or everyone's), each with its
    headline numbers: four aggregate reads for the whole page, not one report per row."""
    query = select(ShortVideo).where(ShortVideo.status == VideoStatus.READY.value)
    if host_id is not None:
        query = query.where(ShortVideo.host_id == host_id)
    videos = list(await session.scalars(query.order_by(ShortVideo.id.desc()).limit(limit)))
    ids = [video.id for video in videos]
    if not ids:
        return []
    events = AnalyticsEvent
    totals: dict[tuple[int, str], int] = {
        (int(video_id or 0), kind): int(total) for video_id, kind, total in (await session.execute(
            select(events.video_id, events.kind, func.sum(events.count))
            .where(events.video_id.in_(ids)).group_by(events.video_id, events.kind))).all()}
    uniques = dict((await session.execute(
        select(events.video_id, func.count(func.distinct(events.viewer_key)))
        .where(events.video_id.in_(ids),
               events.kind.in_([EventKind.VIDEO_VIEW.value, EventKind.VIDEO_WATCH.value]))
        .group_by(events.video_id))).all())
    money: dict[int, list[tuple[str, int, int]]] = {}
    for source_id, code, count, total in (await session.execute(
            select(Order.source_id, Order.currency, func.count(), func.sum(Order.amount_minor))
            .where(Order.source_kind.in_([OrderSource.VIDEO.value, OrderSource.REPLAY.value]),
                   Order.source_id.in_(ids), Order.status.in_(sorted(PAID_STATUSES)))
            .group_by(Order.source_id, Order.currency))).all():
        money.setdefault(int(source_id or 0), []).append((code, int(count), int(total)))
    rows: list[dict[str, Any]] = []
    for video in videos:
        views = totals.get((video.id, EventKind.VIDEO_VIEW.value), 0)
        watch = totals.get((video.id, EventKind.VIDEO_WATCH.value), 0)
        # The currency with the most paid orders, as in the report.
        paid = sorted(money.get(video.id, []), key=lambda m: (-m[1], m[0]))
        currency: str | None = paid[0][0] if paid else None
        paid_orders, gmv = (paid[0][1], paid[0][2]) if paid else (0, 0)
        rows.append({
            "id": video.id, "title": video.title, "kind": source_kind_of(video),
            "host_id": video.host_id, "room_id": video.room_id,
            "created_at": video.created_at.isoformat(),
            "views": views, "unique_viewers": int(uniques.get(video.id, 0)),
            "watch_seconds": watch,
            "avg_watch_seconds": div_half_up(watch, views) if views else 0,
            "product_clicks": totals.get((video.id, EventKind.PRODUCT_CLICK.value), 0),
            "paid_orders": paid_orders, "currency": currency, "gmv_minor": gmv,
        })
    return rows
