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
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services, services_of
from core.events import EventBus
from engagement import announce as engagement_announce
from engagement.events import DrawDrawn, DrawEntered, DrawStarted, RainDropped, RainSettled
from live import actions as live_actions
from live import queries as live_queries
from live.events import (
    ChatMessageDeleted,
    LineupChanged,
    ProductPinned,
    ProductStockSet,
    ProductUnpinned,
    RoomEnded,
    RoomUpdated,
    RoomWentLive,
    SaleUnitsWanted,
    ShortVideoUploaded,
    UserMuted,
    UserUnmuted,
)
from orders import bargains, coupons, groups, purchases
from orders import queries as order_queries
from orders import variants as order_variants
from orders import views as order_views
from orders.events import (
    BargainHelped,
    BargainOffered,
    BargainOfferWithdrawn,
    CouponClaimed,
    CouponDropped,
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
    VariantStockChanged,
)
from orders.group_events import (
    GroupDealCreated,
    GroupDealEnded,
    GroupDealSettled,
    GroupFailed,
    GroupFormed,
    GroupJoined,
    GroupMemberPaid,
    GroupOpened,
    GroupSlotFreed,
    GroupUnitsReleased,
)
from orders.runtime import publish_stock, runtime
from realtime import moderation

log = logging.getLogger(__name__)

# A broker that does not take a message within this long is treated as down (a handler runs in
# the request that committed, which must not wait on it); the sweeps catch up.
SEND_TIMEOUT_SECONDS = 3.0


async def _publish_sale(svc: Services, sale_id: int, action: SaleAction) -> None:
    async with svc.db.session() as session:
        sale = await order_queries.get_sale(session, sale_id)
    await order_views.publish_sale(svc, sale, action.value)


async def announce_created_sale(svc: Services, event: SaleCreated) -> None:
    await _publish_sale(svc, event.sale_id, event.action)


async def pin_product_of_new_sale(svc: Services, event: SaleCreated) -> None:
    # Every viewer sees the sale on the pinned card.
    await live_actions.pin_product_of_sale(svc, event.room_id, event.product_id)


async def announce_started_sale(svc: Services, event: SaleStarted) -> None:
    await _publish_sale(svc, event.sale_id, SaleAction.STARTED)


async def announce_ended_sale(svc: Services, event: SaleEnded) -> None:
    await _publish_sale(svc, event.sale_id, SaleAction.ENDED)


async def announce_stopped_sale(svc: Services, event: SaleStopped) -> None:
    await _publish_sale(svc, event.sale_id, SaleAction.STOPPED)


async def publish_sale_stock(svc: Services, event: SaleStockChanged) -> None:
    await publish_stock(svc, event.sale_id, event.room_id)


async def announce_units_left(svc: Services, event: VariantStockChanged) -> None:
    # Coalesced: a burst of buys is one `variant_stock` event per product per interval.
    runtime(svc).units.changed(event.room_id, event.product_ids)


async def announce_units_left_of_sale(svc: Services, event: SaleCreated | SaleSettled) -> None:
    """A sale took its units from the product's pool, or gave the unsold ones back."""
    runtime(svc).units.changed(event.room_id, [event.product_id])


async def notify_buyer(svc: Services, event: OrderChanged) -> None:
    # The order as committed now: the buyer's view never shows a state that did not happen.
    order = await order_queries.load_order(svc, event.order_id)
    await order_views.notify_buyer(svc, order)


async def announce_purchase(svc: Services, event: OrderPaid) -> None:
    # Social proof for the room ("L*** just bought"), after the payment rather than on the buy
    # path: the buy path stays one script and one batched insert.
    await purchases.announce_purchase(svc, event.order_id)


async def _send_task(task: Any, *args: object, lost: str) -> None:
    """Hand committed work to a worker. Only for work a sweep also finds, so a broker that is
    down delays it and the failure is logged, not raised (`lost`: who catches up)."""
    try:
        await asyncio.wait_for(asyncio.to_thread(task.delay, *args), SEND_TIMEOUT_SECONDS)
    except Exception:
        log.warning("could not enqueue %s%r; %s will", task.name, args, lost, exc_info=True)


async def send_refund_to_provider(svc: Services, event: RefundQueued) -> None:
    """Hand the committed refund to a worker; if the broker is down the outbox relay sends it
    later (the message is in PostgreSQL)."""
    from workers.tasks import deliver_refund  # the tasks module wires its processes here

    await _send_task(deliver_refund, event.outbox_id, lost="the outbox relay")


