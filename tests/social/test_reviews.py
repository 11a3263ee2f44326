"""Reviews of completed orders and the seller score: who may review, once, the edit window,
the seller's one reply, and the score's counts (docs/metrics.md, "Seller score")."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select, update

from core.context import Services
from social.models import Review
from social.score import compute_score, forget_seller_score
from tests.conftest import MakeUser
from tests.orders.test_buy import statements_seen
from tests.social.conftest import MakePurchase


async def _reviews(services: Services) -> int:
    async with services.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Review)) or 0)


async def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_the_buyer_of_a_completed_order_reviews_it_and_it_shows_everywhere(
        client: httpx.AsyncClient, make_purchase: MakePurchase) -> None:
    # given a completed order
    purchase = await make_purchase()

    # when its buyer rates it 5 with words
    response = await client.post(f"/api/orders/{purchase.order['id']}/review",
                                 json={"rating": 5, "body": "Soft and as pictured"},
                                 headers=purchase.buyer.headers)

    # then the review is on the product, on the host's page, and in the seller's score
    assert response.status_code == 201, response.text
    review = response.json()
    assert review["rating"] == 5 and review["body"] == "Soft and as pictured"
    assert review["buyer"].startswith(purchase.buyer.display_name[0]) and "***" in review["buyer"]
    product_id = purchase.sale.product["id"]
    on_product = (await client.get(f"/api/products/{product_id}/reviews")).json()["reviews"]
    on_host = (await client.get(f"/api/hosts/{purchase.host.id}/reviews")).json()
    profile = (await client.get(f"/api/hosts/{purchase.host.id}")).json()
    assert [r["id"] for r in on_product] == [review["id"]]
    assert [r["id"] for r in on_host["reviews"]] == [review["id"]]
    assert profile["score"]["reviews"] == 1 and profile["score"]["paid_orders"] == 1
    assert profile["score"]["score"] == compute_score(rating_sum=5, reviews=1, paid_orders=1,
                                                      refunded=0, orders=1, cancelled=0)


async def test_reviewing_an_order_that_is_not_yours_not_completed_or_twice_is_refused(
        client: httpx.AsyncClient, make_purchase: MakePurchase, make_user: MakeUser,
        services: Services) -> None:
    # given a completed order, a paid one not yet completed, and a stranger
    done = await make_purchase()
    paid_only = await make_purchase(sale=done.sale, status="paid")
    stranger = await make_user()
    first = await client.post(f"/api/orders/{done.order['id']}/review", json={"rating": 4},
                              headers=done.buyer.headers)
    assert first.status_code == 201

    # when each wrong review is tried
    not_yours = await client.post(f"/api/orders/{done.order['id']}/review", json={"rating": 1},
                                  headers=stranger.headers)
    not_completed = await client.post(f"/api/orders/{paid_only.order['id']}/review",
                                      json={"rating": 1}, headers=paid_only.buyer.headers)
    twice = await client.post(f"/api/orders/{done.order['id']}/review", json={"rating": 1},
                              headers=done.buyer.headers)
    too_high = await client.post(f"/api/orders/{paid_only.order['id']}/review",
                                 json={"rating": 6}, headers=paid_only.buyer.headers)
    zero = await client.post(f"/api/orders/{done.order['id']}/review", json={"rating": 0},
                             headers=done.buyer.headers)
    missing = await client.post("/api/orders/999999/review", json={"rating": 3},
                                headers=done.buyer.headers)

    # then each is its own 4xx naming the reason, and only the first review exists, unchanged
    assert (await _error(not_yours, 403))["code"] == "not_your_order"
    error = await _error(not_completed, 409)
    assert error["code"] == "order_not_completed" and error["status"] == "paid"
    assert (await _error(twice, 409))["code"] == "already_reviewed"
    for response in (too_high, zero):
        error = await _error(response, 422)
        assert error["code"] == "rating_out_of_range" and error["field"] == "rating"
    assert (await _error(missing, 404))["code"] == "order_not_found"
    assert await _reviews(services) == 1
    reviews = (await client.get(f"/api/hosts/{done.host.id}/reviews")).json()["reviews"]
    assert [r["rating"] for r in reviews] == [4]


async def test_a_review_can_be_changed_within_its_window_then_is_fixed(
        client: httpx.AsyncClient, make_purchase: MakePurchase, services: Services) -> None:
    # given a review
    purchase = await make_purchase()
    review = (await client.post(f"/api/orders/{purchase.order['id']}/review",
                                json={"rating": 2, "body": "Late"},
                                headers=purchase.buyer.headers)).json()

    # when the buyer changes it within the window, and again after the window closed
    changed = await client.patch(f"/api/reviews/{review['id']}",
                                 json={"rating": 4, "body": "Late, but lovely"},
                                 headers=purchase.buyer.headers)
    async with services.db.transaction() as session:
        await session.execute(update(Review).where(Review.id == review["id"])
                              .values(editable_until=func.now()))
    locked = await client.patch(f"/api/reviews/{review['id']}", json={"rating": 1},
                                headers=purchase.buyer.headers)

    # then the first change holds and the second is refused
    assert changed.status_code == 200 and changed.json()["rating"] == 4
    assert (await _error(locked, 409))["code"] == "review_locked"
    reviews = (await client.get(f"/api/hosts/{purchase.host.id}/reviews")).json()["reviews"]
    assert [(r["rating"], r["body"]) for r in reviews] == [(4, "Late, but lovely")]


async def test_the_seller_replies_once_and_only_the_seller(
        client: httpx.AsyncClient, make_purchase: MakePurchase, make_user: MakeUser) -> None:
    # given a review of a host's order, and another host
    purchase = await make_purchase()
    other_host = await make_user("host")
    review = (await client.post(f"/api/orders/{purchase.order['id']}/review", json={"rating": 3},
                                headers=purchase.buyer.headers)).json()

    # when another host replies, the seller replies, and the seller replies again
    stranger = await client.post(f"/api/reviews/{review['id']}/reply", json={"reply": "Hm"},
                                 headers=other_host.headers)
    reply = await client.post(f"/api/reviews/{review['id']}/reply",
                              json={"reply": "Sorry it was late"}, headers=purchase.host.headers)
    again = await client.post(f"/api/reviews/{review['id']}/reply", json={"reply": "PS"},
                              headers=purchase.host.headers)

    # then only the seller's first reply stands
    assert (await _error(stranger, 403))["code"] == "not_the_seller"
    assert reply.status_code == 200 and reply.json()["reply"] == "Sorry it was late"
    assert (await _error(again, 409))["code"] == "already_replied"
    reviews = (await client.get(f"/api/products/{purchase.sale.product['id']}/reviews")).json()
    assert reviews["reviews"][0]["reply"] == "Sorry it was late"


async def test_refunds_and_cancellations_lower_the_score(
        client: httpx.AsyncClient, make_purchase: MakePurchase, make_user: MakeUser,
        services: Services) -> None:
    # given a host with two 5-star completed orders
    first = await make_purchase()
    second = await make_purchase(sale=first.sale)
    for purchase in (first, second):
        await client.post(f"/api/orders/{purchase.order['id']}/review", json={"rating": 5},
                          headers=purchase.buyer.headers)
    before = (await client.get(f"/api/hosts/{first.host.id}")).json()["score"]

    # when a third buyer's paid order is refunded and a fourth cancels before paying
    refunded = await make_purchase(sale=first.sale, status="paid")
    ops = await make_user("ops")
    response = await client.post(f"/api/orders/{refunded.order['id']}/refund",
                                 headers=ops.headers)
    assert response.status_code == 200, response.text
    cancelled = await make_purchase(sale=first.sale, status="pending_payment")
    response = await client.post(f"/api/orders/{cancelled.order['id']}/cancel",
                                 headers=cancelled.buyer.headers)
    assert response.status_code == 200, response.text
    # (the public routes read the score kept for SCORE_CACHE_SECONDS: a refund shows after it)
    await forget_seller_score(services, first.host.id)
    after = (await client.get(f"/api/hosts/{first.host.id}")).json()["score"]

    # then the score went down, and the counts say why
    assert (after["refunded"], after["cancelled"], after["orders"]) == (1, 1, 4)
    assert after["paid_orders"] == 3 and after["reviews"] == 2
    assert after["score"] < before["score"]
    assert after["score"] == compute_score(rating_sum=10, reviews=2, paid_orders=3, refunded=1,
                                           orders=4, cancelled=1)


def test_the_score_formula_shrinks_small_numbers_toward_the_prior() -> None:
    # one 1-star review alone is not a 1.0 seller; many 5-star reviews approach 5
    assert compute_score(rating_sum=1, reviews=1, paid_orders=1, refunded=0, orders=1,
                         cancelled=0) == 3.5
    assert compute_score(rating_sum=500, reviews=100, paid_orders=100, refunded=0, orders=100,
                         cancelled=0) == 5.0
    assert compute_score(rating_sum=0, reviews=0, paid_orders=9, refunded=0, orders=9,
                         cancelled=0) is None
    # a 100 % refund rate over many orders costs 2.5 points, floored at 1
    assert compute_score(rating_sum=400, reviews=100, paid_orders=1000, refunded=1000,
                         orders=1000, cancelled=0) == round(4.0 - 2.5 * 1000 / 1010, 1)


async def test_two_reviews_of_one_order_at_once_leave_one(
        client: httpx.AsyncClient, make_purchase: MakePurchase, services: Services) -> None:
    # given a completed order
    purchase = await make_purchase()

    # when its buyer sends two reviews at the same moment
    responses = await asyncio.gather(*(
        client.post(f"/api/orders/{purchase.order['id']}/review", json={"rating": rating},
                    headers=purchase.buyer.headers) for rating in (2, 5)))

    # then one is kept and the other is refused as a second review
    assert sorted(r.status_code for r in responses) == [201, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["error"]["code"] == "already_reviewed"
    assert await _reviews(services) == 1


async def test_the_public_score_routes_read_the_kept_score(
        client: httpx.AsyncClient, make_purchase: MakePurchase, services: Services) -> None:
    # given a host whose score was read once
    purchase = await make_purchase()
    host_id = purchase.host.id
    first = (await client.get(f"/api/hosts/{host_id}")).json()["score"]

    # when the profile and the reviews are read again, within SCORE_CACHE_SECONDS
    with statements_seen(services) as statements:
        profile = (await client.get(f"/api/hosts/{host_id}")).json()["score"]
        listed = (await client.get(f"/api/hosts/{host_id}/reviews")).json()["score"]

    # then both answer the kept score, without its aggregate over the host's reviews and orders
    assert profile == listed == first
    assert [s for s in statements if "sum(reviews.rating)" in s] == []
