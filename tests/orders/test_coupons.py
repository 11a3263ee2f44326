"""Coupons dropped into a live room: the drop and the room's event, claims and their refusals,
the discount at a regular-price buy and a cart's checkout, the coupon given back once when the
order is cancelled or expires, the commission on the amount paid, and the Redis rebuild."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from core.context import Services
from orders import coupons, order_moves
from orders.coupons import CouponClaim, CouponKeys
from orders.models import Order, OrderEvent
from tests.conftest import TestUser, capture_news
from tests.orders.regular_helpers import (
    Shop,
    counts,
    deliver,
    expire_holds_past_payment_grace,
    open_shop,
    pay,
    payment_and_commission,
    queue_payment,
    with_address,
)

AMOUNT_OFF = {"kind": "amount", "amount_off_minor": 500, "min_spend_minor": 2000,
              "currency": "CNY", "quantity": 5, "valid_seconds": 3600}


async def drop(client: httpx.AsyncClient, shop: Shop, **overrides: Any) -> dict[str, Any]:
    response = await client.post(f"/api/rooms/{shop.room['id']}/coupons",
                                 json={**AMOUNT_OFF, **overrides}, headers=shop.host.headers)
    assert response.status_code == 201, response.text
    coupon: dict[str, Any] = response.json()
    return coupon


async def claim(client: httpx.AsyncClient, viewer: TestUser, coupon_id: int) -> httpx.Response:
    return await client.post(f"/api/coupons/{coupon_id}/claim", headers=viewer.headers)


async def claimed(client: httpx.AsyncClient, viewer: TestUser, coupon_id: int) -> int:
    response = await claim(client, viewer, coupon_id)
    assert response.status_code == 201, response.text
    return int(response.json()["claim_id"])


async def held_by(client: httpx.AsyncClient, shop: Shop, buyer: TestUser,
                  **overrides: Any) -> tuple[dict[str, Any], int]:
    """A coupon dropped in the shop's room and claimed by the buyer: the coupon and the claim."""
    coupon = await drop(client, shop, **overrides)
    return coupon, await claimed(client, buyer, coupon["id"])


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def claims_of(services: Services, coupon_id: int) -> list[tuple[int, int | None]]:
    async with services.db.session() as session:
        return [(c.user_id, c.order_id) for c in await session.scalars(
            select(CouponClaim).where(CouponClaim.coupon_id == coupon_id)
            .order_by(CouponClaim.id))]


async def buy_with(client: httpx.AsyncClient, user: TestUser, room_id: int, variant_id: int,
                   quantity: int, claim_id: int) -> httpx.Response:
    return await client.post(f"/api/rooms/{room_id}/buy",
                             json={"variant_id": variant_id, "quantity": quantity,
                                   "coupon_claim_id": claim_id},
                             headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex})


async def test_a_dropped_coupon_is_heard_in_the_room_and_claimed_once_per_viewer(
        client, shop: Shop, make_user, services: Services):
    # given a live room and two viewers
    alice, bob = await make_user(), await make_user()

    # when the host drops a coupon of two copies
    async with capture_news(services) as published:
        coupon = await drop(client, shop, quantity=2)
    # then the room hears it, with its terms
    heard = [p for p in published if p["type"] == "coupon"]
    assert len(heard) == 1 and heard[0]["room_id"] == shop.room["id"]
    assert heard[0]["data"]["action"] == "dropped"
    assert heard[0]["data"]["coupon"]["amount_off_minor"] == 500
    assert heard[0]["data"]["coupon"]["left"] == 2

    # when each claims it, and one taps twice
    async with capture_news(services) as published:
        first = await claim(client, alice, coupon["id"])
    again = await claim(client, alice, coupon["id"])
    second = await claim(client, bob, coupon["id"])

    # then each has one copy, committed; the second tap is refused by name; the room hears
    # the copies left
    assert first.status_code == 201 and first.json()["left"] == 1
    assert again.status_code == 409 and code(again) == "coupon_already_claimed"
    assert second.status_code == 201 and second.json()["left"] == 0
    assert await claims_of(services, coupon["id"]) == [(alice.id, None), (bob.id, None)]
    assert [p["data"] for p in published if p["type"] == "coupon"] == [
        {"action": "claimed", "coupon_id": coupon["id"], "left": 1}]
    # and the room's list shows alice her claim, unused
    listed = (await client.get(f"/api/rooms/{shop.room['id']}/coupons",
                               headers=alice.headers)).json()["coupons"]
    assert [(c["id"], c["left"], c["claim"]["used"]) for c in listed] == [(coupon["id"], 0, False)]


