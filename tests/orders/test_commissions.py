"""The host commission ledger: rate snapshot, base = paid amount, pending -> frozen -> settled
over the return window, voids and reversals on refunds, balances as sums, idempotent hooks and
settle, and who may read which statement."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from core.context import Services
from orders import commissions, order_moves, paying
from orders.models import CommissionEntry, Order, Payment, Sale
from tests.conftest import TestUser
from tests.orders.conftest import buy, deliver_sandbox_webhook, pay


async def _pay(client: httpx.AsyncClient, services: Services, order_id: int) -> str:
    response = await pay(client, services, order_id)
    assert response.status_code == 200, response.text
    outcome: str = response.json()["outcome"]
    return outcome


async def _entries(services: Services, order_id: int | None = None) -> list[CommissionEntry]:
    async with services.db.session() as session:
        query = select(CommissionEntry).order_by(CommissionEntry.id)
        if order_id is not None:
            query = query.where(CommissionEntry.order_id == order_id)
        return list(await session.scalars(query))


async def _sale(client: httpx.AsyncClient, host: TestUser, make_product: Any, make_room: Any, *,
                product_rate: int | None = None, room_rate: int | None = None,
                price_minor: int = 1500, quantity: int = 10,
                per_user_limit: int = 5) -> dict[str, Any]:
    product = await make_product(host, stock=100)
    room = await make_room(host, products=[product], live=True)
    if product_rate is not None:
        patched = await client.patch(f"/api/products/{product['id']}", headers=host.headers,
                                     json={"commission_rate_bp": product_rate})
        assert patched.status_code == 200, patched.text
    if room_rate is not None:
        patched = await client.patch(f"/api/rooms/{room['id']}", headers=host.headers,
                                     json={"commission_rate_bp": room_rate})
        assert patched.status_code == 200, patched.text
    response = await client.post(f"/api/rooms/{room['id']}/sales", headers=host.headers, json={
        "product_id": product["id"], "price_minor": price_minor, "quantity": quantity,
        "per_user_limit": per_user_limit, "duration_seconds": 600})
    assert response.status_code == 201, response.text
    sale: dict[str, Any] = response.json()
    return {"sale": sale, "product": product, "room": room}


async def _paid_order(client: httpx.AsyncClient, services: Services, buyer: TestUser,
                      sale_id: int, key: str, quantity: int = 1) -> dict[str, Any]:
    order: dict[str, Any] = (await buy(client, buyer, sale_id, key, quantity)).json()["order"]
    assert await _pay(client, services, order["id"]) == "paid"
    return order


async def _paid_order_of_a_sale(client: httpx.AsyncClient, services: Services, make_user: Any,
                                make_product: Any, make_room: Any,
                                ) -> tuple[TestUser, dict[str, Any]]:
    """A new host's flash sale and a buyer's paid order of one unit: the host and the order."""
    host = await make_user("host")
    setup = await _sale(client, host, make_product, make_room)
    return host, await _paid_order(client, services, await make_user(), setup["sale"]["id"], "k")


async def _settle_window_passed(services: Services, order_id: int) -> list[int]:
    """Settle as if the return window had just ended for this order's entry."""
    async with services.db.session() as session:
        until = await session.scalar(select(CommissionEntry.frozen_until).where(
            CommissionEntry.order_id == order_id, CommissionEntry.kind == "accrual"))
    assert until is not None
    return await commissions.settle_due(services, now=until)


async def test_the_product_rate_overrides_the_room_rate_which_overrides_the_default(
        client, make_user, make_product, make_room, services: Services):
    host = await make_user("host")
    both = await _sale(client, host, make_product, make_room, product_rate=1250, room_rate=700)
    room_only = await _sale(client, host, make_product, make_room, room_rate=700)
    neither = await _sale(client, host, make_product, make_room)
    rooms = (await client.get(f"/api/rooms/{both['room']['id']}", headers=host.headers)).json()

    async with services.db.session() as session:
        rates = [await session.scalar(select(Sale.commission_rate_bp).where(Sale.id == s["sale"]["id"]))
                 for s in (both, room_only, neither)]
    assert rates == [1250, 700, commissions.DEFAULT_COMMISSION_RATE_BP]
    assert rooms["commission_rate_bp"] == 700


async def test_a_rate_out_of_range_is_refused_naming_the_field(client, make_user, make_product):
    host = await make_user("host")
    product = await make_product(host)

    response = await client.patch(f"/api/products/{product['id']}", headers=host.headers,
                                  json={"commission_rate_bp": 10001})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "commission_rate_bp"


