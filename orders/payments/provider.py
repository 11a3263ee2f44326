"""The payment-provider interface. A provider hosts the payment page, tells us the outcome
by a signed webhook, and refunds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class WebhookEvent:
    """A verified provider event. `id` is unique per provider: the same id twice is one event."""

    id: str
    type: str
    provider_ref: str
    order_id: int
    amount_minor: int
    currency: str
    created: int
    raw: dict[str, Any]


class PaymentProvider(Protocol):
    name: str

    def checkout_url(self, order_id: int) -> str:
        """Where the buyer pays for the order (the provider's hosted page)."""
        ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *,
                       now: float | None = None) -> WebhookEvent:
        """Parse a webhook, raising BadSignature or StaleWebhook unless it is authentic and
        fresh."""
        ...

    async def refund(self, provider_ref: str, amount_minor: int, currency: str, *,
                     refund_key: str) -> str:
        """Refund a captured payment in full; returns the provider's refund id. Idempotent by
        `refund_key` (the provider's idempotency key): asking again with the same key is the
        same refund, never a second one."""
        ...

