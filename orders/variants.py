"""Products' variants (SKUs) and their regular-price stock: the host defines them, anyone
reads them with their live counts, and Redis is rebuilt from PostgreSQL and checked against it.

`orders` owns the variants and their stock because it owns every Redis stock counter and the
orders that hold units of them; the product itself (title, price, currency, host) is live's,
handed in by the web edge as `ProductFacts`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.accounts import Actor, owns_or_ops
from core.context import Services, services_of
from core.db import lock_advisory
from core.errors import ValidationError, present
from orders import variant_stock
from orders.errors import (
    NotEnoughStock,
    NotProductHost,
    ProductHasOptions,
    StockBelowCommitted,
    VariantNotFound,
    VariantRequired,
)
from orders.models import HELD_STATUSES, SOLD_STATUSES, Order, OrderLine, ProductVariant
from orders.reconcile import counter_problems
from orders.schemas import VariantsIn, variant_problems

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What orders needs of live's product (read by the web edge)."""

    id: int
    host_id: int
    title: str
    price_minor: int
    currency: str


async def lock_variants(session: AsyncSession, variant_ids: Iterable[int], *,
                        shared: bool) -> None:
    """Take the variants' advisory locks until the transaction ends, in id order (so that two
    lockers never wait on each other in a cycle). See `variant_stock.ADVISORY_NAMESPACE`."""
    await lock_advisory(session, variant_stock.ADVISORY_NAMESPACE, variant_ids, shared=shared)


def variant_label(options: dict[str, str]) -> str:
    return " / ".join(options[name] for name in sorted(options))


def unit_price_minor(variant: ProductVariant, product_price_minor: int) -> int:
    """What one unit of the variant sells for at the regular price: its own price, else the
    product's."""
    return variant.price_minor if variant.price_minor is not None else product_price_minor


def variant_view(variant: ProductVariant, product_price_minor: int,
                 counts: variant_stock.Counts | None) -> dict[str, Any]:
    return {
        "id": variant.id,
        "product_id": variant.product_id,
        "options": variant.options,
        "label": variant.label,
        "price_minor": unit_price_minor(variant, product_price_minor),
        "own_price": variant.price_minor is not None,
        "stock": variant.stock,
        "active": variant.active,
        "remaining": counts.available if counts else None,
        "held": counts.held if counts else None,
        "sold": counts.sold if counts else None,
    }


def option_lists(variants: Iterable[ProductVariant]) -> list[dict[str, Any]]:
    """The product's options and their values, in the order the host gave the variants."""
    names: dict[str, list[str]] = {}
    for variant in variants:
        if not variant.active:
            continue
        for name in sorted(variant.options):
            values = names.setdefault(name, [])
            if variant.options[name] not in values:
                values.append(variant.options[name])
    return [{"name": name, "values": values} for name, values in names.items()]


# One pool per variant (docs/decisions/0021) -------------------------------------------------
# A variant's stock is every unit of it the host has: regular-price buys hold and sell from it,
# and a flash sale takes its quantity out of it (and gives back what it did not sell). A
# product without options has one default variant, whose stock is the product's stock.
# Each move below runs inside its caller's transaction, under the variant's advisory lock held
# exclusive (so no regular buy is between its hold and its commit), and changes PostgreSQL and
# the Redis counters together; if that transaction rolls back, the variant is recounted from
# PostgreSQL afterwards (`_recount_if_rolled_back`).


@dataclass(frozen=True, slots=True)
class UnitsTaken:
    """Where a sale's units came from, and what that pool has left to sell."""

    variant_id: int
    stock_left: int


async def take_for_sale(svc: Services, session: AsyncSession, *, product_id: int,
                        host_id: int, units: int, variant_id: int | None = None) -> UnitsTaken:
    """Take `units` out of a variant's pool for a flash sale, inside the sale's transaction:
    the named variant (it must be the product's and on sale), else the product's default
    variant. A product with sizes or colours names one (`variant_required`)."""
    if units <= 0:
        raise ValueError(f"cannot take {units} units")
    variant = await _pool_variant(session, product_id, host_id, variant_id)
    await lock_variants(session, [variant.id], shared=False)
    await session.refresh(variant, with_for_update=True)
    vk = variant_stock.variant_keys(svc.keys, variant.host_id, variant.id)
    _recount_if_rolled_back(session, variant.id)
    counts = await variant_stock.read_counts(svc.redis, vk)
    if counts is None or counts.initial != variant.stock:
        # Under the exclusive lock no buy is between its hold and its commit: counters rebuilt
        # here are the committed truth (keys lost, or a stock changed outside the scripts).
        await _rebuild(svc, session, variant)
    code, available = await variant_stock.take_units(svc.redis, vk, units)
    if code != variant_stock.HELD:
        raise NotEnoughStock(f"only {max(available, 0)} units of the product are left to "
                             f"sell; the sale asks for {units}", field="quantity",
                             extra={"available": max(available, 0)})
    await session.execute(update(ProductVariant).where(ProductVariant.id == variant.id)
                          .values(stock=ProductVariant.stock - units))
    return UnitsTaken(variant.id, available)


