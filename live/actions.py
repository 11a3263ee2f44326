"""Verbs that change rooms, products, the lineup, pins and moderation.

Each action checks that the actor may do it, changes PostgreSQL in one
transaction, appends to the room event log and records what happened as a domain event
(`live/events.py`) in the same transaction. Nothing here tells the room from inside a
transaction: the events' handlers (`workers/handlers.py`) call the `publish_*` functions
below once the transaction has committed, so a viewer never sees a pin that was rolled back.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Actor, User, owns_or_ops
from core.context import Services, services_of
from core.errors import NotFound, ValidationError
from core.events import record, unit_of_work
from core.states import transition
from core.types import is_line
from live import events, queries
from live.errors import (
    NotInLineup,
    NotRoomHost,
    PriceAboveRegular,
    ProductNotFound,
    RoomEnded,
    RoomNotFound,
    RoomNotLive,
)
from live.models import (
    ROOM_MOVES,
    STATUS_EVENTS,
    LineupItem,
    Product,
    Room,
    RoomEvent,
    RoomEventType,
    RoomMute,
    RoomStatus,
    product_private,
    with_private,
)
from live.schemas import LINEUP_MAX_PRODUCTS, ProductIn, ProductPatch, RoomIn, RoomPatch
from realtime import moderation
from realtime.publish import ServerEvent, publish_room


def _check_owner(owner_id: int, actor: Actor, what: str) -> None:
    if not owns_or_ops(actor, owner_id):
        raise NotRoomHost(f"only the {what}'s host can do this")


def record_room_event(session: AsyncSession, room_id: int, event_type: RoomEventType, actor_id: int | None,
                      data: dict[str, Any] | None = None) -> None:
    session.add(RoomEvent(room_id=room_id, type=event_type, actor_id=actor_id, data=data or {}))


async def room_for_update(session: AsyncSession, room_id: int, actor: Actor) -> Room:
    room = await session.scalar(select(Room).where(Room.id == room_id).with_for_update())
    if room is None:
        raise RoomNotFound(f"room {room_id} does not exist", field="room_id")
    _check_owner(room.host_id, actor, "room")
    return room


# Products ------------------------------------------------------------------


async def create_product(svc: Services, actor: Actor, data: ProductIn) -> Product:
    """A product, and its stock: the units of its one default variant (`ProductStockSet`)."""
    async with svc.db.transaction() as session:
        product = Product(host_id=actor.id, title=data.title, description=data.description,
                          image_url=str(data.image_url) if data.image_url else None,
                          price_minor=data.price_minor, currency=data.currency,
                          commission_rate_bp=data.commission_rate_bp,
                          share_rate_bp=data.share_rate_bp)
        session.add(product)
        await session.flush()
        await svc.events.run_in_transaction(session, events.ProductStockSet(
            product_id=product.id, host_id=actor.id, stock=data.stock))
        await session.refresh(product)
    return product


async def update_product(svc: Services, actor: Actor, product_id: int, patch: ProductPatch) -> Product:
    async with unit_of_work(svc) as session:
        product = await session.scalar(select(Product).where(Product.id == product_id).with_for_update())
        if product is None:
            raise ProductNotFound(f"product {product_id} does not exist", field="product_id")
        _check_owner(product.host_id, actor, "product")
        changes = patch.model_dump(exclude_unset=True)
        stock = changes.pop("stock", None)
        for name, value in changes.items():
            setattr(product, name, str(value) if name == "image_url" and value else value)
        if stock is not None:
            await svc.events.run_in_transaction(session, events.ProductStockSet(
                product_id=product_id, host_id=product.host_id, stock=stock))
        await session.flush()
        await session.refresh(product)
        rooms = list(await session.scalars(
            select(LineupItem.room_id).join(Room, Room.id == LineupItem.room_id)
            .where(LineupItem.product_id == product_id, Room.status != RoomStatus.ENDED.value)))
        record(session, *(events.LineupChanged(room_id=room_id) for room_id in rooms))
    return product


# Rooms ---------------------------------------------------------------------


async def create_room(svc: Services, actor: Actor, data: RoomIn) -> Room:
    async with svc.db.transaction() as session:
        room = Room(host_id=actor.id, title=data.title, scheduled_at=data.scheduled_at,
                    playback_url=str(data.playback_url) if data.playback_url else None,
                    commission_rate_bp=data.commission_rate_bp,
                    stream_key=secrets.token_urlsafe(24))
        session.add(room)
        await session.flush()
        record_room_event(session, room.id, RoomEventType.ROOM_CREATED, actor.id, {"title": room.title})
        await session.flush()
        await session.refresh(room)
    return room


async def update_room(svc: Services, actor: Actor, room_id: int, patch: RoomPatch) -> Room:
    async with unit_of_work(svc) as session:
        room = await room_for_update(session, room_id, actor)
        if room.status == RoomStatus.ENDED:
            raise RoomEnded("the room has ended", field="room_id")
        changes = patch.model_dump(exclude_unset=True, mode="json")
        for name, value in patch.model_dump(exclude_unset=True).items():
            setattr(room, name, str(value) if name == "playback_url" and value else value)
        record_room_event(session, room.id, RoomEventType.ROOM_UPDATED, actor.id, changes)
        record(session, events.RoomUpdated(room_id=room.id))
        await session.flush()
        await session.refresh(room)
    return room


async def change_status(svc: Services, actor: Actor, room_id: int, target: RoomStatus) -> Room:
    """scheduled -> live -> ended, checked by the one transition function, as a conditional UPDATE."""
    async with unit_of_work(svc) as session:
        room = await room_for_update(session, room_id, actor)
        await move_room(session, room, target, actor.id)
    return room


async def move_room(session: AsyncSession, room: Room, target: RoomStatus,
                    actor_id: int | None) -> None:
    """Move a room (held FOR UPDATE by the caller) to `target` inside the caller's transaction,
    log it and record `RoomWentLive` or `RoomEnded` (the room hears of it after the commit).
    Shared by the host's buttons and the ingest (live/streams.py), which goes live when the
    encoder does and ends the room when the stream stays gone."""
    current = RoomStatus(room.status)
    transition(ROOM_MOVES, current, target, what="a room")
    values: dict[str, Any] = {"status": target.value}
    if target == RoomStatus.LIVE:
        values["started_at"] = func.now()
    if target == RoomStatus.ENDED:
        values["ended_at"] = func.now()
        values["pinned_product_id"] = None
    result = await session.execute(
        update(Room).where(Room.id == room.id, Room.status == current.value)
        .values(**values).returning(Room.id))
    if result.scalar_one_or_none() is None:
        # A concurrent move won; report it as the illegal move it now is.
        transition(ROOM_MOVES, target, target, what="a room")
    record_room_event(session, room.id, STATUS_EVENTS[target], actor_id,
                      {"from": current.value, "to": target.value})
    record(session, events.RoomEnded(room_id=room.id) if target == RoomStatus.ENDED
           else events.RoomWentLive(room_id=room.id, host_id=room.host_id))
    await session.flush()
    await session.refresh(room)


async def publish_room_row(svc: Services, room_id: int) -> None:
    """Tell the room its own row (title, status, ...) as PostgreSQL has it now; an ended room
    has no pin. Called after the commit of an update or a move (`RoomUpdated`,
    `RoomWentLive`, `RoomEnded`)."""
    async with svc.db.session() as session:
        room = await queries.get_room(session, room_id)
    state: dict[str, Any] = {"room": room.public()}
    if room.status == RoomStatus.ENDED:
        # An ended room has nothing pinned and nothing on air (clients apply the same rule
        # to the room event: web/static/js/store.js).
        state["pin"] = None
        state["on_air"] = False
    await publish_room(svc.redis, svc.keys, room.id, ServerEvent.ROOM, room.public(), state=state)


async def publish_on_air(svc: Services, room_id: int, on_air: bool) -> None:
    """Tell the room its video is on air or not, after the commit that decided it
    (live/streams.py): the live room's player loads the stream only while it is."""
    await publish_room(svc.redis, svc.keys, room_id, ServerEvent.ON_AIR, {"on_air": on_air},
                       state={"on_air": on_air})


