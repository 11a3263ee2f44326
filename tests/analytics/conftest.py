"""Fixtures of the analytics tests: a scripted broadcast with known counts.

The broadcast runs 20:00:00 to 20:10:00 UTC on 2026-11-20. Viewers join and leave at set
times (through the Recorder, with explicit times), click product cards, chat and like; orders
and their events are inserted directly with explicit timestamps, so the buy path is not needed.
tests/analytics/test_report.py lists what the report must say about it, and why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from analytics.recorder import Recorder
from core.context import Services
from live.models import LineupItem, Product, Room, RoomEvent, RoomEventType
from orders.models import Order, OrderEvent, Sale
from social.models import Follow
from tests.browser import launch_chromium
from tests.conftest import LiveServer, MakeUser, TestUser

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def at(clock: str) -> datetime:
    """'20:01:30' on the day of the broadcast."""
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return DAY + timedelta(hours=hours, minutes=minutes, seconds=seconds)


@dataclass
class Broadcast:
    room_id: int
    host: TestUser
    ops: TestUser
    viewers: dict[str, TestUser]
    products: dict[str, int]
    orders: dict[str, int]


async def play_broadcast(services: Services, make_user: MakeUser, *,
                         title: str = "Friday drop") -> Broadcast:
    host = await make_user("host", name="Mia Studio")
    ops = await make_user("ops", name="Ops Desk")
    viewers = {name: await make_user("viewer", name=name) for name in ("Ann", "Ben", "Cat", "Dan")}
    u1, u2, u3, u4 = (viewers[n].id for n in ("Ann", "Ben", "Cat", "Dan"))

    async with services.db.transaction() as session:
        scarf = Product(host_id=host.id, title="Silk scarf", price_minor=4900, currency="USD")
        pourover = Product(host_id=host.id, title="Pour-over set", price_minor=6500,
                           currency="USD")
        tote = Product(host_id=host.id, title="Linen tote", price_minor=2400, currency="USD")
        session.add_all([scarf, pourover, tote])
        await session.flush()
        room = Room(host_id=host.id, title=title, status="ended", stream_key=f"key-{host.id}",
                    started_at=at("20:00:00"), ended_at=at("20:10:00"),
                    created_at=at("19:30:00"))
        session.add(room)
        await session.flush()
        # Follows of the host: before the show, during it (the one the report counts), after.
        session.add_all([Follow(follower_id=u1, host_id=host.id, created_at=at("19:50:00")),
                         Follow(follower_id=u2, host_id=host.id, created_at=at("20:04:00")),
                         Follow(follower_id=u3, host_id=host.id, created_at=at("20:12:00"))])
        session.add_all(LineupItem(room_id=room.id, product_id=p.id, position=i)
                        for i, p in enumerate([scarf, pourover, tote]))
        for kind, clock, data in [
            (RoomEventType.ROOM_CREATED, "19:30:00", {"title": title}),
            (RoomEventType.ROOM_LIVE, "20:00:00", {"from": "scheduled", "to": "live"}),
            (RoomEventType.PIN, "20:00:30", {"product_id": scarf.id, "replaced": None}),
            (RoomEventType.PIN, "20:06:00", {"product_id": pourover.id, "replaced": scarf.id}),
            (RoomEventType.UNPIN, "20:08:30", {"product_id": pourover.id}),
            (RoomEventType.PIN, "20:09:00", {"product_id": tote.id, "replaced": None}),
            (RoomEventType.ROOM_ENDED, "20:10:00", {"from": "live", "to": "ended"}),
        ]:
            session.add(RoomEvent(room_id=room.id, type=kind, actor_id=host.id, data=data,
                                  created_at=at(clock)))

        def sale(product: Product, currency: str, price: int) -> Sale:
            return Sale(room_id=room.id, product_id=product.id, host_id=host.id,
                        price_minor=price, currency=currency, quantity=50, per_user_limit=5,
                        starts_at=at("20:00:00"), ends_at=at("20:10:00"), status="ended")

        sales = {"scarf": sale(scarf, "USD", 4900), "pourover": sale(pourover, "USD", 6500),
                 "tote": sale(tote, "USD", 2400), "scarf_eur": sale(scarf, "EUR", 3000)}
        session.add_all(sales.values())
        await session.flush()

        orders: dict[str, int] = {}
        # name: sale, product, buyer, quantity, amount, currency, created, [(to_status, when)]
        script: list[tuple[str, str, Product, int, int, int, str, str, list[tuple[str, str]]]] = [
            ("O1", "scarf", scarf, u1, 1, 4900, "USD", "20:01:30",
             [("paid", "20:02:10"), ("completed", "20:30:00")]),
            ("O2", "scarf", scarf, u1, 2, 9800, "USD", "20:03:00",
             [("paid", "20:03:40"), ("refunded", "20:12:15")]),
            ("O3", "pourover", pourover, u2, 1, 6500, "USD", "20:06:30", [("paid", "20:07:05")]),
            ("O4", "tote", tote, u3, 1, 2400, "USD", "20:07:10", [("expired", "20:09:00")]),
            ("O5", "pourover", pourover, u4, 1, 6500, "USD", "20:08:00",
             [("cancelled", "20:08:30")]),
            ("O6", "scarf_eur", scarf, u3, 1, 3000, "EUR", "20:08:40", [("paid", "20:09:10")]),
        ]
        for number, (name, sale_name, product, buyer, quantity, amount, currency, created,
                     moves) in enumerate(script, start=1):
            final = moves[-1][0]
            paid_at = next((at(when) for status, when in moves if status == "paid"), None)
            order = Order(sale_id=sales[sale_name].id, room_id=room.id, product_id=product.id,
                          user_id=buyer, quantity=quantity, amount_minor=amount,
                          currency=currency, status=final, idempotency_key=f"key-{name}",
                          reservation_no=number, hold_expires_at=at(created) + timedelta(minutes=10),
                          paid_at=paid_at, created_at=at(created), updated_at=at(moves[-1][1]))
            session.add(order)
            await session.flush()
            orders[name] = order.id
            session.add(OrderEvent(order_id=order.id, type="order_created", from_status=None,
                                   to_status="pending_payment", actor_id=buyer,
                                   created_at=at(created)))
            previous = "pending_payment"
            for status, when in moves:
                session.add(OrderEvent(order_id=order.id, type=f"order_{status}",
                                       from_status=previous, to_status=status,
                                       created_at=at(when)))
                previous = status

    recorder = Recorder(services.db)
    room_id = room.id
    script_events: list[tuple[str, str, Any]] = [
        # The host's own connection and chat, and ops watching, are left out of the report.
        ("join", "19:59:00", f"u:{host.id}"),
        ("chat", "20:00:30", host.id), ("chat", "20:00:31", host.id),
        ("join", "20:00:10", f"u:{ops.id}"), ("leave", "20:09:00", f"u:{ops.id}"),
        ("click", "20:02:00", (f"u:{ops.id}", scarf.id)),
        # Ann: one visit, 20:00 to 20:05.
        ("join", "20:00:00", f"u:{u1}"), ("leave", "20:05:00", f"u:{u1}"),
        # Ben: 20:01 to 20:03, and back at 20:06 without ever leaving (closed at the end).
        ("join", "20:01:00", f"u:{u2}"), ("leave", "20:03:00", f"u:{u2}"),
        ("join", "20:06:00", f"u:{u2}"),
        # Cat: two tabs, 20:02-20:04 and 20:02:30-20:08: one visit 20:02 to 20:08.
        ("join", "20:02:00", f"u:{u3}"), ("join", "20:02:30", f"u:{u3}"),
        ("leave", "20:04:00", f"u:{u3}"), ("leave", "20:08:00", f"u:{u3}"),
        # Guest 1 came before the start: counted from 20:00:00 to 20:01:30.
        ("join", "19:58:00", "g:guest-one-cookie"), ("leave", "20:01:30", "g:guest-one-cookie"),
        # Guest 2 stays past the end: counted from 20:09 to 20:10.
        ("join", "20:09:00", "g:guest-two-cookie"), ("leave", "20:12:00", "g:guest-two-cookie"),
        # Guest 3 only after the end; guest 4 a leave without a join: neither counts.
        ("join", "20:11:00", "g:guest-three-cookie"),
        ("leave", "20:11:30", "g:guest-three-cookie"),
        ("leave", "20:05:00", "g:guest-four-cookie"),
        ("chat", "20:01:10", u1), ("chat", "20:01:20", u1), ("chat", "20:02:05", u1),
        ("chat", "20:03:00", u3),
        ("likes", "20:00:40", 10), ("likes", "20:04:10", 15), ("likes", "20:09:59", 5),
        ("view", "20:00:50", ("g:guest-one-cookie", scarf.id)),
        ("view", "20:01:00", (f"u:{u1}", scarf.id)),
        ("view", "20:06:10", (f"u:{u2}", pourover.id)),
        ("click", "20:01:05", (f"u:{u1}", scarf.id)), ("click", "20:01:06", (f"u:{u1}", scarf.id)),
        ("click", "20:06:20", (f"u:{u2}", pourover.id)),
        ("click", "20:01:10", ("g:guest-one-cookie", scarf.id)),
        ("click", "20:07:00", (f"u:{u3}", tote.id)),
    ]
    for kind, clock, arg in script_events:
        when = at(clock)
        if kind == "join":
            recorder.viewer_joined(room_id, arg, None, at=when)
        elif kind == "leave":
            recorder.viewer_left(room_id, arg, None, at=when)
        elif kind == "chat":
            recorder.chat(room_id, arg, at=when)
        elif kind == "likes":
            recorder.likes(room_id, arg, at=when)
        elif kind == "view":
            recorder.product_view(room_id, arg[1], arg[0], at=when)
        else:
            recorder.product_click(room_id, arg[1], arg[0], at=when)
    await recorder.flush()
    assert recorder.buffered == 0

    return Broadcast(room_id=room_id, host=host, ops=ops, viewers=viewers,
                     products={"scarf": scarf.id, "pourover": pourover.id, "tote": tote.id},
                     orders=orders)


@pytest.fixture
async def broadcast(services: Services, make_user: MakeUser) -> Broadcast:
    return await play_broadcast(services, make_user)


# Browser ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with launch_chromium() as browser:
        yield browser


@dataclass
class PageErrors:
    messages: list[str]


@pytest.fixture
async def open_as(chromium: Browser, live_server: LiveServer
                  ) -> AsyncIterator[Callable[[TestUser], Awaitable[tuple[Page, PageErrors]]]]:
    """A page logged in as a user (their session cookie), collecting script errors."""
    contexts: list[BrowserContext] = []

    async def open_page(user: TestUser) -> tuple[Page, PageErrors]:
        # Pages show local times with the zone, in the reader's locale: fix both.
        context = await chromium.new_context(viewport={"width": 1360, "height": 900},
                                             accept_downloads=True, locale="en-US",
                                             timezone_id="UTC")
        contexts.append(context)
        await context.add_cookies([{"name": "livesell_session", "value": user.token,
                                    "url": live_server.url}])
        page = await context.new_page()
        errors = PageErrors([])
        page.on("pageerror", lambda exc: errors.messages.append(str(exc)))
        page.on("console", lambda msg: errors.messages.append(msg.text)
                if msg.type == "error" and "/ws/" not in msg.text else None)
        return page, errors

    yield open_page
    for context in contexts:
        await context.close()