async def return_units(svc: Services, session: AsyncSession, *, product_id: int,
                       units: int, variant_id: int | None = None) -> None:
    """Units a flash sale no longer needs go back to the variant's pool (the default variant's
    when none is named), inside the caller's transaction (a sale's settlement, a refund after
    it), which makes it happen exactly once."""
    if units < 0:
        raise ValueError(f"cannot return {units} units")
    if not units:
        return
    if variant_id is None:
        variant_id = await session.scalar(select(ProductVariant.id).where(
            ProductVariant.product_id == product_id, ProductVariant.options == {}))
        if variant_id is None:
            raise VariantNotFound(f"product {product_id} has no default variant",
                                  field="variant_id")
    await lock_variants(session, [variant_id], shared=False)
    variant = await session.scalar(select(ProductVariant).where(
        ProductVariant.id == variant_id).with_for_update())
    if variant is None:
        raise VariantNotFound(f"variant {variant_id} does not exist", field="variant_id")
    vk = variant_stock.variant_keys(svc.keys, variant.host_id, variant.id)
    counts = await variant_stock.read_counts(svc.redis, vk)
    _recount_if_rolled_back(session, variant.id)
    in_step = counts is not None and counts.initial == variant.stock
    variant.stock += units
    await session.flush()
    if in_step:
        await variant_stock.return_units(svc.redis, vk, units)
    else:
        await _rebuild(svc, session, variant)


async def set_default_stock(svc: Services, session: AsyncSession, *, product_id: int,
                            host_id: int, stock: int) -> None:
    """The product's stock, as the host sets it on a product without options: its default
    variant's (created with the product). Refused for a product with sizes or colours (each
    variant has its own), and below the units its orders hold or bought."""
    created = await session.scalar(pg_insert(ProductVariant).values(
        product_id=product_id, host_id=host_id, options={}, label="", stock=stock)
        .on_conflict_do_nothing(constraint="uq_product_variants_product_options")
        .returning(ProductVariant.id))
    if created is not None:
        # A new product: no order holds it and Redis has no counters of it yet (its first
        # reader builds them), so a product is created with PostgreSQL alone.
        return
    variants = list(await session.scalars(select(ProductVariant).where(
        ProductVariant.product_id == product_id).order_by(ProductVariant.id)))
    if any(v.options and v.active for v in variants):
        raise ProductHasOptions("the product has sizes or colours: set each one's stock",
                                field="stock")
    default = next(v for v in variants if not v.options)
    await lock_variants(session, [default.id], shared=False)
    await session.refresh(default, with_for_update=True)
    held, sold = (await committed_units(session, [default.id])).get(default.id, (0, 0))
    if stock < held + sold:
        raise StockBelowCommitted(f"{held + sold} units are held or sold; the stock cannot be "
                                  f"{stock}", field="stock", extra={"held": held, "sold": sold})
    default.stock = stock
    default.active = True
    await session.flush()
    _recount_if_rolled_back(session, default.id)
    await _rebuild(svc, session, default)