async def test_a_paid_order_accrues_a_pending_entry_on_the_paid_amount_at_the_sale_rate(
        client, make_user, make_product, make_room, services: Services):
    # given a sale at 12.5% commission, and a buyer who pays for 2 units at 15.00
    host = await make_user("host")
    setup = await _sale(client, host, make_product, make_room, product_rate=1250)
    order = await _paid_order(client, services, await make_user(), setup["sale"]["id"], "k", 2)

    # when the host raises the product's rate after the sale
    await client.patch(f"/api/products/{setup['product']['id']}", headers=host.headers,
                       json={"commission_rate_bp": 5000})

    # then the entry keeps the rate of the time of sale, on the 30.00 actually paid
    [entry] = await _entries(services, order["id"])
    assert (entry.kind, entry.status, entry.host_id, entry.room_id) == (
        "accrual", "pending", host.id, setup["room"]["id"])
    assert (entry.base_minor, entry.rate_bp, entry.amount_minor, entry.currency) == (
        3000, 1250, 375, "USD")
    async with services.db.session() as session:
        snapshot = await session.scalar(select(Order.commission_rate_bp).where(
            Order.id == order["id"]))
    assert snapshot == 1250


async def test_commission_rounds_half_up_in_minor_units():
    assert commissions.commission_amount(1999, 1000) == 200  # 199.9
    assert commissions.commission_amount(1005, 1000) == 101  # 100.5
    assert commissions.commission_amount(1004, 1000) == 100  # 100.4
    assert commissions.commission_amount(0, 1000) == 0


async def test_delivery_freezes_the_entry_for_the_window_and_the_sweep_settles_it_after(
        client, make_user, make_product, make_room, services: Services):
    # given a paid order
    host = await make_user("host")
    setup = await _sale(client, host, make_product, make_room, product_rate=1000)
    order = await _paid_order(client, services, await make_user(), setup["sale"]["id"], "k")

    # when the host completes it (delivered)
    completed = await client.post(f"/api/orders/{order['id']}/complete", headers=host.headers)

    # then the entry is frozen for exactly the configured return window
    assert completed.status_code == 200
    [entry] = await _entries(services, order["id"])
    assert entry.status == "frozen" and entry.frozen_at is not None
    assert entry.frozen_until == entry.frozen_at + timedelta(
        days=services.settings.commission_return_window_days)

    # and the sweep leaves it alone inside the window, settles it once the window is over
    assert await commissions.settle_due(services) == []
    assert await commissions.settle_due(
        services, now=entry.frozen_until - timedelta(seconds=1)) == []
    assert await commissions.settle_due(services, now=entry.frozen_until) == [entry.id]
    assert await commissions.settle_due(services, now=entry.frozen_until) == []  # once
    [settled] = await _entries(services, order["id"])
    assert settled.status == "settled" and settled.settled_at is not None
    assert settled.amount_minor == entry.amount_minor == 150


async def test_the_return_window_is_a_parameter_of_the_freeze(
        client, make_user, make_product, make_room, services: Services):
    _, order = await _paid_order_of_a_sale(client, services, make_user, make_product, make_room)

    async with services.db.transaction() as session:
        moved = await commissions.freeze(session, order["id"], window_days=2)

    [entry] = await _entries(services, order["id"])
    assert moved == entry.id and entry.frozen_at is not None
    assert entry.frozen_until == entry.frozen_at + timedelta(days=2)


async def test_a_refund_before_settlement_voids_the_entry(
        client, make_user, make_product, make_room, services: Services):
    # given one paid order and one completed (frozen) order
    host = await make_user("host")
    ops = await make_user("ops")
    setup = await _sale(client, host, make_product, make_room)
    pending = await _paid_order(client, services, await make_user(), setup["sale"]["id"], "a")
    frozen = await _paid_order(client, services, await make_user(), setup["sale"]["id"], "b")
    await client.post(f"/api/orders/{frozen['id']}/complete", headers=host.headers)

    # when ops refund both
    first = await client.post(f"/api/orders/{pending['id']}/refund", headers=ops.headers)
    second = await client.post(f"/api/orders/{frozen['id']}/refund", headers=ops.headers)

    # then both entries are void, nothing is added, and a later sweep settles nothing
    assert first.status_code == second.status_code == 200
    entries = await _entries(services)
    assert [(e.kind, e.status) for e in entries] == [("accrual", "void"), ("accrual", "void")]
    assert all(e.voided_at is not None for e in entries)
    assert await commissions.settle_due(services, now=entries[1].frozen_until) == []
    async with services.db.session() as session:
        totals = (await commissions.balances(session, host.id))["USD"]
    assert (totals.pending_minor, totals.frozen_minor, totals.settled_minor,
            totals.void_minor) == (0, 0, 0, 300)


