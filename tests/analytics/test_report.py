"""The broadcast report of the scripted broadcast (tests/analytics/conftest.py), number by number.

Audience, in the window 20:00:00-20:10:00 (600 s), the host left out:
  Ann   20:00:00-20:05:00                     300 s, 1 visit
  Ben   20:01:00-20:03:00, 20:06:00-(20:10)   360 s, 2 visits
  Cat   20:02:00-20:08:00 (two tabs)          360 s, 1 visit
  G1    (19:58)20:00:00-20:01:30               90 s, 1 visit
  G2    20:09:00-(20:12)20:10:00               60 s, 1 visit
  -> 5 unique viewers, 6 views, 1170 s watched, 234 s each, 1.95 on average at once,
     peak 3 (first at 20:01:00).
Orders in USD (the EUR one is reported apart): O1 4900 paid, O2 9800 paid then refunded,
O3 6500 paid, O4 2400 expired, O5 6500 cancelled -> GMV 21200, net 11400, 3 paid orders,
2 buyers (Ann, Ben), AOV 21200/3 = 7066.67 -> 7067, GPM 21200*1000/6 -> 3533333,
UV value 21200/5 = 4240.
Follows of the host: Ann before the show, Ben during it, Cat after -> 1 new follow.
"""

from __future__ import annotations

from sqlalchemy import select

from analytics import actions
from analytics.metrics import split_paid
from analytics.models import BroadcastReport
from core.context import Services
from tests.analytics.conftest import Broadcast
from tests.orders.regular_helpers import fill_cart, open_shop, pay, with_address
from tests.orders.test_coupons import claimed, drop


def minute(clock: str) -> str:
    return f"2026-11-20T{clock}:00Z"


async def test_the_report_of_the_scripted_broadcast_has_every_number_right(
        services: Services, broadcast: Broadcast) -> None:
    # given the scripted broadcast
    scarf, pourover, tote = (broadcast.products[n] for n in ("scarf", "pourover", "tote"))

    # when its report is built
    report = await actions.build_report(services, broadcast.room_id)

    # then the headline numbers are exactly those of the script
    assert report["summary"] == {
        "currency": "USD",
        "gmv_minor": 21200,
        "net_gmv_minor": 11400,
        "refunded_minor": 9800,
        "refunded_orders": 1,
        "orders": 5,
        "paid_orders": 3,
        "units_sold": 4,
        "buyers": 2,
        "aov_minor": 7067,
        "gpm_minor": 3533333,
        "uv_value_minor": 4240,
        "duration_seconds": 600,
        "views": 6,
        "unique_viewers": 5,
        "peak_viewers": 3,
        "peak_at": "2026-11-20T20:01:00Z",
        "avg_concurrent_viewers": 1.95,
        "total_watch_seconds": 1170,
        "avg_watch_seconds": 234,
        "chat_messages": 4,
        "chatters": 2,
        "likes": 30,
        "product_views": 3,
        "product_clicks": 5,
        "clickers": 4,
        "interacting_viewers": 4,
        "interaction_rate": 0.8,
        "conversion_rate": 0.4,
        "new_follows": 1,
    }
    assert report["funnel"] == [
        {"step": "entered", "count": 5, "rate": None},
        {"step": "clicked", "count": 4, "rate": 0.8},
        {"step": "ordered", "count": 4, "rate": 1.0},
        {"step": "paid", "count": 2, "rate": 0.5},
    ]
    assert report["other_currencies"] == [
        {"currency": "EUR", "orders": 1, "paid_orders": 1, "gmv_minor": 3000,
         "net_gmv_minor": 3000, "buyers": 1}]
    assert report["room"]["host_name"] == "Mia Studio"
    assert report["room"]["started_at"] == "2026-11-20T20:00:00Z"
    assert report["room"]["ended_at"] == "2026-11-20T20:10:00Z"

    # and the per-product table, best seller first
    assert report["products"] == [
        {"product_id": scarf, "title": "Silk scarf", "views": 2, "clicks": 3, "clickers": 2,
         "orders": 2, "paid_orders": 2, "units_sold": 3, "buyers": 1, "gmv_minor": 14700,
         "refunded_minor": 9800, "net_gmv_minor": 4900, "click_to_buy_rate": 0.5, "pins": 1,
         "pinned_seconds": 330},
        {"product_id": pourover, "title": "Pour-over set", "views": 1, "clicks": 1,
         "clickers": 1, "orders": 2, "paid_orders": 1, "units_sold": 1, "buyers": 1,
         "gmv_minor": 6500, "refunded_minor": 0, "net_gmv_minor": 6500,
         "click_to_buy_rate": 1.0, "pins": 1, "pinned_seconds": 150},
        {"product_id": tote, "title": "Linen tote", "views": 0, "clicks": 1, "clickers": 1,
         "orders": 1, "paid_orders": 0, "units_sold": 0, "buyers": 0, "gmv_minor": 0,
         "refunded_minor": 0, "net_gmv_minor": 0, "click_to_buy_rate": 0.0, "pins": 1,
         "pinned_seconds": 60},
    ]
    assert report["pins"] == [
        {"product_id": scarf, "title": "Silk scarf", "from": "2026-11-20T20:00:30Z",
         "to": "2026-11-20T20:06:00Z", "seconds": 330},
        {"product_id": pourover, "title": "Pour-over set", "from": "2026-11-20T20:06:00Z",
         "to": "2026-11-20T20:08:30Z", "seconds": 150},
        {"product_id": tote, "title": "Linen tote", "from": "2026-11-20T20:09:00Z",
         "to": "2026-11-20T20:10:00Z", "seconds": 60},
    ]

    # and the timeline has a row a minute, to the refund at 20:12:15
    columns = ("viewers", "new_viewers", "orders", "paid_orders", "gmv_minor", "refunded_minor",
               "chat", "likes", "clicks")
    expected = {
        #         viewers new orders paid gmv refunded chat likes clicks
        "20:00": (2, 2, 0, 0, 0, 0, 0, 10, 0),
        "20:01": (3, 1, 1, 0, 0, 0, 2, 0, 3),
        "20:02": (3, 1, 0, 1, 4900, 0, 1, 0, 0),
        "20:03": (2, 0, 1, 1, 9800, 0, 1, 0, 0),
        "20:04": (2, 0, 0, 0, 0, 0, 0, 15, 0),
        "20:05": (1, 0, 0, 0, 0, 0, 0, 0, 0),
        "20:06": (2, 1, 1, 0, 0, 0, 0, 0, 1),
        "20:07": (2, 0, 1, 1, 6500, 0, 0, 0, 1),
        "20:08": (1, 0, 1, 0, 0, 0, 0, 0, 0),
        "20:09": (2, 1, 0, 0, 0, 0, 0, 5, 0),
        "20:10": (0, 0, 0, 0, 0, 0, 0, 0, 0),
        "20:11": (0, 0, 0, 0, 0, 0, 0, 0, 0),
        "20:12": (0, 0, 0, 0, 0, 9800, 0, 0, 0),
    }
    assert [row["minute"] for row in report["timeline"]] == [minute(m) for m in expected]
    for row, (clock, values) in zip(report["timeline"], expected.items(), strict=True):
        assert tuple(row[c] for c in columns) == values, clock
    pins = {row["minute"]: row["pins"] for row in report["timeline"] if row["pins"]}
    assert pins == {minute("20:00"): [scarf], minute("20:06"): [pourover],
                    minute("20:09"): [tote]}
    # the timeline adds up to the headline numbers
    assert sum(row["gmv_minor"] for row in report["timeline"]) == 21200
    assert sum(row["orders"] for row in report["timeline"]) == 5


