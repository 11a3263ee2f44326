"""The analytics tasks through a real Celery worker, and the sweep on the real beat schedule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.models import BroadcastReport
from core.context import Services
from tests.analytics.conftest import Broadcast
from tests.conftest import poll_until
from tests.infra import TestInfra
from tests.workers.conftest import CeleryProcess, start_celery, start_solo_worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def analytics_worker(infra: TestInfra) -> Iterator[CeleryProcess]:
    worker = start_solo_worker(infra)
    yield worker
    worker.stop()


async def _report(services: Services, room_id: int) -> BroadcastReport | None:
    async with services.db.session() as session:
        return await session.get(BroadcastReport, room_id)


async def test_the_worker_builds_a_report_it_is_sent(
        analytics_worker: CeleryProcess, services: Services, broadcast: Broadcast) -> None:
    from workers.app import app

    # when the build task is enqueued twice (a duplicate delivery)
    app.send_task("analytics.build_report", args=[broadcast.room_id])
    app.send_task("analytics.build_report", args=[broadcast.room_id])

    # then the worker builds the one report
    async def built() -> bool:
        return await _report(services, broadcast.room_id) is not None
    await poll_until(built, timeout=30, message="the worker to build the report")

    async def both_ran() -> bool:
        return analytics_worker.log().count("analytics.build_report") >= 4  # received+succeeded
    await poll_until(both_ran, timeout=30, message="both deliveries to run")
    report = await _report(services, broadcast.room_id)
    assert report is not None
    assert (report.gmv_minor, report.net_gmv_minor, report.peak_viewers) == (21200, 11400, 3)


async def test_the_scheduled_sweep_builds_a_report_nobody_enqueued(
        analytics_worker: CeleryProcess, infra: TestInfra, tmp_path: Path, services: Services,
        broadcast: Broadcast) -> None:
    # given a room that ended without its build task (say the process crashed at that moment)
    assert await _report(services, broadcast.room_id) is None

    # when the scheduler runs
    beat = start_celery(infra, "beat", "--loglevel", "INFO", "--schedule",
                        str(tmp_path / "beat-schedule"), ready="beat: Starting",
                        extra_env={"REPORT_SWEEP_SECONDS": "0.5",
                                   "EXPIRE_SWEEP_SECONDS": "3600",
                                   "ADVANCE_SALES_SECONDS": "3600",
                                   "OUTBOX_RELAY_SECONDS": "3600"})
    try:
        # then the sweep builds the report
        async def built() -> bool:
            return await _report(services, broadcast.room_id) is not None
        await poll_until(built, timeout=30, message="the sweep to build the report")
    finally:
        beat.stop()
    report = await _report(services, broadcast.room_id)
    assert report is not None
    assert report.data["summary"]["unique_viewers"] == 5