async def test_a_refund_after_settlement_adds_a_negative_entry_and_leaves_the_original(
        client, make_user, make_product, make_room, services: Services):
    # given a delivered order whose commission has settled
    host = await make_user("host")
    ops = await make_user("ops")
    setup = await _sale(client, host, make_product, make_room, product_rate=2000)
    order = await _paid_order(client, services, await make_user(), setup["sale"]["id"], "k")
    await client.post(f"/api/orders/{order['id']}/complete", headers=host.headers)
    await _settle_window_passed(services, order["id"])
    [before] = await _entries(services, order["id"])

    # when the buyer returns it and ops refund it (twice: the second is refused)
    refunded = await client.post(f"/api/orders/{order['id']}/refund", headers=ops.headers)
    again = await client.post(f"/api/orders/{order['id']}/refund", headers=ops.headers)

    # then a negative reversal is added, the original is untouched, and the balance nets to 0
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"
    assert again.status_code == 409
    original, reversal = await _entries(services, order["id"])
    assert original.public() == before.public()
    assert (reversal.kind, reversal.status, reversal.amount_minor, reversal.base_minor) == (
        "reversal", "settled", -300, -1500)
    async with services.db.session() as session:
        totals = (await commissions.balances(session, host.id))["USD"]
    assert (totals.settled_minor, totals.available_to_pay_minor, totals.entries) == (0, 0, 2)


async def test_balances_are_the_sums_of_entries_by_status(
        client, make_user, make_product, make_room, services: Services):
    # given five paid orders at 10%: one left paid, one delivered, two settled, one of those
    # refunded after settlement, one refunded before delivery
    host = await make_user("host")
    ops = await make_user("ops")
    setup = await _sale(client, host, make_product, make_room, product_rate=1000,
                        price_minor=1000)
    sale_id = setup["sale"]["id"]
    orders = [await _paid_order(client, services, await make_user(), sale_id, f"k{n}")
              for n in range(5)]
    for order in orders[2:4]:
        await client.post(f"/api/orders/{order['id']}/complete", headers=host.headers)
    await _settle_window_passed(services, orders[3]["id"])
    # delivered after that settle, so its window is still open
    await client.post(f"/api/orders/{orders[1]['id']}/complete", headers=host.headers)
    await client.post(f"/api/orders/{orders[3]['id']}/refund", headers=ops.headers)
    await client.post(f"/api/orders/{orders[4]['id']}/refund", headers=ops.headers)

    # when the host reads their balances
    response = await client.get("/api/commissions/balances", headers=host.headers)

    # then each is the sum of the entries in that status
    entries = await _entries(services)
    sums: dict[str, int] = {}
    for entry in entries:
        sums[entry.status] = sums.get(entry.status, 0) + entry.amount_minor
    usd = response.json()["balances"]["USD"]
    assert (usd["pending_minor"], usd["frozen_minor"], usd["settled_minor"],
            usd["void_minor"]) == (100, 100, 100, 100)
    assert usd["settled_minor"] == sums["settled"] == 100 + 100 - 100
    assert usd["available_to_pay_minor"] == 100 and usd["expected_minor"] == 300
    assert usd["entries"] == len(entries) == 6


async def test_the_hooks_and_the_sweep_change_nothing_twice(
        client, make_user, make_product, make_room, services: Services):
    # given a paid order, delivered, settled and refunded
    host, order_view = await _paid_order_of_a_sale(client, services, make_user, make_product,
                                                   make_room)
    async with services.db.session() as session:
        order = await session.get(Order, order_view["id"])
    assert order is not None

    # when every hook runs a second time at each step
    async with services.db.transaction() as session:
        again_accrued = await commissions.accrue(session, order, paid_minor=order.amount_minor)
    await client.post(f"/api/orders/{order.id}/complete", headers=host.headers)
    async with services.db.transaction() as session:
        again_frozen = await commissions.freeze(session, order.id, window_days=7)
    first_settle = await _settle_window_passed(services, order.id)
    second_settle = await _settle_window_passed(services, order.id)
    async with services.db.transaction() as session:
        first_refund = await commissions.void_or_reverse(session, order.id)
    async with services.db.transaction() as session:
        second_refund = await commissions.void_or_reverse(session, order.id)

    # then each step happened once
    assert again_accrued is None and again_frozen is None
    assert len(first_settle) == 1 and second_settle == []
    assert (first_refund, second_refund) == ("reversed", "already_reversed")
    assert [(e.kind, e.status, e.amount_minor) for e in await _entries(services)] == [
        ("accrual", "settled", 150), ("reversal", "settled", -150)]