async def _pool_variant(session: AsyncSession, product_id: int, host_id: int,
                        variant_id: int | None) -> ProductVariant:
    variants = list(await session.scalars(select(ProductVariant).where(
        ProductVariant.product_id == product_id).order_by(ProductVariant.id)))
    if variant_id is not None:
        named = next((v for v in variants if v.id == variant_id), None)
        if named is None or not (named.active or not named.options):
            raise VariantNotFound("the product has no such variant on sale",
                                  field="variant_id")
        return named
    default = next((v for v in variants if not v.options), None)
    with_options = any(v.options and v.active for v in variants)
    # A product that got options keeps its default variant inactive; units left on it (a
    # product's stock from before the pools were one, docs/decisions/0021) can still go to a
    # sale that names the product alone.
    if default is not None and (default.active or (with_options and default.stock > 0)):
        return default
    if with_options:
        raise VariantRequired("the product has sizes or colours: name the variant the sale "
                              "takes its units from", field="variant_id")
    await session.execute(pg_insert(ProductVariant).values(
        product_id=product_id, host_id=host_id, options={}, label="", stock=0)
        .on_conflict_do_nothing(constraint="uq_product_variants_product_options"))
    created = await session.scalar(select(ProductVariant).where(
        ProductVariant.product_id == product_id, ProductVariant.options == {}))
    return present(created, f"product {product_id}'s default variant")


_RECOUNT = "variants.recount_if_rolled_back"
# Recounts started by rolled-back transactions (a reference, so a task is not collected).
_recounts: set[asyncio.Task[None]] = set()


def _recount_if_rolled_back(session: AsyncSession, variant_id: int) -> None:
    """This transaction moved the variant's Redis counters with its PostgreSQL rows: if it
    rolls back, rebuild the counters from PostgreSQL (it waits for the lock this transaction
    held)."""
    session.info.setdefault(_RECOUNT, set()).add(variant_id)


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_RECOUNT, None)


@sa_event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: Any) -> None:
    variant_ids = session.info.pop(_RECOUNT, None)
    if not variant_ids:
        return
    try:
        svc = services_of(session)
        loop = asyncio.get_running_loop()
    except (LookupError, RuntimeError):
        log.error("variants %s moved in Redis by a rolled-back transaction; run "
                  "`livesell reconcile-variant` on them", sorted(variant_ids))
        return
    task = loop.create_task(_recount(svc, sorted(variant_ids)), name="variant-recount")
    _recounts.add(task)
    task.add_done_callback(_recounts.discard)


async def _recount(svc: Services, variant_ids: list[int]) -> None:
    for variant_id in variant_ids:
        try:
            await reconcile_variant(svc, variant_id)
        except VariantNotFound:  # created by the transaction that rolled back
            continue
        except Exception:
            log.exception("recounting variant %s after a rollback failed", variant_id)


async def recounts_done() -> None:
    """Wait for the recounts that rolled-back transactions started (tests, shutdown)."""
    while _recounts:
        await asyncio.gather(*list(_recounts), return_exceptions=True)


async def units_left(svc: Services, product_id: int) -> dict[str, Any]:
    """What the room is told of a product's stock at the regular price: the units left of each
    active variant and in all (counters that Redis lost, or never had, rebuilt first)."""
    async with svc.db.session() as session:
        rows = (await session.execute(
            select(ProductVariant.id, ProductVariant.host_id).where(
                ProductVariant.product_id == product_id, ProductVariant.active)
            .order_by(ProductVariant.position, ProductVariant.id))).all()
    pipe = svc.redis.pipeline(transaction=False)
    for variant_id, host_id in rows:
        pipe.hget(variant_stock.variant_keys(svc.keys, host_id, variant_id).stock, "available")
    counts = await pipe.execute() if rows else []
    left = []
    for (variant_id, _), raw in zip(rows, counts, strict=True):
        available = (int(raw) if raw is not None
                     else (await reconcile_variant(svc, variant_id)).counts.available)
        left.append({"id": variant_id, "remaining": available})
    return {"product_id": product_id, "remaining": sum(v["remaining"] for v in left),
            "variants": left}


async def ensure_default_variant(svc: Services, product: ProductFacts) -> None:
    """A product nobody gave options to has one default variant (no options, no stock yet)."""
    async with svc.db.transaction() as session:
        exists = await session.scalar(select(ProductVariant.id).where(
            ProductVariant.product_id == product.id).limit(1))
        if exists is None:
            await session.execute(pg_insert(ProductVariant).values(
                product_id=product.id, host_id=product.host_id, options={}, label="",
                stock=0).on_conflict_do_nothing(constraint="uq_product_variants_product_options"))


