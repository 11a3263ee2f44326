"""Buying at the regular price in a live room, or from a replay's or short video's page (the
caller's terms say which products are offered, and the order's room and source): one variant
(a buy) or several (a cart's checkout), each line's units held in Redis by one script, all
lines or none, and the order with its lines committed to PostgreSQL before the reply. One
order, one payment, whatever the number of lines
(docs/decisions/0017-regular-price-orders-and-cart.md).

The order's units move like a flash-sale order's, through scripts whose holds hash lets each
order's units go back once: `release_order_units` (cancel, expiry, refund) and
`sell_order_units` (payment). Crash safety:

- A buy holds its variants' advisory locks shared from before its Redis hold until its
  commit. A rebuild of a variant (`orders.variants.reconcile_variant`), a change of its stock
  and the unwritten-hold sweep take them exclusive, so they see every hold either committed
  (and count it) or rolled back (and drop it): no epoch is needed.
- The hold script also dates the order in the host's unwritten zset; the sweep
  (`release_unwritten_orders`) releases the holds of an order that never reached PostgreSQL
  (its process died between the hold and the commit).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import User
from core.context import Services
from core.errors import ValidationError, present
from core.events import dispatch_committed, record
from orders import coupons, variant_stock
from orders.buying import check_idempotency_key
from orders.commissions import resolve_rate_bp
from orders.errors import AddressRequired, MixedCurrencies, SoldOut, VariantNotFound
from orders.events import VariantStockChanged
from orders.models import (
    Order,
    OrderLine,
    OrderSource,
    ProductVariant,
    room_hosts_table,
    video_hosts_table,
)
from orders.payments import get_provider
from orders.sources import OrderSourceRef
from orders.variants import lock_variants, reconcile_variant, unit_price_minor, variant_label
from orders.views import order_json, regular_order_view

log = logging.getLogger(__name__)

# A regular order must be in PostgreSQL this long after its hold, or the unwritten sweep gives
# its units back. A buy commits within milliseconds; 10 s is far past a loaded commit, and the
# sweep waits for the locks of any buy still in flight anyway (see the module's notes).
WRITE_DEADLINE_MS = 10_000
# A room's host is swept this long after the room ended: far past the write deadline.
UNWRITTEN_HOSTS_AFTER_END_SECONDS = 600
# Overdue unwritten entries one sweep looks at per host.
UNWRITTEN_SWEEP_BATCH = 500


class ProductTerms(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def price_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def commission_rate_bp(self) -> int | None: ...


class RoomTerms(Protocol):
    @property
    def room_id(self) -> int: ...
    @property
    def host_id(self) -> int: ...
    @property
    def room_commission_rate_bp(self) -> int | None: ...
    @property
    def products(self) -> Mapping[int, ProductTerms]: ...


# Live's `regular_terms`, bound to the room by the web edge: checks the room is live and
# answers the lineup's products among those asked, inside the order's transaction.
TermsOf = Callable[[AsyncSession, list[int]], Awaitable[RoomTerms]]
# How a line's unit price is decided (`regular_unit_price` unless the caller sets it: a bargain's
# price reached, orders/bargains.py).
UnitPriceOf = Callable[[ProductVariant, ProductTerms], int]
# How an error names a line's field: `variant_id` for a buy, `lines[2].quantity` for a cart.
FieldOf = Callable[[int, str], str]


def regular_unit_price(variant: ProductVariant, product: ProductTerms) -> int:
    """The variant's own price, else its product's."""
    return unit_price_minor(variant, product.price_minor)


def buy_field(_index: int, name: str) -> str:
    return name


def cart_field(index: int, name: str) -> str:
    return f"lines[{index}].{name}"


@dataclass(frozen=True, slots=True)
class LineIn:
    variant_id: int
    quantity: int


def check_lines(lines: Sequence[LineIn], *, max_quantity: int, max_lines: int,
                field_of: FieldOf) -> None:
    problems = []
    if not lines:
        problems.append({"field": "lines", "message": "the cart is empty", "code": "cart_empty"})
    if len(lines) > max_lines:
        problems.append({"field": "lines", "message": f"at most {max_lines} lines",
                         "code": "too_many_lines", "count": str(max_lines)})
    seen: set[int] = set()
    for index, line in enumerate(lines):
        if not 1 <= line.quantity <= max_quantity:
            problems.append({"field": field_of(index, "quantity"),
                             "message": f"Must be 1 to {max_quantity}.",
                             "code": "quantity_range", "min": "1", "max": str(max_quantity)})
        if line.variant_id in seen:
            problems.append({"field": field_of(index, "variant_id"),
                             "message": "this variant is on another line", "code": "duplicate_line"})
        seen.add(line.variant_id)
    if problems:
        raise ValidationError(problems)


class _Replayed(Exception):
    """The buyer's key names an order already: its reply is the first one's."""


class _KeysMissing(Exception):
    def __init__(self, variant_id: int) -> None:
        super().__init__(f"variant {variant_id}'s keys are missing")
        self.variant_id = variant_id


async def place_order(svc: Services, user_id: int, lines: Sequence[LineIn],
                      idempotency_key: str | None, terms_of: TermsOf, *,
                      field_of: FieldOf = buy_field,
                      source: OrderSourceRef | None = None,
                      coupon_claim_id: int | None = None,
                      unit_price_of: UnitPriceOf = regular_unit_price) -> tuple[bytes, bool]:
    """Hold every line's units and commit one order awaiting payment. Returns the reply (the
    order as JSON) and whether it repeats an earlier request with the same key. Refused (4xx,
    naming the field; nothing held, nothing written): a bad quantity, an unknown variant, a
    product not in the room's lineup, a room that is not live, a line without enough units,
    no shipping address on the account, a coupon claim that cannot apply (not the buyer's,
    used, another room's, expired, below its minimum spend).

    The order's room is the terms' (`terms_of` checks the room or the video the buy comes
    from). `source` is the replay or short video the buy comes from, None for the live room:
    `terms_of` then answers the products that video tags, not a room's lineup."""
    key = check_idempotency_key(idempotency_key)
    for _attempt in range(3):
        try:
            return await _place(svc, user_id, lines, key, terms_of, field_of, source,
                                coupon_claim_id, unit_price_of), False
        except _Replayed:
            # A repeat of the key gets the first reply whatever it sends (a cart is empty by
            # then).
            replay = await _replay(svc, user_id, key)
            if replay is None:
                raise RuntimeError("an order seen by its key is gone") from None
            return replay, True
        except _KeysMissing as missing:
            # Fail closed: never guess the stock. Rebuild it from PostgreSQL, then try again.
            log.warning("variant %s keys missing in Redis; rebuilding", missing.variant_id)
            await reconcile_variant(svc, missing.variant_id)
        except SoldOut:
            # Another press with this key may have taken the last units meanwhile: its order
            # is this press's answer.
            replay = await _replay(svc, user_id, key)
            if replay is None:
                raise
            return replay, True
        except IntegrityError:
            # The same key raced in from another request, which committed first: its reply.
            replay = await _replay(svc, user_id, key)
            if replay is None:
                raise
            return replay, True
    raise RuntimeError("the variants' keys went missing three times in a row")


async def _replay(svc: Services, user_id: int, key: str) -> bytes | None:
    async with svc.db.session() as session:
        order = await session.scalar(select(Order).where(
            Order.user_id == user_id, Order.idempotency_key == key, Order.sale_id.is_(None)))
        if order is None:
            return None
        return orjson.dumps({"order": await order_json(session, svc, order)})


async def _place(svc: Services, user_id: int, lines: Sequence[LineIn], key: str,
                 terms_of: TermsOf, field_of: FieldOf, source: OrderSourceRef | None,
                 coupon_claim_id: int | None, unit_price_of: UnitPriceOf) -> bytes:
    holding: tuple[int, int, list[int]] | None = None  # (host, order id, variants) once held
    try:
        async with svc.db.transaction() as session:
            # One round trip: the address, an order of this key already, and the new order's id
            # (a refused request leaves a gap in the ids, which nothing minds).
            address, replayed, order_id = (await session.execute(select(
                User.shipping_address,
                select(Order.id).where(Order.user_id == user_id, Order.idempotency_key == key,
                                       Order.sale_id.is_(None)).scalar_subquery(),
                func.nextval(text("pg_get_serial_sequence('orders', 'id')")))
                .where(User.id == user_id))).one()
            if replayed is not None:
                raise _Replayed()
            check_lines(lines, max_quantity=svc.settings.regular_max_quantity,
                        max_lines=svc.settings.cart_max_lines, field_of=field_of)
            if not address:
                raise AddressRequired("add a shipping address to your account before buying",
                                      field="shipping_address")
            # Held shared until the commit: see the module's notes.
            await lock_variants(session, [line.variant_id for line in lines], shared=True)
            variants = {v.id: v for v in await session.scalars(
                select(ProductVariant).where(
                    ProductVariant.id.in_([line.variant_id for line in lines])))}
            problems = [{"field": field_of(i, "variant_id"), "message": "no such variant"}
                        for i, line in enumerate(lines)
                        if line.variant_id not in variants or not variants[line.variant_id].active]
            if problems:
                raise VariantNotFound(problems[0]["message"], field=problems[0]["field"],
                                      extra={"errors": problems})
            terms = await terms_of(session, sorted({variants[line.variant_id].product_id
                                                    for line in lines}))
            not_offered = ({"message": "the product is not in this room's lineup",
                            "code": "not_in_lineup"} if source is None else
                           {"message": f"this {source.kind} does not show the product",
                            "code": "not_tagged"})
            problems = [{"field": field_of(i, "variant_id"), **not_offered}
                        for i, line in enumerate(lines)
                        if variants[line.variant_id].product_id not in terms.products
                        or variants[line.variant_id].host_id != terms.host_id]
            if problems:
                raise ValidationError(problems)
            currencies = {terms.products[v.product_id].currency for v in variants.values()}
            if len(currencies) > 1:
                raise MixedCurrencies("one payment is in one currency: these products are "
                                      f"priced in {', '.join(sorted(currencies))}",
                                      field=field_of(len(lines) - 1, "variant_id"))
            applied: coupons.Applied | None = None
            if coupon_claim_id is not None:
                # Checked (and the claim's row locked) before anything is held: a refusal
                # leaves the stock as it was.
                applied = await coupons.apply_claim(
                    session, claim_id=coupon_claim_id, user_id=user_id, room_id=terms.room_id,
                    amount_minor=_amount(lines, variants, terms, unit_price_of),
                    currency=currencies.pop())
            script_lines = [variant_stock.Line(line.variant_id, line.quantity) for line in lines]
            held = await variant_stock.hold(svc.redis, svc.keys, terms.host_id, order_id,
                                            user_id, script_lines,
                                            write_deadline_ms=WRITE_DEADLINE_MS)
            if held.code == variant_stock.MISSING:
                raise _KeysMissing(lines[held.line].variant_id)
            if held.code == variant_stock.NOT_ENOUGH:
                raise SoldOut("sold out" if held.available == 0
                              else f"only {held.available} left",
                              field=field_of(held.line, "quantity"),
                              extra={"remaining": held.available, "line": held.line,
                                     "variant_id": lines[held.line].variant_id})
            if held.code != variant_stock.HELD:
                raise RuntimeError(f"the hold script answered {held.code}")
            holding = (terms.host_id, order_id, [line.variant_id for line in lines])
            record(session, VariantStockChanged(
                room_id=terms.room_id,
                product_ids=tuple(sorted({variants[line.variant_id].product_id
                                          for line in lines}))))
            order, placed = await _insert(session, svc, order_id, user_id, key, lines,
                                          variants, terms, address, source, applied,
                                          unit_price_of)
            if applied is not None:
                await coupons.mark_used(session, applied, order_id)
            reply = orjson.dumps({"order": regular_order_view(
                order, get_provider(svc.settings),
                [(line, variants[line.variant_id].options) for line in placed])})
    except BaseException:
        if holding is not None:
            await _release_failed(svc, *holding, user_id=user_id, lines=lines)
        raise
    # Committed: the unwritten sweep has nothing to look at (if this is lost, it finds the order
    # in PostgreSQL and drops the entry).
    await svc.redis.zrem(variant_stock.unwritten_key(svc.keys, holding[0]),
                         variant_stock.unwritten_member(
                             holding[1], user_id,
                             [variant_stock.Line(v, 0) for v in holding[2]]))
    await dispatch_committed(svc, session)
    return reply


async def _release_failed(svc: Services, host_id: int, order_id: int, variant_ids: list[int],
                          *, user_id: int, lines: Sequence[LineIn]) -> None:
    """The order did not commit: its units go back (once, by the holds hash). A commit whose
    acknowledgement was lost may have landed, though: an order that is in PostgreSQL keeps its
    units (a repeat of the key returns it)."""
    try:
        async with svc.db.session() as session:
            if await session.scalar(select(Order.id).where(Order.id == order_id)) is not None:
                return
    except Exception:  # PostgreSQL unreachable: the unwritten-hold sweep decides, under the lock
        log.warning("could not look for order %s; leaving its holds to the sweep", order_id,
                    exc_info=True)
        return
    result = await variant_stock.release(svc.redis, svc.keys, host_id, order_id, variant_ids)
    if result == variant_stock.MISSING:
        for variant_id in variant_ids:
            await reconcile_variant(svc, variant_id)
    await svc.redis.zrem(variant_stock.unwritten_key(svc.keys, host_id),
                         variant_stock.unwritten_member(
                             order_id, user_id,
                             [variant_stock.Line(line.variant_id, 0) for line in lines]))


async def _insert(session: AsyncSession, svc: Services, order_id: int, user_id: int,
                  key: str, lines: Sequence[LineIn], variants: Mapping[int, ProductVariant],
                  terms: RoomTerms, address: dict[str, str], source: OrderSourceRef | None,
                  applied: coupons.Applied | None,
                  unit_price_of: UnitPriceOf) -> tuple[Order, list[OrderLine]]:
    """The order, its lines and its `order_placed` event, as the inserts return them (no read
    back)."""
    rows: list[dict[str, Any]] = []
    for line in lines:
        variant = variants[line.variant_id]
        product = terms.products[variant.product_id]
        unit = unit_price_of(variant, product)
        title = product.title + (f" — {variant.label or variant_label(variant.options)}"
                                 if variant.options else "")
        rows.append({"order_id": order_id, "product_id": product.id, "variant_id": variant.id,
                     "title": title[:250], "quantity": line.quantity, "unit_price_minor": unit,
                     "amount_minor": unit * line.quantity,
                     "commission_rate_bp": resolve_rate_bp(product.commission_rate_bp,
                                                           terms.room_commission_rate_bp)})
    # What the buyer pays: the lines less the coupon's discount (never below zero).
    discount = applied.discount_minor if applied is not None else 0
    amount = sum(int(r["amount_minor"]) for r in rows) - discount
    units = sum(line.quantity for line in lines)
    first = variants[lines[0].variant_id]
    event: dict[str, Any] = {
        "quantity": units, "amount_minor": amount,
        "lines": [{"variant_id": r["variant_id"], "quantity": r["quantity"]} for r in rows]}
    if applied is not None:
        event["coupon"] = {"claim_id": applied.claim_id, "coupon_id": applied.coupon_id,
                           "discount_minor": discount}
    order = await session.scalar(select(Order).from_statement(INSERT_ORDER.bindparams(
        id=order_id, host_id=terms.host_id, room_id=terms.room_id, product_id=first.product_id,
        source_kind=source.kind if source else OrderSource.LIVE.value,
        source_id=source.id if source else None,
        user_id=user_id, quantity=units, amount_minor=amount,
        currency=terms.products[first.product_id].currency, key=key,
        hold_seconds=svc.settings.order_hold_seconds, rate=order_rate_bp(rows),
        address=orjson.dumps(address).decode(), event=orjson.dumps(event).decode(),
        claim=applied.claim_id if applied is not None else None, discount=discount,
        products=[r["product_id"] for r in rows], variants=[r["variant_id"] for r in rows],
        titles=[r["title"] for r in rows], quantities=[r["quantity"] for r in rows],
        unit_prices=[r["unit_price_minor"] for r in rows],
        amounts=[r["amount_minor"] for r in rows],
        rates=[r["commission_rate_bp"] for r in rows])))
    if order is None:
        raise RuntimeError(f"order {order_id} was not returned by its insert")
    # The lines as inserted, for the reply (not added to the session: nothing reads them back).
    return order, [OrderLine(**row) for row in rows]


# The order, its lines and its `order_placed` event in one statement (one round trip): the
# lines' foreign key to the order is checked at the statement's end, when both are in.
INSERT_ORDER = text("""
WITH placed AS (
    INSERT INTO orders (id, sale_id, host_id, room_id, product_id, user_id, quantity,
                        amount_minor, currency, status, idempotency_key, reservation_no,
                        hold_expires_at, commission_rate_bp, shipping_address, source_kind,
                        source_id, coupon_claim_id, discount_minor)
    VALUES (:id, NULL, :host_id, :room_id, :product_id, :user_id, :quantity, :amount_minor,
            :currency, 'pending_payment', :key, :id,
            now() + make_interval(secs => CAST(:hold_seconds AS integer)), :rate,
            CAST(:address AS jsonb), :source_kind, CAST(:source_id AS bigint),
            CAST(:claim AS bigint), :discount)
    RETURNING *
), lines AS (
    INSERT INTO order_lines (order_id, product_id, variant_id, title, quantity,
                             unit_price_minor, amount_minor, commission_rate_bp)
    SELECT :id, l.* FROM unnest(
        CAST(:products AS bigint[]), CAST(:variants AS bigint[]), CAST(:titles AS text[]),
        CAST(:quantities AS integer[]), CAST(:unit_prices AS bigint[]),
        CAST(:amounts AS bigint[]), CAST(:rates AS integer[])) AS l
), event AS (
    INSERT INTO order_events (order_id, type, from_status, to_status, actor_id, data)
    VALUES (:id, 'order_placed', NULL, 'pending_payment', :user_id, CAST(:event AS jsonb))
)
SELECT * FROM placed
""")


def _amount(lines: Sequence[LineIn], variants: Mapping[int, ProductVariant],
            terms: RoomTerms, unit_price_of: UnitPriceOf) -> int:
    """The lines' amount before any coupon (as `_insert` prices them)."""
    total = 0
    for line in lines:
        variant = variants[line.variant_id]
        total += unit_price_of(variant, terms.products[variant.product_id]) * line.quantity
    return total


def order_rate_bp(lines: Sequence[Mapping[str, Any]]) -> int:
    """The order's commission rate: its lines' (one rate, or the amount-weighted rate of lines
    with different ones, rounded half up). The host's entry is this rate on the amount paid,
    rounded once (`orders.commissions.accrue`)."""
    rates = {int(line["commission_rate_bp"]) for line in lines}
    if len(rates) == 1:
        return rates.pop()
    base = sum(int(line["amount_minor"]) for line in lines)
    if base == 0:
        return max(rates)
    weighted = sum(int(line["amount_minor"]) * int(line["commission_rate_bp"]) for line in lines)
    return (weighted + base // 2) // base


# Units of an order after it was placed -------------------------------------------------------


async def order_lines(session: AsyncSession, order_id: int) -> list[OrderLine]:
    return list(await session.scalars(
        select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)))


def host_of(order: Order) -> int:
    """The host of a regular-price order (a flash-sale order's is its sale's)."""
    return present(order.host_id, f"order {order.id}'s host_id")


async def release_order_units(svc: Services, order: Order, variant_ids: list[int], *,
                              sold: bool = False) -> None:
    """Give a regular order's units back (held, or sold when refunded), once. If a variant's
    keys are gone, the rebuild from PostgreSQL (where the order has already moved) does it."""
    result = await variant_stock.release(svc.redis, svc.keys, host_of(order), order.id,
                                         variant_ids, sold=sold)
    if result == variant_stock.MISSING:
        for variant_id in variant_ids:
            await reconcile_variant(svc, variant_id)


async def sell_order_units(svc: Services, order: Order,
                           lines: Sequence[OrderLine]) -> tuple[int, int]:
    """Held units become sold (the order was paid); see `variant_stock.sell`."""
    return await variant_stock.sell(
        svc.redis, svc.keys, host_of(order), order.id, order.user_id,
        [variant_stock.Line(line.variant_id, line.quantity) for line in lines])


# Holds whose order was never written ---------------------------------------------------------


async def release_unwritten_orders(svc: Services) -> list[int]:
    """Give back the units of regular orders that never reached PostgreSQL (their process died
    between the hold and the commit). Each overdue entry's variants are locked exclusive first,
    which waits for a buy still holding them shared: after that, an order that is not in
    PostgreSQL never will be. The scheduler runs this with the flash-sale sweep."""
    async with svc.db.session() as session:
        # Holds are made only in live rooms and from ready videos and replays: the hosts of
        # rooms live now or ended lately (a hold made just before the end) and of ready videos,
        # not every host with a catalog.
        host_ids = list(await session.scalars(
            select(room_hosts_table.c.host_id).where(
                (room_hosts_table.c.status == "live")
                | (room_hosts_table.c.ended_at > func.now() - timedelta(
                    seconds=UNWRITTEN_HOSTS_AFTER_END_SECONDS)))
            .union(select(video_hosts_table.c.host_id)
                   .where(video_hosts_table.c.status == "ready"))))
    released: list[int] = []
    for host_id in host_ids:
        released.extend(await _release_unwritten_of_host(svc, host_id))
    return released


async def _release_unwritten_of_host(svc: Services, host_id: int) -> list[int]:
    zset = variant_stock.unwritten_key(svc.keys, host_id)
    now_ms = await _redis_ms(svc)
    members = [m.decode() if isinstance(m, bytes) else str(m) for m in await svc.redis.zrangebyscore(
        zset, "-inf", now_ms, start=0, num=UNWRITTEN_SWEEP_BATCH)]
    released: list[int] = []
    for member in members:
        order_id, _user_id, variant_ids = variant_stock.parse_unwritten(member)
        async with svc.db.transaction() as session:
            await lock_variants(session, variant_ids, shared=False)
            written = await session.scalar(select(Order.id).where(Order.id == order_id))
            result, missing = 0, False
            if written is None:
                result = await variant_stock.release(svc.redis, svc.keys, host_id, order_id,
                                                     variant_ids)
                # Missing keys are rebuilt after this transaction (the rebuild takes the rows).
                missing = result == variant_stock.MISSING
        if written is None and missing:
            for variant_id in variant_ids:
                await reconcile_variant(svc, variant_id)
        if written is None and result > 0:
            released.append(order_id)
        await svc.redis.zrem(zset, member)
    if released:
        log.warning("host %s: released the holds of %d orders never written: %s", host_id,
                    len(released), released)
    return released


async def _redis_ms(svc: Services) -> int:
    seconds, micros = await svc.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000
