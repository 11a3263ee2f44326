"""Payment providers: one interface (`provider.py`), and the built-in sandbox gateway.

The interface knows no provider and the providers import only the interface; this module,
which may import both, is where a provider is chosen by name."""

from __future__ import annotations

from core.settings import Settings
from orders.payments.provider import PaymentProvider, WebhookEvent
from orders.payments.sandbox import SandboxProvider


def get_provider(settings: Settings, name: str = "sandbox") -> PaymentProvider:
    if name == "sandbox":
        return SandboxProvider.from_settings(settings)
    raise LookupError(f"no payment provider named {name!r}")


__all__ = ["PaymentProvider", "WebhookEvent", "get_provider"]
