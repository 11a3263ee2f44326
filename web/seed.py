"""Demo data, created idempotently: running it twice keeps the data and adds nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.accounts import Role, User, create_user
from core.context import Services
from live.models import LineupItem, Product, Room

DEMO_PASSWORD = "livesell-demo"


@dataclass(frozen=True)
class DemoUser:
    email: str
    display_name: str
    role: Role


DEMO_USERS = (
    DemoUser("host@livesell.local", "Mia's Studio", Role.HOST),
    DemoUser("viewer@livesell.local", "Leo", Role.VIEWER),
    DemoUser("ops@livesell.local", "Ops", Role.OPS),
)

DEMO_PRODUCTS = (
    ("Hand-dyed silk scarf", "Mulberry silk, 90 x 90 cm, dyed by hand.", 4900, 120),
    ("Ceramic pour-over set", "Dripper, carafe and two cups, stoneware.", 6500, 60),
    ("Linen tote bag", "Heavy washed linen with an inner pocket.", 2400, 300),
    ("Beeswax candle trio", "Three hand-poured candles, 20 h each.", 1800, 200),
)

DEMO_ROOM_TITLE = "Friday night drop: handmade home goods"
DEMO_PLAYBACK_URL = "https://test-streams.mux.dev/x36xhzz/x36xhzz.m3u8"


async def _user(svc: Services, demo: DemoUser) -> User:
    async with svc.db.transaction() as session:
        user = await session.scalar(select(User).where(User.email == demo.email))
        if user is None:
            user = await create_user(session, email=demo.email, password=DEMO_PASSWORD,
                                     display_name=demo.display_name, role=demo.role)
        return user


async def seed_demo(svc: Services) -> dict[str, int]:
    users = {demo.role: await _user(svc, demo) for demo in DEMO_USERS}
    host = users[Role.HOST]
    async with svc.db.transaction() as session:
        existing = {p.title: p for p in await session.scalars(
            select(Product).where(Product.host_id == host.id))}
        products = []
        for title, description, price, stock in DEMO_PRODUCTS:
            product = existing.get(title)
            if product is None:
                product = Product(host_id=host.id, title=title, description=description,
                                  price_minor=price, currency="USD", stock=stock)
                session.add(product)
            products.append(product)
        await session.flush()
        room = await session.scalar(select(Room).where(Room.host_id == host.id,
                                                       Room.title == DEMO_ROOM_TITLE))
        if room is None:
            import secrets

            room = Room(host_id=host.id, title=DEMO_ROOM_TITLE, playback_url=DEMO_PLAYBACK_URL,
                        stream_key=secrets.token_urlsafe(24))
            session.add(room)
            await session.flush()
            session.add_all(LineupItem(room_id=room.id, product_id=p.id, position=i)
                            for i, p in enumerate(products))
    return {"host_id": host.id, "viewer_id": users[Role.VIEWER].id, "ops_id": users[Role.OPS].id,
            "room_id": room.id}
