"""A real Celery worker (and, where a test needs it, the beat scheduler) as subprocesses, on
this test run's database and Redis, plus a tiny HTTP server standing in front of the app's
webhook endpoint so tests can make a delivery fail or stall."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.context import Services
from tests.conftest import LiveServer
from tests.infra import ROOT, TestInfra, kept
from tests.orders.conftest import make_sale  # noqa: F401  (shared factory fixture)
from web.embedded import free_port, port_open


@dataclass
class CeleryProcess:
    process: subprocess.Popen[bytes]
    log_path: Path
    # Where this test's part of the log starts (a process kept across tests: tests.infra.kept).
    log_start: int = 0

    def log(self) -> str:
        return self.log_path.read_bytes()[self.log_start:].decode(errors="replace")

    def from_now(self) -> CeleryProcess:
        """The same process, its log read from here on."""
        return replace(self, log_start=self.log_path.stat().st_size)

    def stop(self) -> None:
        """Kill it and its pool: the tests that used it are done (a test that stops a worker
        mid-task does so itself), and its tasks and queue are the run's own. Celery's warm
        shutdown (SIGTERM) waited for the tasks in hand, up to the 15 s this waited; even
        idle, a worker took seconds to stop, and the beat has nothing to finish. A task it
        had taken stays unacknowledged in the run's Redis, not run again by the next worker."""
        if self.process.poll() is None:
            import psutil

            try:
                pool = psutil.Process(self.process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pool = []
            self.process.kill()  # first, so that it starts no new pool process
            self.process.wait(10)
            for child in pool:  # no longer ours to reap: init does
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()


def start_celery(infra: TestInfra, *args: str, ready: str, extra_env: dict[str, str] | None = None
                 ) -> CeleryProcess:
    (ROOT / ".data").mkdir(exist_ok=True)
    log_path = ROOT / ".data" / f"celery-{os.getpid()}-{args[0]}-{time.monotonic_ns()}.log"
    env = {**os.environ, **infra.env(), **(extra_env or {})}
    if args[0] == "worker":
        # A node name of this run's own (its queue is already: the Redis prefix).
        args = (*args, "--hostname", f"{infra.redis_prefix.rstrip(':')}-{time.monotonic_ns()}@%h")
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", *args],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    celery = CeleryProcess(process, log_path)
    deadline = time.monotonic() + 60
    while ready not in celery.log():
        if process.poll() is not None or time.monotonic() > deadline:
            celery.stop()
            raise RuntimeError(f"celery {args[0]} did not start:\n{celery.log()[-3000:]}")
        time.sleep(0.1)
    return celery


def start_solo_worker(infra: TestInfra, extra_env: dict[str, str] | None = None) -> CeleryProcess:
    """A worker that runs tasks in its own process, one at a time (no pool to manage)."""
    return start_celery(infra, "worker", "--pool", "solo", "--loglevel", "INFO",
                        "--without-gossip", "--without-mingle", "--without-heartbeat",
                        ready="ready.", extra_env=extra_env)


@pytest.fixture
def celery_worker(infra: TestInfra) -> CeleryProcess:
    """One prefork worker process (concurrency 1), so a test can find and kill the process that
    runs a task. Kept across consecutive tests that use it (tests.infra.kept); its `log()` is
    the test's own part."""
    return kept("celery_worker", lambda: start_celery(
        infra, "worker", "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat", ready="ready.")).from_now()


@pytest.fixture
def celery_beat(infra: TestInfra, tmp_path_factory: pytest.TempPathFactory) -> CeleryProcess:
    """The scheduler, with the sweeps a test waits on and the sale clock each half second;
    kept across consecutive tests that use it, as `celery_worker`."""
    return kept("celery_beat", lambda: start_celery(
        infra, "beat", "--loglevel", "INFO", "--schedule",
        str(tmp_path_factory.mktemp("beat") / "beat-schedule"), ready="beat: Starting",
        extra_env={"EXPIRE_SWEEP_SECONDS": "0.5", "ADVANCE_SALES_SECONDS": "0.5",
                   "UNWRITTEN_SWEEP_SECONDS": "0.5"})).from_now()


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def app_server(live_server: LiveServer) -> AppServer:
    """The app in its own uvicorn process, which the worker's webhooks reach over HTTP: the
    run's `live_server` (tests/conftest.py), whose INTERNAL_BASE_URL is its own address."""
    return AppServer(live_server.url, live_server.process)


Handler = Callable[[Request, int], Awaitable[Response]]


@dataclass
class WebhookGate:
    """Forwards webhook deliveries to the app, letting a test decide what each attempt does."""

    target: str
    port: int = 0
    attempts: int = 0
    handler: Handler | None = None
    events: dict[str, asyncio.Event] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def services(self, services: Services) -> Services:
        """`services` with the sandbox gateway's webhooks configured to go to this gate."""
        return replace(services, settings=replace(services.settings,
                                                  internal_base_url=self.base_url))

    def event(self, name: str) -> asyncio.Event:
        return self.events.setdefault(name, asyncio.Event())

    async def forward(self, request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items()
                   if k in ("content-type", "livesell-signature")}
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(self.target, content=body, headers=headers)
        return Response(answer.content, status_code=answer.status_code,
                        media_type="application/json")

    async def endpoint(self, request: Request) -> Response:
        self.attempts += 1
        if self.handler is not None:
            return await self.handler(request, self.attempts)
        return await self.forward(request)


@pytest.fixture
async def webhook_gate(app_server: AppServer) -> AsyncIterator[WebhookGate]:
    from orders.payments.sandbox import WEBHOOK_PATH

    gate = WebhookGate(target=app_server.url + WEBHOOK_PATH)
    gate.port = free_port()
    app = Starlette(routes=[Route(WEBHOOK_PATH, gate.endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=gate.port,
                                           log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=1))
    task = asyncio.get_running_loop().create_task(server.serve())
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", gate.port):
        assert time.monotonic() < deadline, "webhook gate did not start"
        await asyncio.sleep(0.02)
    yield gate
    server.should_exit = True
    await asyncio.wait_for(task, 10)
