"""Buying in a flash sale: reserve in Redis, commit the order, reply; replays of an
idempotency key; units going back through `release.lua` (once per reservation); and the sweep
of reservations whose order was never written (docs/decisions/0013).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import orjson
from sqlalchemy import BigInteger, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from core.context import Services
from core.errors import ValidationError
from core.metrics import (
    BUY_ENDED,
    BUY_LIMIT_REACHED,
    BUY_NOT_STARTED,
    BUY_REPLAYED,
    BUY_RESERVED,
    BUY_SOLD_OUT,
    BUY_WRITE_FAILED,
)
from orders import stock
from orders.errors import (
    IdempotencyKeyRequired,
    LimitReached,
    RequestInProgress,
    SaleEnded,
    SaleNotStarted,
    SaleUnavailable,
    SoldOut,
)
from orders.logs import record_sale_event
from orders.models import (
    Order,
    OrderSource,
    Sale,
    SaleEventType,
    SaleStatus,
)
from orders.payments import get_provider
from orders.reconcile import REBUILD_WAIT_SECONDS, reconcile_sale
from orders.runtime import publish_stock, runtime
from orders.sources import OrderSourceRef
from orders.views import PlacedOrder, first_reply, replay_reply
from orders.writer import NewOrder, WrittenOrder

log = logging.getLogger(__name__)


# How long a repeat of an idempotency key waits for the first request's order to commit.
REPLAY_WAIT_SECONDS = 3.0
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_\-:.]{1,100}$")


def check_idempotency_key(key: str | None) -> str:
    if not key:
        raise IdempotencyKeyRequired("send an Idempotency-Key header (e.g. a UUID) with each buy",
                                     field="Idempotency-Key")
    if not IDEMPOTENCY_KEY.match(key):
        raise ValidationError([{"field": "Idempotency-Key",
                                "message": "1-100 characters of letters, digits and _-:."}])
    return key


async def buy(svc: Services, user_id: int, sale_id: int, idempotency_key: str | None,
              quantity: int = 1, source: OrderSourceRef | None = None) -> tuple[bytes, bool]:
    """Reserve in Redis, commit the order to PostgreSQL, and return the reply as JSON (and
    whether it is a replay of an earlier request with the same key). `source` is where the
    buyer pressed buy, already checked (orders/sources.py); none is the sale's live room."""
    key = check_idempotency_key(idempotency_key)
    rt = runtime(svc)
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    async with rt.redis_slots:
        result = await reserve_units(svc, sk, sale_id, user_id, key, quantity)
    code = result.code
    if code != stock.ReserveCode.RESERVED or result.terms is None:
        if code == stock.ReserveCode.DUPLICATE:
            BUY_REPLAYED.inc()
            # The first reply, kept in Redis once its order committed (orders/runtime.py); until
            # then, or if Redis lost it, PostgreSQL has the order.
            return result.reply or await replay_from_database(svc, sale_id, user_id, key), True
        raise refusal(result)
    BUY_RESERVED.inc()
    facts = result.terms
    new = NewOrder(sale_id=sale_id, room_id=facts.room_id, product_id=facts.product_id,
                   user_id=user_id, quantity=quantity,
                   amount_minor=facts.price_minor * quantity, currency=facts.currency,
                   idempotency_key=key, reservation_no=result.reservation_no,
                   epoch=result.epoch,
                   source_kind=source.kind if source else OrderSource.LIVE.value,
                   source_id=source.id if source else None)
    forget = stock.idem_field(user_id, key)
    pending = rt.writer.submit(new)
    try:
        # Shielded: if this request is cancelled (the buyer went away) the order's write goes
        # on, and its fate decides whether the units go back.
        written = await asyncio.shield(pending)
    except asyncio.CancelledError:
        pending.add_done_callback(
            lambda done: _release_if_unwritten(svc, done, new.sale_id, new.reservation_no,
                                               forget))
        raise
    except Exception:
        BUY_WRITE_FAILED.inc()
        # The order is not in PostgreSQL: its units go back (once, guarded by the holds hash)
        # and the key is forgotten, so the buyer may retry with it.
        await release_reservation(svc, sale_id, result.reservation_no, forget_key=forget)
        rt.publisher.changed(sale_id, facts.room_id)
        raise
    rt.publisher.changed(sale_id, facts.room_id)
    # The writer renders the reply (orders/runtime.py); one built without a renderer does not.
    return written.reply or orjson.dumps(first_reply(PlacedOrder(
        id=written.id, sale_id=sale_id, room_id=new.room_id, product_id=new.product_id,
        quantity=quantity, amount_minor=new.amount_minor, currency=new.currency,
        hold_expires_at=written.hold_expires_at, created_at=written.created_at,
        source_kind=new.source_kind, source_id=new.source_id),
        get_provider(svc.settings))), False


