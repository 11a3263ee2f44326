"""The sandbox gateway refunds by key: asking twice with one key is one refund."""

from __future__ import annotations

from orders.payments.sandbox import SandboxProvider


async def test_the_sandbox_refund_is_idempotent_by_its_key():
    provider = SandboxProvider(b"webhook-secret", b"link-secret")

    first = await provider.refund("pay_1", 1500, "USD", refund_key="refund-sandbox-1")
    again = await provider.refund("pay_1", 1500, "USD", refund_key="refund-sandbox-1")
    other = await provider.refund("pay_2", 1500, "USD", refund_key="refund-sandbox-2")

    assert first == again
    assert other != first
    assert first.startswith("re_")
