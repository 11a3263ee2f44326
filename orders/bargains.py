"""Honest bargaining (砍价): a host offers a product's variant at a starting price that friends
cut down to a floor; a buyer starts a bargain and shares it, each distinct signed-in friend cuts
once by the published rule (orders/bargain_rule.py), and the buyer buys at the price reached
(docs/social.md, "Bargaining"; docs/decisions/0020-honest-bargaining.md).

- **Offer** (`enable_bargain`): the room's host names a lineup product (and its variant), the
  start and floor prices, the helpers needed and the deadline. Live's facts (the room's host,
  the lineup, the prices) come from the web edge's `terms_of`, as for a regular-price buy.
- **Start** (`start_bargain`): one bargain per buyer per offer (a unique pair); starting again
  answers the one there is.
- **Help** (`help_bargain`): under the bargain's row lock (`SELECT … FOR UPDATE`), in one
  transaction: the refusals, then the cut (unique per bargain and helper, and per bargain and
  rank), and the bargain's new price and count (a conditional UPDATE on the count it read).
  Fifty friends at once queue on the row: never more than `helpers_needed` cuts, never a price
  below the floor. Committed before the reply; the buyer hears it after the commit.
- **Buy** (`buy_bargain`): `orders.regular.place_order`, the regular-price path, with the
  bargain as the order's source and its price reached as the unit price. The bargain's row is
  locked inside the order's transaction (the terms' step), which refuses a bargain past its
  deadline or with an order that still stands (awaiting payment, paid …): one purchase per
  bargain; an order cancelled or expired unpaid lets the buyer buy again before the deadline.
  A unit is held only then; payment, expiry, cancel, refund and commissions are the regular
  order's. A payment landing after its order expired is refunded if another order of the
  bargain stands by then (`late_payment_stands`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.accounts import Actor, User, owns_or_ops
from core.clock import to_epoch_ms
from core.context import Services
from core.db import Base, database_now
from core.errors import ValidationError, present
from core.events import record, unit_of_work
from orders import bargain_rule, regular
from orders.errors import (
    AlreadyHelped,
    BargainAlreadyBought,
    BargainComplete,
    BargainExpired,
    BargainNotFound,
    BargainOfferNotFound,
    CannotBargainOwnOffer,
    CannotHelpOwnBargain,
    NotRoomHost,
    NotYourBargain,
    NotYourOffer,
    OfferWithdrawn,
)
from orders.events import BargainHelped, BargainOffered, BargainOfferWithdrawn
from orders.models import Order, OrderSource, OrderStatus, ProductVariant
from orders.regular import LineIn, ProductTerms, RoomTerms
from orders.sources import OrderSourceRef
from orders.variants import variant_label
from realtime.publish import ServerEvent, publish_room, publish_user

log = logging.getLogger(__name__)

# How far ahead a deadline may be: a bargain is a few days' sharing, not a standing discount.
MAX_DEADLINE = timedelta(days=30)
# An order of the bargain that no longer stands: the buyer may buy again before the deadline.
ENDED_ORDER_STATUSES = (OrderStatus.CANCELLED.value, OrderStatus.EXPIRED.value)

# The terms of the regular-price path (`orders.regular.TermsOf`); here live's `bargain_terms`,
# bound to the offer's room by the web edge: the room (live or not), its host and those of the
# asked products that are its (in its lineup too, when an offer is being enabled).
TermsOf = regular.TermsOf


class BargainOffer(Base):
    """A host's offer: one variant of a product, from `start_price_minor` down to
    `floor_price_minor` after exactly `helpers_needed` cuts, until `ends_at`."""

    __tablename__ = "bargain_offers"
    __table_args__ = (
        CheckConstraint("floor_price_minor >= 1", name="floor_positive"),
        CheckConstraint("floor_price_minor < start_price_minor", name="floor_below_start"),
        CheckConstraint(f"helpers_needed between 1 and {bargain_rule.MAX_HELPERS}",
                        name="helpers_range"),
        # Every cut is at least one minor unit (orders/bargain_rule.py).
        CheckConstraint("start_price_minor - floor_price_minor >= helpers_needed",
                        name="a_unit_per_cut"),
        Index("ix_bargain_offers_room_id", "room_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("product_variants.id"))
    title: Mapped[str] = mapped_column(String(250))
    currency: Mapped[str] = mapped_column(String(3))
    start_price_minor: Mapped[int] = mapped_column(BigInteger)
    floor_price_minor: Mapped[int] = mapped_column(BigInteger)
    helpers_needed: Mapped[int]
    ends_at: Mapped[datetime]
    # Set once, when the host withdraws the offer: no new bargain starts on it; the bargains
    # already started keep running to `ends_at`.
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Bargain(Base):
    """One buyer's bargain on an offer: the price now and how many friends have cut it."""

    __tablename__ = "bargains"
    __table_args__ = (
        UniqueConstraint("offer_id", "buyer_id", name="uq_bargains_offer_buyer"),
        CheckConstraint("helpers_count >= 0", name="helpers_count_non_negative"),
        CheckConstraint("price_minor >= 1", name="price_positive"),
        Index("ix_bargains_buyer_id", "buyer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("bargain_offers.id", ondelete="CASCADE"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    helpers_count: Mapped[int] = mapped_column(default=0, server_default="0")
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())


class BargainCut(Base):
    """One friend's cut: the `seq`-th of the bargain, by the rule's amount for that rank."""

    __tablename__ = "bargain_cuts"
    __table_args__ = (
        UniqueConstraint("bargain_id", "helper_id", name="uq_bargain_cuts_bargain_helper"),
        UniqueConstraint("bargain_id", "seq", name="uq_bargain_cuts_bargain_seq"),
        CheckConstraint("amount_minor >= 1", name="amount_positive"),
        CheckConstraint("seq >= 1", name="seq_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bargain_id: Mapped[int] = mapped_column(ForeignKey("bargains.id", ondelete="CASCADE"))
    helper_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seq: Mapped[int]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    price_after_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


# Offers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferTerms:
    product_id: int
    variant_id: int | None
    start_price_minor: int
    floor_price_minor: int
    helpers_needed: int
    ends_at: datetime


def check_offer(terms: OfferTerms, now: datetime) -> None:
    """The numbers of an offer, each refusal naming its field."""
    problems: list[dict[str, str]] = []
    if terms.floor_price_minor < 1:
        problems.append({"field": "floor_price_minor", "message": "Must be at least 1 minor "
                         "unit: a bargain ends at a price, never free.", "code": "floor_range"})
    if terms.start_price_minor <= terms.floor_price_minor:
        problems.append({"field": "floor_price_minor",
                         "message": "Must be below the starting price.",
                         "code": "floor_not_below_start"})
    if not 1 <= terms.helpers_needed <= bargain_rule.MAX_HELPERS:
        problems.append({"field": "helpers_needed",
                         "message": f"Must be 1 to {bargain_rule.MAX_HELPERS}.",
                         "code": "helpers_range", "min": "1",
                         "max": str(bargain_rule.MAX_HELPERS)})
    elif (terms.start_price_minor > terms.floor_price_minor >= 1
          and terms.start_price_minor - terms.floor_price_minor < terms.helpers_needed):
        problems.append({"field": "helpers_needed", "message": "Every friend must cut at least "
                         "one minor unit: at most start - floor helpers.",
                         "code": "helpers_above_cut",
                         "max": str(terms.start_price_minor - terms.floor_price_minor)})
    if terms.ends_at <= now:
        problems.append({"field": "ends_at", "message": "Must be in the future.",
                         "code": "deadline_past"})
    elif terms.ends_at > now + MAX_DEADLINE:
        problems.append({"field": "ends_at",
                         "message": f"Must be within {MAX_DEADLINE.days} days.",
                         "code": "deadline_too_far", "count": str(MAX_DEADLINE.days)})
    if problems:
        raise ValidationError(problems)


async def enable_bargain(svc: Services, actor: Actor, room_id: int, terms: OfferTerms,
                         terms_of: TermsOf) -> BargainOffer:
    """The room's host offers a lineup product's variant for bargaining."""
    async with unit_of_work(svc) as session:
        now = await database_now(session)
        check_offer(terms, now)
        room = await terms_of(session, [terms.product_id])
        if not owns_or_ops(actor, room.host_id):
            raise NotRoomHost("only the room's host can offer a bargain", field="room_id")
        product = room.products.get(terms.product_id)
        if product is None:
            raise ValidationError([{"field": "product_id", "code": "not_in_lineup",
                                    "message": "the product is not in this room's lineup"}])
        variant = await _offered_variant(session, terms)
        title = product.title + (f" — {variant.label or variant_label(variant.options)}"
                                 if variant.options else "")
        offer = BargainOffer(room_id=room_id, host_id=room.host_id, product_id=product.id,
                             variant_id=variant.id, title=title[:250], currency=product.currency,
                             start_price_minor=terms.start_price_minor,
                             floor_price_minor=terms.floor_price_minor,
                             helpers_needed=terms.helpers_needed, ends_at=terms.ends_at)
        session.add(offer)
        await session.flush()
        await session.refresh(offer)
        record(session, BargainOffered(offer_id=offer.id, room_id=room_id))
    return offer


async def withdraw_offer(svc: Services, actor: Actor, offer_id: int) -> dict[str, Any]:
    """The offer's host withdraws it: no new bargain starts on it (`offer_withdrawn`), the
    bargains already started keep their deadline. Withdrawing again changes nothing and
    answers the same. Returns the offer's view, with how many bargains were started on it."""
    async with unit_of_work(svc) as session:
        # The row lock orders a withdrawal and a start (which share-locks the offer): a
        # bargain is started before the withdrawal, or refused.
        row = (await session.execute(select(BargainOffer, func.now())
                                     .where(BargainOffer.id == offer_id)
                                     .with_for_update())).first()
        if row is None:
            raise BargainOfferNotFound(f"bargain offer {offer_id} does not exist",
                                       field="offer_id")
        offer, now = row
        if not owns_or_ops(actor, offer.host_id):
            raise NotYourOffer("only the offer's host withdraws it", field="offer_id")
        if offer.withdrawn_at is None:
            offer.withdrawn_at = now
            await session.flush()
            record(session, BargainOfferWithdrawn(offer_id=offer.id, room_id=offer.room_id))
        started = await session.scalar(select(func.count()).select_from(Bargain)
                                       .where(Bargain.offer_id == offer_id)) or 0
        return offer_view(offer, now, bargains=started)


async def _offered_variant(session: AsyncSession, terms: OfferTerms) -> ProductVariant:
    """The named variant of the product, or its one active variant when none is named."""
    variants = list(await session.scalars(
        select(ProductVariant).where(ProductVariant.product_id == terms.product_id,
                                     ProductVariant.active).order_by(ProductVariant.position,
                                                                     ProductVariant.id)))
    if terms.variant_id is not None:
        for variant in variants:
            if variant.id == terms.variant_id:
                return variant
        raise ValidationError([{"field": "variant_id", "code": "variant_not_of_product",
                                "message": "no such active variant of this product"}])
    if len(variants) == 1:
        return variants[0]
    if not variants:
        raise ValidationError([{"field": "product_id", "code": "no_variants",
                                "message": "the product has no stock to sell: give it its "
                                           "variants and stock first"}])
    raise ValidationError([{"field": "variant_id", "code": "variant_required",
                            "message": "the product has options: name the variant"}])


def offer_view(offer: BargainOffer, now: datetime, *,
               bargains: int | None = None) -> dict[str, Any]:
    """The offer as the API says it; `open` is whether a bargain may start on it now, and
    `bargains` (when counted) how many buyers have started one."""
    return {"id": offer.id, "room_id": offer.room_id, "host_id": offer.host_id,
            "product_id": offer.product_id, "variant_id": offer.variant_id,
            "title": offer.title, "currency": offer.currency,
            "start_price_minor": offer.start_price_minor,
            "floor_price_minor": offer.floor_price_minor,
            "helpers_needed": offer.helpers_needed,
            "ends_at": offer.ends_at.isoformat(), "ends_at_ms": to_epoch_ms(offer.ends_at),
            "open": offer.ends_at > now and offer.withdrawn_at is None,
            "withdrawn": offer.withdrawn_at is not None,
            "bargains": bargains,
            # The whole published schedule: the i-th friend's cut, before anyone helps.
            "cuts": bargain_rule.all_cuts(offer.start_price_minor, offer.floor_price_minor,
                                          offer.helpers_needed)}


async def offer_page(svc: Services, offer_id: int, user_id: int | None) -> dict[str, Any]:
    """The offer, and the viewer's bargain on it if they started one."""
    async with svc.db.session() as session:
        row = (await session.execute(select(BargainOffer, func.now())
                                     .where(BargainOffer.id == offer_id))).first()
        if row is None:
            raise BargainOfferNotFound(f"bargain offer {offer_id} does not exist",
                                       field="offer_id")
        mine = None if user_id is None else await session.scalar(
            select(Bargain.id).where(Bargain.offer_id == offer_id, Bargain.buyer_id == user_id))
    return {**offer_view(row[0], row[1]), "bargain_id": mine}


def _bargains_started() -> Any:
    return (select(func.count()).select_from(Bargain)
            .where(Bargain.offer_id == BargainOffer.id).scalar_subquery())


async def room_offers(svc: Services, room_id: int) -> dict[str, Any]:
    """The room's offers still open (before their deadline, not withdrawn), newest first, each
    with how many bargains were started on it."""
    async with svc.db.session() as session:
        now = await database_now(session)
        rows = (await session.execute(
            select(BargainOffer, _bargains_started())
            .where(BargainOffer.room_id == room_id, BargainOffer.ends_at > now,
                   BargainOffer.withdrawn_at.is_(None))
            .order_by(BargainOffer.id.desc()))).all()
    return {"room_id": room_id,
            "offers": [offer_view(offer, now, bargains=count) for offer, count in rows]}


# Bargains -------------------------------------------------------------------------------------


async def start_bargain(svc: Services, user_id: int, offer_id: int) -> tuple[int, bool]:
    """The buyer's bargain on the offer: (its id, whether it is new). One per buyer per offer."""
    async with unit_of_work(svc) as session:
        # Share-locked: a withdrawal committed first is seen; one coming after waits for this.
        row = (await session.execute(select(BargainOffer, BargainOffer.ends_at > func.now())
                                     .where(BargainOffer.id == offer_id)
                                     .with_for_update(read=True, of=BargainOffer))).first()
        if row is None:
            raise BargainOfferNotFound(f"bargain offer {offer_id} does not exist",
                                       field="offer_id")
        offer, open_ = row
        if offer.host_id == user_id:
            raise CannotBargainOwnOffer("a host does not bargain on their own offer",
                                        field="offer_id")
        existing = await session.scalar(select(Bargain.id).where(
            Bargain.offer_id == offer_id, Bargain.buyer_id == user_id))
        if existing is not None:
            return existing, False
        if offer.withdrawn_at is not None:
            raise OfferWithdrawn("the host withdrew this offer: no new bargain starts on it",
                                 field="offer_id")
        if not open_:
            raise BargainExpired("the offer's deadline has passed", field="offer_id")
        # Two first presses at once: the unique pair keeps one, the other reads it.
        created = await session.scalar(
            insert(Bargain).values(offer_id=offer_id, buyer_id=user_id,
                                   price_minor=offer.start_price_minor)
            .on_conflict_do_nothing(constraint="uq_bargains_offer_buyer").returning(Bargain.id))
        if created is not None:
            return created, True
        found = await session.scalar(select(Bargain.id).where(
            Bargain.offer_id == offer_id, Bargain.buyer_id == user_id))
        return present(found, f"the bargain of buyer {user_id} on offer {offer_id}"), False


@dataclass(frozen=True)
class Helped:
    bargain_id: int
    seq: int
    cut_minor: int
    price_minor: int


async def _locked(session: AsyncSession, bargain_id: int) -> tuple[Bargain, BargainOffer, bool]:
    """The bargain (its row locked until the commit), its offer, and whether it is open."""
    row = (await session.execute(
        select(Bargain, BargainOffer, BargainOffer.ends_at > func.now())
        .join(BargainOffer, BargainOffer.id == Bargain.offer_id)
        .where(Bargain.id == bargain_id).with_for_update(of=Bargain))).first()
    if row is None:
        raise BargainNotFound(f"bargain {bargain_id} does not exist", field="bargain_id")
    return row[0], row[1], bool(row[2])


async def _standing_order(session: AsyncSession, bargain_id: int) -> int | None:
    """The bargain's order that still stands (not cancelled, not expired), if any."""
    return await session.scalar(
        select(Order.id).where(Order.source_kind == OrderSource.BARGAIN.value,
                               Order.source_id == bargain_id,
                               Order.status.not_in(ENDED_ORDER_STATUSES)).limit(1))


async def help_bargain(svc: Services, helper_id: int, bargain_id: int) -> Helped:
    """A friend cuts the price once, by the rule's amount for their rank; committed before the
    reply. Refused, with nothing changed: one's own bargain, a second help, a bargain past its
    deadline, at the floor already, or bought."""
    async with unit_of_work(svc) as session:
        bargain, offer, open_ = await _locked(session, bargain_id)
        if bargain.buyer_id == helper_id:
            raise CannotHelpOwnBargain("you cannot help your own bargain: share it with "
                                       "friends", field="bargain_id")
        if await session.scalar(select(BargainCut.id).where(
                BargainCut.bargain_id == bargain_id, BargainCut.helper_id == helper_id)):
            raise AlreadyHelped("you have helped this bargain already", field="bargain_id")
        if not open_:
            raise BargainExpired("the bargain's deadline has passed", field="bargain_id")
        if bargain.helpers_count >= offer.helpers_needed:
            raise BargainComplete("the price is at the floor already: no cut is left",
                                  field="bargain_id",
                                  extra={"price_minor": bargain.price_minor})
        order_id = await _standing_order(session, bargain_id)
        if order_id is not None:
            raise BargainAlreadyBought("the buyer has bought at this price already",
                                       field="bargain_id", extra={"order_id": order_id})
        seq = bargain.helpers_count + 1
        cut = bargain_rule.cut_of(offer.start_price_minor, offer.floor_price_minor,
                                  offer.helpers_needed, seq)
        price = bargain.price_minor - cut
        # The rule's price after `seq` cuts, computed afresh: a drift between the stored price
        # and the rule would be a bug, never a price below the floor.
        if price != bargain_rule.price_after(offer.start_price_minor, offer.floor_price_minor,
                                             offer.helpers_needed, seq):
            raise RuntimeError(f"bargain {bargain_id}'s price drifted from its rule")
        session.add(BargainCut(bargain_id=bargain_id, helper_id=helper_id, seq=seq,
                               amount_minor=cut, price_after_minor=price))
        moved = await session.scalar(
            update(Bargain).where(Bargain.id == bargain_id,
                                  Bargain.helpers_count == seq - 1)
            .values(helpers_count=seq, price_minor=price).returning(Bargain.id))
        if moved is None:  # the row is locked since `_locked`: cannot happen
            raise RuntimeError(f"bargain {bargain_id} moved under its lock")
        await session.flush()
        record(session, BargainHelped(bargain_id=bargain_id, buyer_id=bargain.buyer_id,
                                      helper_id=helper_id, seq=seq, cut_minor=cut,
                                      price_minor=price, currency=offer.currency,
                                      helpers_needed=offer.helpers_needed))
    return Helped(bargain_id, seq, cut, price)


async def late_payment_stands(session: AsyncSession, order: Order) -> bool:
    """Inside a late payment's transaction (orders/paying.py): may a bargain's order that
    expired unpaid be paid now? Not when the buyer has bought the bargain again meanwhile (one
    purchase per bargain): the payment is refunded. The bargain's row is locked, as a buy
    locks it, so a buy and a late payment never both stand."""
    if order.source_kind != OrderSource.BARGAIN.value or order.source_id is None:
        return True
    await session.execute(select(Bargain.id).where(Bargain.id == order.source_id)
                          .with_for_update())
    other = await session.scalar(
        select(Order.id).where(Order.source_kind == OrderSource.BARGAIN.value,
                               Order.source_id == order.source_id, Order.id != order.id,
                               Order.status.not_in(ENDED_ORDER_STATUSES)).limit(1))
    return other is None


@dataclass(frozen=True, slots=True)
class _PricedProduct:
    id: int
    title: str
    price_minor: int
    currency: str
    commission_rate_bp: int | None


@dataclass(frozen=True, slots=True)
class _BargainTerms:
    room_id: int
    host_id: int
    room_commission_rate_bp: int | None
    products: Mapping[int, ProductTerms] = field(default_factory=dict)


def _bargain_price(_variant: ProductVariant, product: ProductTerms) -> int:
    # The terms' price is the bargain's price reached, whatever the variant's own price.
    return product.price_minor


async def buy_bargain(svc: Services, user_id: int, bargain_id: int,
                      idempotency_key: str | None,
                      terms_of_room: Callable[[int], TermsOf]) -> tuple[bytes, bool]:
    """The buyer orders one unit at the price reached: the regular-price order path, the unit
    held now (`terms_of_room` gives live's terms of the offer's room). Returns the reply (the
    order as JSON) and whether it repeats an earlier request with the same key."""
    async with svc.db.session() as session:
        row = (await session.execute(
            select(Bargain.buyer_id, BargainOffer.variant_id, BargainOffer.room_id)
            .join(BargainOffer, BargainOffer.id == Bargain.offer_id)
            .where(Bargain.id == bargain_id))).first()
    if row is None:
        raise BargainNotFound(f"bargain {bargain_id} does not exist", field="bargain_id")
    buyer_id, variant_id, room_id = row
    terms_of = terms_of_room(room_id)
    if buyer_id != user_id:
        raise NotYourBargain("only the buyer who started the bargain buys at its price",
                             field="bargain_id")

    async def bargain_terms(session: AsyncSession, product_ids: list[int]) -> RoomTerms:
        # Inside the order's transaction: the bargain's row stays locked until the order
        # commits, so a second buy waits and then finds this order standing.
        bargain, offer, open_ = await _locked(session, bargain_id)
        if not open_:
            raise BargainExpired("the bargain's deadline has passed", field="bargain_id")
        order_id = await _standing_order(session, bargain_id)
        if order_id is not None:
            raise BargainAlreadyBought("you have bought at this bargain's price already",
                                       field="bargain_id", extra={"order_id": order_id})
        room = await terms_of(session, product_ids)
        products = {pid: _PricedProduct(p.id, p.title, bargain.price_minor, p.currency,
                                        p.commission_rate_bp)
                    for pid, p in room.products.items() if pid == offer.product_id}
        return _BargainTerms(room.room_id, room.host_id, room.room_commission_rate_bp,
                             products)

    return await regular.place_order(
        svc, user_id, [LineIn(variant_id, 1)], idempotency_key, bargain_terms,
        source=OrderSourceRef(OrderSource.BARGAIN.value, bargain_id),
        unit_price_of=_bargain_price)


# Reading --------------------------------------------------------------------------------------


async def bargain_view(svc: Services, bargain_id: int, viewer_id: int | None) -> dict[str, Any]:
    """Everything the bargain's page shows: the offer and its schedule, every cut with its
    helper's name, the price now, the friends still needed and the amount to go, the time
    left, the buyer's order, and what the viewer may do."""
    async with svc.db.session() as session:
        row = (await session.execute(
            select(Bargain, BargainOffer, User.display_name, func.now())
            .join(BargainOffer, BargainOffer.id == Bargain.offer_id)
            .join(User, User.id == Bargain.buyer_id)
            .where(Bargain.id == bargain_id))).first()
        if row is None:
            raise BargainNotFound(f"bargain {bargain_id} does not exist", field="bargain_id")
        bargain, offer, buyer_name, now = row
        cuts = (await session.execute(
            select(BargainCut, User.display_name).join(User, User.id == BargainCut.helper_id)
            .where(BargainCut.bargain_id == bargain_id).order_by(BargainCut.seq))).all()
        order = (await session.execute(
            select(Order.id, Order.status, Order.amount_minor)
            .where(Order.source_kind == OrderSource.BARGAIN.value,
                   Order.source_id == bargain_id)
            .order_by(Order.id.desc()).limit(1))).first()
    is_buyer = viewer_id == bargain.buyer_id
    helped = viewer_id is not None and any(cut.helper_id == viewer_id for cut, _ in cuts)
    standing = order is not None and order.status not in ENDED_ORDER_STATUSES
    complete = bargain.helpers_count >= offer.helpers_needed
    open_ = offer.ends_at > now
    next_cut = (None if complete else bargain_rule.cut_of(
        offer.start_price_minor, offer.floor_price_minor, offer.helpers_needed,
        bargain.helpers_count + 1))
    return {
        "id": bargain.id, "offer": offer_view(offer, now),
        "buyer": {"id": bargain.buyer_id, "name": buyer_name},
        "price_minor": bargain.price_minor, "currency": offer.currency,
        "helpers": bargain.helpers_count, "helpers_needed": offer.helpers_needed,
        "to_go_minor": bargain.price_minor - offer.floor_price_minor,
        "next_cut_minor": next_cut, "complete": complete, "open": open_,
        "ends_at_ms": to_epoch_ms(offer.ends_at), "server_now_ms": to_epoch_ms(now),
        "cuts": [{"seq": cut.seq, "helper_id": cut.helper_id, "name": name,
                  "amount_minor": cut.amount_minor, "price_after_minor": cut.price_after_minor,
                  "at_ms": to_epoch_ms(cut.created_at)} for cut, name in cuts],
        "order": None if order is None or not is_buyer else {
            "id": order.id, "status": order.status, "amount_minor": order.amount_minor},
        "bought": standing,
        "viewer": {"signed_in": viewer_id is not None, "is_buyer": is_buyer, "helped": helped,
                   "can_help": (viewer_id is not None and not is_buyer and not helped
                                and open_ and not complete and not standing),
                   "can_buy": is_buyer and open_ and not standing},
    }


def helped_view(helped: Helped) -> dict[str, Any]:
    return {"bargain_id": helped.bargain_id, "seq": helped.seq, "cut_minor": helped.cut_minor,
            "price_minor": helped.price_minor}


# What the buyer hears (registered in workers/handlers.py, after the commit) --------------------


async def tell_buyer(svc: Services, event: BargainHelped) -> None:
    async with svc.db.session() as session:
        name = await session.scalar(select(User.display_name).where(User.id == event.helper_id))
    await publish_user(svc.redis, svc.keys, event.buyer_id, ServerEvent.BARGAIN, {
        "action": "helped", "bargain_id": event.bargain_id, "helper": name,
        "seq": event.seq, "cut_minor": event.cut_minor, "price_minor": event.price_minor,
        "currency": event.currency, "helpers": event.seq, "helpers_needed": event.helpers_needed})


# What the room hears (registered in workers/handlers.py, after the commit) ---------------------


async def announce_offered(svc: Services, event: BargainOffered) -> None:
    async with svc.db.session() as session:
        row = (await session.execute(select(BargainOffer, func.now())
                                     .where(BargainOffer.id == event.offer_id))).first()
    if row is None:
        return
    await publish_room(svc.redis, svc.keys, event.room_id, ServerEvent.BARGAIN_OFFER,
                       {"action": "offered", "offer": offer_view(row[0], row[1], bargains=0)})


async def announce_withdrawn(svc: Services, event: BargainOfferWithdrawn) -> None:
    await publish_room(svc.redis, svc.keys, event.room_id, ServerEvent.BARGAIN_OFFER,
                       {"action": "withdrawn", "offer_id": event.offer_id})
