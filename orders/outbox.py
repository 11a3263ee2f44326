"""The outbox: work for a worker written in the same transaction as the change that implies it,
delivered after the commit by a Celery task (retried), and re-sent by a periodic relay when a
crash left it undelivered.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select, update

from core.context import Services
from orders.models import (
    OutboxKind,
    OutboxMessage,
)
from orders.payments import PaymentProvider, get_provider
from orders.payments.sandbox import SandboxProvider

log = logging.getLogger(__name__)


class WebhookDeliveryFailed(Exception):
    """The receiving endpoint did not answer 2xx; the delivery is retried."""


async def deliver_webhook(svc: Services, outbox_id: int, *, timeout_seconds: float = 10.0) -> str:
    """Send one queued sandbox webhook, signed at send time (so a retry carries a fresh
    timestamp). Raises WebhookDeliveryFailed for the task to retry."""
    async with svc.db.session() as session:
        message = await session.get(OutboxMessage, outbox_id)
    if message is None:
        return "unknown"
    if message.delivered_at is not None:
        return "already_delivered"
    provider = SandboxProvider.from_settings(svc.settings)
    body = orjson.dumps(message.payload["event"])
    error: str | None = None
    try:
        async with httpx.AsyncClient(timeout=timeout_seconds) as http:
            response = await http.post(message.payload["url"], content=body,
                                       headers=provider.signed_headers(body))
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    async with svc.db.transaction() as session:
        values: dict[str, Any] = {"attempts": OutboxMessage.attempts + 1, "last_error": error}
        if error is None:
            values["delivered_at"] = func.now()
        await session.execute(update(OutboxMessage).where(
            OutboxMessage.id == outbox_id, OutboxMessage.delivered_at.is_(None)).values(**values))
    if error is not None:
        raise WebhookDeliveryFailed(error)
    return "delivered"


async def undelivered_outbox(svc: Services, *, older_than_seconds: int = 30,
                             limit: int = 100,
                             kind: OutboxKind = OutboxKind.SANDBOX_WEBHOOK) -> list[int]:
    """Messages of a kind committed but never handed to a worker (the process died between its
    commit and the enqueue). Retries of attempted ones are the task's own business."""
    async with svc.db.session() as session:
        return list(await session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.kind == kind.value,
            OutboxMessage.delivered_at.is_(None), OutboxMessage.attempts == 0,
            OutboxMessage.created_at < func.now() - timedelta(seconds=older_than_seconds))
            .order_by(OutboxMessage.id).limit(limit)))


class RefundDeliveryFailed(Exception):
    """The provider did not confirm the refund; the delivery is retried (by the same key)."""


async def deliver_refund(svc: Services, outbox_id: int, *,
                         provider: PaymentProvider | None = None) -> str:
    """Ask the provider for one queued refund. Safe to run twice, even at once: a delivered
    message is not sent again, and the provider refunds once per refund key, so a retry after a
    crash between its answer and our record of it is the same refund, never a second one.
    Raises RefundDeliveryFailed for the task to retry."""
    async with svc.db.session() as session:
        message = await session.get(OutboxMessage, outbox_id)
    if message is None or message.kind != OutboxKind.PROVIDER_REFUND.value:
        return "unknown"
    if message.delivered_at is not None:
        return "already_delivered"
    payload = message.payload
    provider = provider or get_provider(svc.settings, payload["provider"])
    error: str | None = None
    refund_id = ""
    try:
        refund_id = await provider.refund(payload["provider_ref"], payload["amount_minor"],
                                          payload["currency"], refund_key=payload["refund_key"])
    except Exception as exc:  # whatever the provider's client raises, the refund is retried
        error = f"{type(exc).__name__}: {exc}"[:300]
    async with svc.db.transaction() as session:
        values: dict[str, Any] = {"attempts": OutboxMessage.attempts + 1, "last_error": error}
        if error is None:
            values["delivered_at"] = func.now()
            values["payload"] = {**payload, "refund_id": refund_id}
        await session.execute(update(OutboxMessage).where(
            OutboxMessage.id == outbox_id, OutboxMessage.delivered_at.is_(None)).values(**values))
    if error is not None:
        log.warning("refund %s not delivered: %s", outbox_id, error)
        raise RefundDeliveryFailed(error)
    return "delivered"
