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
    OutboxMessage,
)
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
                             limit: int = 100) -> list[int]:
    """Messages committed but never handed to a worker (the process died between its commit
    and the enqueue). Retries of attempted ones are the task's own business."""
    async with svc.db.session() as session:
        return list(await session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.delivered_at.is_(None), OutboxMessage.attempts == 0,
            OutboxMessage.created_at < func.now() - timedelta(seconds=older_than_seconds))
            .order_by(OutboxMessage.id).limit(limit)))

