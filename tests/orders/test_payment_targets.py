"""Where payment traffic goes and who may use a payment link: the webhook target and the links'
address come from settings (never from the request's Host), and the sandbox pay page is for
the order's buyer only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from core.context import Services
from core.settings import Settings, SettingsError, load_settings
from orders.models import Order, OutboxMessage, Payment
from orders.payments.sandbox import WEBHOOK_PATH, SandboxProvider
from tests.conftest import TestUser
from tests.orders.conftest import MakeSale, buy
from web.auth import SESSION_COOKIE


async def _payments_and_messages(services: Services) -> tuple[int, int]:
    async with services.db.session() as session:
        payments = await session.scalar(select(func.count()).select_from(Payment))
        messages = await session.scalar(select(func.count()).select_from(OutboxMessage))
    return int(payments or 0), int(messages or 0)


async def _order_awaiting_payment(client: httpx.AsyncClient, make_sale: MakeSale,
                                  buyer: TestUser) -> dict[str, Any]:
    """The buyer's order of a unit of a new flash sale, awaiting payment."""
    sale = await make_sale(quantity=3)
    order: dict[str, Any] = (await buy(client, buyer, sale.id, "k")).json()["order"]
    return order


async def _status(services: Services, order_id: int) -> str:
    async with services.db.session() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return order.status


async def test_a_forged_host_header_does_not_choose_the_webhook_target(
        client: httpx.AsyncClient, make_user, make_sale, services: Services):
    # given a buyer with an order awaiting payment
    buyer = await make_user()
    order = await _order_awaiting_payment(client, make_sale, buyer)
    signature = order["payment_url"].split("sig=")[1]

    # when their Pay press arrives with a Host header naming another server
    submitted = await client.post(f"/sandbox/pay/{order['id']}",
                                  data={"sig": signature, "action": "pay"},
                                  headers={**buyer.headers, "Host": "attacker.example:9999"})

    # then the webhook is queued for the configured target only
    assert submitted.status_code == 200 and 'data-status="submitted"' in submitted.text
    async with services.db.session() as session:
        urls = list(await session.scalars(select(OutboxMessage.payload["url"].astext)))
    assert urls == [services.settings.internal_base_url + WEBHOOK_PATH]


async def test_the_pay_page_refuses_another_user_and_a_guest(
        client: httpx.AsyncClient, make_user, make_sale, services: Services):
    # given a buyer's order and its payment link, which has reached someone else
    buyer, other = await make_user(), await make_user()
    order = await _order_awaiting_payment(client, make_sale, buyer)
    link = order["payment_url"]
    signature = link.split("sig=")[1]
    press = {"sig": signature, "action": "pay"}
    decline = {"sig": signature, "action": "decline"}

    # when another user and a guest open the link and press Pay and Decline
    other_page = await client.get(link, headers=other.headers)
    other_pay = await client.post(f"/sandbox/pay/{order['id']}", data=press,
                                  headers=other.headers)
    other_decline = await client.post(f"/sandbox/pay/{order['id']}", data=decline,
                                      headers=other.headers)
    guest_page = await client.get(link)
    guest_pay = await client.post(f"/sandbox/pay/{order['id']}", data=press)

    # then each is refused, the guest is offered a sign-in that comes back to the link, and
    # nothing was recorded or queued
    assert [r.status_code for r in (other_page, other_pay, other_decline, guest_page,
                                    guest_pay)] == [403] * 5
    for refused in (other_page, other_pay, other_decline, guest_page, guest_pay):
        assert 'value="pay"' not in refused.text and "data-status" not in refused.text
    assert 'data-testid="sign-in"' in guest_page.text
    assert "/login?next=%2Fsandbox%2Fpay%2F" in guest_page.text
    assert await _payments_and_messages(services) == (0, 0)
    assert await _status(services, order["id"]) == "pending_payment"

    # and the buyer can still pay with the same link
    page = await client.get(link, headers=buyer.headers)
    paid = await client.post(f"/sandbox/pay/{order['id']}", data=press, headers=buyer.headers)
    assert page.status_code == 200 and 'value="pay"' in page.text
    assert paid.status_code == 200 and 'data-status="submitted"' in paid.text
    assert await _payments_and_messages(services) == (1, 1)


async def test_a_cookie_press_from_another_site_is_refused(
        client: httpx.AsyncClient, make_user, make_sale, services: Services):
    # given a signed-in buyer (session cookie) and their payment link
    buyer = await make_user()
    order = await _order_awaiting_payment(client, make_sale, buyer)
    signature = order["payment_url"].split("sig=")[1]
    client.cookies.set(SESSION_COOKIE, buyer.token)

    # when another site's page posts the Pay form in their browser
    forged = await client.post(f"/sandbox/pay/{order['id']}",
                               data={"sig": signature, "action": "pay"},
                               headers={"Origin": "https://evil.example"})
    page = await client.get(order["payment_url"])

    # then the press is refused and nothing changes, while the page itself still opens
    assert forged.status_code == 403
    assert await _payments_and_messages(services) == (0, 0)
    assert page.status_code == 200 and 'value="pay"' in page.text


def test_payment_links_are_site_relative_unless_a_public_address_is_set(settings: Settings):
    relative = SandboxProvider.from_settings(settings)
    public = SandboxProvider.from_settings(
        replace(settings, public_base_url="https://shop.example"))

    assert relative.checkout_url(7).startswith("/sandbox/pay/7?sig=")
    assert public.checkout_url(7) == "https://shop.example" + relative.checkout_url(7)
    assert public.webhook_url == settings.internal_base_url + WEBHOOK_PATH


def test_the_base_urls_are_read_from_settings_and_checked(settings: Settings,
                                                         monkeypatch: pytest.MonkeyPatch):
    # (the `settings` fixture has put this run's database and Redis in the environment)
    monkeypatch.setenv("INTERNAL_BASE_URL", "http://web:8000/")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://shop.example")
    loaded = load_settings()
    assert (loaded.internal_base_url, loaded.public_base_url) == (
        "http://web:8000", "https://shop.example")

    monkeypatch.delenv("INTERNAL_BASE_URL")
    monkeypatch.delenv("PUBLIC_BASE_URL")
    defaults = load_settings()
    assert (defaults.internal_base_url, defaults.public_base_url) == (
        "http://127.0.0.1:8000", "")

    for bad in ("web:8000", "ftp://web", "http://", "http://web:8000/?x=1", "http://[::1"):
        monkeypatch.setenv("INTERNAL_BASE_URL", bad)
        with pytest.raises(SettingsError, match="INTERNAL_BASE_URL"):
            load_settings()


def test_compose_sends_the_workers_webhooks_to_the_web_service():
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml")
                             .read_text())
    assert compose["services"]["worker"]["environment"]["INTERNAL_BASE_URL"] == "http://web:8000"