# Lineup and pins -------------------------------------------------------------


def lineup_entry(product: Product | dict[str, Any], pinned_id: int | None) -> dict[str, Any]:
    """A product as the room's lineup state carries it: what a lineup card shows, without
    the description. The lineup is in every viewer's hello and in the room history each
    time it changes, so it stays small; the full products are at
    `GET /api/rooms/{id}/lineup`. The pinned one (one product) keeps its description, so
    that it is the same as the `pin` a client takes from the lineup."""
    public = product.public() if isinstance(product, Product) else product
    if public["id"] == pinned_id:
        return public
    return {name: value for name, value in public.items() if name != "description"}


async def set_lineup(svc: Services, actor: Actor, room_id: int, product_ids: list[int]) -> list[Product]:
    if len(product_ids) > LINEUP_MAX_PRODUCTS:
        raise ValidationError([{"field": "product_ids",
                                "message": f"a lineup has at most {LINEUP_MAX_PRODUCTS} products"}])
    if len(set(product_ids)) != len(product_ids):
        raise ValidationError([{"field": "product_ids", "message": "a product appears twice"}])
    async with unit_of_work(svc) as session:
        room = await room_for_update(session, room_id, actor)
        if room.status == RoomStatus.ENDED:
            raise RoomEnded("the room has ended", field="room_id")
        if product_ids:
            owned = set(await session.scalars(
                select(Product.id).where(Product.id.in_(product_ids), Product.host_id == room.host_id)))
            missing = [pid for pid in product_ids if pid not in owned]
            if missing:
                raise ValidationError([{"field": "product_ids",
                                        "message": f"not in the host's catalog: {missing}"}])
        await session.execute(delete(LineupItem).where(LineupItem.room_id == room_id))
        session.add_all(LineupItem(room_id=room_id, product_id=pid, position=index)
                        for index, pid in enumerate(product_ids))
        pinned = room.pinned_product_id
        if pinned is not None and pinned not in product_ids:
            room.pinned_product_id = None
            record(session, events.ProductUnpinned(room_id=room_id, product_id=pinned))
        record_room_event(session, room_id, RoomEventType.LINEUP_SET, actor.id, {"product_ids": product_ids})
        record(session, events.LineupChanged(room_id=room_id))
        await session.flush()
        products = await queries.lineup(session, room_id)
    return products


