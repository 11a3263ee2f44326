"""A request's id travels into the Celery tasks it sends, and the workers' task outcomes reach
the web app's /metrics (through Redis), with a real worker."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from prometheus_client import REGISTRY

from tests.conftest import poll_until
from tests.infra import TestInfra
from tests.workers.conftest import CeleryProcess, start_solo_worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def json_worker(infra: TestInfra) -> Iterator[CeleryProcess]:
    worker = start_solo_worker(infra, extra_env={"LOG_FORMAT": "json"})
    yield worker
    worker.stop()


def _lines(worker: CeleryProcess) -> list[dict[str, object]]:
    lines = []
    for raw in worker.log().splitlines():
        if raw.startswith("{"):
            lines.append(orjson.loads(raw))
    return lines


async def test_a_task_sent_during_a_request_logs_with_the_request_id(
        json_worker: CeleryProcess, client, make_user, make_room) -> None:
    # given a live room
    host = await make_user("host")
    room = await make_room(host, live=True)

    # when the host ends it with a request id (the app sends analytics.build_report)
    response = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "ended"},
                                 headers={**host.headers, "X-Request-ID": "end-room-4711"})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "end-room-4711"

    # then the worker's lines about that task carry the request's id
    async def logged() -> bool:
        return any(line["request_id"] == "end-room-4711"
                   and "analytics.build_report" in str(line["msg"])
                   and "succeeded" in str(line["msg"]) for line in _lines(json_worker))

    await poll_until(logged, timeout=30, message="the task's lines with the request id")
    # and lines outside any request carry none
    assert any(line["request_id"] is None for line in _lines(json_worker))


async def test_task_outcomes_reach_the_web_metrics(json_worker: CeleryProcess, client,
                                                   make_user) -> None:
    from workers.app import app as celery_app

    ops = await make_user("ops")
    labels = {"task": "orders.expire_orders", "outcome": "success"}

    # when a task runs twice in the worker
    celery_app.send_task("orders.expire_orders")
    celery_app.send_task("orders.expire_orders")

    # then the web app's /metrics counts both
    async def counted() -> bool:
        response = await client.get("/metrics", headers=ops.headers)
        assert response.status_code == 200
        return REGISTRY.get_sample_value("livesell_celery_tasks_total", labels) == 2

    await poll_until(counted, timeout=30, message="two successes counted")
