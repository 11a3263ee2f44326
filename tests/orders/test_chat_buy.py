"""Comment-to-buy over real websockets: the host switches it on, a viewer's `buy 2 blue M`
holds a regular-price order of the pinned shirt's variant and the viewer alone gets the card;
an ambiguous or impossible line gets a private hint and holds nothing; a frame sent again with
the same id is shown once and holds once; a question about buying is chat."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from core.context import Services
from orders.models import Order
from tests.conftest import TestUser
from tests.orders.regular_helpers import Shop, counts
from tests.realtime import conftest as realtime_fixtures
from tests.realtime.conftest import Connect, Viewer

# The websocket clients and the live server they talk to, as the realtime tests have them.
connect_viewer = realtime_fixtures.connect_viewer
live_server = realtime_fixtures.live_server


async def comment_to_buy_on(client: httpx.AsyncClient, shop: Shop) -> None:
    response = await client.patch(f"/api/rooms/{shop.room['id']}", json={"comment_to_buy": True},
                                  headers=shop.host.headers)
    assert response.status_code == 200, response.text
    assert response.json()["comment_to_buy"] is True


async def pin(client: httpx.AsyncClient, shop: Shop, product: dict[str, Any]) -> None:
    response = await client.post(f"/api/rooms/{shop.room['id']}/pin",
                                 json={"product_id": product["id"]}, headers=shop.host.headers)
    assert response.status_code == 200, response.text


async def switch_on(client: httpx.AsyncClient, shop: Shop, seen_by: Viewer) -> None:
    """Comment-to-buy on and the shirt pinned, once the viewer's socket has seen it on."""
    await comment_to_buy_on(client, shop)
    await pin(client, shop, shop.shirt)
    await seen_by.next("room", where=lambda e: e["data"]["comment_to_buy"] is True)


async def join(connect_viewer: Connect, shop: Shop, *users: TestUser) -> list[Viewer]:
    """Each user's socket in the shop's room, past its hello."""
    sockets = []
    for user in users:
        socket = await connect_viewer(shop.room["id"], user=user)
        await socket.next("hello")
        sockets.append(socket)
    return sockets


async def say(socket: Viewer, user: TestUser, frame: dict[str, Any]) -> None:
    """Send a chat line until the room takes it (a viewer may send one line a second)."""
    for _attempt in range(5):
        await socket.send({"type": "chat", **frame})
        answer = await socket.next("chat", "error", where=lambda e: e["type"] == "error" or (
            e["data"]["user"]["id"] == user.id and e["data"]["text"] == frame["text"]))
        if answer["type"] == "chat":
            return
        assert answer["data"]["code"] == "rate_limited", answer
        await asyncio.sleep(answer["data"]["retry_after_ms"] / 1000)
    raise AssertionError("the chat line was never taken")


async def orders_of(services: Services, user: TestUser) -> list[Order]:
    async with services.db.session() as session:
        return list(await session.scalars(select(Order).where(Order.user_id == user.id)))


async def test_a_buy_line_holds_the_pinned_variant_and_only_its_sender_gets_the_card(
        client, shop: Shop, buyer: TestUser, make_user, connect_viewer: Connect,
        services: Services) -> None:
    # given a live room with the shirt pinned and comment-to-buy on, a viewer with an address
    socket, watcher = await join(connect_viewer, shop, buyer, await make_user())
    await switch_on(client, shop, seen_by=socket)

    # when the viewer sends `buy 2 blue M`
    await say(socket, buyer, {"text": "buy 2 blue M", "id": "line-1"})

    # then the viewer gets the card: an order of 2 of that variant awaiting payment
    card = await socket.next("chat_buy")
    order = card["data"]["order"]
    assert card["data"]["room_id"] == shop.room["id"]
    assert order["status"] == "pending_payment"
    assert [(line["variant_id"], line["quantity"]) for line in order["lines"]] == [
        (shop.variant("M", "Blue"), 2)]
    assert order["amount_minor"] == 2 * 2900
    assert order["payment_url"]
    # and the units are held, the order committed with a key from the line's id
    assert await counts(services, shop.variant("M", "Blue")) == (1, 2, 0)
    placed = await orders_of(services, buyer)
    assert [(o.id, o.status, o.idempotency_key) for o in placed] == [
        (order["id"], "pending_payment", f"chat:{shop.room['id']}:line-1")]
    # and the host's own buy line (showing how) is chat only
    [host_socket] = await join(connect_viewer, shop, shop.host)
    await say(host_socket, shop.host, {"text": "buy 1 blue S", "id": "host-1"})
    # and the room saw a chat line, the other viewer no card
    line = await watcher.next("chat", where=lambda e: e["data"]["user"]["id"] == buyer.id)
    assert line["data"]["text"] == "buy 2 blue M"
    assert all(e["type"] != "chat_buy" for e in watcher.events)

    # when the same frame comes again (a client resending after a reconnect), then a new line
    await socket.send({"type": "chat", "text": "buy 2 blue M", "id": "line-1"})
    await say(socket, buyer, {"text": "thanks!", "id": "line-2"})
    await watcher.next("chat", where=lambda e: e["data"]["text"] == "thanks!")

    # then the room showed the line once, and nothing more is held
    lines = [e["data"]["text"] for e in watcher.events
             if e["type"] == "chat" and e["data"]["user"]["id"] == buyer.id]
    assert lines == ["buy 2 blue M", "thanks!"]
    assert [e["data"]["order"]["id"] for e in socket.events if e["type"] == "chat_buy"] == [
        order["id"]]
    assert await counts(services, shop.variant("M", "Blue")) == (1, 2, 0)
    assert len(await orders_of(services, buyer)) == 1
    assert all(e["type"] != "chat_buy" for e in host_socket.events)
    assert await orders_of(services, shop.host) == []