async def test_a_duplicate_payment_webhook_accrues_once(
        client, make_user, make_product, make_room, services: Services):
    host = await make_user("host")
    setup = await _sale(client, host, make_product, make_room)
    order = (await buy(client, await make_user(), setup["sale"]["id"], "k")).json()["order"]
    outbox_id = await paying.submit_sandbox_payment(services, order["id"], pay=True)

    outcomes = [(await deliver_sandbox_webhook(client, services, outbox_id)).json()["outcome"]
                for _ in range(2)]

    assert outcomes == ["paid", "duplicate"]
    assert len(await _entries(services, order["id"])) == 1


async def _two_hosts_with_entries(client: httpx.AsyncClient, services: Services, make_user: Any,
                                  make_product: Any, make_room: Any) -> dict[str, Any]:
    alice = await make_user("host", name="Alice")
    bob = await make_user("host", name="Bob")
    a = await _sale(client, alice, make_product, make_room, product_rate=1000)
    b = await _sale(client, bob, make_product, make_room, product_rate=500)
    a_order = await _paid_order(client, services, await make_user(), a["sale"]["id"], "a")
    b_order = await _paid_order(client, services, await make_user(), b["sale"]["id"], "b")
    return {"alice": alice, "bob": bob, "a": a, "b": b, "a_order": a_order, "b_order": b_order}


async def test_a_host_sees_only_their_own_statement_and_ops_see_all(
        client, make_user, make_product, make_room, services: Services):
    given = await _two_hosts_with_entries(client, services, make_user, make_product, make_room)
    alice, bob = given["alice"], given["bob"]
    ops = await make_user("ops")
    viewer = await make_user()

    own = await client.get("/api/commissions", headers=alice.headers)
    others = await client.get(f"/api/commissions?host_id={bob.id}", headers=alice.headers)
    others_room = await client.get(f"/api/commissions?room_id={given['b']['room']['id']}",
                                   headers=alice.headers)
    all_hosts = await client.get("/api/commissions", headers=ops.headers)
    one_host = await client.get(f"/api/commissions?host_id={bob.id}", headers=ops.headers)
    by_viewer = await client.get("/api/commissions", headers=viewer.headers)
    by_guest = await client.get("/api/commissions")
    csv_by_guest = await client.get("/api/commissions/statement.csv")
    csv_by_viewer = await client.get("/api/commissions/statement.csv", headers=viewer.headers)

    assert own.status_code == 200
    assert [e["order_id"] for e in own.json()["entries"]] == [given["a_order"]["id"]]
    assert own.json()["host_id"] == alice.id
    assert own.json()["totals"]["USD"]["pending_minor"] == 150
    assert others.status_code == 403 and others.json()["error"]["field"] == "host_id"
    assert others_room.status_code == 403 and others_room.json()["error"]["field"] == "room_id"
    assert sorted(e["host_id"] for e in all_hosts.json()["entries"]) == sorted([alice.id, bob.id])
    assert all_hosts.json()["totals"]["USD"]["pending_minor"] == 150 + 75
    assert [e["host_id"] for e in one_host.json()["entries"]] == [bob.id]
    assert by_viewer.status_code == 403 and csv_by_viewer.status_code == 403
    assert by_guest.status_code == 401 and csv_by_guest.status_code == 401


async def test_bad_filters_get_a_4xx_naming_the_field(client, make_user):
    host = await make_user("host")

    month = await client.get("/api/commissions?month=2026-13", headers=host.headers)
    shape = await client.get("/api/commissions?month=nov", headers=host.headers)
    room = await client.get("/api/commissions?room_id=abc", headers=host.headers)
    missing_room = await client.get("/api/commissions?room_id=999999", headers=host.headers)

    assert month.status_code == shape.status_code == room.status_code == 422
    assert month.json()["error"]["field"] == shape.json()["error"]["field"] == "month"
    assert room.json()["error"]["field"] == "room_id"
    assert missing_room.status_code == 404