async def product_variants(svc: Services, product: ProductFacts) -> dict[str, Any]:
    """The product's active variants with their live counts (rebuilt first where Redis lost
    them), and its options."""
    await ensure_default_variant(svc, product)
    async with svc.db.session() as session:
        variants = list(await session.scalars(
            select(ProductVariant).where(ProductVariant.product_id == product.id,
                                         ProductVariant.active)
            .order_by(ProductVariant.position, ProductVariant.id)))
    views = []
    for variant in variants:
        vk = variant_stock.variant_keys(svc.keys, variant.host_id, variant.id)
        counts = await variant_stock.read_counts(svc.redis, vk)
        if counts is None:
            counts = (await reconcile_variant(svc, variant.id)).counts
        views.append(variant_view(variant, product.price_minor, counts))
    return {"product_id": product.id, "currency": product.currency,
            "options": option_lists(variants), "variants": views}


async def set_variants(svc: Services, actor: Actor, product: ProductFacts,
                       data: VariantsIn) -> dict[str, Any]:
    """Define the product's variants: each listed combination of option values is created or
    updated (stock, price); a variant left out is made inactive (it cannot be bought; its
    orders keep it). A variant's stock may not go below the units its orders hold or sold.

    The product's variants are locked (their rows FOR UPDATE, against another change, and their
    advisory locks exclusive): a buy holds a variant's advisory lock shared from before its
    Redis hold until its commit, so this waits for buys in flight, and buys after it wait for
    it. Redis is rewritten from PostgreSQL inside the transaction, under those locks."""
    if not owns_or_ops(actor, product.host_id):
        raise NotProductHost("only the product's host can define its variants")
    problems = variant_problems(data)
    if problems:
        raise ValidationError(problems)
    async with svc.db.transaction() as session:
        # The advisory locks first, then the rows, in the order every locker takes them (a
        # rebuild does the same), so that no two wait on each other.
        locked = set(await session.scalars(select(ProductVariant.id).where(
            ProductVariant.product_id == product.id)))
        await lock_variants(session, locked, shared=False)
        existing = {_options_key(v.options): v for v in await session.scalars(
            select(ProductVariant).where(ProductVariant.product_id == product.id)
            .order_by(ProductVariant.id).with_for_update())}
        committed = await committed_units(session, [v.id for v in existing.values()])
        listed: set[tuple[tuple[str, str], ...]] = set()
        for index, item in enumerate(data.variants):
            key = _options_key(item.options)
            listed.add(key)
            variant = existing.get(key)
            if variant is None:
                variant = ProductVariant(product_id=product.id, host_id=product.host_id,
                                         options=dict(item.options),
                                         label=variant_label(item.options))
                session.add(variant)
                existing[key] = variant
            else:
                held, sold = committed.get(variant.id, (0, 0))
                if item.stock < held + sold:
                    raise StockBelowCommitted(
                        f"{held + sold} units of this variant are held or sold; its stock "
                        f"cannot be {item.stock}", field=f"variants[{index}].stock",
                        extra={"held": held, "sold": sold})
            variant.stock = item.stock
            variant.price_minor = item.price_minor
            variant.position = index
            variant.active = True
        for key, variant in existing.items():
            if key not in listed:
                variant.active = False
        created = [v for v in existing.values() if v.id is None]
        await session.flush()
        for variant in existing.values():
            # A variant another edit created meanwhile is not ours to recount (its buys do
            # not wait for our locks); the variants we locked, and those we created, are.
            if variant.id in locked or variant in created:
                await _rebuild(svc, session, variant)
    return await product_variants(svc, product)


def _options_key(options: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(options.items()))