_background: set[asyncio.Task[None]] = set()


def _release_if_unwritten(svc: Services, done: asyncio.Future[WrittenOrder], sale_id: int,
                          reservation_no: int, forget_key: str) -> None:
    if not done.cancelled() and done.exception() is None:
        return
    task = asyncio.get_running_loop().create_task(
        release_reservation(svc, sale_id, reservation_no, forget_key=forget_key))
    _background.add(task)
    task.add_done_callback(_background.discard)


def refusal(result: stock.ReserveResult) -> Exception:
    """The error of a reserve script's answer that is neither a reservation nor a repeat of the
    key (also `orders.coupon_buying`'s)."""
    code = result.code
    if code == stock.ReserveCode.NOT_STARTED:
        BUY_NOT_STARTED.inc()
        return SaleNotStarted("the sale has not started yet", field="sale_id")
    if code == stock.ReserveCode.ENDED:
        BUY_ENDED.inc()
        return SaleEnded("the sale has ended", field="sale_id")
    if code == stock.ReserveCode.LIMIT_REACHED:
        BUY_LIMIT_REACHED.inc()
        return LimitReached("you have reached this sale's per-person limit", field="quantity",
                            extra={"held": result.held})
    if code == stock.ReserveCode.SOLD_OUT:
        BUY_SOLD_OUT.inc()
        return SoldOut("sold out" if result.available == 0
                       else f"only {result.available} left", field="quantity",
                       extra={"remaining": result.available})
    # The script answers one of the codes above, a repeat, or RESERVED with the sale's terms.
    return RuntimeError(f"the reserve script answered {code!r} without the sale's terms")


async def reserve_units(svc: Services, sk: stock.SaleKeys, sale_id: int, user_id: int, key: str,
                        quantity: int) -> stock.ReserveResult:
    """The reserve script, rebuilding the sale's keys first if they are missing, waiting out a
    rebuild in progress."""
    deadline = time.monotonic() + REBUILD_WAIT_SECONDS
    while True:
        result = await stock.reserve(svc.redis, sk, user_id, key, quantity)
        if result.code == stock.ReserveCode.MISSING:
            # Fail closed: never guess the stock. Rebuild it from PostgreSQL, then try again.
            log.warning("sale %s keys missing in Redis; rebuilding from PostgreSQL", sale_id)
            await reconcile_sale(svc, sale_id)
        elif result.code == stock.ReserveCode.PAUSED:
            await asyncio.sleep(0.02)
        else:
            return result
        if time.monotonic() > deadline:
            raise SaleUnavailable("the sale is being rebuilt; try again shortly")


async def replay_from_database(svc: Services, sale_id: int, user_id: int, key: str) -> bytes:
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    while True:
        async with svc.db.session() as session:
            order = await session.scalar(select(Order).where(
                Order.sale_id == sale_id, Order.user_id == user_id,
                Order.idempotency_key == key))
        if order is not None:
            return orjson.dumps(replay_reply(order, get_provider(svc.settings)))
        if time.monotonic() > deadline:
            raise RequestInProgress("a request with this Idempotency-Key is still being handled",
                                    field="Idempotency-Key")
        await asyncio.sleep(0.02)


async def release_reservation(svc: Services, sale_id: int, reservation_no: int, *,
                              sold: bool = False, forget_key: str = "") -> None:
    """Give units back to the sale's available count through the once-only path. If the keys
    are gone, the rebuild from PostgreSQL (where the order has already moved) does it."""
    result = await stock.release(svc.redis, stock.SaleKeys.of(svc.keys, sale_id), reservation_no,
                                 sold=sold, forget_key=forget_key)
    if result == stock.MISSING:
        await reconcile_sale(svc, sale_id)


# Reservations whose order was never written ----------------------------------------------------

# Overdue reservations of one sale that one sweep looks at. A sale's reservations number about
# its quantity (plus what expiry gives back) and each is looked at once, so this only paces the
# sweep right after a very large rush.
UNWRITTEN_SWEEP_BATCH = 1000
# Every order batch scans its sale's voided list once per row; past this many entries a rebuild
# (whose new epoch refuses them all) empties it. Only repeated crashes mid-rush get there.
VOIDED_REBUILD_THRESHOLD = 1000