async def publish_lineup(svc: Services, room_id: int) -> None:
    """Tell the room its lineup as PostgreSQL has it now, after the commit that changed it
    (`LineupChanged`, or a product's stock moved to or from a flash sale)."""
    async with svc.db.session() as session:
        products = await queries.lineup(session, room_id)
        room = await queries.get_room(session, room_id)
    pinned = next((p for p in products if p.id == room.pinned_product_id), None)
    state: dict[str, Any] = {"lineup": [lineup_entry(p, room.pinned_product_id)
                                        for p in products]}
    data = {"products": state["lineup"]}
    if pinned is not None:
        state["pin"] = pinned.public()
    await publish_room(svc.redis, svc.keys, room_id, ServerEvent.LINEUP, data, state=state)


async def pin_product(svc: Services, actor: Actor, room_id: int, product_id: int) -> Product:
    """Pin one product of the lineup; pinning another replaces it."""
    async with unit_of_work(svc) as session:
        room = await room_for_update(session, room_id, actor)
        return await _pin(session, room, product_id, actor.id)


async def pin_product_of_sale(svc: Services, room_id: int, product_id: int) -> None:
    """Pin the product a flash sale was just created for, so that every viewer sees the sale
    on the pinned card (the `SaleCreated` handler). The sale's creation already checked the
    host, the room and the lineup; the pin is in the host's name."""
    async with unit_of_work(svc) as session:
        room = await session.scalar(select(Room).where(Room.id == room_id).with_for_update())
        if room is None:
            raise RoomNotFound(f"room {room_id} does not exist", field="room_id")
        await _pin(session, room, product_id, room.host_id)


