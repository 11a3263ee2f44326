"""A live-room coupon at a flash sale's buy (orders/coupon_buying.py): off the amount paid,
once, with the commission and the report on what was paid; each refusal by name with nothing
reserved; given back once by a cancel, an expiry or a failed write; a late payment refunded if
the coupon went to another order; and two buys naming one claim at once using it once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from analytics.actions import compute
from core.context import Services
from orders import coupon_buying, coupons, order_moves, paying, reconcile, stock
from orders.coupons import CouponClaim
from orders.errors import SaleUnavailable
from orders.models import Order, OrderEvent, Payment
from orders.reconcile import check_invariant
from tests.conftest import TestUser
from tests.orders.conftest import MakeSale, SaleSetup, pay
from tests.orders.regular_helpers import deliver, payment_and_commission, queue_payment


async def drop(client: httpx.AsyncClient, sale: SaleSetup, **terms: Any) -> dict[str, Any]:
    """A coupon in the sale's room: 500 off orders of 1000 or more, in the sale's currency."""
    response = await client.post(
        f"/api/rooms/{sale.room['id']}/coupons", headers=sale.host.headers,
        json={"kind": "amount", "amount_off_minor": 500, "min_spend_minor": 1000,
              "currency": sale.sale["currency"], "quantity": 5, "valid_seconds": 3600, **terms})
    assert response.status_code == 201, response.text
    coupon: dict[str, Any] = response.json()
    return coupon


async def claimed(client: httpx.AsyncClient, viewer: TestUser, coupon: dict[str, Any]) -> int:
    response = await client.post(f"/api/coupons/{coupon['id']}/claim", headers=viewer.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["claim_id"])


async def buy_with(client: httpx.AsyncClient, user: TestUser, sale: SaleSetup, claim_id: int,
                   key: str | None = None, **body: Any) -> httpx.Response:
    return await client.post(f"/api/sales/{sale.id}/buy",
                             json={"quantity": 1, "coupon_claim_id": claim_id, **body},
                             headers={**user.headers,
                                      "Idempotency-Key": key or uuid.uuid4().hex})


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def claim_orders(services: Services, claim_id: int) -> int | None:
    async with services.db.session() as session:
        order_id: int | None = await session.scalar(
            select(CouponClaim.order_id).where(CouponClaim.id == claim_id))
    return order_id


async def counts(services: Services, sale: SaleSetup) -> tuple[int, int, int]:
    """(available, reserved, sold) in Redis, with the sale's invariant checked."""
    report = await check_invariant(services, sale.id)
    assert report.ok, report
    found = await stock.read_counts(services.redis, stock.SaleKeys.of(services.keys, sale.id))
    assert found is not None
    return found.available, found.reserved, found.sold


async def test_a_claimed_coupon_comes_off_a_flash_buy_once_and_the_money_follows_it(
        client, make_user, make_sale: MakeSale, services: Services):
    # given a flash sale at 15.00 and a viewer holding 5.00 off orders of 10.00 or more
    sale = await make_sale(quantity=10, price_minor=1500, per_user_limit=3)
    buyer = await make_user()
    coupon = await drop(client, sale)
    claim_id = await claimed(client, buyer, coupon)

    # when they buy with it
    first = await buy_with(client, buyer, sale, claim_id, key="with-coupon")

    # then the order is what is paid, the discount and the claim on it, the claim names it
    assert first.status_code == 201, first.text
    order = first.json()["order"]
    assert (order["amount_minor"], order["discount_minor"], order["coupon_claim_id"]) == (
        1000, 500, claim_id)
    assert await claim_orders(services, claim_id) == order["id"]
    async with services.db.session() as session:
        placed = await session.scalar(select(OrderEvent.data).where(
            OrderEvent.order_id == order["id"], OrderEvent.type == "order_placed"))
    assert placed["coupon"] == {"claim_id": claim_id, "coupon_id": coupon["id"],
                                "discount_minor": 500}
    assert await counts(services, sale) == (9, 1, 0)

    # when the same press is sent again, and a new press names the used claim
    again = await buy_with(client, buyer, sale, claim_id, key="with-coupon")
    used = await buy_with(client, buyer, sale, claim_id)
    # then the repeat is the first reply; the new press is refused and reserves nothing
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert (used.status_code, code(used)) == (409, "coupon_used")
    assert await counts(services, sale) == (9, 1, 0)
    # and a buy without a coupon is the sale's price, as always
    plain = await client.post(f"/api/sales/{sale.id}/buy", json={"quantity": 1},
                              headers={**buyer.headers, "Idempotency-Key": "plain"})
    assert plain.status_code == 201 and plain.json()["order"]["amount_minor"] == 1500

    # when it is paid: the payment, the host's commission and the report are on 10.00
    assert (await pay(client, services, order["id"])).json()["outcome"] == "paid"
    payment, entry = await payment_and_commission(services, order["id"])
    assert payment.amount_minor == 1000
    assert entry.base_minor == 1000
    report = await compute(services, sale.room["id"])
    assert report["summary"]["gmv_minor"] == 1000
    # and the buyer's order reads with its discount
    read = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
    assert (read["status"], read["amount_minor"], read["discount_minor"]) == ("paid", 1000, 500)
    assert await counts(services, sale) == (8, 1, 1)