async def test_statements_per_broadcast_and_per_month(
        client, make_user, make_product, make_room, services: Services):
    # given a host with entries in two broadcasts, one of them from last month
    host = await make_user("host")
    first = await _sale(client, host, make_product, make_room)
    second = await _sale(client, host, make_product, make_room)
    old = await _paid_order(client, services, await make_user(), first["sale"]["id"], "a")
    new = await _paid_order(client, services, await make_user(), second["sale"]["id"], "b")
    async with services.db.transaction() as session:
        await session.execute(update(CommissionEntry).where(
            CommissionEntry.order_id == old["id"]).values(
            created_at=func.date_trunc("month", func.now()) - timedelta(days=1)))
    async with services.db.session() as session:
        this_month = await session.scalar(select(func.to_char(
            func.timezone("UTC", func.now()), "YYYY-MM")))
        last_month = await session.scalar(select(func.to_char(
            func.timezone("UTC", func.date_trunc("month", func.now()) - timedelta(days=1)),
            "YYYY-MM")))

    per_room = await client.get(f"/api/commissions?room_id={first['room']['id']}",
                                headers=host.headers)
    current = await client.get(f"/api/commissions?month={this_month}", headers=host.headers)
    previous = await client.get(f"/api/commissions?month={last_month}", headers=host.headers)

    assert [e["order_id"] for e in per_room.json()["entries"]] == [old["id"]]
    assert [e["order_id"] for e in current.json()["entries"]] == [new["id"]]
    assert [e["order_id"] for e in previous.json()["entries"]] == [old["id"]]
    assert per_room.json()["entries"][0]["room_title"] == first["room"]["title"]


async def test_the_statement_exports_as_csv(client, make_user, make_product, make_room,
                                            services: Services):
    given = await _two_hosts_with_entries(client, services, make_user, make_product, make_room)
    alice = given["alice"]

    response = await client.get(
        f"/api/commissions/statement.csv?room_id={given['a']['room']['id']}",
        headers=alice.headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f"broadcast-{given['a']['room']['id']}" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(int(r["order_id"]), r["kind"], r["status"], int(r["base_minor"]),
             int(r["rate_bp"]), int(r["amount_minor"]), r["currency"]) for r in rows] == [
        (given["a_order"]["id"], "accrual", "pending", 1500, 1000, 150, "USD")]


async def test_the_statement_pages_answer_each_role(client, make_user, make_product, make_room,
                                                    services: Services):
    given = await _two_hosts_with_entries(client, services, make_user, make_product, make_room)
    ops = await make_user("ops")
    viewer = await make_user()

    host_page = await client.get("/host/commissions", headers=given["alice"].headers)
    ops_page = await client.get(f"/ops/commissions?host_id={given['bob'].id}",
                                headers=ops.headers)
    viewer_page = await client.get("/host/commissions", headers=viewer.headers)
    guest_page = await client.get("/ops/commissions")
    host_on_ops = await client.get("/ops/commissions", headers=given["alice"].headers)

    assert host_page.status_code == 200
    assert f'data-order-id="{given["a_order"]["id"]}"' in host_page.text
    assert f'data-order-id="{given["b_order"]["id"]}"' not in host_page.text
    assert ops_page.status_code == 200
    assert f'data-order-id="{given["b_order"]["id"]}"' in ops_page.text
    assert f'data-order-id="{given["a_order"]["id"]}"' not in ops_page.text
    assert viewer_page.status_code == 403
    assert guest_page.status_code == 303 and guest_page.headers["location"].startswith("/login")
    assert host_on_ops.status_code == 303
    assert host_on_ops.headers["location"] == "/host/commissions"


async def test_a_payment_accepted_after_expiry_accrues_too(
        client, make_user, make_product, make_room, services: Services):
    # given an order that expired while its payment was in flight
    host = await make_user("host")
    setup = await _sale(client, host, make_product, make_room, product_rate=1000)
    order = (await buy(client, await make_user(), setup["sale"]["id"], "k")).json()["order"]
    outbox_id = await paying.submit_sandbox_payment(
        services, order["id"], pay=True)
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == order["id"]).values(
            hold_expires_at=func.now()))
        await session.execute(update(Payment).where(Payment.order_id == order["id"]).values(
            created_at=func.now() - timedelta(
                seconds=paying.PAYMENT_IN_FLIGHT_GRACE_SECONDS + 1)))
    assert await order_moves.expire_due_orders(services) == [order["id"]]
    assert await _entries(services) == []

    # when its payment lands while the unit is still free
    response = await deliver_sandbox_webhook(client, services, outbox_id)

    # then the order is paid and its commission accrues like any other
    assert response.json()["outcome"] == "paid_after_expiry"
    [entry] = await _entries(services, order["id"])
    assert (entry.status, entry.base_minor, entry.amount_minor) == ("pending", 1500, 150)