async def return_units_to_product(session: AsyncSession, event: UnitsReleased) -> None:
    # In the transaction that settles the sale (or refunds after it): once, with it, to the
    # variant's pool the units came from.
    await order_variants.return_units(services_of(session), session,
                                      product_id=event.product_id, units=event.units,
                                      variant_id=event.variant_id)


async def take_units_for_sale(session: AsyncSession,
                              event: SaleUnitsWanted) -> order_variants.UnitsTaken:
    # In the transaction that creates the sale: the units leave the variant's pool with it.
    return await order_variants.take_for_sale(
        services_of(session), session, product_id=event.product_id, host_id=event.host_id,
        units=event.units, variant_id=event.variant_id)


async def set_product_stock(session: AsyncSession, event: ProductStockSet) -> None:
    # In the transaction that creates or edits the product: its default variant's stock.
    await order_variants.set_default_stock(services_of(session), session,
                                           product_id=event.product_id,
                                           host_id=event.host_id, stock=event.stock)


async def return_group_units_to_product(session: AsyncSession, event: GroupUnitsReleased,
                                       ) -> None:
    # In the transaction that settles the group deal (or refunds after it): once, with it, to
    # the product's default variant, the pool a deal takes its units from.
    await order_variants.return_units(services_of(session), session,
                                      product_id=event.product_id, units=event.units,
                                      variant_id=None)


async def build_report_of_ended_room(svc: Services, event: RoomEnded) -> None:
    """The broadcast report of a room that ended (the host's button or the ingest). The
    analytics sweep builds the reports of ended rooms that have none."""
    from workers.analytics_tasks import build_report

    await _send_task(build_report, event.room_id, lost="the report sweep")


async def transcode_uploaded_video(svc: Services, event: ShortVideoUploaded) -> None:
    """Queue the upload's transcode; a lost message is found by `live.queue_unprocessed_videos`."""
    from workers.video_tasks import process_short_video

    await _send_task(process_short_video, event.video_id, lost="the video sweep")


# The live room's news: each change is told to the room after the commit that made it.


async def announce_room(svc: Services, event: RoomUpdated | RoomWentLive | RoomEnded) -> None:
    await live_actions.publish_room_row(svc, event.room_id)


async def republish_lineup(svc: Services, event: LineupChanged | SaleCreated | SaleSettled
                           | GroupDealCreated | GroupDealSettled) -> None:
    """The room's lineup as committed: the host changed it, or a product's stock moved (a sale
    took its units, or gave back the unsold ones when it settled)."""
    await live_actions.publish_lineup(svc, event.room_id)
    if isinstance(event, LineupChanged):
        # A product of it may have been restocked: the units left of each, as they are now.
        async with svc.db.session() as session:
            products = await live_queries.lineup(session, event.room_id)
        runtime(svc).units.changed(event.room_id, [p.id for p in products])


async def announce_pin(svc: Services, event: ProductPinned) -> None:
    await live_actions.publish_pin(svc, event.room_id, event.product_id)
    # The pinned card shows the units left.
    runtime(svc).units.changed(event.room_id, [event.product_id])


async def announce_unpin(svc: Services, event: ProductUnpinned) -> None:
    await live_actions.publish_unpin(svc, event.room_id, event.product_id)


async def enforce_mute(svc: Services, event: UserMuted) -> None:
    # The hub reads the mute from Redis (rebuilt from PostgreSQL by rebuild_room_state).
    await moderation.set_muted(svc.redis, svc.keys, event.room_id, event.user_id,
                               until_epoch_s=event.until_epoch_s, by_user_id=event.muted_by)


async def lift_mute(svc: Services, event: UserUnmuted) -> None:
    await moderation.clear_muted(svc.redis, svc.keys, event.room_id, event.user_id,
                                 by_user_id=event.unmuted_by)


async def remove_chat_message(svc: Services, event: ChatMessageDeleted) -> None:
    await moderation.delete_message(svc.redis, svc.keys, event.room_id, event.message_id,
                                    by_user_id=event.deleted_by)


async def alert_followers_of_live_room(svc: Services, event: RoomWentLive) -> None:
    """Queue the go-live alert: one notification per follower and reminder subscriber, written
    by a worker in batches (social/alerts.py), never in the request that went live. A lost
    message is found by the `social.sweep_go_live_alerts` sweep."""
    from workers.social_tasks import send_go_live_alert

    await _send_task(send_go_live_alert, event.room_id, lost="the go-live alert sweep")