async def test_claims_that_cannot_be_made_are_refused_by_name_and_change_nothing(
        client, shop: Shop, make_user, services: Services):
    viewer, late = await make_user(), await make_user()
    one_copy = await drop(client, shop, quantity=1)
    for_followers = await drop(client, shop, followers_only=True)
    expiring = await drop(client, shop)
    assert (await claim(client, viewer, one_copy["id"])).status_code == 201
    async with services.db.transaction() as session:
        await session.execute(update(coupons.Coupon).where(coupons.Coupon.id == expiring["id"])
                              .values(valid_until=func.now()))

    # when a second viewer claims the exhausted one, anyone the followers-only one without
    # following, the expired one, an unknown one; and the host their own
    exhausted = await claim(client, late, one_copy["id"])
    not_following = await claim(client, viewer, for_followers["id"])
    expired = await claim(client, viewer, expiring["id"])
    unknown = await claim(client, viewer, 10**9)
    own = await claim(client, shop.host, one_copy["id"])

    # then each is a distinct 4xx naming its reason, and nothing changed
    assert (exhausted.status_code, code(exhausted)) == (409, "coupon_exhausted")
    assert (not_following.status_code, code(not_following)) == (403, "coupon_followers_only")
    assert (expired.status_code, code(expired)) == (409, "coupon_expired")
    assert (unknown.status_code, code(unknown)) == (404, "coupon_not_found")
    assert (own.status_code, code(own)) == (403, "host_cannot_claim")
    assert await claims_of(services, one_copy["id"]) == [(viewer.id, None)]
    assert await claims_of(services, for_followers["id"]) == []
    assert await claims_of(services, expiring["id"]) == []
    assert int(await services.redis.get(CouponKeys.of(services.keys, for_followers["id"]).left)) == 5

    # when the viewer follows the host, the followers-only coupon is theirs to claim
    assert (await client.post(f"/api/hosts/{shop.host.id}/follow",
                              headers=viewer.headers)).status_code in (200, 201)
    assert (await claim(client, viewer, for_followers["id"])).status_code == 201


@pytest.mark.redis6
async def test_a_claim_postgresql_holds_already_gives_the_scripts_copy_back(
        client, shop: Shop, make_user, services: Services):
    # given a viewer's committed claim, which Redis has lost track of (a write lost in a failover)
    viewer = await make_user()
    coupon = await drop(client, shop)
    await claimed(client, viewer, coupon["id"])
    keys = CouponKeys.of(services.keys, coupon["id"])
    assert await services.redis.srem(keys.claimers, str(viewer.id)) == 1

    # when the viewer claims again: the script takes a copy, PostgreSQL refuses a second claim
    again = await claim(client, viewer, coupon["id"])

    # then it is refused by name, the copy goes back, and the one claim stands
    assert (again.status_code, code(again)) == (409, "coupon_already_claimed")
    assert int(await services.redis.get(keys.left)) == AMOUNT_OFF["quantity"] - 1
    assert await claims_of(services, coupon["id"]) == [(viewer.id, None)]


async def test_bad_drops_are_refused_naming_the_field(
        client, shop: Shop, make_user):
    no_cap = await client.post(f"/api/rooms/{shop.room['id']}/coupons", headers=shop.host.headers,
                               json={**AMOUNT_OFF, "kind": "percent", "amount_off_minor": None,
                                     "percent_off": 20})
    assert no_cap.status_code == 422
    assert "max_off_minor" in {e["field"] for e in no_cap.json()["error"]["errors"]}
    viewer = await make_user()
    not_host = await client.post(f"/api/rooms/{shop.room['id']}/coupons", headers=viewer.headers,
                                 json=AMOUNT_OFF)
    assert not_host.status_code == 403