async def test_building_twice_gives_the_same_stored_report(
        services: Services, broadcast: Broadcast) -> None:
    # given a built report
    first = await actions.build_report(services, broadcast.room_id)

    # when it is built again
    second = await actions.build_report(services, broadcast.room_id)

    # then the result and the one stored row are the same
    assert second == first
    async with services.db.session() as session:
        rows = list(await session.scalars(select(BroadcastReport)))
    assert len(rows) == 1
    stored = rows[0]
    assert stored.data == first
    assert (stored.gmv_minor, stored.net_gmv_minor, stored.paid_orders, stored.buyers,
            stored.peak_viewers, stored.unique_viewers, stored.currency) == (
        21200, 11400, 3, 2, 3, 5, "USD")


async def test_a_coupon_orders_lines_count_at_what_was_paid(
        client, make_user, make_product, make_room, services: Services) -> None:
    # given a cart order of a shirt (25.00) and two mugs (16.00) with 5.00 off, paid
    shop = await open_shop(client, make_user, make_product, make_room)
    buyer = await with_address(client, await make_user())
    coupon = await drop(client, shop)
    claim_id = await claimed(client, buyer, coupon["id"])
    await fill_cart(client, buyer, shop.room["id"],
                    [(shop.variant("S", "Blue"), 1), (shop.mug_variant["id"], 2)])
    response = await client.post(f"/api/rooms/{shop.room['id']}/cart/checkout",
                                 json={"coupon_claim_id": claim_id},
                                 headers={**buyer.headers, "Idempotency-Key": "c"})
    assert response.status_code == 201, response.text
    assert await pay(client, services, response.json()["order"]["id"]) == "paid"

    # when the room's report is computed
    report = await actions.compute(services, shop.room["id"])

    # then the GMV is the 36.00 paid, each product at its line's share of it
    # (2500 x 3600 / 4100 = 2195.12 and 1600 x 3600 / 4100 = 1404.88, the unit left over to
    # the larger remainder), not the 41.00 before the discount
    assert report["summary"]["gmv_minor"] == 3600
    assert {row["product_id"]: row["gmv_minor"] for row in report["products"]} == {
        shop.shirt["id"]: 2195, shop.mug["id"]: 1405}


def test_what_was_paid_is_shared_among_lines_to_the_unit() -> None:
    assert split_paid(3600, [2500, 1600]) == [2195, 1405]
    assert split_paid(4100, [2500, 1600]) == [2500, 1600]
    assert split_paid(0, [2500, 1600]) == [0, 0]
    assert split_paid(2, [1, 1, 1]) == [1, 1, 0]
    assert split_paid(5, [0, 0]) == [5, 0]
    for paid in range(0, 40):
        assert sum(split_paid(paid, [7, 13, 19])) == paid
