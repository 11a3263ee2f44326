"""Celery tasks: each a thin shell over an orders function, each safe to run twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from celery import Task

from core.context import Services
from live import queries as live_queries
from orders import (
    buying,
    commissions,
    coupons,
    groups,
    order_moves,
    outbox,
    reconcile,
    regular,
    sales,
)
from orders.models import OutboxKind
from workers.app import app
from workers.runtime import run

# Webhook delivery backs off 1, 2, 4 … seconds, capped at 5 minutes, for about an hour in all.
WEBHOOK_MAX_RETRIES = 16
WEBHOOK_MAX_BACKOFF_SECONDS = 300


def _deliver(task: Task, deliver: Callable[[Services, int], Awaitable[str]],
             failed: type[Exception], outbox_id: int) -> str:
    """One delivery of an outbox message; one that `failed` runs again after the next backoff
    (1, 2, 4 … s, capped)."""
    try:
        return run(lambda svc: deliver(svc, outbox_id))
    except failed as exc:
        raise task.retry(exc=exc, countdown=min(2 ** task.request.retries,
                                                WEBHOOK_MAX_BACKOFF_SECONDS)) from exc


@app.task(name="orders.deliver_webhook", bind=True, max_retries=WEBHOOK_MAX_RETRIES)
def deliver_webhook(self: Task, outbox_id: int) -> str:
    return _deliver(self, outbox.deliver_webhook, outbox.WebhookDeliveryFailed, outbox_id)


# A refund is retried on the same backoff: the provider may be down for a while, and the key
# makes every attempt the same refund.
@app.task(name="orders.deliver_refund", bind=True, max_retries=WEBHOOK_MAX_RETRIES)
def deliver_refund(self: Task, outbox_id: int) -> str:
    return _deliver(self, outbox.deliver_refund, outbox.RefundDeliveryFailed, outbox_id)


@app.task(name="orders.expire_orders")
def expire_orders() -> list[int]:
    return run(order_moves.expire_due_orders)


@app.task(name="orders.release_unwritten_holds")
def release_unwritten_holds() -> dict[str, list[int]]:
    """Give back units reserved by a process that died before writing the order
    (docs/decisions/0013). Safe to run twice or in parallel: a reservation is voided under the
    sale row's lock and its units go back through the once-only release script."""
    released = run(buying.release_unwritten_holds)
    # Regular-price orders' holds whose order never reached PostgreSQL (orders/regular.py).
    regular_orders = run(regular.release_unwritten_orders)
    # Coupon claims whose commit never happened: their copies go back (orders/coupons.py).
    claims = run(coupons.release_unwritten_claims)
    return {**{str(sale_id): numbers for sale_id, numbers in released.items()},
            **({"regular": regular_orders} if regular_orders else {}),
            **({"coupon_claims": [user for users in claims.values() for user in users]}
               if claims else {})}


@app.task(name="orders.advance_sales")
def advance_sales() -> dict[str, Any]:
    async def work(svc: Any) -> dict[str, Any]:
        # Which rooms have ended is live's answer; orders does not read rooms.
        moved = await sales.advance_sales(
            svc, ended_rooms=lambda room_ids: live_queries.ended_rooms(svc, room_ids))
        # Rooms hear of the units that went back through the SaleSettled handler.
        settled = await sales.settle_ended_sales(svc)
        return {**moved, "settled": settled}

    return run(work)


@app.task(name="orders.sweep_groups")
def sweep_groups() -> dict[str, list[int]]:
    """Fail group buys past their deadline (each paid member refunded through the outbox, in
    the failure's transaction), end the deals of ended rooms, settle ended deals. Safe to run
    twice or in parallel, or to die midway: each failure is one conditional move."""
    return run(lambda svc: groups.sweep(
        svc, ended_rooms=lambda room_ids: live_queries.ended_rooms(svc, room_ids)))


@app.task(name="orders.relay_outbox")
def relay_outbox() -> list[int]:
    webhooks = run(outbox.undelivered_outbox)
    for outbox_id in webhooks:
        deliver_webhook.delay(outbox_id)
    refunds = run(lambda svc: outbox.undelivered_outbox(svc, kind=OutboxKind.PROVIDER_REFUND))
    for outbox_id in refunds:
        deliver_refund.delay(outbox_id)
    return webhooks + refunds


@app.task(name="orders.reconcile_sale")
def reconcile_sale(sale_id: int) -> dict[str, Any]:
    async def work(svc: Any) -> dict[str, Any]:
        return (await reconcile.reconcile_sale(svc, sale_id)).__dict__

    return run(work)


@app.task(name="orders.settle_commissions")
def settle_commissions() -> list[int]:
    """Settle host commissions whose return window is over (on the beat schedule). Safe to run
    twice or in parallel: rows are taken FOR UPDATE SKIP LOCKED and moved conditionally."""
    return run(commissions.settle_due)