async def test_a_claimed_coupon_comes_off_the_amount_paid_once_and_the_commission_follows(
        client, shop: Shop, buyer: TestUser, services: Services):
    # given a viewer holding a 20%-off coupon capped at 600, minimum spend 2000
    coupon, claim_id = await held_by(client, shop, buyer, kind="percent", amount_off_minor=None,
                                     percent_off=20, max_off_minor=600)
    shirt = shop.variant("S", "Blue")  # 2500 each

    # when they buy two shirts (5000) with it
    response = await buy_with(client, buyer, shop.room["id"], shirt, 2, claim_id)

    # then the order records the coupon and the capped discount, and its amount is what is paid
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert (order["amount_minor"], order["discount_minor"], order["coupon_claim_id"]) == (
        4400, 600, claim_id)
    assert await claims_of(services, coupon["id"]) == [(buyer.id, order["id"])]
    async with services.db.session() as session:
        placed = await session.scalar(select(OrderEvent.data).where(
            OrderEvent.order_id == order["id"], OrderEvent.type == "order_placed"))
    assert placed["coupon"] == {"claim_id": claim_id, "coupon_id": coupon["id"],
                                "discount_minor": 600}

    # when it is used again: refused, nothing held
    again = await buy_with(client, buyer, shop.room["id"], shirt, 2, claim_id)
    assert (again.status_code, code(again)) == (409, "coupon_used")
    assert await counts(services, shirt) == (3, 2, 0)

    # when the order is paid: the payment is the discounted amount, the commission is on it
    assert await pay(client, services, order["id"]) == "paid"
    payment, entry = await payment_and_commission(services, order["id"])
    assert payment.amount_minor == 4400
    assert entry.base_minor == 4400
    assert entry.amount_minor == 4400 * entry.rate_bp // 10_000 or \
        entry.amount_minor == (4400 * entry.rate_bp + 5_000) // 10_000


async def test_an_amount_off_larger_than_the_order_makes_it_free_never_negative(
        client, shop: Shop, buyer: TestUser, services: Services):
    _, claim_id = await held_by(client, shop, buyer, amount_off_minor=5000, min_spend_minor=0)
    response = await buy_with(client, buyer, shop.room["id"], shop.mug_variant["id"], 1,
                              claim_id)  # 800
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert (order["amount_minor"], order["discount_minor"]) == (0, 800)


async def test_a_coupon_that_cannot_apply_is_refused_by_name_and_nothing_is_held(
        client, shop: Shop, make_user, make_product, make_room, services: Services):
    other_shop = await open_shop(client, make_user, make_product, make_room)
    buyer, someone = (await with_address(client, await make_user()),
                      await with_address(client, await make_user()))
    coupon = await drop(client, shop)  # 500 off from 2000
    elsewhere = await drop(client, other_shop)
    mine = await claimed(client, buyer, coupon["id"])
    theirs = await claimed(client, someone, coupon["id"])
    other_room = await claimed(client, buyer, elsewhere["id"])
    mug = shop.mug_variant["id"]  # 800
    shirt = shop.variant("S", "Blue")

    below = await buy_with(client, buyer, shop.room["id"], mug, 2, mine)  # 1600 < 2000
    not_mine = await buy_with(client, buyer, shop.room["id"], shirt, 1, theirs)
    wrong_room = await buy_with(client, buyer, shop.room["id"], shirt, 1, other_room)
    unknown = await buy_with(client, buyer, shop.room["id"], shirt, 1, 10**9)

    assert (below.status_code, code(below)) == (422, "coupon_below_minimum")
    assert below.json()["error"]["field"] == "coupon_claim_id"
    assert (not_mine.status_code, code(not_mine)) == (403, "coupon_not_yours")
    assert (wrong_room.status_code, code(wrong_room)) == (409, "coupon_not_for_this_room")
    assert (unknown.status_code, code(unknown)) == (403, "coupon_not_yours")
    assert await counts(services, mug) == (10, 0, 0)
    assert await counts(services, shirt) == (5, 0, 0)
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 0
    assert await claims_of(services, coupon["id"]) == [(buyer.id, None), (someone.id, None)]


