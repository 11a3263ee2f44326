"""Honest bargaining (orders/bargains.py): a host's offer and its checks, friends' cuts by the
published rule down to the floor exactly, the buyer told after each commit, the buy at the
price reached on the regular-price order path (held, paid, cancelled, bought again), and every
refusal: a distinct 4xx naming its reason, with nothing changed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from core.context import Services
from orders import bargain_rule, order_moves, paying
from orders.bargains import Bargain, BargainCut, BargainOffer
from orders.models import Order, OrderLine, Payment
from tests.conftest import TestUser, capture_news
from tests.orders.regular_helpers import (
    Shop,
    counts,
    deliver,
    open_shop,
    pay,
    queue_payment,
    with_address,
)

START, FLOOR, HELPERS = 1000, 700, 3


def deadline(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**(delta or {"hours": 1}))).isoformat()


async def offer(client: httpx.AsyncClient, shop: Shop, **overrides: Any) -> httpx.Response:
    body = {"product_id": shop.mug["id"], "start_price_minor": START,
            "floor_price_minor": FLOOR, "helpers_needed": HELPERS, "ends_at": deadline(),
            **overrides}
    return await client.post(f"/api/rooms/{shop.room['id']}/bargain-offers", json=body,
                             headers=shop.host.headers)


async def offered(client: httpx.AsyncClient, shop: Shop, **overrides: Any) -> dict[str, Any]:
    response = await offer(client, shop, **overrides)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def start(client: httpx.AsyncClient, buyer: TestUser, offer_id: int) -> int:
    response = await client.post(f"/api/bargain-offers/{offer_id}/bargains",
                                 headers=buyer.headers)
    assert response.status_code in (200, 201), response.text
    return int(response.json()["bargain_id"])


@dataclass
class Started:
    shop: Shop
    offer: dict[str, Any]
    buyer: TestUser
    bargain_id: int


async def started(client: httpx.AsyncClient, make_user: Any, make_product: Any,
                  make_room: Any) -> Started:
    """A live room's host offers the mug (1000 -> 700, 3 friends); a buyer with an address
    starts a bargain on it."""
    shop = await open_shop(client, make_user, make_product, make_room)
    the_offer = await offered(client, shop)
    buyer = await with_address(client, await make_user())
    return Started(shop, the_offer, buyer, await start(client, buyer, the_offer["id"]))


async def help_(client: httpx.AsyncClient, friend: TestUser, bargain_id: int) -> httpx.Response:
    return await client.post(f"/api/bargains/{bargain_id}/help", headers=friend.headers)


async def buy(client: httpx.AsyncClient, buyer: TestUser, bargain_id: int,
              key: str | None = None) -> httpx.Response:
    return await client.post(f"/api/bargains/{bargain_id}/buy",
                             headers={**buyer.headers,
                                      "Idempotency-Key": key or uuid.uuid4().hex})


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def state(services: Services) -> tuple[int, ...]:
    """Everything a refusal must leave as it was."""
    async with services.db.session() as session:
        rows = [await session.scalar(select(func.count()).select_from(model)) or 0
                for model in (BargainOffer, Bargain, BargainCut, Order)]
        price, helped = (await session.execute(select(
            func.coalesce(func.sum(Bargain.price_minor), 0),
            func.coalesce(func.sum(Bargain.helpers_count), 0)))).one()
    return (*rows, int(price), int(helped))


async def test_friends_cut_by_the_rule_to_the_floor_and_the_buyer_buys_at_it(
        client, make_user, make_product, make_room, services: Services) -> None:
    # given a host's offer on a lineup product (the room need not be live) and a buyer
    shop = await open_shop(client, make_user, make_product, make_room, live=False)
    the_offer = await offered(client, shop)
    assert the_offer["variant_id"] == shop.mug_variant["id"]
    assert the_offer["cuts"] == bargain_rule.all_cuts(START, FLOOR, HELPERS) == [149, 100, 51]
    buyer = await with_address(client, await make_user(name="Buyer"))
    bargain_id = await start(client, buyer, the_offer["id"])
    # starting again is the same bargain
    again = await client.post(f"/api/bargain-offers/{the_offer['id']}/bargains",
                              headers=buyer.headers)
    assert again.status_code == 200 and again.json() == {"bargain_id": bargain_id,
                                                         "created": False}
    # nothing is held until the buyer buys
    assert await counts(services, shop.mug_variant["id"]) == (10, 0, 0)

    # when three friends help, the buyer hearing each cut after it is committed
    friends = [await make_user(name=f"Friend {n}") for n in (1, 2, 3)]
    async with capture_news(services) as published:
        replies = [await help_(client, friend, bargain_id) for friend in friends]
    # then each cut is the rule's for its rank and the last one lands on the floor exactly
    assert [r.status_code for r in replies] == [201, 201, 201]
    assert [(r.json()["seq"], r.json()["cut_minor"], r.json()["price_minor"]) for r in replies] \
        == [(1, 149, 851), (2, 100, 751), (3, 51, 700)]
    heard = [p for p in published if p["type"] == "bargain"]
    assert [(p["user_id"], p["data"]["helper"], p["data"]["price_minor"], p["data"]["helpers"])
            for p in heard] == [(buyer.id, "Friend 1", 851, 1), (buyer.id, "Friend 2", 751, 2),
                                (buyer.id, "Friend 3", 700, 3)]
    # and the page's data shows every cut with its friend, and the exact progress
    view = (await client.get(f"/api/bargains/{bargain_id}", headers=buyer.headers)).json()
    assert [(c["name"], c["amount_minor"], c["price_after_minor"]) for c in view["cuts"]] == [
        ("Friend 1", 149, 851), ("Friend 2", 100, 751), ("Friend 3", 51, 700)]
    assert (view["price_minor"], view["helpers"], view["helpers_needed"], view["to_go_minor"],
            view["complete"], view["next_cut_minor"]) == (700, 3, 3, 0, True, None)
    assert view["viewer"] == {"signed_in": True, "is_buyer": True, "helped": False,
                              "can_help": False, "can_buy": True}
    # a fourth friend finds nothing left to cut
    fourth = await help_(client, await make_user(), bargain_id)
    assert fourth.status_code == 409 and code(fourth) == "bargain_complete"

    # when the buyer buys
    response = await buy(client, buyer, bargain_id)
    # then it is a regular-price order at the price reached, from the bargain, its unit held
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert (order["amount_minor"], order["status"], order["source"]) == (
        FLOOR, "pending_payment", {"kind": "bargain", "id": bargain_id})
    assert [(line["unit_price_minor"], line["quantity"]) for line in order["lines"]] == [(FLOOR, 1)]
    assert await counts(services, shop.mug_variant["id"]) == (9, 1, 0)
    # and a second buy is refused while that order stands
    second = await buy(client, buyer, bargain_id)
    assert second.status_code == 409 and code(second) == "bargain_already_bought"
    assert second.json()["error"]["order_id"] == order["id"]
    # and it is paid like any order
    assert await pay(client, services, order["id"]) == "paid"
    assert await counts(services, shop.mug_variant["id"]) == (9, 0, 1)
    view = (await client.get(f"/api/bargains/{bargain_id}", headers=buyer.headers)).json()
    assert view["bought"] and view["order"]["status"] == "paid"
    assert not view["viewer"]["can_buy"]


async def test_an_order_cancelled_unpaid_lets_the_buyer_buy_again_at_the_price_now(
        client, make_user, make_product, make_room, services: Services) -> None:
    given = await started(client, make_user, make_product, make_room)
    shop, buyer, bargain_id = given.shop, given.buyer, given.bargain_id
    # bought at the start price, with no help yet (any time before the deadline)
    first = (await buy(client, buyer, bargain_id)).json()["order"]
    assert first["amount_minor"] == START
    # a friend cannot cut a bargain that was bought
    friend = await make_user()
    refused = await help_(client, friend, bargain_id)
    assert refused.status_code == 409 and code(refused) == "bargain_already_bought"
    # when the buyer cancels the unpaid order, its unit goes back
    response = await client.post(f"/api/orders/{first['id']}/cancel", headers=buyer.headers)
    assert response.status_code == 200, response.text
    assert await counts(services, shop.mug_variant["id"]) == (10, 0, 0)
    # then friends can help again and the buyer buys at the lower price
    assert (await help_(client, friend, bargain_id)).status_code == 201
    second = await buy(client, buyer, bargain_id, "same-press")
    assert second.status_code == 201, second.text
    assert second.json()["order"]["amount_minor"] == START - 149
    # a repeat of the same press is the same order; another press is refused
    repeat = await buy(client, buyer, bargain_id, "same-press")
    assert repeat.status_code == 201 and repeat.headers["idempotent-replayed"] == "true"
    assert repeat.json()["order"]["id"] == second.json()["order"]["id"]
    third = await buy(client, buyer, bargain_id)
    assert third.status_code == 409 and code(third) == "bargain_already_bought"
    async with services.db.session() as session:
        lines = list(await session.scalars(select(OrderLine.unit_price_minor)
                                           .order_by(OrderLine.id)))
    assert lines == [START, START - 149]


async def test_every_refusal_names_its_reason_and_changes_nothing(
        client, make_user, make_product, make_room, services: Services) -> None:
    given = await started(client, make_user, make_product, make_room)
    shop, the_offer, buyer, bargain_id = given.shop, given.offer, given.buyer, given.bargain_id
    friend = await make_user()
    assert (await help_(client, friend, bargain_id)).status_code == 201
    before = await state(services)

    async def refused(response: httpx.Response, status: int, reason: str) -> None:
        assert (response.status_code, code(response)) == (status, reason), response.text
        assert await state(services) == before, reason

    # helping one's own bargain; helping twice; an unknown bargain
    await refused(await help_(client, buyer, bargain_id), 403, "cannot_help_own_bargain")
    await refused(await help_(client, friend, bargain_id), 409, "already_helped")
    await refused(await help_(client, friend, 999_999), 404, "bargain_not_found")
    await refused(await client.get("/api/bargains/999999"), 404, "bargain_not_found")
    await refused(await buy(client, buyer, 999_999), 404, "bargain_not_found")
    await refused(await client.get("/api/bargain-offers/999999"), 404,
                  "bargain_offer_not_found")
    await refused(await client.post("/api/bargain-offers/999999/bargains",
                                    headers=buyer.headers), 404, "bargain_offer_not_found")
    # buying someone else's bargain; the host bargaining on their own offer
    await refused(await buy(client, friend, bargain_id), 403, "not_your_bargain")
    await refused(await client.post(f"/api/bargain-offers/{the_offer['id']}/bargains",
                                    headers=shop.host.headers), 403, "cannot_bargain_own_offer")
    # helping without signing in
    response = await client.post(f"/api/bargains/{bargain_id}/help")
    assert response.status_code == 401 and await state(services) == before

    # when the deadline passes: no help, no buy, no new bargain
    async with services.db.transaction() as session:
        await session.execute(update(BargainOffer).values(
            ends_at=func.now() - timedelta(seconds=1)))
    await refused(await help_(client, await make_user(), bargain_id), 409, "bargain_expired")
    await refused(await buy(client, buyer, bargain_id), 409, "bargain_expired")
    await refused(await client.post(f"/api/bargain-offers/{the_offer['id']}/bargains",
                                    headers=(await make_user()).headers), 409,
                  "bargain_expired")
    assert await counts(services, shop.mug_variant["id"]) == (10, 0, 0)


async def test_an_offer_is_checked_field_by_field(
        client, make_user, make_product, make_room, services: Services) -> None:
    shop = await open_shop(client, make_user, make_product, make_room)
    other_host = await make_user("host")
    stranger = await make_product(other_host, title="Not in the lineup")

    async def problem(response: httpx.Response) -> tuple[int, str, str | None]:
        error = response.json().get("error", {})
        return response.status_code, error.get("field"), error.get("errors", [{}])[0].get("code")

    cases = [
        ({"floor_price_minor": START}, ("floor_price_minor", "floor_not_below_start")),
        ({"floor_price_minor": 0}, ("floor_price_minor", "floor_range")),
        ({"helpers_needed": 0}, ("helpers_needed", "helpers_range")),
        ({"helpers_needed": 51}, ("helpers_needed", "helpers_range")),
        ({"start_price_minor": 702}, ("helpers_needed", "helpers_above_cut")),
        ({"ends_at": deadline(seconds=-5)}, ("ends_at", "deadline_past")),
        ({"ends_at": deadline(days=31)}, ("ends_at", "deadline_too_far")),
        ({"product_id": stranger["id"]}, ("product_id", "not_in_lineup")),
        ({"product_id": shop.shirt["id"]}, ("variant_id", "variant_required")),
        ({"variant_id": shop.variant("S", "Blue")}, ("variant_id", "variant_not_of_product")),
    ]
    for overrides, (field, reason) in cases:
        response = await offer(client, shop, **overrides)
        assert await problem(response) == (422, field, reason), (overrides, response.text)
    # a deadline without a time zone is refused by the schema, naming the field
    response = await offer(client, shop, ends_at="2030-01-01T00:00:00")
    assert response.status_code == 422 and response.json()["error"]["field"] == "ends_at"
    # another host's room
    response = await client.post(f"/api/rooms/{shop.room['id']}/bargain-offers",
                                 headers=other_host.headers, json={
        "product_id": shop.mug["id"], "start_price_minor": START, "floor_price_minor": FLOOR,
        "helpers_needed": HELPERS, "ends_at": deadline()})
    assert response.status_code == 403 and code(response) == "not_room_host"
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(BargainOffer)) == 0
    # a variant of a product with options is offered when named
    shirt = await offered(client, shop, product_id=shop.shirt["id"],
                          variant_id=shop.variant("M", "Blue"))
    assert shirt["title"] == "Linen shirt — Blue / M"
    listed = (await client.get(f"/api/rooms/{shop.room['id']}/bargain-offers")).json()
    assert [o["id"] for o in listed["offers"]] == [shirt["id"]]


async def test_a_late_payment_of_an_expired_order_is_refunded_if_the_bargain_was_bought_again(
        client, make_user, make_product, make_room, services: Services) -> None:
    # given a bargain's order whose payment is slow enough for the hold to expire
    given = await started(client, make_user, make_product, make_room)
    shop, buyer, bargain_id = given.shop, given.buyer, given.bargain_id
    first = (await buy(client, buyer, bargain_id)).json()["order"]
    event = await queue_payment(services, first["id"])
    async with services.db.transaction() as session:
        await session.execute(update(Order).values(hold_expires_at=func.now()))
        await session.execute(update(Payment).values(created_at=func.now() - timedelta(
            seconds=paying.PAYMENT_IN_FLIGHT_GRACE_SECONDS + 1)))
    assert await order_moves.expire_due_orders(services) == [first["id"]]
    # and the buyer bought the bargain again meanwhile
    second = await buy(client, buyer, bargain_id)
    assert second.status_code == 201, second.text

    # when the first payment lands: refunded, so the bargain is bought once
    assert await deliver(client, services, event) == "refunded_after_expiry"
    async with services.db.session() as session:
        statuses = {o.id: o.status for o in await session.scalars(select(Order))}
    assert statuses == {first["id"]: "expired", second.json()["order"]["id"]: "pending_payment"}
    assert await counts(services, shop.mug_variant["id"]) == (9, 1, 0)


async def test_the_pages_answer_each_reader_and_an_unknown_id_with_a_404_page(
        client, make_user, make_product, make_room) -> None:
    given = await started(client, make_user, make_product, make_room)
    offer_path = f"/bargain-offers/{given.offer['id']}"
    # the offer's page: a guest is asked to sign in, the host shares it, the buyer returns
    # to their bargain, another viewer may start one
    for reader, testid in ((None, "bargain-sign-in"), (given.shop.host, "bargain-own-offer"),
                           (given.buyer, "bargain-open-mine"),
                           (await make_user(), "bargain-start")):
        response = await client.get(offer_path, headers=reader.headers if reader else None)
        assert response.status_code == 200 and f'data-testid="{testid}"' in response.text
    response = await client.get(f"/bargains/{given.bargain_id}")
    assert response.status_code == 200 and 'data-testid="bargain-progress"' in response.text
    for path in ("/bargains/999999", "/bargain-offers/999999"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")


async def test_the_host_withdraws_an_offer_the_room_hears_it_and_bargains_started_run_on(
        client, make_user, make_product, make_room, services: Services) -> None:
    # given an offer with a buyer's bargain on it, the room hearing the offer once committed
    shop = await open_shop(client, make_user, make_product, make_room)
    async with capture_news(services) as published:
        the_offer = await offered(client, shop)
    assert [(p["room_id"], p["data"]["action"], p["data"]["offer"]["id"])
            for p in published if p["type"] == "bargain_offer"] == [
        (shop.room["id"], "offered", the_offer["id"])]
    buyer = await with_address(client, await make_user())
    bargain_id = await start(client, buyer, the_offer["id"])
    # the room lists it, with the bargains started on it
    listed = (await client.get(f"/api/rooms/{shop.room['id']}/bargain-offers")).json()
    assert [(o["id"], o["open"], o["withdrawn"], o["bargains"]) for o in listed["offers"]] == [
        (the_offer["id"], True, False, 1)]
    withdraw_path = f"/api/bargain-offers/{the_offer['id']}/withdraw"
    before = await state(services)

    # when someone else tries to withdraw it, or an unknown offer: refused, nothing changed
    for who, path, status, reason in (
            (await make_user("host"), withdraw_path, 403, "not_your_offer"),
            (buyer, withdraw_path, 403, "not_your_offer"),
            (shop.host, "/api/bargain-offers/999999/withdraw", 404, "bargain_offer_not_found")):
        response = await client.post(path, headers=who.headers)
        assert (response.status_code, code(response)) == (status, reason), response.text
    assert await state(services) == before
    async with services.db.session() as session:
        assert await session.scalar(select(BargainOffer.withdrawn_at)) is None

    # when its host withdraws it (and again: the same answer, heard once)
    async with capture_news(services) as published:
        replies = [await client.post(withdraw_path, headers=shop.host.headers)
                   for _ in range(2)]
    # then the reply counts its bargains, and the room hears it withdrawn
    assert [r.status_code for r in replies] == [200, 200], replies[0].text
    assert [(r.json()["withdrawn"], r.json()["open"], r.json()["bargains"])
            for r in replies] == [(True, False, 1)] * 2
    assert [(p["room_id"], p["data"]) for p in published if p["type"] == "bargain_offer"] == [
        (shop.room["id"], {"action": "withdrawn", "offer_id": the_offer["id"]})]
    assert (await client.get(f"/api/rooms/{shop.room['id']}/bargain-offers")).json()[
        "offers"] == []
    # and no new bargain starts on it, with nothing changed
    before = await state(services)
    response = await client.post(f"/api/bargain-offers/{the_offer['id']}/bargains",
                                 headers=(await make_user()).headers)
    assert (response.status_code, code(response)) == (409, "offer_withdrawn"), response.text
    assert await state(services) == before
    # and its page tells a new reader so, while the buyer still reaches their bargain
    page = await client.get(f"/bargain-offers/{the_offer['id']}",
                            headers=(await make_user()).headers)
    assert 'data-testid="bargain-offer-withdrawn"' in page.text
    again = await client.post(f"/api/bargain-offers/{the_offer['id']}/bargains",
                              headers=buyer.headers)
    assert again.status_code == 200 and again.json()["bargain_id"] == bargain_id

    # but the bargain started keeps its deadline: a friend cuts it and the buyer buys
    assert (await help_(client, await make_user(), bargain_id)).status_code == 201
    bought = await buy(client, buyer, bargain_id)
    assert bought.status_code == 201, bought.text
    assert bought.json()["order"]["amount_minor"] == START - 149