async def _pin(session: AsyncSession, room: Room, product_id: int, actor_id: int) -> Product:
    if room.status == RoomStatus.ENDED:
        raise RoomEnded("the room has ended", field="room_id")
    in_lineup = await session.scalar(select(LineupItem.id).where(
        LineupItem.room_id == room.id, LineupItem.product_id == product_id))
    if in_lineup is None:
        raise NotInLineup("the product is not in this room's lineup", field="product_id")
    product = await queries.get_product(session, product_id)
    previous = room.pinned_product_id
    room.pinned_product_id = product_id
    record_room_event(session, room.id, RoomEventType.PIN, actor_id,
                      {"product_id": product_id, "replaced": previous})
    record(session, events.ProductPinned(room_id=room.id, product_id=product_id,
                                         replaced=previous))
    return product


async def unpin_product(svc: Services, actor: Actor, room_id: int) -> None:
    async with unit_of_work(svc) as session:
        room = await room_for_update(session, room_id, actor)
        previous = room.pinned_product_id
        if previous is None:
            return
        room.pinned_product_id = None
        record_room_event(session, room_id, RoomEventType.UNPIN, actor.id, {"product_id": previous})
        record(session, events.ProductUnpinned(room_id=room_id, product_id=previous))


async def publish_pin(svc: Services, room_id: int, product_id: int) -> None:
    """Tell the room its pinned product, after the pin's commit (`ProductPinned`)."""
    async with svc.db.session() as session:
        product = await queries.get_product(session, product_id)
    await publish_room(svc.redis, svc.keys, room_id, ServerEvent.PIN, {"product": product.public()},
                       state={"pin": product.public()})


async def publish_unpin(svc: Services, room_id: int, product_id: int) -> None:
    """Tell the room its pin is gone, after the unpin's commit (`ProductUnpinned`)."""
    await publish_room(svc.redis, svc.keys, room_id, ServerEvent.UNPIN, {"product_id": product_id},
                       state={"pin": None})


# Moderation ------------------------------------------------------------------


async def mute_user(svc: Services, actor: Actor, room_id: int, user_id: int,
                    minutes: int | None) -> int | None:
    until = int(time.time()) + minutes * 60 if minutes else None
    async with unit_of_work(svc) as session:
        room = await room_for_update(session, room_id, actor)
        if user_id == room.host_id:
            raise ValidationError([{"field": "user_id", "message": "the host cannot be muted"}])
        if await session.get(User, user_id) is None:
            raise NotFound("no such user", field="user_id")
        existing = await session.scalar(select(RoomMute).where(
            RoomMute.room_id == room_id, RoomMute.user_id == user_id))
        if existing is None:
            session.add(RoomMute(room_id=room_id, user_id=user_id, muted_by=actor.id,
                                 until_epoch_s=until))
        else:
            existing.until_epoch_s = until
            existing.muted_by = actor.id
        record_room_event(session, room_id, RoomEventType.USER_MUTED, actor.id,
                          {"user_id": user_id, "until": until})
        record(session, events.UserMuted(room_id=room_id, user_id=user_id, until_epoch_s=until,
                                         muted_by=actor.id))
    return until


async def unmute_user(svc: Services, actor: Actor, room_id: int, user_id: int) -> None:
    async with unit_of_work(svc) as session:
        await room_for_update(session, room_id, actor)
        await session.execute(delete(RoomMute).where(
            RoomMute.room_id == room_id, RoomMute.user_id == user_id))
        record_room_event(session, room_id, RoomEventType.USER_UNMUTED, actor.id, {"user_id": user_id})
        record(session, events.UserUnmuted(room_id=room_id, user_id=user_id,
                                           unmuted_by=actor.id))


