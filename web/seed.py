"""Demo data, created idempotently: running it twice keeps the data and adds nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.accounts import Role, User, create_user
from core.context import Services
from live.models import LineupItem, Product, Room
from orders import variants
from orders.models import ProductVariant
from orders.schemas import VariantsIn

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

# Title, description, price, and the stock of a product without options (its default variant's;
# docs/decisions/0021).
DEMO_PRODUCTS = (
    ("Hand-dyed silk scarf", "Mulberry silk, 90 x 90 cm, dyed by hand.", 4900, 0),
    ("Ceramic pour-over set", "Dripper, carafe and two cups, stoneware.", 6500, 60),
    ("Linen tote bag", "Heavy washed linen with an inner pocket.", 2400, 0),
    ("Beeswax candle trio", "Three hand-poured candles, 20 h each.", 1800, 200),
)

# The variants of each demo product with sizes or colours (by title): options, then (values,
# stock). Flash sales and regular buys share each variant's units.
DEMO_VARIANTS = {
    "Hand-dyed silk scarf": ({"colour": ["Indigo", "Rust"]},
                             [({"colour": "Indigo"}, 70), ({"colour": "Rust"}, 50)]),
    "Linen tote bag": ({"size": ["Small", "Large"]},
                       [({"size": "Small"}, 160), ({"size": "Large"}, 140)]),
}

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
                                  price_minor=price, currency="USD")
                session.add(product)
            products.append((product, stock))
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
                            for i, (p, _) in enumerate(products))
    await _seed_variants(svc, host, products)
    return {"host_id": host.id, "viewer_id": users[Role.VIEWER].id, "ops_id": users[Role.OPS].id,
            "room_id": room.id}


async def _seed_variants(svc: Services, host: User, products: list[tuple[Product, int]]) -> None:
    """The products' stock: sizes and colours, or one default variant, for products that have
    no variants yet (so a second seed changes nothing)."""
    async with svc.db.session() as session:
        defined = set(await session.scalars(select(ProductVariant.product_id).where(
            ProductVariant.product_id.in_([p.id for p, _ in products]))))
    for product, stock in products:
        if product.id in defined:
            continue
        options, rows = DEMO_VARIANTS.get(product.title, ({}, [({}, stock)]))
        data = VariantsIn.model_validate({
            "options": [{"name": name, "values": values} for name, values in options.items()],
            "variants": [{"options": combo, "stock": stock} for combo, stock in rows]})
        await variants.set_variants(svc, host, variants.ProductFacts(
            product.id, product.host_id, product.title, product.price_minor, product.currency),
            data)