async def test_a_coupon_worth_more_than_the_price_makes_the_buy_free_never_negative(
        client, make_user, make_sale: MakeSale, services: Services):
    sale = await make_sale(quantity=5, price_minor=1500)
    buyer = await make_user()
    claim_id = await claimed(client, buyer, await drop(client, sale, amount_off_minor=5000,
                                                       min_spend_minor=0))
    response = await buy_with(client, buyer, sale, claim_id)
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert (order["amount_minor"], order["discount_minor"]) == (0, 1500)


async def test_a_coupon_that_cannot_apply_is_refused_by_name_and_nothing_is_reserved(
        client, make_user, make_sale: MakeSale, services: Services):
    # given a sale at 15.00, another live room, and claims of every kind that cannot apply
    sale = await make_sale(quantity=5, price_minor=1500)
    elsewhere = await make_sale(quantity=5, price_minor=1500)
    buyer, someone = await make_user(), await make_user()
    coupon = await drop(client, sale)
    mine = await claimed(client, buyer, coupon)
    theirs = await claimed(client, someone, coupon)
    other_room = await claimed(client, buyer, await drop(client, elsewhere))
    high_minimum = await claimed(client, buyer, await drop(client, sale, min_spend_minor=2000))
    expiring = await drop(client, sale)
    expired = await claimed(client, buyer, expiring)
    async with services.db.transaction() as session:
        await session.execute(update(coupons.Coupon).where(coupons.Coupon.id == expiring["id"])
                              .values(valid_until=func.now()))

    # when the buyer names each
    replies = {
        "below": await buy_with(client, buyer, sale, high_minimum),
        "not_mine": await buy_with(client, buyer, sale, theirs),
        "unknown": await buy_with(client, buyer, sale, 10**9),
        "wrong_room": await buy_with(client, buyer, sale, other_room),
        "expired": await buy_with(client, buyer, sale, expired),
        "video": await buy_with(client, buyer, sale, mine,
                                source={"kind": "video", "id": 10**9}),
    }

    # then each is its own 4xx naming the field, and nothing was reserved or written
    assert {name: (r.status_code, code(r)) for name, r in replies.items()} == {
        "below": (422, "coupon_below_minimum"), "not_mine": (403, "coupon_not_yours"),
        "unknown": (403, "coupon_not_yours"), "wrong_room": (409, "coupon_not_for_this_room"),
        "expired": (409, "coupon_expired"), "video": (422, "invalid")}
    assert replies["below"].json()["error"]["field"] == "coupon_claim_id"
    assert replies["video"].json()["error"]["errors"][0]["field"] in ("source.id",
                                                                      "coupon_claim_id")
    assert await counts(services, sale) == (5, 0, 0)
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 0
        assert set(await session.scalars(select(CouponClaim.order_id))) == {None}


async def test_cancel_and_expiry_give_the_coupon_back_once_and_a_late_payment_follows_it(
        client, make_user, make_sale: MakeSale, services: Services):
    sale = await make_sale(quantity=10, price_minor=1500, per_user_limit=5)
    buyer = await make_user()
    claim_id = await claimed(client, buyer, await drop(client, sale))

    # when the order using it is cancelled (twice over)
    first = (await buy_with(client, buyer, sale, claim_id)).json()["order"]
    assert (await client.post(f"/api/orders/{first['id']}/cancel",
                              headers=buyer.headers)).status_code == 200
    assert (await client.post(f"/api/orders/{first['id']}/cancel",
                              headers=buyer.headers)).status_code == 409
    # then the coupon is the buyer's again, and the next flash buy uses it
    assert await claim_orders(services, claim_id) is None
    second = (await buy_with(client, buyer, sale, claim_id)).json()["order"]
    assert second["discount_minor"] == 500

    # when that one is paid too late (its hold ran out, swept twice) and the coupon went to a
    # third order meanwhile
    late = await queue_payment(services, second["id"])
    await expire_now(services, second["id"])
    assert await claim_orders(services, claim_id) is None
    third = (await buy_with(client, buyer, sale, claim_id)).json()["order"]
    # then the late payment is refunded and the coupon stays on the third order
    assert await deliver(client, services, late) == "refunded_after_expiry"
    assert await claim_orders(services, claim_id) == third["id"]

    # when the third expires unpaid and its payment lands while the coupon is still free
    kept = await queue_payment(services, third["id"])
    await expire_now(services, third["id"])
    assert await deliver(client, services, kept) == "paid_after_expiry"
    # then it is kept at the discounted price, the coupon on it again
    assert await claim_orders(services, claim_id) == third["id"]
    async with services.db.session() as session:
        order = await session.get(Order, third["id"])
        refunded = await session.scalar(select(Payment.status).where(
            Payment.order_id == second["id"]))
    assert order is not None and (order.status, order.amount_minor) == ("paid", 1000)
    assert refunded == "refunded"
    assert await counts(services, sale) == (9, 0, 1)