def register_handlers(bus: EventBus) -> None:
    bus.handle_in_transaction(UnitsReleased, return_units_to_product)
    bus.handle_in_transaction(SaleUnitsWanted, take_units_for_sale)
    bus.handle_in_transaction(ProductStockSet, set_product_stock)
    bus.subscribe(SaleCreated, announce_created_sale)
    bus.subscribe(SaleCreated, republish_lineup)
    bus.subscribe(SaleCreated, pin_product_of_new_sale)
    bus.subscribe(SaleStarted, announce_started_sale)
    bus.subscribe(SaleEnded, announce_ended_sale)
    bus.subscribe(SaleStopped, announce_stopped_sale)
    bus.subscribe(SaleSettled, republish_lineup)
    bus.subscribe(SaleStockChanged, publish_sale_stock)
    bus.subscribe(VariantStockChanged, announce_units_left)
    bus.subscribe(SaleCreated, announce_units_left_of_sale)
    bus.subscribe(SaleSettled, announce_units_left_of_sale)
    for order_event in (OrderPaid, OrderCancelled, OrderExpired, OrderCompleted, OrderRefunded):
        bus.subscribe(order_event, notify_buyer)
    bus.subscribe(OrderPaid, announce_purchase)
    bus.subscribe(RefundQueued, send_refund_to_provider)
    bus.subscribe(ShortVideoUploaded, transcode_uploaded_video)
    bus.subscribe(RoomWentLive, alert_followers_of_live_room)
    # Live-room coupons: the room sees a drop, and the copies left after each claim.
    bus.subscribe(CouponDropped, coupons.announce_dropped)
    bus.subscribe(CouponClaimed, coupons.announce_claimed)
    # A bargain's buyer hears each friend's cut (a `bargain` user event).
    bus.subscribe(BargainHelped, bargains.tell_buyer)
    # Group buys: the deal's units leave and come back to the product as a sale's do; the room
    # hears each group's progress, and its members that it formed or failed (refunded).
    bus.handle_in_transaction(GroupUnitsReleased, return_group_units_to_product)
    for deal_event in (GroupDealCreated, GroupDealEnded):
        bus.subscribe(deal_event, groups.announce_deal)
    bus.subscribe(GroupDealCreated, republish_lineup)
    bus.subscribe(GroupDealSettled, republish_lineup)
    for group_event in (GroupOpened, GroupSlotFreed, GroupMemberPaid, GroupFormed, GroupFailed):
        bus.subscribe(group_event, groups.announce_group)
    # A rush of joins is told per burst, off the join's request (orders.groups.JoinAnnouncer).
    bus.subscribe(GroupJoined, groups.announce_join)
    bus.subscribe(GroupFormed, groups.tell_members)
    bus.subscribe(GroupFailed, groups.tell_members)
    # The room hears an offer made or withdrawn (a `bargain_offer` room event).
    bus.subscribe(BargainOffered, bargains.announce_offered)
    bus.subscribe(BargainOfferWithdrawn, bargains.announce_withdrawn)
    # Rains and draws tell the room (and each entrant) once committed.
    bus.subscribe(RainDropped, engagement_announce.announce_dropped_rain)
    bus.subscribe(RainSettled, engagement_announce.announce_settled_rain)
    bus.subscribe(DrawStarted, engagement_announce.announce_started_draw)
    bus.subscribe(DrawEntered, engagement_announce.tell_entrant)
    bus.subscribe(DrawDrawn, engagement_announce.announce_drawn_draw)
    bus.subscribe(RoomUpdated, announce_room)
    bus.subscribe(RoomWentLive, announce_room)
    bus.subscribe(RoomEnded, announce_room)
    bus.subscribe(RoomEnded, build_report_of_ended_room)
    bus.subscribe(LineupChanged, republish_lineup)
    bus.subscribe(ProductPinned, announce_pin)
    bus.subscribe(ProductUnpinned, announce_unpin)
    bus.subscribe(UserMuted, enforce_mute)
    bus.subscribe(UserUnmuted, lift_mute)
    bus.subscribe(ChatMessageDeleted, remove_chat_message)


def wire(svc: Services) -> Services:
    """Register every handler on the services' bus; returns the services for chaining."""
    register_handlers(svc.events)
    return svc
