"""Red envelope rains through the API: the committed split, one grab per viewer credited
through the ledger before the reply, the refusals, the settle, and Redis lost mid-rain."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from core.context import Services
from engagement import rains
from engagement.models import Envelope, Rain, WalletEntry
from engagement.presence import present_key, present_users
from tests.conftest import LiveServer, MakeUser, TestUser, poll_until
from tests.engagement.conftest import LiveRoom, drop
from tests.realtime.conftest import Connect

MakeViewers = Callable[[int], Awaitable[list[TestUser]]]


async def _ledger(services: Services, rain_id: int) -> list[tuple[int, str, int, int | None]]:
    async with services.db.session() as session:
        rows = (await session.execute(
            select(WalletEntry.user_id, WalletEntry.kind, WalletEntry.amount_minor,
                   WalletEntry.envelope_seq).where(WalletEntry.rain_id == rain_id))).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def _settled(services: Services, rain_id: int) -> dict[str, Any]:
    async def done() -> bool:
        return (await rains.get_rain(services, rain_id)).status == "settled"
    await poll_until(done, timeout=15, message=f"rain {rain_id} settled")
    return await rains.rain_view(services, await rains.get_rain(services, rain_id))


async def test_a_drop_commits_the_seed_hash_and_splits_the_pool_exactly(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        services: Services) -> None:
    room = await live_room()
    rain = await drop(client, room, envelope_count=25, total_minor=10_007, min_minor=3)
    assert rain["seed"] is None and len(rain["seed_hash"]) == 64
    async with services.db.session() as session:
        stored = await session.scalar(select(Rain).where(Rain.id == rain["id"]))
        amounts = list(await session.scalars(select(Envelope.amount_minor).where(
            Envelope.rain_id == rain["id"]).order_by(Envelope.seq)))
    assert stored is not None
    assert hashlib.sha256(stored.seed).hexdigest() == rain["seed_hash"]
    assert len(amounts) == 25 and sum(amounts) == 10_007 and min(amounts) >= 3
    # the host funded the pool: one negative entry
    assert await _ledger(services, rain["id"]) == [(room.host.id, "rain_funded", -10_007, None)]


@pytest.mark.redis6
async def test_a_viewer_grabs_once_and_the_ledger_credits_them_once(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_user: MakeUser, services: Services) -> None:
    room = await live_room()
    rain = await drop(client, room, envelope_count=3, total_minor=300)
    viewer = await make_user()
    await room.admit(viewer)

    first = await client.post(f"/api/rains/{rain['id']}/grab", headers=viewer.headers)
    assert first.status_code == 201, first.text
    got = first.json()
    assert got["currency"] == "USD" and got["amount_minor"] >= 1 and got["left"] == 2

    again = await client.post(f"/api/rains/{rain['id']}/grab", headers=viewer.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_grabbed"
    assert again.json()["error"]["amount_minor"] == got["amount_minor"]

    wallet = await client.get("/api/wallet", headers=viewer.headers)
    assert wallet.json() == {"balances": {"USD": got["amount_minor"]}}
    credits = [e for e in await _ledger(services, rain["id"]) if e[1] == "envelope"]
    assert credits == [(viewer.id, "envelope", got["amount_minor"], got["seq"])]


async def test_refusals_name_their_reason_and_change_nothing(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_user: MakeUser, make_room: Callable[..., Awaitable[dict[str, Any]]],
        services: Services) -> None:
    room = await live_room()
    viewer = await make_user()
    body = {"envelope_count": 10, "total_minor": 1000, "currency": "USD",
            "countdown_seconds": 60}

    async def counts() -> tuple[int, int, int]:
        async with services.db.session() as session:
            return (int(await session.scalar(select(func.count()).select_from(Rain)) or 0),
                    int(await session.scalar(select(func.count()).select_from(Envelope)) or 0),
                    int(await session.scalar(select(func.count()).select_from(WalletEntry)) or 0))

    # a pool that cannot give every envelope the minimum
    response = await client.post(f"/api/rooms/{room.id}/rains", headers=room.host.headers,
                                 json={**body, "total_minor": 99, "min_minor": 10})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "cannot_split", "field": "total_minor", "needed_minor": 100,
        "message": "99 cannot give 10 envelopes at least 10 each (it needs 100)"}
    # a viewer, and a host of another room, may not drop into this room
    response = await client.post(f"/api/rooms/{room.id}/rains", headers=viewer.headers, json=body)
    assert response.status_code == 403 and response.json()["error"]["code"] == "wrong_role"
    other_host = await make_user("host")
    response = await client.post(f"/api/rooms/{room.id}/rains", headers=other_host.headers,
                                 json=body)
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_room_host"
    # a room that is not live
    quiet = await make_room(room.host)
    response = await client.post(f"/api/rooms/{quiet['id']}/rains", headers=room.host.headers,
                                 json=body)
    assert response.status_code == 409 and response.json()["error"]["code"] == "room_not_live"
    assert await counts() == (0, 0, 0)

    # a rain that has not opened yet, and the host grabbing their own
    rain = await drop(client, room, countdown_seconds=60)
    before = await counts()
    response = await client.post(f"/api/rains/{rain['id']}/grab", headers=viewer.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "rain_not_open"
    assert response.json()["error"]["opens_at_ms"] == rain["opens_at_ms"]
    response = await client.post(f"/api/rains/{rain['id']}/grab", headers=room.host.headers)
    assert response.status_code in (403, 409)
    # a second rain while this one runs
    response = await client.post(f"/api/rooms/{room.id}/rains", headers=room.host.headers,
                                 json=body)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "rain_in_progress"
    # a rain that does not exist; a guest
    response = await client.post("/api/rains/999999/grab", headers=viewer.headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "rain_not_found"
    response = await client.post(f"/api/rains/{rain['id']}/grab")
    assert response.status_code == 401
    assert await counts() == before


async def test_the_host_cannot_grab_an_open_rain_of_their_own(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]]) -> None:
    room = await live_room()
    rain = await drop(client, room)
    response = await client.post(f"/api/rains/{rain['id']}/grab", headers=room.host.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "host_cannot_grab"


async def test_at_the_close_unclaimed_envelopes_go_back_to_the_host_and_the_seed_is_revealed(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_viewers: MakeViewers, services: Services) -> None:
    room = await live_room()
    rain = await drop(client, room, envelope_count=5, total_minor=500, duration_seconds=1)
    viewers = await make_viewers(3)
    await room.admit(*viewers)
    grabbed = 0
    for viewer in viewers:
        response = await client.post(f"/api/rains/{rain['id']}/grab", headers=viewer.headers)
        assert response.status_code == 201, response.text
        grabbed += response.json()["amount_minor"]

    view = await _settled(services, rain["id"])
    assert view["grabbed"] == 3 and view["returned_minor"] == 500 - grabbed
    # after the close: refused, nothing credited
    late = (await make_viewers(1))[0]
    response = await client.post(f"/api/rains/{rain['id']}/grab", headers=late.headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "rain_ended"
    # still so once Redis has forgotten the rain (its keys are rebuilt from PostgreSQL)
    await services.redis.delete(*rains.RainKeys.of(services.keys, room.id, rain["id"]).all)
    response = await client.post(f"/api/rains/{rain['id']}/grab", headers=late.headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "rain_ended"

    published = (await client.get(f"/api/rains/{rain['id']}/envelopes")).json()
    seed = bytes.fromhex(published["rain"]["seed"])
    assert hashlib.sha256(seed).hexdigest() == rain["seed_hash"]
    # every entry of the rain sums to zero: the pool went out, grabs and the return came back
    ledger = await _ledger(services, rain["id"])
    assert sum(amount for _, _, amount, _ in ledger) == 0
    assert Counter(kind for _, kind, _, _ in ledger) == {"rain_funded": 1, "envelope": 3,
                                                          "rain_returned": 1}
    # a second settle does nothing
    assert await rains.settle_rain(services, rain["id"]) is False
    assert len(await _ledger(services, rain["id"])) == 5


async def test_redis_lost_mid_rain_loses_no_committed_grab(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_viewers: MakeViewers, services: Services) -> None:
    room = await live_room()
    rain = await drop(client, room, envelope_count=20, total_minor=2000)
    viewers = await make_viewers(30)
    await room.admit(*viewers)
    first, second = viewers[:8], viewers[8:]
    for viewer in first:
        assert (await client.post(f"/api/rains/{rain['id']}/grab",
                                  headers=viewer.headers)).status_code == 201

    # Redis loses the rain's keys mid-rain
    keys = rains.RainKeys.of(services.keys, room.id, rain["id"])
    assert await services.redis.delete(*keys.all) == 3

    # the grabs go on: the state is rebuilt from PostgreSQL; the first grabbers stay refused
    for viewer in first:
        response = await client.post(f"/api/rains/{rain['id']}/grab", headers=viewer.headers)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "already_grabbed"
    codes = Counter()
    for viewer in second:
        response = await client.post(f"/api/rains/{rain['id']}/grab", headers=viewer.headers)
        codes[response.json().get("error", {}).get("code", response.status_code)] += 1
    assert codes == {201: 12, "rain_empty": 10}

    async with services.db.session() as session:
        rows = (await session.execute(select(Envelope.user_id, Envelope.amount_minor).where(
            Envelope.rain_id == rain["id"]))).all()
        balance = await session.scalar(text(
            "select sum(amount_minor) from wallet_entries where rain_id = :r and kind = 'envelope'"),
            {"r": rain["id"]})
    holders = [user for user, _ in rows if user is not None]
    assert len(holders) == 20 == len(set(holders))
    assert {v.id for v in first} <= set(holders)
    assert balance == sum(amount for _, amount in rows) == 2000


async def test_a_grab_racing_a_rebuild_never_credits_an_envelope_twice(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_viewers: MakeViewers, services: Services) -> None:
    # given a rain of three envelopes, the first grabbed and committed by Ana
    room = await live_room()
    rain = await drop(client, room, envelope_count=3, total_minor=300)
    ana, ben = await make_viewers(2)
    await room.admit(ana, ben)
    first = (await client.post(f"/api/rains/{rain['id']}/grab", headers=ana.headers)).json()
    keys = rains.RainKeys.of(services.keys, room.id, rain["id"])

    # when Redis hands Ana's envelope out again (a rebuild that ran before her write landed)
    await services.redis.lpush(keys.envelopes, f"{first['seq']}:{first['amount_minor']}")
    # then Ben, who popped it, is told to retry, credited nothing, and his retry gets the other
    response = await client.post(f"/api/rains/{rain['id']}/grab", headers=ben.headers)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "grab_retry"
    assert (await client.get("/api/wallet", headers=ben.headers)).json() == {"balances": {}}
    response = await client.post(f"/api/rains/{rain['id']}/grab", headers=ben.headers)
    assert response.status_code == 201 and response.json()["seq"] != first["seq"]

    # and when Redis forgets Ana (the same rebuild) and she pops the third envelope, the
    # database refuses her a second one: she keeps her first, the third stays unclaimed
    await services.redis.hdel(keys.grabbers, str(ana.id))
    response = await client.post(f"/api/rains/{rain['id']}/grab", headers=ana.headers)
    assert response.status_code == 201
    assert (response.json()["seq"], response.json()["amount_minor"]) == (
        first["seq"], first["amount_minor"])
    credits = [e for e in await _ledger(services, rain["id"]) if e[1] == "envelope"]
    assert sorted(user for user, _, _, _ in credits) == sorted([ana.id, ben.id])
    assert (ana.id, "envelope", first["amount_minor"], first["seq"]) in credits
    async with services.db.session() as session:
        unclaimed = await session.scalar(select(func.count()).where(
            Envelope.rain_id == rain["id"], Envelope.user_id.is_(None)))
    assert unclaimed == 1


async def test_the_room_engagement_reply_gives_the_viewer_their_envelope_and_entry(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_user: MakeUser) -> None:
    room = await live_room()
    viewer = await make_user()
    rain = await drop(client, room, envelope_count=2, total_minor=50)
    await room.admit(viewer)
    draw = (await client.post(f"/api/rooms/{room.id}/draws", headers=room.host.headers, json={
        "prize": "Mug", "winner_count": 1, "rule": "in_room", "countdown_seconds": 60})).json()
    got = (await client.post(f"/api/rains/{rain['id']}/grab", headers=viewer.headers)).json()
    assert (await client.post(f"/api/draws/{draw['id']}/enter",
                              headers=viewer.headers)).status_code == 200

    mine = (await client.get(f"/api/rooms/{room.id}/engagement", headers=viewer.headers)).json()
    assert mine["rain"]["id"] == rain["id"] and mine["rain"]["grabbed"] == 1
    assert mine["draw"]["id"] == draw["id"] and mine["draw"]["entries"] == 1
    assert mine["you"] == {"envelope": {"rain_id": rain["id"], "seq": got["seq"],
                                        "amount_minor": got["amount_minor"], "currency": "USD"},
                           "entered": True}
    guest = (await client.get(f"/api/rooms/{room.id}/engagement")).json()
    assert guest["you"] is None and guest["rain"]["seed"] is None
    # the host's wallet: the pool went out when the rain was dropped
    assert (await client.get("/api/wallet", headers=room.host.headers)).json() == {
        "balances": {"USD": -50}}


async def test_a_grab_whose_process_died_before_its_write_is_committed_at_the_settle(
        client: httpx.AsyncClient, live_room: Callable[[], Awaitable[LiveRoom]],
        make_viewers: MakeViewers, services: Services) -> None:
    # given a rain where Redis handed Ana an envelope whose write never happened (her web
    # process died between the script and the commit)
    room = await live_room()
    rain = await drop(client, room, envelope_count=3, total_minor=300, duration_seconds=1)
    ana, ben = await make_viewers(2)
    await room.admit(ana, ben)
    keys = rains.RainKeys.of(services.keys, room.id, rain["id"])
    popped = await rains.GRAB.bind(services.redis)(
        keys=[*keys.all, present_key(services.keys, room.id)], args=[ana.id])
    assert int(popped[0]) == 1
    assert await _ledger(services, rain["id"]) == [(room.host.id, "rain_funded", -300, None)]
    grabbed = (await client.post(f"/api/rains/{rain['id']}/grab", headers=ben.headers)).json()

    # when the rain settles, Ana's envelope is committed and credited, the rest go back
    view = await _settled(services, rain["id"])
    assert view["grabbed"] == 2
    ledger = await _ledger(services, rain["id"])
    assert (ana.id, "envelope", int(popped[2]), int(popped[1])) in ledger
    assert view["returned_minor"] == 300 - int(popped[2]) - grabbed["amount_minor"]
    assert (await client.get("/api/wallet", headers=ana.headers)).json() == {
        "balances": {"USD": int(popped[2])}}


async def test_a_viewer_not_in_the_room_cannot_grab_and_one_with_the_room_open_can(
        client: httpx.AsyncClient, live_server: LiveServer,
        live_room: Callable[[], Awaitable[LiveRoom]], make_viewers: MakeViewers,
        connect_viewer: Connect, services: Services) -> None:
    # given a rain, a viewer who never opened the room and one whose page is open on it
    room = await live_room()
    rain = await drop(client, room, envelope_count=3, total_minor=300)
    outside, watching = await make_viewers(2)
    socket = await connect_viewer(room.id, user=watching)
    await socket.next("hello")

    # when the one outside grabs, it is refused by name, and nothing is handed out
    response = await client.post(f"/api/rains/{rain['id']}/grab", headers=outside.headers)
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "not_in_room", "field": "rain_id", "room_id": room.id,
        "message": "only viewers in the room can grab: open the room to join the rain"}
    assert (await rains.rain_view(services, await rains.get_rain(services, rain["id"])))[
        "grabbed"] == 0
    assert await _ledger(services, rain["id"]) == [(room.host.id, "rain_funded", -300, None)]

    # then the one in the room grabs (once their web process has marked them present)
    async def grabbed() -> bool:
        reply = await client.post(f"/api/rains/{rain['id']}/grab", headers=watching.headers)
        assert reply.status_code == 201 or reply.json()["error"]["code"] == "not_in_room"
        return reply.status_code == 201
    await poll_until(grabbed, timeout=10, interval=0.1, message="the watching viewer's grab")
    # and once they close the page, their mark runs out
    await socket.ws.close()

    async def gone() -> bool:
        return watching.id not in await present_users(services.redis, services.keys, room.id)
    await poll_until(gone, timeout=15, interval=0.2, message="the mark run out")
