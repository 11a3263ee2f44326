"""A race of claims over real HTTP against a `uvicorn` process: 2,000 viewers claiming 100
copies of a coupon, some of them tapping twice at once, 200 claims in flight at any time.
Exact counts: 100 claims, nobody holds two, every other tap told why not, and PostgreSQL
holds exactly the claims that were answered 201 (committed before the reply). Nothing is
timed here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from core.context import Services
from orders.coupons import CouponClaim, CouponKeys, rebuild_coupon
from tests.conftest import LiveServer, TestUser, tally
from tests.engagement.conftest import LiveRoom, live_room, live_server, make_viewers  # noqa: F401
from tests.rawhttp import RawClient

COPIES = 100
# Twenty viewers a copy, the race the feature promises (2,000 viewers on 100 copies)
VIEWERS = 2_000
DOUBLE_TAPS = 200  # the first 200 viewers send two claims at once: 2,200 claims in all


async def test_a_race_of_claims_hands_out_each_copy_once_and_nobody_two(
        live_server: LiveServer, client: httpx.AsyncClient,  # noqa: F811
        live_room: Callable[[], Awaitable[LiveRoom]],  # noqa: F811
        make_viewers: Callable[[int], Awaitable[list[TestUser]]],  # noqa: F811
        services: Services) -> None:
    room = await live_room()
    response = await client.post(f"/api/rooms/{room.id}/coupons", headers=room.host.headers,
                                 json={"kind": "amount", "amount_off_minor": 300,
                                       "currency": "USD", "quantity": COPIES,
                                       "valid_seconds": 3600})
    assert response.status_code == 201, response.text
    coupon_id = response.json()["id"]
    viewers = await make_viewers(VIEWERS)
    taps = viewers + viewers[:DOUBLE_TAPS]

    async with RawClient(live_server.url, max_connections=200) as http:
        replies = await asyncio.gather(*(
            http.post(f"/api/coupons/{coupon_id}/claim", headers=viewer.headers) for viewer in taps))

    outcomes, won = tally(taps, replies)
    # every copy went out once; every other tap was told why not
    assert outcomes[201] == COPIES
    assert set(outcomes) <= {201, "coupon_exhausted", "coupon_already_claimed"}
    assert sum(outcomes.values()) == VIEWERS + DOUBLE_TAPS
    assert len({user for user, _ in won}) == COPIES
    assert sorted(body["left"] for _, body in won) == list(range(COPIES))

    # and PostgreSQL agrees with every reply: committed before it was sent
    async with services.db.session() as session:
        held = {(user, claim_id) for user, claim_id in (await session.execute(
            select(CouponClaim.user_id, CouponClaim.id)
            .where(CouponClaim.coupon_id == coupon_id))).all()}
    assert held == {(user, body["claim_id"]) for user, body in won}
    # and Redis's count is the one PostgreSQL rebuilds
    keys = CouponKeys.of(services.keys, coupon_id)
    assert int(await services.redis.get(keys.left)) == 0
    assert await services.redis.scard(keys.claimers) == COPIES + 1  # and the sentinel
    assert await rebuild_coupon(services, coupon_id) == 0
