"""The sandbox gateway: behaves like a hosted payment gateway, built into the app.

The buyer follows the payment link to the sandbox page (`web/payments.py`), pays or declines;
the gateway then tells us the outcome by a webhook signed with HMAC-SHA256 over
`timestamp.body` (header `Livesell-Signature: t=<unix seconds>,v1=<hex digest>`), sent by a
Celery task to `INTERNAL_BASE_URL` + `WEBHOOK_PATH` (a setting, never the request's Host), and
retried until our endpoint answers 2xx. Nothing moves money.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson

from core.settings import Settings
from orders.errors import BadSignature, StaleWebhook
from orders.payments.provider import WebhookEvent

SIGNATURE_HEADER = "livesell-signature"
# A webhook older (or further in the future) than this is refused, so a captured delivery
# cannot be replayed later; five minutes allows for clock drift and retry delays.
TOLERANCE_SECONDS = 300
PAY_PATH = "/sandbox/pay"
WEBHOOK_PATH = "/api/payments/sandbox/webhook"


def _derive(secret: str, purpose: bytes) -> bytes:
    return hmac.new(secret.encode(), purpose, hashlib.sha256).digest()


def sign(webhook_secret: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(webhook_secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class SandboxProvider:
    name = "sandbox"

    def __init__(self, webhook_secret: bytes, link_secret: bytes, *,
                 webhook_url: str = "http://127.0.0.1:8000" + WEBHOOK_PATH,
                 public_base_url: str = "") -> None:
        self.webhook_secret = webhook_secret
        self.link_secret = link_secret
        # Where the gateway sends its webhooks, and the prefix of the payment links it hands
        # out. Both come from settings: a request's Host header must never choose them.
        self.webhook_url = webhook_url
        self.public_base_url = public_base_url

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxProvider:
        # Separate keys for separate purposes, both derived from the app's secret.
        secret = settings.secret_key.reveal()
        return cls(_derive(secret, b"sandbox-webhook"), _derive(secret, b"sandbox-pay-link"),
                   webhook_url=settings.internal_base_url + WEBHOOK_PATH,
                   public_base_url=settings.public_base_url)

    # The hosted page ------------------------------------------------------------

    def link_signature(self, order_id: int) -> str:
        return hmac.new(self.link_secret, str(order_id).encode(), hashlib.sha256).hexdigest()[:32]

    def link_valid(self, order_id: int, signature: str) -> bool:
        return hmac.compare_digest(self.link_signature(order_id), signature)

    def checkout_url(self, order_id: int) -> str:
        # Site-relative unless PUBLIC_BASE_URL is set; the page also checks that the signed-in
        # user is the order's buyer, so the link alone does not let anyone else pay or decline.
        return f"{self.public_base_url}{PAY_PATH}/{order_id}?sig={self.link_signature(order_id)}"

    # Events and webhooks -----------------------------------------------------------

    @staticmethod
    def new_payment_ref() -> str:
        return "pay_" + secrets.token_hex(12)

    @staticmethod
    def build_event(event_type: str, *, provider_ref: str, order_id: int, amount_minor: int,
                    currency: str) -> dict[str, Any]:
        return {
            "id": "evt_" + secrets.token_hex(12),
            "type": event_type,
            "created": int(time.time()),
            "data": {"payment_id": provider_ref, "order_id": order_id,
                     "amount_minor": amount_minor, "currency": currency},
        }

    def signed_headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        ts = int(time.time()) if timestamp is None else timestamp
        return {"content-type": "application/json",
                SIGNATURE_HEADER: sign(self.webhook_secret, body, ts)}

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *,
                       now: float | None = None) -> WebhookEvent:
        header = headers.get(SIGNATURE_HEADER) or headers.get(SIGNATURE_HEADER.title()) or ""
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        try:
            timestamp = int(parts["t"])
            given = parts["v1"]
        except (KeyError, ValueError):
            raise BadSignature("missing or malformed signature header",
                               field=SIGNATURE_HEADER) from None
        expected = sign(self.webhook_secret, body, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, given):
            raise BadSignature("signature does not match", field=SIGNATURE_HEADER)
        current = time.time() if now is None else now
        if abs(current - timestamp) > TOLERANCE_SECONDS:
            raise StaleWebhook(f"timestamp is more than {TOLERANCE_SECONDS} s away",
                               field=SIGNATURE_HEADER)
        try:
            payload = orjson.loads(body)
            data = payload["data"]
            return WebhookEvent(id=str(payload["id"]), type=str(payload["type"]),
                                provider_ref=str(data["payment_id"]),
                                order_id=int(data["order_id"]),
                                amount_minor=int(data["amount_minor"]),
                                currency=str(data["currency"]), created=int(payload["created"]),
                                raw=payload)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise BadSignature("signed body is not a sandbox event", field="body") from None

    async def refund(self, provider_ref: str, amount_minor: int, currency: str, *,
                     refund_key: str) -> str:
        # The sandbox accepts every refund of a captured payment at once and moves no money.
        # Its refund id is derived from the key, so asking twice is one refund, as a real
        # provider's idempotency key makes it.
        digest = hmac.new(self.link_secret, b"refund:" + refund_key.encode(), hashlib.sha256)
        return "re_" + digest.hexdigest()[:24]
