"""Buying at the regular price from a replay or a short video: any product the ready video
tags, at its current price, whether or not a room is live; the order is attributed to the video
(its row, its JSON and the video's report) and held, paid, cancelled and refunded like a buy in
the room. Video rows are inserted ready (the transcode is tested in tests/video)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import update

from core.context import Services
from live.models import Room
from orders import regular, variant_stock
from orders.commissions import DEFAULT_COMMISSION_RATE_BP
from orders.models import Order
from tests.conftest import TestUser
from tests.orders.regular_helpers import (
    buy,
    counts,
    open_shop,
    pay,
    payment_and_commission,
    snapshot,
    with_address,
)
from tests.orders.test_order_sources import make_video


async def buy_from_video(client: httpx.AsyncClient, user: TestUser, video_id: int,
                         variant_id: int, quantity: int = 1,
                         key: str | None = None) -> httpx.Response:
    return await client.post(f"/api/videos/{video_id}/buy",
                             json={"variant_id": variant_id, "quantity": quantity},
                             headers={**user.headers, "Idempotency-Key": key or uuid.uuid4().hex})


async def test_a_replays_product_is_bought_at_its_current_price_and_attributed_to_the_replay(
        client, make_user, make_product, make_room, services: Services):
    # given a replay of a room that is not live, tagging the shirt, and the shirt's price
    # raised since the show
    shop = await open_shop(client, make_user, make_product, make_room, live=False)
    replay_id = await make_video(services, shop.host, [shop.shirt["id"]],
                                 room_id=shop.room["id"])
    response = await client.patch(f"/api/products/{shop.shirt['id']}",
                                  json={"price_minor": 2700}, headers=shop.host.headers)
    assert response.status_code == 200, response.text
    buyer = await with_address(client, await make_user())
    variant_id = shop.variant("S", "Blue")
    # (the room itself sells nothing while it is not live)
    assert (await buy(client, buyer, shop.room["id"], variant_id)).status_code == 409

    # when the viewer buys two of a size and colour from the replay's page
    response = await buy_from_video(client, buyer, replay_id, variant_id, 2, key="press-1")

    # then the order holds them at today's price, in the replay's room, attributed to it
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert order["kind"] == "regular" and order["status"] == "pending_payment"
    assert order["source"] == {"kind": "replay", "id": replay_id}
    assert order["room_id"] == shop.room["id"]
    assert order["amount_minor"] == 5400
    assert [(line["variant_id"], line["quantity"], line["unit_price_minor"])
            for line in order["lines"]] == [(variant_id, 2, 2700)]
    async with services.db.session() as session:
        row = await session.get(Order, order["id"])
    assert row is not None
    assert (row.source_kind, row.source_id, row.room_id, row.host_id) == (
        "replay", replay_id, shop.room["id"], shop.host.id)
    assert await counts(services, variant_id) == (3, 2, 0)
    fetched = await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)
    assert fetched.json()["source"] == {"kind": "replay", "id": replay_id}
    # a repeat of the press answers the same order and holds nothing more
    again = await buy_from_video(client, buyer, replay_id, variant_id, 2, key="press-1")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["order"]["id"] == order["id"]
    assert await counts(services, variant_id) == (3, 2, 0)

    # when they pay
    assert await pay(client, services, order["id"]) == "paid"

    # then the units are sold, the host's commission accrued on the room, and the replay's
    # report and the broadcast's count the order as the replay's
    assert await counts(services, variant_id) == (3, 0, 2)
    _, entry = await payment_and_commission(services, order["id"])
    assert (entry.host_id, entry.room_id, entry.base_minor) == (
        shop.host.id, shop.room["id"], 5400)
    report = (await client.get(f"/api/videos/{replay_id}/report",
                               headers=shop.host.headers)).json()
    assert report["video"]["kind"] == "replay"
    assert (report["orders"], report["paid_orders"], report["gmv_minor"]) == (1, 1, 5400)
    shirt_row = {p["product_id"]: p for p in report["products"]}[shop.shirt["id"]]
    assert (shirt_row["orders"], shirt_row["gmv_minor"]) == (1, 5400)

    # and a refund puts the sold units back on sale, as for a buy in the room
    ops = await make_user("ops")
    asked = await client.post(f"/api/orders/{order['id']}/refund-request", headers=buyer.headers)
    assert asked.status_code == 200, asked.text
    refunded = await client.post(f"/api/orders/{order['id']}/refund", headers=ops.headers)
    assert refunded.status_code == 200, refunded.text
    assert await counts(services, variant_id) == (5, 0, 0)


async def test_a_short_videos_order_is_filed_under_the_hosts_newest_room(
        client, make_user, make_product, make_room, services: Services):
    # given a short video (no room) of a host whose newest room has its own commission rate
    shop = await open_shop(client, make_user, make_product, make_room, live=False)
    newest = await make_room(shop.host, products=[], title="Next week")
    async with services.db.transaction() as session:
        await session.execute(update(Room).where(Room.id == newest["id"])
                              .values(commission_rate_bp=1234))
    video_id = await make_video(services, shop.host, [shop.mug["id"]])
    buyer = await with_address(client, await make_user())
    mug = shop.mug_variant["id"]

    # when a viewer buys the mug from it, then cancels
    response = await buy_from_video(client, buyer, video_id, mug, 3)

    # then the order is the video's, in the host's newest room, at the product's rate (the
    # room's is not the video's), and cancelling gives the units back
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert order["source"] == {"kind": "video", "id": video_id}
    async with services.db.session() as session:
        row = await session.get(Order, order["id"])
    assert row is not None
    assert (row.source_kind, row.source_id, row.room_id) == ("video", video_id, newest["id"])
    assert row.commission_rate_bp == DEFAULT_COMMISSION_RATE_BP != 1234
    assert await counts(services, mug) == (7, 3, 0)
    cancelled = await client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert await counts(services, mug) == (10, 0, 0)


async def test_a_host_without_a_room_cannot_sell_from_a_short_video(
        client, make_user, make_product, services: Services):
    host = await make_user("host")
    mug = await make_product(host, title="Tea mug", price_minor=800, currency="CNY")
    response = await client.put(f"/api/products/{mug['id']}/variants",
                                json={"variants": [{"stock": 4}]}, headers=host.headers)
    variant_id = response.json()["variants"][0]["id"]
    video_id = await make_video(services, host, [mug["id"]])
    buyer = await with_address(client, await make_user())
    before = await snapshot(services, [variant_id])

    response = await buy_from_video(client, buyer, video_id, variant_id)

    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "no_room"
    assert response.json()["error"]["field"] == "video_id"
    assert await snapshot(services, [variant_id]) == before


async def test_bad_input_from_a_video_is_refused_naming_the_field_and_holds_nothing(
        client, make_user, make_product, make_room, services: Services):
    shop = await open_shop(client, make_user, make_product, make_room, live=True)
    video_id = await make_video(services, shop.host, [shop.shirt["id"]])
    processing = await make_video(services, shop.host, [shop.shirt["id"]], status="processing")
    other_host = await make_user("host")
    theirs = await make_product(other_host, title="Someone else's", currency="CNY")
    their_variant = (await client.put(f"/api/products/{theirs['id']}/variants",
                                      json={"variants": [{"stock": 5}]},
                                      headers=other_host.headers)).json()["variants"][0]["id"]
    # a video of this host tagging another host's product (tags are checked when set; the row
    # is inserted directly to show the buy checks it too)
    foreign = await make_video(services, shop.host, [theirs["id"]])
    buyer = await with_address(client, await make_user())
    homeless = await make_user()
    shirt = shop.variant("S", "Blue")
    mug = shop.mug_variant["id"]   # in the room's lineup, but the video does not tag it
    ids = [shirt, mug, their_variant]
    before = await snapshot(services, ids)

    cases: list[tuple[TestUser, int, dict[str, Any], int, str, str | None]] = [
        (buyer, video_id, {"variant_id": mug, "quantity": 1}, 422, "variant_id", "not_tagged"),
        (buyer, foreign, {"variant_id": their_variant, "quantity": 1}, 422, "variant_id",
         "not_tagged"),
        (buyer, processing, {"variant_id": shirt, "quantity": 1}, 409, "video_id",
         "video_not_ready"),
        (buyer, 999_999, {"variant_id": shirt, "quantity": 1}, 404, "video_id",
         "video_not_found"),
        (buyer, video_id, {"variant_id": 999_999, "quantity": 1}, 404, "variant_id", None),
        (buyer, video_id, {"variant_id": shirt, "quantity": 0}, 422, "quantity", None),
        (buyer, video_id, {"variant_id": shirt, "quantity": 11}, 422, "quantity", None),
        (buyer, video_id, {"variant_id": shirt, "quantity": 6}, 409, "quantity", "sold_out"),
        (homeless, video_id, {"variant_id": shirt, "quantity": 1}, 422, "shipping_address",
         "address_required"),
        (buyer, video_id, {"variant_id": shirt, "quantity": 1, "coupon_claim_id": 1}, 422,
         "coupon_claim_id", "coupon_not_for_video"),
    ]
    for user, video, body, status, field, code in cases:
        response = await client.post(f"/api/videos/{video}/buy", json=body,
                                     headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == status, (video, body, response.text)
        error = response.json()["error"]
        if error["code"] == "invalid" and error.get("errors"):
            error = {**error, **error["errors"][0]}
        assert error["field"] == field, (video, body, response.text)
        if code is not None:
            assert error["code"] == code, (video, body, response.text)
    missing_key = await client.post(f"/api/videos/{video_id}/buy",
                                    json={"variant_id": shirt, "quantity": 1},
                                    headers=buyer.headers)
    assert missing_key.status_code == 400
    assert missing_key.json()["error"]["field"] == "Idempotency-Key"

    assert await snapshot(services, ids) == before


async def test_a_hold_from_a_video_whose_order_was_never_written_is_released_by_the_sweep(
        client, make_user, make_product, make_room, services: Services):
    # given a host with a ready video and no room live or lately ended, and a hold made from
    # the video by a process that died before its order's commit
    shop = await open_shop(client, make_user, make_product, make_room, live=False)
    await make_video(services, shop.host, [shop.mug["id"]])
    mug = shop.mug_variant["id"]
    await counts(services, mug)
    held = await variant_stock.hold(services.redis, services.keys, shop.host.id, 987_655, 1,
                                    [variant_stock.Line(mug, 3)], write_deadline_ms=0)
    assert held.code == variant_stock.HELD

    # when the unwritten-hold sweep runs
    released = await regular.release_unwritten_orders(services)

    # then it looked at the video's host and gave the units back
    assert released == [987_655]
    assert await counts(services, mug) == (10, 0, 0)
