"""Races on a bargain over real HTTP against a `uvicorn` process: 60 friends helping a bargain
that needs 5 at once give exactly 5 cuts, by the rule's amounts for ranks 1..5, and the floor
price, every other friend told why not; the buyer pressing Buy twice at once gets one order.
A host withdrawing an offer while 30 buyers press Start: the withdrawal counts exactly the
bargains started before it, the rest are refused. PostgreSQL holds exactly what the replies
said (committed before them). Nothing is timed."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
from sqlalchemy import select

from core.context import Services
from orders import bargain_rule
from orders.bargains import Bargain, BargainCut
from orders.models import Order, OrderSource
from tests.conftest import LiveServer
from tests.orders.regular_helpers import Shop, counts, give_addresses
from tests.orders.test_bargains import offered, start

FRIENDS = 60
HELPERS = 5
START, FLOOR = 5_000, 2_999


def _code(response: httpx.Response) -> object:
    return response.json()["error"]["code"] if response.status_code >= 400 else response.status_code


async def _offered(client: httpx.AsyncClient, shop: Shop) -> int:
    """The host offers the mug from START down to FLOOR with HELPERS friends: the offer's id."""
    return int((await offered(client, shop, start_price_minor=START, floor_price_minor=FLOOR,
                              helpers_needed=HELPERS))["id"])


async def test_sixty_friends_at_once_make_exactly_the_cuts_needed_and_one_buy_wins(
        live_server: LiveServer, client, shop: Shop, make_buyers, services: Services) -> None:
    # given an offer needing 5 friends, a buyer's bargain and 60 friends
    offer_id = await _offered(client, shop)
    buyer, *friends = await make_buyers(FRIENDS + 1)
    await give_addresses(services, [buyer])
    bargain_id = await start(client, buyer, offer_id)

    # when they all help at once (and the buyer presses Buy twice at once, as they do)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        replies = await asyncio.gather(*(
            http.post(f"/api/bargains/{bargain_id}/help", headers=friend.headers)
            for friend in friends))
        buys = await asyncio.gather(*(
            http.post(f"/api/bargains/{bargain_id}/buy",
                      headers={**buyer.headers, "Idempotency-Key": uuid.uuid4().hex})
            for _ in range(2)))

    # then exactly 5 friends cut, by the rule for ranks 1..5, and the price is the floor
    outcomes = Counter(_code(r) for r in replies)
    assert outcomes == {201: HELPERS, "bargain_complete": FRIENDS - HELPERS}, outcomes
    won = sorted((r.json()["seq"], r.json()["cut_minor"], r.json()["price_minor"])
                 for r in replies if r.status_code == 201)
    cuts = bargain_rule.all_cuts(START, FLOOR, HELPERS)
    assert [(seq, cut) for seq, cut, _ in won] == list(enumerate(cuts, start=1))
    assert won[-1][2] == FLOOR
    # and PostgreSQL holds exactly the cuts that were answered 201
    helpers = {friend.id for friend, reply in zip(friends, replies, strict=True)
               if reply.status_code == 201}
    async with services.db.session() as session:
        stored = (await session.execute(select(BargainCut.helper_id, BargainCut.amount_minor)
                                        .where(BargainCut.bargain_id == bargain_id))).all()
        bargain = await session.get(Bargain, bargain_id)
        orders = list(await session.scalars(select(Order).where(
            Order.source_kind == OrderSource.BARGAIN.value, Order.source_id == bargain_id)))
    assert {helper for helper, _ in stored} == helpers
    assert sum(amount for _, amount in stored) == START - FLOOR
    assert bargain is not None and (bargain.price_minor, bargain.helpers_count) == (FLOOR, 5)
    # and of the two presses of Buy, one order at the floor; the other told why not
    assert sorted(map(str, (_code(b) for b in buys))) == ["201", "bargain_already_bought"]
    assert [(o.amount_minor, o.quantity) for o in orders] == [(FLOOR, 1)]
    assert await counts(services, shop.mug_variant["id"]) == (9, 1, 0)


async def test_a_withdrawal_amid_starts_counts_exactly_the_bargains_started_before_it(
        live_server: LiveServer, client, shop: Shop, make_buyers, services: Services) -> None:
    # given an offer and 30 buyers pressing Start while its host withdraws it
    offer_id = await _offered(client, shop)
    buyers = await make_buyers(30)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        starts = [http.post(f"/api/bargain-offers/{offer_id}/bargains", headers=buyer.headers)
                  for buyer in buyers]
        withdraw = http.post(f"/api/bargain-offers/{offer_id}/withdraw",
                             headers=shop.host.headers)
        results = await asyncio.gather(*starts[:15], withdraw, *starts[15:])
    withdrawn, replies = results[15], results[:15] + results[15 + 1:]
    # then each start is a bargain or `offer_withdrawn`; the withdrawal counts every bargain
    # that was started, and PostgreSQL holds exactly those
    outcomes = Counter(_code(r) for r in replies)
    assert set(outcomes) <= {201, "offer_withdrawn"}, outcomes
    assert withdrawn.status_code == 200, withdrawn.text
    async with services.db.session() as session:
        stored = set(await session.scalars(select(Bargain.buyer_id)
                                           .where(Bargain.offer_id == offer_id)))
    started = {buyer.id for buyer, reply in zip(buyers, replies, strict=True)
               if reply.status_code == 201}
    assert stored == started and withdrawn.json()["bargains"] == len(started)
