"""A task runs through RabbitMQ when CELERY_BROKER_URL says amqp://."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from analytics.models import BroadcastReport
from core.context import Services
from core.settings import Settings
from tests.conftest import poll_until
from tests.infra import TestInfra
from tests.workers.conftest import CeleryProcess, start_solo_worker
from web.embedded import port_open

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"

pytestmark = pytest.mark.skipif(not port_open("127.0.0.1", 5672),
                                reason="no RabbitMQ on 127.0.0.1:5672")


@pytest.fixture(scope="module")
def rabbit_worker(infra: TestInfra) -> Iterator[CeleryProcess]:
    worker = start_solo_worker(infra, extra_env={"CELERY_BROKER_URL": RABBITMQ_URL})
    yield worker
    worker.stop()


async def test_a_report_task_sent_through_rabbitmq_runs_on_the_worker(
        client, make_user, make_room, settings: Settings, services: Services, rabbit_worker):
    # given an ended room and a Celery app whose broker is RabbitMQ
    host = await make_user("host")
    room = await make_room(host, live=True)
    await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                      headers=host.headers)
    async with services.db.transaction() as session:
        # Remove what the Redis-broker path may have built, so only RabbitMQ can build it.
        report = await session.get(BroadcastReport, room["id"])
        if report is not None:
            await session.delete(report)
    from workers.app import make_celery  # builds the module's app from settings: after setup

    rabbit = make_celery(dataclasses.replace(settings, celery_broker_url=RABBITMQ_URL))

    # when the report task is sent through RabbitMQ
    rabbit.send_task("analytics.build_report", args=[room["id"]])

    # then the worker that listens on RabbitMQ builds the report
    async def built() -> bool:
        async with services.db.session() as session:
            return await session.get(BroadcastReport, room["id"]) is not None

    try:
        await poll_until(built, timeout=30, message="the report built through RabbitMQ")
    finally:
        with rabbit.connection_for_write() as connection:
            connection.default_channel.queue_delete(rabbit.conf.task_default_queue)
        rabbit.close()
    assert "amqp://" in rabbit_worker.log() and "analytics.build_report" in rabbit_worker.log()