async def committed_units(session: AsyncSession,
                          variant_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Units of each variant held by orders awaiting payment, and sold (paid or completed)."""
    if not variant_ids:
        return {}
    rows = await session.execute(
        select(OrderLine.variant_id, Order.status, func.sum(OrderLine.quantity))
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.variant_id.in_(variant_ids),
               Order.status.in_(HELD_STATUSES + SOLD_STATUSES))
        .group_by(OrderLine.variant_id, Order.status))
    out: dict[int, tuple[int, int]] = {}
    for variant_id, status, units in rows:
        held, sold = out.get(variant_id, (0, 0))
        if status in HELD_STATUSES:
            held += int(units)
        else:
            sold += int(units)
        out[variant_id] = (held, sold)
    return out


# Rebuild and check ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantReconcile:
    variant_id: int
    counts: variant_stock.Counts


async def reconcile_variant(svc: Services, variant_id: int) -> VariantReconcile:
    """Rebuild one variant's Redis keys from PostgreSQL. Its advisory lock is held exclusive
    while Redis is rewritten: buys hold it shared from before their Redis hold until their
    commit, so every hold made so far is either committed (and counted) or rolled back (and
    dropped)."""
    async with svc.db.transaction() as session:
        await lock_variants(session, [variant_id], shared=False)
        variant = await session.scalar(select(ProductVariant).where(
            ProductVariant.id == variant_id).with_for_update())
        if variant is None:
            raise VariantNotFound(f"variant {variant_id} does not exist", field="variant_id")
        counts = await _rebuild(svc, session, variant)
    return VariantReconcile(variant_id, counts)


async def _rebuild(svc: Services, session: AsyncSession,
                   variant: ProductVariant) -> variant_stock.Counts:
    rows = (await session.execute(
        select(Order.id, Order.user_id, Order.status, OrderLine.quantity)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(OrderLine.variant_id == variant.id,
               Order.status.in_(HELD_STATUSES + SOLD_STATUSES)))).all()
    holds: dict[int, str] = {}
    held = sold = 0
    for order_id, user_id, status, quantity in rows:
        state = "r" if status in HELD_STATUSES else "s"
        if state == "r":
            held += quantity
        else:
            sold += quantity
        holds[order_id] = f"{user_id}:{quantity}:{state}"
    counts = variant_stock.Counts(initial=variant.stock, available=variant.stock - held - sold,
                                  held=held, sold=sold)
    await variant_stock.rebuild(
        svc.redis, variant_stock.variant_keys(svc.keys, variant.host_id, variant.id), counts,
        holds)
    return counts


@dataclass(frozen=True)
class VariantInvariant:
    """`stock = available + held + sold` in Redis, the holds and PostgreSQL's orders agree with
    the counters, and no hold lacks an order in the matching status. Compare when no buy is
    in flight (between a hold and its commit Redis is ahead by that order)."""

    variant_id: int
    initial: int
    redis: variant_stock.Counts | None
    holds_held: int
    holds_sold: int
    pg_held: int
    pg_sold: int
    unbacked_holds: tuple[int, ...] = field(default=())

    @property
    def problems(self) -> list[str]:
        if self.redis is None:
            return [f"variant {self.variant_id}: its Redis counters are missing"]
        r = self.redis
        found = counter_problems(
            self.initial, r, r.held, held_word="held", holds=(self.holds_held, self.holds_sold),
            postgres=(self.pg_held, self.pg_sold), unbacked_holds=self.unbacked_holds)
        if r.initial != self.initial:
            found.append(f"redis initial {r.initial} != stock {self.initial}")
        return [f"variant {self.variant_id}: {p}" for p in found]

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_variant(svc: Services, variant_id: int) -> VariantInvariant:
    async with svc.db.session() as session:
        variant = await session.get(ProductVariant, variant_id)
        if variant is None:
            raise VariantNotFound(f"variant {variant_id} does not exist", field="variant_id")
        statuses = dict((await session.execute(
            select(Order.id, Order.status).join(OrderLine, OrderLine.order_id == Order.id)
            .where(OrderLine.variant_id == variant_id))).all())
        held, sold = (await committed_units(session, [variant_id])).get(variant_id, (0, 0))
    vk = variant_stock.variant_keys(svc.keys, variant.host_id, variant_id)
    counts = await variant_stock.read_counts(svc.redis, vk)
    holds = await svc.redis.hgetall(vk.holds)
    holds_held = holds_sold = 0
    unbacked = []
    for raw_order, raw_value in holds.items():
        value = raw_value.decode() if isinstance(raw_value, bytes) else str(raw_value)
        _, quantity, state = value.split(":")
        backing = HELD_STATUSES if state == "r" else SOLD_STATUSES
        if state == "r":
            holds_held += int(quantity)
        else:
            holds_sold += int(quantity)
        if statuses.get(int(raw_order)) not in backing:
            unbacked.append(int(raw_order))
    return VariantInvariant(variant_id, variant.stock, counts, holds_held, holds_sold, held,
                            sold, tuple(sorted(unbacked)))


async def all_variant_ids(svc: Services, product_id: int | None = None) -> list[int]:
    async with svc.db.session() as session:
        query = select(ProductVariant.id).order_by(ProductVariant.id)
        if product_id is not None:
            query = query.where(ProductVariant.product_id == product_id)
        return list(await session.scalars(query))
