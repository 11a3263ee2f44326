"""Work between packages: the domain-event handlers, registered in one place.

Every process that runs domain actions (the web app, a Celery worker, the CLI, the tests)
wires its services here at start-up, so an action's effects after commit are the same
wherever it runs. A handler here is glue: it reacts to one package's event by calling
another package's action (orders settled a sale -> live republishes the room's lineup), or
does an action's outside effect once its transaction has committed (the room's and buyer's
news, a Celery task). It lives in `workers` because this is the layer that may import every
domain package, and the web app, which may import everything, calls it too.

docs/architecture.md lists every event with its handlers.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from core.events import EventBus
from engagement import announce as engagement_announce
from engagement.events import DrawDrawn, DrawEntered, DrawStarted, RainDropped, RainSettled
from live import actions as live_actions
from live.events import RoomEndedWithoutStream, RoomWentLive, ShortVideoUploaded
from orders import purchases
from orders import queries as order_queries
from orders import views as order_views
from orders.events import (
    OrderCancelled,
    OrderChanged,
    OrderCompleted,
    OrderExpired,
    OrderPaid,
    OrderRefunded,
    RefundQueued,
    SaleAction,
    SaleCreated,
    SaleEnded,
    SaleSettled,
    SaleStarted,
    SaleStockChanged,
    SaleStopped,
    UnitsReleased,
)
from orders.runtime import publish_stock

log = logging.getLogger(__name__)


async def _publish_sale(svc: Services, sale_id: int, action: SaleAction) -> None:
    async with svc.db.session() as session:
        sale = await order_queries.get_sale(session, sale_id)
    await order_views.publish_sale(svc, sale, action.value)


async def announce_created_sale(svc: Services, event: SaleCreated) -> None:
    await _publish_sale(svc, event.sale_id, event.action)


async def republish_lineup_after_sale_created(svc: Services, event: SaleCreated) -> None:
    # The sale's units left the product's stock: the room's lineup shows the new count.
    await live_actions.publish_lineup(svc, event.room_id)


async def announce_started_sale(svc: Services, event: SaleStarted) -> None:
    await _publish_sale(svc, event.sale_id, SaleAction.STARTED)


async def announce_ended_sale(svc: Services, event: SaleEnded) -> None:
    await _publish_sale(svc, event.sale_id, SaleAction.ENDED)


async def announce_stopped_sale(svc: Services, event: SaleStopped) -> None:
    await _publish_sale(svc, event.sale_id, SaleAction.STOPPED)


async def republish_lineup_after_settle(svc: Services, event: SaleSettled) -> None:
    # The sale's unsold units are back in the product's stock: the room shows the count.
    await live_actions.publish_lineup(svc, event.room_id)


async def publish_sale_stock(svc: Services, event: SaleStockChanged) -> None:
    await publish_stock(svc, event.sale_id, event.room_id)


async def notify_buyer(svc: Services, event: OrderChanged) -> None:
    # The order as committed now: the buyer's view never shows a state that did not happen.
    order = await order_queries.load_order(svc, event.order_id)
    await order_views.notify_buyer(svc, order)


async def announce_purchase(svc: Services, event: OrderPaid) -> None:
    # Social proof for the room ("L*** just bought"), after the payment rather than on the buy
    # path: the buy path stays one script and one batched insert.
    await purchases.announce_purchase(svc, event.order_id)


async def send_refund_to_provider(svc: Services, event: RefundQueued) -> None:
    """Hand the committed refund to a worker. If the broker is down the outbox relay sends it
    later (the message is in PostgreSQL), so a failure here is logged, not raised."""
    from workers.tasks import deliver_refund  # the tasks module wires its processes here

    try:
        await asyncio.to_thread(deliver_refund.delay, event.outbox_id)
    except Exception:
        log.warning("could not enqueue refund %s; the outbox relay will", event.outbox_id,
                    exc_info=True)


async def return_units_to_product(session: AsyncSession, event: UnitsReleased) -> None:
    # In the transaction that settles the sale (or refunds after it): once, with it.
    await live_actions.return_stock(session, event.product_id, event.units)


async def build_report_of_ended_room(svc: Services, event: RoomEndedWithoutStream) -> None:
    """The broadcast report of a room the ingest ended. The analytics sweep builds the reports
    of ended rooms that have none, so a broker that is down delays it, never loses it."""
    from workers.analytics_tasks import build_report

    try:
        await asyncio.to_thread(build_report.delay, event.room_id)
    except Exception:
        log.warning("could not enqueue the report of room %s; the sweep will", event.room_id,
                    exc_info=True)


async def transcode_uploaded_video(svc: Services, event: ShortVideoUploaded) -> None:
    """Queue the upload's transcode. A lost message is found by `live.queue_unprocessed_videos`."""
    from workers.video_tasks import process_short_video

    try:
        await asyncio.to_thread(process_short_video.delay, event.video_id)
    except Exception:
        log.warning("could not enqueue the transcode of video %s; the sweep will",
                    event.video_id, exc_info=True)


async def alert_followers_of_live_room(svc: Services, event: RoomWentLive) -> None:
    """Queue the go-live alert: one notification per follower and reminder subscriber, written
    by a worker in batches (social/alerts.py), never in the request that went live. A lost
    message is found by the `social.sweep_go_live_alerts` sweep."""
    from workers.social_tasks import send_go_live_alert

    try:
        await asyncio.to_thread(send_go_live_alert.delay, event.room_id)
    except Exception:
        log.warning("could not enqueue the go-live alert of room %s; the sweep will",
                    event.room_id, exc_info=True)


def register_handlers(bus: EventBus) -> None:
    bus.handle_in_transaction(UnitsReleased, return_units_to_product)
    bus.subscribe(SaleCreated, announce_created_sale)
    bus.subscribe(SaleCreated, republish_lineup_after_sale_created)
    bus.subscribe(SaleStarted, announce_started_sale)
    bus.subscribe(SaleEnded, announce_ended_sale)
    bus.subscribe(SaleStopped, announce_stopped_sale)
    bus.subscribe(SaleSettled, republish_lineup_after_settle)
    bus.subscribe(SaleStockChanged, publish_sale_stock)
    for order_event in (OrderPaid, OrderCancelled, OrderExpired, OrderCompleted, OrderRefunded):
        bus.subscribe(order_event, notify_buyer)
    bus.subscribe(OrderPaid, announce_purchase)
    bus.subscribe(RefundQueued, send_refund_to_provider)
    bus.subscribe(RoomEndedWithoutStream, build_report_of_ended_room)
    bus.subscribe(ShortVideoUploaded, transcode_uploaded_video)
    bus.subscribe(RoomWentLive, alert_followers_of_live_room)
    # Rains and draws tell the room (and each entrant) once committed.
    bus.subscribe(RainDropped, engagement_announce.announce_dropped_rain)
    bus.subscribe(RainSettled, engagement_announce.announce_settled_rain)
    bus.subscribe(DrawStarted, engagement_announce.announce_started_draw)
    bus.subscribe(DrawEntered, engagement_announce.tell_entrant)
    bus.subscribe(DrawDrawn, engagement_announce.announce_drawn_draw)


def wire(svc: Services) -> Services:
    """Register every handler on the services' bus; returns the services for chaining."""
    register_handlers(svc.events)
    return svc
