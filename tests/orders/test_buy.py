"""Buying in a flash sale: the reply, idempotency, the four refusals, and the big race."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select

from core.context import Services
from orders import stock
from orders.models import Order, OrderEvent
from orders.reconcile import check_invariant
from orders.runtime import close_runtime
from tests.conftest import capture_news, poll_until
from tests.orders.conftest import buy


@pytest.mark.redis6
async def test_buy_commits_the_order_before_the_reply(client, make_user, make_sale,
                                                       services: Services):
    # given a running sale of 10 units at 15.00
    sale = await make_sale(quantity=10, price_minor=1500, per_user_limit=2)
    buyer = await make_user()

    # when a viewer buys two
    response = await buy(client, buyer, sale.id, "key-1", quantity=2)

    # then the reply carries the committed order, its amount, a payment link and the hold
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert order["status"] == "pending_payment"
    assert (order["amount_minor"], order["currency"], order["quantity"]) == (3000, "USD", 2)
    assert order["payment_url"].startswith(f"/sandbox/pay/{order['id']}?sig=")
    assert order["hold_expires_at_ms"] > 0
    async with services.db.session() as session:
        row = await session.get(Order, order["id"])
        events = list(await session.scalars(
            select(OrderEvent.type).where(OrderEvent.order_id == order["id"])))
    assert row is not None and row.status == "pending_payment" and row.user_id == buyer.id
    assert events == ["order_placed"]
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert (report.redis.available, report.redis.reserved) == (8, 2)


@pytest.mark.redis6
async def test_a_repeated_key_returns_the_first_reply_and_reserves_once(
        client, make_user, make_sale, services: Services):
    sale = await make_sale(quantity=10, per_user_limit=5)
    buyer = await make_user()

    first = await buy(client, buyer, sale.id, "same-key")
    again = await asyncio.gather(*(buy(client, buyer, sale.id, "same-key") for _ in range(5)))

    assert first.status_code == 201
    for response in again:
        assert response.status_code == 201
        assert response.json() == first.json()
        assert response.headers["idempotent-replayed"] == "true"
    report = await check_invariant(services, sale.id)
    assert report.ok and report.redis.reserved == 1


async def test_a_repeat_is_answered_from_redis_even_after_a_restart(
        client, make_user, make_sale, services: Services):
    # given a committed buy, whose first reply the process kept in Redis
    sale = await make_sale(quantity=5)
    buyer = await make_user()
    first = await buy(client, buyer, sale.id, "key-1")
    assert first.status_code == 201
    sk = stock.SaleKeys.of(services.keys, sale.id)
    field = stock.idem_field(buyer.id, "key-1")

    async def kept() -> bool:
        return bool(await services.redis.hexists(sk.replies, field))

    await poll_until(kept)
    # and the process restarted: its writer and all it held in memory are gone
    await close_runtime(services)

    # when the buyer repeats the request
    with statements_seen(services) as statements:
        again = await buy(client, buyer, sale.id, "key-1")

    # then the first reply comes back from Redis, with no query of the orders
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert not [s for s in statements if "orders" in s]

    # and without the kept reply (Redis lost it) PostgreSQL still answers the same
    await services.redis.delete(sk.replies)
    with statements_seen(services) as statements:
        once_more = await buy(client, buyer, sale.id, "key-1")
    assert once_more.json() == first.json()
    assert [s for s in statements if "orders" in s]
    report = await check_invariant(services, sale.id)
    assert report.ok and report.redis.reserved == 1


@contextlib.contextmanager
def statements_seen(services: Services) -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def test_refusals_have_their_own_codes_and_change_nothing(client, make_user, make_sale,
                                                                services: Services):
    # given a sale of 2 units, one per person, and one that starts in an hour
    sale = await make_sale(quantity=2, per_user_limit=1)
    later = await make_sale(quantity=2, start_in_seconds=3600)
    first, second, third = await make_user(), await make_user(), await make_user()
    assert (await buy(client, first, sale.id, "a")).status_code == 201

    # when the same buyer comes back, a buyer asks for too many, the stock runs out,
    # and someone buys before the start
    over_limit = await buy(client, first, sale.id, "b")
    too_many = await buy(client, second, sale.id, "c", quantity=2)
    assert (await buy(client, second, sale.id, "d")).status_code == 201
    sold_out = await buy(client, third, sale.id, "e")
    not_started = await buy(client, third, later.id, "f")
    no_key = await client.post(f"/api/sales/{sale.id}/buy", headers=third.headers)

    # then each gets its own error code and the counters are as two buys left them
    def code(response):  # type: ignore[no-untyped-def]
        return response.status_code, response.json()["error"]["code"]

    assert code(over_limit) == (409, "limit_reached")
    assert code(too_many) == (409, "limit_reached")
    assert code(sold_out) == (409, "sold_out")
    assert code(not_started) == (409, "sale_not_started")
    assert code(no_key) == (400, "idempotency_key_required")
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert (report.redis.available, report.redis.reserved, report.redis.sold) == (0, 2, 0)
    later_report = await check_invariant(services, later.id)
    assert later_report.ok and later_report.redis.available == 2


@pytest.mark.redis6
async def test_a_buy_after_the_host_stopped_the_sale_is_refused(client, make_user, make_sale,
                                                                services: Services):
    sale = await make_sale(quantity=5)
    buyer = await make_user()
    async with capture_news(services) as published:
        stopped = await client.post(f"/api/sales/{sale.id}/stop", headers=sale.host.headers)

    response = await buy(client, buyer, sale.id, "late")

    assert stopped.status_code == 200 and stopped.json()["status"] == "ended"
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sale_ended"
    sale_events = [e for e in published if e["type"] == "sale"]
    assert sale_events[-1]["data"]["action"] == "stopped"
    assert sale_events[-1]["data"]["sale"]["remaining"] == 5
    report = await check_invariant(services, sale.id)
    assert report.ok and report.redis.available == 5


async def test_600_buyers_on_100_units_get_exactly_100_orders(client, make_buyers, make_sale,
                                                              services: Services):
    # given 100 units and 600 viewers (six a unit: every buy past the hundredth is a refusal,
    # so more buyers would add time, not race; bench/buy.py runs 5,000)
    sale = await make_sale(stock=100, quantity=100)
    buyers = await make_buyers(600)

    # when they all press buy at once
    responses = await asyncio.gather(*(
        buy(client, buyer, sale.id, f"k{buyer.id}") for buyer in buyers))

    # then exactly 100 win, every other one hears sold_out, nothing is a 5xx
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 100
    assert all(r.json()["error"]["code"] == "sold_out" for r in responses if r.status_code != 201)
    assert not [s for s in statuses if s >= 500]
    async with services.db.session() as session:
        orders = await session.scalar(select(func.count()).select_from(Order)
                                      .where(Order.sale_id == sale.id))
        distinct_buyers = await session.scalar(select(func.count(func.distinct(Order.user_id)))
                                               .where(Order.sale_id == sale.id))
    assert orders == 100 and distinct_buyers == 100
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert report.redis == stock.Counts(available=0, reserved=100, sold=0)


async def test_stock_updates_are_coalesced(client, make_buyers, make_sale, services: Services):
    # given a sale where 40 buyers bought
    from orders.runtime import runtime

    sale = await make_sale(quantity=50)
    buyers = await make_buyers(40)
    await asyncio.gather(*(buy(client, b, sale.id, "k") for b in buyers))
    publisher = runtime(services).publisher
    if publisher.task is not None:
        await publisher.task  # the buys' own ticks are done

    async with capture_news(services) as published:
        # when a burst of 100 changes is reported before the publisher's next tick
        for _ in range(100):
            publisher.changed(sale.id, sale.room["id"])

        async def ticked() -> bool:
            return any(e["type"] == "stock" for e in published)

        await poll_until(ticked, message="a stock event")
        await publisher.flush()

    # then the room hears one stock event, with the exact count, kept in the room state
    ticks = [e for e in published if e["type"] == "stock"]
    assert len(ticks) == 1
    assert ticks[0]["data"] == {"sale_id": sale.id, "remaining": 10, "reserved": 40, "sold": 0}
    assert ticks[0]["state"] == {"stock": ticks[0]["data"]}


@pytest.mark.redis6
async def test_missing_stock_keys_fail_closed_and_are_rebuilt(client, make_user, make_sale,
                                                              services: Services):
    # given a sale with 3 of 5 units bought, whose Redis keys are then lost
    sale = await make_sale(quantity=5, per_user_limit=3)
    buyer = await make_user()
    assert (await buy(client, buyer, sale.id, "one", quantity=3)).status_code == 201
    sk = stock.SaleKeys.of(services.keys, sale.id)
    await services.redis.delete(*sk.script_keys)

    # when the same buyer tries again, and another buyer buys
    over = await buy(client, buyer, sale.id, "two")
    other = await buy(client, await make_user(), sale.id, "three", quantity=2)
    replay = await buy(client, buyer, sale.id, "one", quantity=3)

    # then the counters were rebuilt from PostgreSQL: never zero, never plenty
    assert over.json()["error"]["code"] == "limit_reached"
    assert other.status_code == 201
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert report.redis == stock.Counts(available=0, reserved=5, sold=0)


async def test_the_sale_and_order_endpoints_are_in_the_openapi_document(client):
    paths = (await client.get("/openapi.json")).json()["paths"]

    buy_operation = paths["/api/sales/{sale_id}/buy"]["post"]
    assert {"409", "400", "503", "201"} <= set(buy_operation["responses"])
    for path in ("/api/rooms/{room_id}/sales", "/api/sales/{sale_id}/stop",
                 "/api/orders/{order_id}/cancel", "/api/orders/{order_id}/refund",
                 "/api/payments/sandbox/webhook", "/api/sales/{sale_id}/reconcile"):
        assert path in paths


async def test_a_buyer_who_goes_away_mid_write_keeps_the_order_and_the_count(
        make_user, make_sale, services: Services):
    # given a buy whose order write is held up (the sale row is locked, as during a rebuild)
    from sqlalchemy import text

    from orders import buying

    sale = await make_sale(quantity=3)
    buyer = await make_user()
    async with services.db.engine.connect() as blocker:
        lock = await blocker.begin()
        await blocker.execute(text("select 1 from sales where id = :id for update"),
                              {"id": sale.id})
        task = asyncio.get_running_loop().create_task(
            buying.buy(services, buyer.id, sale.id, "gone", 1))

        async def reserved() -> bool:
            report = await check_invariant(services, sale.id)
            return report.redis is not None and report.redis.reserved == 1

        await poll_until(reserved, message="the reservation")

        # when the request is cancelled while its order waits to be written, then the lock goes
        task.cancel()
        await lock.rollback()

    # then the order is committed all the same and its unit is counted once
    async def written() -> bool:
        async with services.db.session() as session:
            return bool(await session.scalar(select(func.count()).select_from(Order)))

    await poll_until(written, message="the order to be written")
    report = await check_invariant(services, sale.id)
    assert report.ok, report.problems
    assert report.redis.reserved == 1


async def test_first_replies_are_kept_for_as_long_as_the_sale_keys(
        make_user, make_sale, services: Services):
    # given a sale whose keys live for a while, and more replies than one script call takes
    sale = await make_sale(quantity=5)
    sk = stock.SaleKeys.of(services.keys, sale.id)
    replies = {f"{n}:key": b'{"order":{}}' for n in range(stock.REPLIES_PER_CALL + 5)}

    # when they are kept
    kept = await stock.remember_replies(services.redis, sk, replies)

    # then every one is there, with the lifetime of the sale's keys
    assert kept == len(replies) == await services.redis.hlen(sk.replies)
    # (read together; Redis rounds an expiry to the millisecond, so the two may differ by one)
    keys_ttl, replies_ttl = await services.redis.pipeline(transaction=True).pttl(
        sk.stock).pttl(sk.replies).execute()
    assert replies_ttl > 0 and abs(replies_ttl - keys_ttl) <= 1
    # and with the sale's keys gone, nothing is kept (the rebuild restores from PostgreSQL)
    await services.redis.delete(sk.stock, sk.replies)
    assert await stock.remember_replies(services.redis, sk, {"1:k": b"{}"}) == 0
    assert not await services.redis.exists(sk.replies)