async def delete_chat_message(svc: Services, actor: Actor, room_id: int, message_id: str) -> None:
    if not message_id or len(message_id) > 64 or not is_line(message_id):
        raise ValidationError([{"field": "message_id", "message": "not a message id"}])
    async with unit_of_work(svc) as session:
        await room_for_update(session, room_id, actor)
        record_room_event(session, room_id, RoomEventType.CHAT_DELETED, actor.id, {"message_id": message_id})
        record(session, events.ChatMessageDeleted(room_id=room_id, message_id=message_id,
                                                  deleted_by=actor.id))


# Rebuilding Redis from PostgreSQL ------------------------------------------------


async def rebuild_room_state(svc: Services, room_id: int) -> dict[str, Any]:
    """Rewrite the room's Redis state (snapshot fields and mutes) from PostgreSQL."""
    async with svc.db.session() as session:
        state = await queries.room_state(session, room_id)
        mutes = await queries.active_mutes(session, room_id)
    await moderation.restore_mutes(svc.redis, svc.keys, room_id, mutes)
    await publish_room(svc.redis, svc.keys, room_id, ServerEvent.SNAPSHOT_REBUILT, {},
                       state={"room": state["room"],
                              "lineup": [lineup_entry(p, (state.get("pin") or {}).get("id"))
                                         for p in state["lineup"]],
                              "pin": state.get("pin")})
    return state


def room_with_key(room: Room) -> dict[str, Any]:
    """The room as its host sees it: with the stream key and the commission terms."""
    return {**with_private(room.public(), room.commission_rate_bp), "stream_key": room.stream_key}


def product_for_owner(product: Product) -> dict[str, Any]:
    return product_private(product)


def parse_status(raw: str) -> RoomStatus:
    try:
        return RoomStatus(raw)
    except ValueError:
        raise ValidationError([{"field": "status", "message": "must be live or ended"}]) from None



# A product's stock and flash sales -------------------------------------------
# A product's stock is its variants' pools, which `orders` keeps (docs/decisions/0021). A
# sale's units leave a pool when the sale is created (here, in the orders package's
# transaction: `SaleUnitsWanted`, done by its in-transaction handler) and what it did not sell
# goes back when it settles, so the sale's rows and the pool change together or not at all.


@dataclass(frozen=True, slots=True)
class StockTaken:
    """What a sale snapshots of its room and product when it takes the product's units."""

    host_id: int
    currency: str
    product_commission_rate_bp: int | None
    room_commission_rate_bp: int | None
    stock_left: int
    variant_id: int


async def take_stock_for_sale(session: AsyncSession, actor: Actor, room_id: int,
                              product_id: int, units: int, *, sale_price_minor: int | None = None,
                              above_regular_confirmed: bool = False,
                              variant_id: int | None = None) -> StockTaken:
    """Hand `units` of a lineup product over to a flash sale in the room, inside the sale's
    transaction: out of the variant named, else the product's default variant (a product
    with sizes or colours names one). The room row is held FOR UPDATE until that transaction
    ends, so two sales started at once in one room are decided one after the other; the
    variant's units are taken atomically against regular-price buys of it."""
    room = await session.scalar(select(Room).where(Room.id == room_id).with_for_update())
    if room is None:
        raise RoomNotFound(f"room {room_id} does not exist", field="room_id")
    _check_owner(room.host_id, actor, "room")
    if room.status == RoomStatus.ENDED:
        raise RoomEnded("the room has ended", field="room_id")
    in_lineup = await session.scalar(select(LineupItem.id).where(
        LineupItem.room_id == room_id, LineupItem.product_id == product_id))
    if in_lineup is None:
        raise NotInLineup("the product is not in this room's lineup", field="product_id")
    product = (await session.execute(
        select(Product.price_minor, Product.currency, Product.commission_rate_bp)
        .where(Product.id == product_id))).one()
    if (sale_price_minor is not None and not above_regular_confirmed
            and sale_price_minor > product.price_minor):
        raise PriceAboveRegular(sale_price_minor, product.price_minor)
    taken = await services_of(session).events.run_in_transaction(session, events.SaleUnitsWanted(
        product_id=product_id, host_id=room.host_id, units=units, variant_id=variant_id))
    return StockTaken(host_id=room.host_id, currency=product.currency,
                      product_commission_rate_bp=product.commission_rate_bp,
                      room_commission_rate_bp=room.commission_rate_bp,
                      stock_left=taken.stock_left, variant_id=taken.variant_id)


