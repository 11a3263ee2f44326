"""Reservations whose order never reached PostgreSQL (the web process died between the reserve
script and the order's commit): the sweep gives their units back once, frees the buyers' keys,
and never takes the units of an order that commits while it runs (docs/decisions/0013)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text

from core.context import Services
from orders import buying, reconcile, stock
from orders.errors import SaleUnavailable
from orders.models import Order, Sale, SaleEvent
from orders.reconcile import check_invariant
from orders.writer import NewOrder, OrderWriter, WrittenOrder, _Item
from tests.conftest import poll_until
from tests.orders.conftest import SaleSetup, buy


@pytest.fixture(autouse=True)
def overdue_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reservation is due in PostgreSQL the moment it is made, so a test need not wait
    out the real write deadline; a repeated key gives up waiting for its order quickly."""
    monkeypatch.setattr(stock, "WRITE_DEADLINE_MS", 0)
    monkeypatch.setattr(buying, "REPLAY_WAIT_SECONDS", 0.2)


@pytest.fixture
async def writer(services: Services) -> AsyncIterator[OrderWriter]:
    order_writer = OrderWriter(services.db, hold_seconds=600)
    yield order_writer
    await order_writer.close()


async def reserve_then_die(services: Services, sale: SaleSetup, user_id: int,
                           key: str) -> NewOrder:
    """What a web process does before it writes the order: the reserve script. Its order is
    returned unwritten, as the process died before writing it."""
    sk = stock.SaleKeys.of(services.keys, sale.id)
    result = await stock.reserve(services.redis, sk, user_id, key, 1)
    assert result.code == stock.ReserveCode.RESERVED and result.terms is not None
    terms = result.terms
    return NewOrder(sale_id=sale.id, room_id=terms.room_id, product_id=terms.product_id,
                    user_id=user_id, quantity=1, amount_minor=terms.price_minor,
                    currency=terms.currency, idempotency_key=key,
                    reservation_no=result.reservation_no, epoch=result.epoch)


async def orders_of(services: Services, sale_id: int) -> dict[int, str]:
    async with services.db.session() as session:
        return dict((await session.execute(select(Order.reservation_no, Order.status).where(
            Order.sale_id == sale_id))).all())


async def lock_waiters(services: Services) -> int:
    async with services.db.session() as session:
        return int(await session.scalar(text(
            "select count(*) from pg_stat_activity "
            "where datname = current_database() and wait_event_type = 'Lock'")) or 0)


@pytest.mark.redis6
async def test_a_reservation_left_by_a_dead_process_goes_back_and_the_buyer_can_buy_again(
        client, make_user, make_sale, services: Services):
    # given a sale of 3 units, one reserved by a process that died before writing the order,
    # whose buyer is answered "in progress" when they repeat the request
    sale = await make_sale(quantity=3)
    buyer = await make_user()
    lost = await reserve_then_die(services, sale, buyer.id, "lost")
    stuck = await buy(client, buyer, sale.id, "lost")
    assert stuck.json()["error"]["code"] == "request_in_progress"
    assert not (await check_invariant(services, sale.id)).ok

    # when the sweep runs
    released = await buying.release_unwritten_holds(services)

    # then the unit is back, nothing is reserved without an order, the reservation is voided on
    # the sale row, and the buyer's repeat of the same key now buys
    assert released == {sale.id: [lost.reservation_no]}
    assert await _checked_counts(services, sale.id) == stock.Counts(available=3, reserved=0, sold=0)
    async with services.db.session() as session:
        voided = await session.scalar(select(Sale.voided_reservations).where(Sale.id == sale.id))
        logged = await session.scalar(select(SaleEvent.data).where(
            SaleEvent.sale_id == sale.id, SaleEvent.type == "reservations_voided"))
    assert voided == [lost.reservation_no]
    assert logged == {"reservations": [lost.reservation_no]}
    again = await buy(client, buyer, sale.id, "lost")
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers

    # and a later sweep finds the new order written and releases nothing
    assert await buying.release_unwritten_holds(services) == {}
    sk = stock.SaleKeys.of(services.keys, sale.id)
    assert await services.redis.zcard(sk.unwritten) == 0
    assert await _checked_counts(services, sale.id) == stock.Counts(available=2, reserved=1, sold=0)


async def _waiting(services: Services, count: int) -> bool:
    """At least this many sessions wait on a lock."""
    return await lock_waiters(services) >= count


