"""Payment providers: one interface, and the built-in sandbox gateway."""

from __future__ import annotations

from orders.payments.provider import PaymentProvider, WebhookEvent, get_provider

__all__ = ["PaymentProvider", "WebhookEvent", "get_provider"]