# Regular-price buying ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineupProduct:
    """What a regular-price order snapshots of a product in the room's lineup."""

    id: int
    title: str
    price_minor: int
    currency: str
    commission_rate_bp: int | None


@dataclass(frozen=True, slots=True)
class RoomTerms:
    """The room a regular-price order is placed in: its host, its commission rate, and which of
    the asked products are in its lineup (the others are absent from `products`)."""

    room_id: int
    host_id: int
    room_commission_rate_bp: int | None
    products: dict[int, LineupProduct]


async def regular_terms(session: AsyncSession, room_id: int, product_ids: list[int]) -> RoomTerms:
    """Inside a regular-price order's transaction: the room must be live; answers the facts the
    order snapshots of the room and of those of `product_ids` that are in its lineup."""
    # One round trip: the room, and those of the products that are in its lineup (a row with
    # no product when none is).
    rows = (await session.execute(
        select(Room.host_id, Room.status, Room.commission_rate_bp, Product.id, Product.title,
               Product.price_minor, Product.currency, Product.commission_rate_bp)
        .select_from(Room)
        .outerjoin(LineupItem, (LineupItem.room_id == Room.id)
                   & LineupItem.product_id.in_(product_ids))
        .outerjoin(Product, Product.id == LineupItem.product_id)
        .where(Room.id == room_id))).all()
    if not rows:
        raise RoomNotFound(f"room {room_id} does not exist", field="room_id")
    host_id, status, room_rate_bp = rows[0][0], rows[0][1], rows[0][2]
    if status != RoomStatus.LIVE.value:
        raise RoomNotLive(f"the room is {status}: products sell at their price only "
                          "while it is live", field="room_id")
    products = {row[3]: LineupProduct(row[3], row[4], row[5], row[6], row[7])
                for row in rows if row[3] is not None}
    return RoomTerms(room_id, host_id, room_rate_bp, products)


async def bargain_terms(session: AsyncSession, room_id: int, product_ids: list[int], *,
                        lineup_only: bool) -> RoomTerms:
    """Inside a bargain's transaction (orders/bargains.py): the room in any status (a bargain
    runs until its own deadline, live or not) and those of `product_ids` that are its host's;
    with `lineup_only` (an offer being enabled), those in its lineup only."""
    query = (select(Room.host_id, Room.commission_rate_bp, Product.id, Product.title,
                    Product.price_minor, Product.currency, Product.commission_rate_bp)
             .select_from(Room))
    if lineup_only:
        query = (query.outerjoin(LineupItem, (LineupItem.room_id == Room.id)
                                 & LineupItem.product_id.in_(product_ids))
                 .outerjoin(Product, Product.id == LineupItem.product_id))
    else:
        query = query.outerjoin(Product, (Product.host_id == Room.host_id)
                                & Product.id.in_(product_ids))
    rows = (await session.execute(query.where(Room.id == room_id))).all()
    if not rows:
        raise RoomNotFound(f"room {room_id} does not exist", field="room_id")
    products = {row[2]: LineupProduct(row[2], row[3], row[4], row[5], row[6])
                for row in rows if row[2] is not None}
    return RoomTerms(room_id, rows[0][0], rows[0][1], products)
