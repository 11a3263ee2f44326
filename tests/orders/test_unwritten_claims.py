"""Coupon claims whose process died between the claim script and the claim's commit: Redis
counted a copy that PostgreSQL never got. The sweep gives each such copy back once, never the
copy of a claim that commits while it runs, and drops the entries of committed claims."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select, text

from core.context import Services
from orders import coupons
from orders.coupons import CLAIM, CouponClaim, CouponKeys
from tests.conftest import TestUser, poll_until
from tests.orders.regular_helpers import Shop, open_shop


async def drop(client: httpx.AsyncClient, shop: Shop, quantity: int) -> int:
    response = await client.post(f"/api/rooms/{shop.room['id']}/coupons", headers=shop.host.headers,
                                 json={"kind": "amount", "amount_off_minor": 500,
                                       "currency": "CNY", "quantity": quantity,
                                       "valid_seconds": 3600})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def claim_script(services: Services, coupon_id: int, user_id: int) -> int:
    """What a claim does before its commit: the script (its entry due at once)."""
    return int(await CLAIM.bind(services.redis)(keys=CouponKeys.of(services.keys, coupon_id).all,
                                                args=[user_id, 0]))


async def redis_state(services: Services, coupon_id: int) -> tuple[int, set[int], int]:
    """(copies left, claimers, unwritten entries) in Redis."""
    keys = CouponKeys.of(services.keys, coupon_id)
    members = {m.decode() if isinstance(m, bytes) else str(m)
               for m in await services.redis.smembers(keys.claimers)}
    return (int(await services.redis.get(keys.left)),
            {int(m) for m in members if m != coupons.SENTINEL},
            int(await services.redis.zcard(keys.unwritten)))


async def test_a_copy_claimed_by_a_process_that_died_goes_back_once(
        client, make_user, make_product, make_room, services: Services):
    # given a coupon of two copies, one claimed in Redis by a process that died before its
    # commit, and one claimed and committed
    shop = await open_shop(client, make_user, make_product, make_room)
    lost, kept = await make_user(), await make_user()
    coupon_id = await drop(client, shop, quantity=2)
    assert await claim_script(services, coupon_id, lost.id) == 1
    assert (await client.post(f"/api/coupons/{coupon_id}/claim",
                              headers=kept.headers)).status_code == 201
    assert await redis_state(services, coupon_id) == (0, {lost.id, kept.id}, 1)
    again = await client.post(f"/api/coupons/{coupon_id}/claim", headers=lost.headers)
    assert again.json()["error"]["code"] == "coupon_already_claimed"

    # when the sweep runs, twice
    first = await coupons.release_unwritten_claims(services)
    second = await coupons.release_unwritten_claims(services)

    # then the lost copy is back, once; the committed claim is untouched; nothing is left to sweep
    assert first == {coupon_id: [lost.id]} and second == {}
    assert await redis_state(services, coupon_id) == (1, {kept.id}, 0)
    assert await coupons.rebuild_coupon(services, coupon_id) == 1
    # and its viewer can claim it for real
    retry = await client.post(f"/api/coupons/{coupon_id}/claim", headers=lost.headers)
    assert retry.status_code == 201 and retry.json()["left"] == 0
    assert await redis_state(services, coupon_id) == (0, {lost.id, kept.id}, 0)


async def lock_waiters(services: Services) -> int:
    async with services.db.session() as session:
        return int(await session.scalar(text(
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and wait_event_type = 'Lock' and wait_event = 'advisory'")) or 0)


async def test_the_sweep_waits_for_a_claim_in_flight_and_gives_back_only_one_that_never_commits(
        client, make_user, make_product, make_room, services: Services):
    shop = await open_shop(client, make_user, make_product, make_room)
    slow, dying = await make_user(), await make_user()
    coupon_id = await drop(client, shop, quantity=3)

    async def claim_in_flight(viewer: TestUser, sweep_waits: asyncio.Event,
                              commit: bool) -> None:
        # A claim's transaction: the lock shared, the script, then (after the sweep came) the
        # commit of its row, or its end without one (the process died: the lock goes with it).
        async with services.db.session() as session, session.begin():
            await coupons._lock(session, coupon_id, shared=True)
            await claim_script(services, coupon_id, viewer.id)
            await sweep_waits.wait()
            if commit:
                session.add(CouponClaim(coupon_id=coupon_id, user_id=viewer.id))
                await session.flush()
            else:
                await session.rollback()

    for viewer, commit in ((slow, True), (dying, False)):
        # given a claim whose entry is overdue while its transaction is still open
        sweep_waits = asyncio.Event()
        claim = asyncio.create_task(claim_in_flight(viewer, sweep_waits, commit))
        await poll_until(lambda v=viewer: _claimed_in_redis(services, coupon_id, v.id))
        # when the sweep runs meanwhile: it waits for the claim's lock
        sweep = asyncio.create_task(coupons.release_unwritten_claims(services))
        await poll_until(lambda: _waiting(services))
        sweep_waits.set()
        await claim
        released = await sweep
        # then a claim that committed keeps its copy; one that did not has it back
        assert released == ({} if commit else {coupon_id: [dying.id]})

    assert await redis_state(services, coupon_id) == (2, {slow.id}, 0)
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CouponClaim)) == 1
    assert await coupons.rebuild_coupon(services, coupon_id) == 2


async def _claimed_in_redis(services: Services, coupon_id: int, user_id: int) -> bool:
    return bool(await services.redis.sismember(CouponKeys.of(services.keys, coupon_id).claimers,
                                               str(user_id)))


async def _waiting(services: Services) -> bool:
    return await lock_waiters(services) > 0