async def release_unwritten_holds(svc: Services) -> dict[int, list[int]]:
    """Give back the units of reservations whose order never reached PostgreSQL (the process
    that made them died between the reserve script and the order's commit), and free their
    idempotency keys so the buyers can buy again. The scheduler runs this every few seconds.
    Returns the released reservation numbers by sale. See docs/decisions/0013."""
    async with svc.db.session() as session:
        sale_ids = list(await session.scalars(select(Sale.id).where(
            (Sale.status == SaleStatus.RUNNING.value)
            | ((Sale.status == SaleStatus.ENDED.value) & Sale.settled_at.is_(None)))))
    released: dict[int, list[int]] = {}
    for sale_id in sale_ids:
        done = await release_unwritten_of_sale(svc, sale_id)
        if done:
            released[sale_id] = done
    return released


async def release_unwritten_of_sale(svc: Services, sale_id: int) -> list[int]:
    """One sale's part of `release_unwritten_holds`.

    Each reservation is in the sale's unwritten zset, dated by the reserve script with the time
    its order is due (`stock.WRITE_DEADLINE_MS`). An overdue one whose order is in PostgreSQL is
    simply dropped from the zset. One without an order is voided on the sale row first, under
    `FOR UPDATE`: that waits for the order batches writing now (they hold the row `FOR SHARE`),
    so an order committing at this instant is seen and its units kept; and every later batch
    reads the voided list and refuses the reservation, so no order can commit for units that
    went back. Only after that commit are the units released, once, by release.lua, which also
    forgets the buyer's idempotency key while it still names this reservation."""
    sk = stock.SaleKeys.of(svc.keys, sale_id)
    overdue = {u.reservation_no: u for u in await stock.overdue_unwritten(
        svc.redis, sk, limit=UNWRITTEN_SWEEP_BATCH)}
    if not overdue:
        return []
    # No lock needed here: a committed order is final, whatever happens next.
    written = await _written_reservations(svc, sale_id, list(overdue))
    missing = [no for no in overdue if no not in written]
    voided: list[int] = []
    room_id = 0
    voided_total = 0
    if missing:
        async with svc.db.transaction() as session:
            sale = (await session.execute(
                select(Sale.room_id, Sale.voided_reservations).where(Sale.id == sale_id)
                .with_for_update())).one()
            room_id = sale.room_id
            # Read after the lock: batches that were writing have committed by now.
            late = set(await session.scalars(select(Order.reservation_no).where(
                Order.sale_id == sale_id, Order.reservation_no.in_(missing))))
            voided = [no for no in missing if no not in late]
            known = set(sale.voided_reservations)
            new = [no for no in voided if no not in known]
            voided_total = len(known) + len(new)
            if new:
                await session.execute(update(Sale).where(Sale.id == sale_id).values(
                    voided_reservations=func.array_cat(
                        Sale.voided_reservations,
                        bindparam("new_voided", new, type_=ARRAY(BigInteger)))))
                record_sale_event(session, sale_id, SaleEventType.RESERVATIONS_VOIDED, None,
                                  {"reservations": new})
    released: list[int] = []
    for no in voided:
        result = await stock.release(svc.redis, sk, no, forget_key=overdue[no].idem_field)
        if result == stock.MISSING:
            # The keys are gone: the rebuild from PostgreSQL (which has no such order) drops
            # every such hold at once, and its zset with it.
            await reconcile_sale(svc, sale_id)
            return released
        if result == 1:
            released.append(no)
    # A crash before this line leaves the entries for the next sweep, which finds the orders
    # still absent (they can no longer be written) and releases nothing twice.
    await stock.forget_unwritten(svc.redis, sk, [u.member for u in overdue.values()])
    if released:
        log.warning("sale %s: released %d reservations whose orders were never written: %s",
                    sale_id, len(released), released)
        await publish_stock(svc, sale_id, room_id)
    if voided_total > VOIDED_REBUILD_THRESHOLD:
        await reconcile_sale(svc, sale_id)
    return released


async def _written_reservations(svc: Services, sale_id: int, numbers: list[int]) -> set[int]:
    async with svc.db.session() as session:
        return set(await session.scalars(select(Order.reservation_no).where(
            Order.sale_id == sale_id, Order.reservation_no.in_(numbers))))