async def _checked_counts(services: Services, sale_id: int) -> stock.Counts | None:
    """The sale's counts in Redis, once its invariant is checked to hold."""
    report = await check_invariant(services, sale_id)
    assert report.ok, report.problems
    return report.redis


async def test_an_order_committing_while_the_sweep_runs_keeps_its_units(
        make_user, make_sale, services: Services, writer: OrderWriter):
    # given an overdue reservation whose order's INSERT has run but not yet committed
    sale = await make_sale(quantity=3)
    new = await reserve_then_die(services, sale, (await make_user()).id, "slow")
    item = _Item(new, asyncio.get_running_loop().create_future())
    async with services.db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        transaction = driver.transaction()
        await transaction.start()
        await writer._write_batch(driver, [item])

        # when the sweep runs meanwhile (it waits on the sale row) and then the order commits
        sweep = asyncio.create_task(buying.release_unwritten_of_sale(services, sale.id))
        await poll_until(lambda: _waiting(services, 1), message="the sweep to wait on the sale row")
        await transaction.commit()
        released = await sweep

    # then the sweep saw the order: nothing released, the unit stays the order's
    assert released == []
    assert await orders_of(services, sale.id) == {new.reservation_no: "pending_payment"}
    assert await _checked_counts(services, sale.id) == stock.Counts(available=2, reserved=1, sold=0)


async def test_an_order_written_while_the_sweep_voids_it_is_refused(
        make_user, make_sale, services: Services, writer: OrderWriter):
    # given an overdue reservation with no order, and a sweep held up just before its commit
    # (after it voided the reservation on the locked sale row)
    sale = await make_sale(quantity=3)
    new = await reserve_then_die(services, sale, (await make_user()).id, "late")
    async with services.db.engine.connect() as blocker:
        await blocker.begin()
        await blocker.execute(text("lock table sale_events in exclusive mode"))
        sweep = asyncio.create_task(buying.release_unwritten_of_sale(services, sale.id))
        await poll_until(lambda: _waiting(services, 1), message="the sweep to hold the sale row")

        # when the order's batch starts now (it waits on the sale row the sweep holds), and the
        # sweep then commits
        write = writer.submit(new)
        await poll_until(lambda: _waiting(services, 2), message="the batch to wait too")
        await blocker.rollback()
        released = await sweep
        with pytest.raises(SaleUnavailable):
            await write

    # then the batch read the voided list after the sweep's commit and refused the order: the
    # unit went back once and no order holds it
    assert released == [new.reservation_no]
    assert await orders_of(services, sale.id) == {}
    assert await _checked_counts(services, sale.id) == stock.Counts(available=3, reserved=0, sold=0)


async def test_sweeps_racing_late_writes_release_each_unit_once(
        make_buyers, make_sale, services: Services, writer: OrderWriter):
    # given 40 overdue reservations of 40 units, none written yet
    sale = await make_sale(quantity=40)
    buyers = await make_buyers(40)
    pending = [await reserve_then_die(services, sale, b.id, f"k{b.id}") for b in buyers]

    async def write(order: NewOrder) -> WrittenOrder | None:
        try:
            return await writer.submit(order)
        except SaleUnavailable:
            return None

    # when their orders are written while three sweeps run
    writes = asyncio.gather(*(write(o) for o in pending))
    sweeps = asyncio.gather(
        *(buying.release_unwritten_of_sale(services, sale.id) for _ in range(3)))
    results, swept = await asyncio.gather(writes, sweeps)

    # then each reservation has one fate: written and still reserved, or refused and its unit
    # released exactly once
    written = {o.reservation_no for o, r in zip(pending, results, strict=True) if r}
    released = [no for sweep in swept for no in sweep]
    assert len(released) == len(set(released))
    assert set(released) == {o.reservation_no for o in pending} - written
    assert set(await orders_of(services, sale.id)) == written
    assert await _checked_counts(services, sale.id) == stock.Counts(
        available=40 - len(written), reserved=len(written), sold=0)


async def test_a_rebuild_empties_the_voided_list(make_user, make_sale, services: Services):
    # given a reservation voided by the sweep
    sale = await make_sale(quantity=3)
    await reserve_then_die(services, sale, (await make_user()).id, "gone")
    assert await buying.release_unwritten_holds(services)

    # when the sale is rebuilt (its new epoch refuses every older reservation anyway)
    await reconcile.reconcile_sale(services, sale.id)

    # then the list every order batch reads is empty again
    async with services.db.session() as session:
        voided = await session.scalar(select(Sale.voided_reservations).where(Sale.id == sale.id))
    assert voided == []