async def expire_now(services: Services, order_id: int) -> None:
    """The order's hold runs out (its payment, if any, long past in flight) and the sweep runs
    twice."""
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == order_id)
                              .values(hold_expires_at=func.now()))
        await session.execute(update(Payment).where(Payment.order_id == order_id).values(
            created_at=func.now() - func.make_interval(
                0, 0, 0, 0, 0, 0, paying.PAYMENT_IN_FLIGHT_GRACE_SECONDS + 1)))
    assert await order_moves.expire_due_orders(services) == [order_id]
    assert await order_moves.expire_due_orders(services) == []


async def test_buys_naming_one_claim_at_once_use_it_once(
        client, make_user, make_sale: MakeSale, services: Services):
    # given a buyer with one claim and room for several units
    sale = await make_sale(quantity=20, price_minor=1500, per_user_limit=10)
    buyer = await make_user()
    claim_id = await claimed(client, buyer, await drop(client, sale))

    # when eight presses name it at once, two of them the same press sent twice
    keys = [uuid.uuid4().hex for _ in range(7)]
    replies = await asyncio.gather(*(buy_with(client, buyer, sale, claim_id, key=key)
                                     for key in [*keys, keys[0]]))

    # then one order uses it, the repeat of its key (if it was the winner) gets that order, and
    # every other press is told the coupon is used, with nothing reserved for it
    placed = {r.json()["order"]["id"] for r in replies if r.status_code == 201}
    refused = [code(r) for r in replies if r.status_code != 201]
    assert len(placed) == 1
    assert set(refused) <= {"coupon_used"} and len(refused) in (6, 7)
    (order_id,) = placed
    assert await claim_orders(services, claim_id) == order_id
    assert await counts(services, sale) == (19, 1, 0)
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 1


async def test_a_failed_write_gives_the_units_and_the_coupon_back(
        client, make_user, make_sale: MakeSale, services: Services,
        monkeypatch: pytest.MonkeyPatch):
    sale = await make_sale(quantity=5, price_minor=1500)
    buyer = await make_user()
    claim_id = await claimed(client, buyer, await drop(client, sale))

    # when the order's write fails after the units were reserved (its commit is lost)
    async def failing_mark_used(*_args: Any) -> None:
        raise ConnectionResetError("the connection to PostgreSQL dropped")

    monkeypatch.setattr(coupons, "mark_used", failing_mark_used)
    with pytest.raises(ConnectionResetError):
        await coupon_buying.buy_with_coupon(services, buyer.id, sale.id, "lost", claim_id)
    # then the unit is back, the claim unused, the key free
    assert await counts(services, sale) == (5, 0, 0)
    assert await claim_orders(services, claim_id) is None
    monkeypatch.undo()

    # when a rebuild of the sale lands between the reservation and the order's statement
    real_reserve = coupon_buying.reserve_units

    async def reserve_then_rebuild(*args: Any) -> stock.ReserveResult:
        result = await real_reserve(*args)
        await reconcile.reconcile_sale(services, sale.id)
        return result

    monkeypatch.setattr(coupon_buying, "reserve_units", reserve_then_rebuild)
    with pytest.raises(SaleUnavailable):
        await coupon_buying.buy_with_coupon(services, buyer.id, sale.id, "lost", claim_id)
    monkeypatch.undo()
    # then the order is refused (its reservation predates the rebuild), nothing is held for it
    assert await counts(services, sale) == (5, 0, 0)
    assert await claim_orders(services, claim_id) is None

    # and the buyer's retry with the same key buys, with the coupon
    retry = await buy_with(client, buyer, sale, claim_id, key="lost")
    assert retry.status_code == 201, retry.text
    assert retry.json()["order"]["amount_minor"] == 1000
    assert await counts(services, sale) == (4, 1, 0)
