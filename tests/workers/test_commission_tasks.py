"""The commission settle task through a real Celery worker: frozen entries whose return window
is over are settled, once, however often the task runs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from core.context import Services
from orders.models import CommissionEntry
from tests.conftest import poll_until
from tests.orders.conftest import buy, pay

pytestmark = __import__("pytest").mark.slow


async def _paid(client, services: Services, buyer, sale_id: int, key: str) -> int:
    order = (await buy(client, buyer, sale_id, key)).json()["order"]
    response = await pay(client, services, order["id"])
    assert response.json()["outcome"] == "paid"
    return int(order["id"])


async def _statuses(services: Services) -> dict[int, str]:
    async with services.db.session() as session:
        rows = (await session.execute(
            select(CommissionEntry.order_id, CommissionEntry.status))).all()
        return {order_id: status for order_id, status in rows}


def test_the_settle_task_is_on_the_beat_schedule(settings):
    from workers.tasks import app as celery_app  # after the test settings are in the environment

    entry = celery_app.conf.beat_schedule["settle-commissions"]
    assert entry["task"] == "orders.settle_commissions"
    assert "orders.settle_commissions" in celery_app.tasks


async def test_the_worker_settles_entries_whose_window_is_over_once(
        celery_worker, make_user, make_sale, client, services: Services):
    # given three delivered orders: two whose return window ended, one still inside it
    sale = await make_sale(quantity=5)
    orders = [await _paid(client, services, await make_user(), sale.id, f"k{n}")
              for n in range(3)]
    for order_id in orders:
        completed = await client.post(f"/api/orders/{order_id}/complete",
                                      headers=sale.host.headers)
        assert completed.status_code == 200
    async with services.db.transaction() as session:
        await session.execute(update(CommissionEntry).where(
            CommissionEntry.order_id.in_(orders[:2])).values(
            frozen_until=func.now() - timedelta(minutes=1)))

    # when the settle task runs on the worker, twice
    from workers.tasks import settle_commissions

    settle_commissions.delay()
    settle_commissions.delay()

    # then the two are settled and the third stays frozen
    async def settled() -> bool:
        statuses = await _statuses(services)
        return [statuses[o] for o in orders[:2]] == ["settled", "settled"]

    await poll_until(settled, timeout=30, message="the due entries to settle")

    async def both_tasks_done() -> bool:
        return sum(1 for line in celery_worker.log().splitlines()
                   if "orders.settle_commissions[" in line and "succeeded" in line) >= 2

    await poll_until(both_tasks_done, timeout=30, message="both runs of the task to finish")
    statuses = await _statuses(services)
    assert statuses[orders[2]] == "frozen"
    async with services.db.session() as session:
        rows = (await session.execute(select(CommissionEntry.order_id, CommissionEntry.amount_minor,
                                             CommissionEntry.kind))).all()
    assert len(rows) == 3 and all(kind == "accrual" for _, _, kind in rows)