async def test_an_ambiguous_or_impossible_line_gets_a_private_hint_and_holds_nothing(
        client, shop: Shop, buyer: TestUser, make_user, connect_viewer: Connect,
        services: Services) -> None:
    no_address = await make_user()
    socket, bare = await join(connect_viewer, shop, buyer, no_address)
    await switch_on(client, shop, seen_by=socket)
    before = {size_colour: await counts(services, shop.variant(*size_colour))
              for size_colour in shop.shirt_variants}

    # a question about buying is chat: no hint (the next hint is the next line's)
    await say(socket, buyer, {"text": "买了吗"})
    # two variants are blue: the hint names the option to add
    await say(socket, buyer, {"text": "buy blue"})
    hint = (await socket.next("chat_buy"))["data"]["hint"]
    assert hint == {"code": "ambiguous", "options": "size", "count": 2}
    # an unknown size is named
    await say(socket, buyer, {"text": "buy 2 blue XXL"})
    assert (await socket.next("chat_buy"))["data"]["hint"] == {"code": "unknown_option",
                                                               "word": "xxl"}
    # a quantity above the limit
    await say(socket, buyer, {"text": "buy 11 blue M"})
    assert (await socket.next("chat_buy"))["data"]["hint"] == {
        "code": "quantity_range", "max": services.settings.regular_max_quantity}
    # more than are left: red M has none
    await say(socket, buyer, {"text": "买1 Red M"})
    assert (await socket.next("chat_buy"))["data"]["hint"] == {"code": "sold_out",
                                                               "remaining": 0}
    # `+1` with four variants pinned
    await say(socket, buyer, {"text": "+1"})
    assert (await socket.next("chat_buy"))["data"]["hint"]["code"] == "ambiguous"
    # a viewer without an address yet
    await say(bare, no_address, {"text": "buy 1 blue S"})
    assert (await bare.next("chat_buy"))["data"]["hint"] == {"code": "address_required"}

    # and nothing was held or ordered
    assert await orders_of(services, buyer) == []
    assert await orders_of(services, no_address) == []
    for size_colour, was in before.items():
        assert await counts(services, shop.variant(*size_colour)) == was


async def test_a_room_without_comment_to_buy_takes_a_buy_line_as_chat_only(
        client, shop: Shop, buyer: TestUser, connect_viewer: Connect,
        services: Services) -> None:
    await pin(client, shop, shop.shirt)
    [socket] = await join(connect_viewer, shop, buyer)
    await say(socket, buyer, {"text": "buy 1 blue S", "id": "off-1"})

    # the host switches it on; a later line buys, and it is the only card the viewer gets
    await switch_on(client, shop, seen_by=socket)
    await say(socket, buyer, {"text": "buy 1 blue M", "id": "on-1"})
    card = await socket.next("chat_buy")
    assert card["data"]["text"] == "buy 1 blue M"
    assert [o.idempotency_key for o in await orders_of(services, buyer)] == [
        f"chat:{shop.room['id']}:on-1"]
    assert await counts(services, shop.variant("S", "Blue")) == (5, 0, 0)
    assert all(e["data"].get("text") != "buy 1 blue S" for e in socket.events
               if e["type"] == "chat_buy")


async def test_plus_one_buys_the_only_variant_and_nothing_pinned_gets_a_hint(
        client, shop: Shop, buyer: TestUser, connect_viewer: Connect,
        services: Services) -> None:
    await comment_to_buy_on(client, shop)
    socket = await connect_viewer(shop.room["id"], user=buyer)
    assert (await socket.next("hello"))["data"]["room"]["comment_to_buy"] is True

    # nothing pinned yet: `+1` gets a hint
    await say(socket, buyer, {"text": "+1"})
    assert (await socket.next("chat_buy"))["data"]["hint"] == {"code": "no_pinned"}

    # the mug (one default variant) pinned: `+2` holds two of it
    await pin(client, shop, shop.mug)
    await socket.next("pin")
    await say(socket, buyer, {"text": "+2"})
    order = (await socket.next("chat_buy"))["data"]["order"]
    assert [(line["variant_id"], line["quantity"]) for line in order["lines"]] == [
        (shop.mug_variant["id"], 2)]
    assert await counts(services, shop.mug_variant["id"]) == (8, 2, 0)


async def test_only_the_host_switches_it_and_only_with_true_or_false(
        client, shop: Shop, make_user) -> None:
    path = f"/api/rooms/{shop.room['id']}"
    for bad in (None, "yes", 1):
        response = await client.patch(path, json={"comment_to_buy": bad},
                                      headers=shop.host.headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "comment_to_buy"
    viewer = await make_user()
    response = await client.patch(path, json={"comment_to_buy": True}, headers=viewer.headers)
    assert response.status_code == 403, response.text
    assert (await client.get(path)).json()["comment_to_buy"] is False