async def test_the_carts_checkout_takes_the_coupon_off_the_whole_order(
        client, shop: Shop, buyer: TestUser, services: Services):
    _, claim_id = await held_by(client, shop, buyer)  # 500 off from 2000
    room_id = shop.room["id"]
    for variant_id, quantity in ((shop.variant("S", "Blue"), 1), (shop.mug_variant["id"], 2)):
        assert (await client.put(f"/api/rooms/{room_id}/cart/{variant_id}",
                                 json={"quantity": quantity},
                                 headers=buyer.headers)).status_code == 200
    response = await client.post(f"/api/rooms/{room_id}/cart/checkout",
                                 json={"coupon_claim_id": claim_id},
                                 headers={**buyer.headers, "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert (order["amount_minor"], order["discount_minor"]) == (2500 + 1600 - 500, 500)
    assert sum(line["amount_minor"] for line in order["lines"]) == 4100


async def test_cancel_and_expiry_give_the_coupon_back_once_for_the_next_order(
        client, shop: Shop, buyer: TestUser, services: Services):
    coupon, claim_id = await held_by(client, shop, buyer)
    room_id, shirt = shop.room["id"], shop.variant("S", "Blue")

    # when the order using it is cancelled (and cancelled again)
    first = (await buy_with(client, buyer, room_id, shirt, 1, claim_id)).json()["order"]
    assert (await client.post(f"/api/orders/{first['id']}/cancel",
                              headers=buyer.headers)).status_code == 200
    assert (await client.post(f"/api/orders/{first['id']}/cancel",
                              headers=buyer.headers)).status_code == 409
    # then the coupon is the buyer's again, and the next order uses it
    assert await claims_of(services, coupon["id"]) == [(buyer.id, None)]
    second = (await buy_with(client, buyer, room_id, shirt, 1, claim_id)).json()["order"]
    assert second["discount_minor"] == 500

    # when that one's hold runs out (swept twice over)
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == second["id"])
                              .values(hold_expires_at=func.now()))
    assert await order_moves.expire_due_orders(services) == [second["id"]]
    assert await order_moves.expire_due_orders(services) == []
    # then it is back once more, and a third order takes it
    assert await claims_of(services, coupon["id"]) == [(buyer.id, None)]
    third = (await buy_with(client, buyer, room_id, shirt, 1, claim_id)).json()["order"]
    assert third["discount_minor"] == 500
    assert await claims_of(services, coupon["id"]) == [(buyer.id, third["id"])]
    # and the old orders still record the coupon they had
    async with services.db.session() as session:
        kept = {o.id: (o.status, o.coupon_claim_id, o.discount_minor) for o in await
                session.scalars(select(Order).where(Order.id.in_([first["id"], second["id"]])))}
    assert kept == {first["id"]: ("cancelled", claim_id, 500),
                    second["id"]: ("expired", claim_id, 500)}


async def test_a_late_payment_of_an_expired_order_is_refunded_if_its_coupon_went_elsewhere(
        client, shop: Shop, buyer: TestUser, services: Services):
    coupon, claim_id = await held_by(client, shop, buyer)
    room_id, shirt = shop.room["id"], shop.variant("S", "Blue")
    late = (await buy_with(client, buyer, room_id, shirt, 1, claim_id)).json()["order"]
    event = await queue_payment(services, late["id"])
    await expire_holds_past_payment_grace(services)
    assert await order_moves.expire_due_orders(services) == [late["id"]]
    # the coupon went to a new order meanwhile
    newer = (await buy_with(client, buyer, room_id, shirt, 1, claim_id)).json()["order"]

    # when the late payment lands: refunded, the coupon stays on the newer order
    assert await deliver(client, services, event) == "refunded_after_expiry"
    assert await claims_of(services, coupon["id"]) == [(buyer.id, newer["id"])]
    assert await counts(services, shirt) == (4, 1, 0)


async def test_a_coupons_redis_state_is_rebuilt_from_the_committed_claims(
        client, shop: Shop, make_user, services: Services):
    viewers = [await make_user() for _ in range(3)]
    coupon = await drop(client, shop, quantity=3)
    for viewer in viewers[:2]:
        await claimed(client, viewer, coupon["id"])

    # when Redis loses the coupon's keys
    await services.redis.delete(*CouponKeys.of(services.keys, coupon["id"]).all)

    # then a claim rebuilds them from PostgreSQL: a past claimer is still refused, the last copy
    # goes to the third viewer, and no more
    again = await claim(client, viewers[0], coupon["id"])
    assert (again.status_code, code(again)) == (409, "coupon_already_claimed")
    last = await claim(client, viewers[2], coupon["id"])
    assert last.status_code == 201 and last.json()["left"] == 0
    assert await coupons.rebuild_coupon(services, coupon["id"]) == 0
    extra = await make_user()
    assert code(await claim(client, extra, coupon["id"])) == "coupon_exhausted"


async def test_a_late_payment_keeps_its_coupon_when_it_is_still_free(
        client, shop: Shop, buyer: TestUser, services: Services):
    coupon, claim_id = await held_by(client, shop, buyer)
    late = (await buy_with(client, buyer, shop.room["id"], shop.variant("S", "Blue"), 1,
                           claim_id)).json()["order"]
    event = await queue_payment(services, late["id"])
    await expire_holds_past_payment_grace(services)
    assert await order_moves.expire_due_orders(services) == [late["id"]]
    assert await claims_of(services, coupon["id"]) == [(buyer.id, None)]

    # when the late payment lands and nothing took the coupon meanwhile: kept, coupon on it
    assert await deliver(client, services, event) == "paid_after_expiry"
    assert await claims_of(services, coupon["id"]) == [(buyer.id, late["id"])]
    async with services.db.session() as session:
        order = await session.get(Order, late["id"])
    assert order is not None and (order.status, order.amount_minor) == ("paid", 2000)
