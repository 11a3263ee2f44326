"""Shared fixtures: real PostgreSQL and Redis, the app, clients, factories, a live server."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, text

from core.accounts import Role, User, create_user
from core.context import Services
from core.migrate import upgrade
from core.security import configure_password_cost, sign_token
from core.settings import Settings, load_settings
from orders.runtime import runtime as orders_runtime
from realtime.publish import capture_published
from tests.infra import (
    KEPT_FIXTURES,
    ROOT,
    TestInfra,
    start_infra,
    stop_infra,
    stop_kept,
    stop_process,
)
from tests.rawhttp import RawClient, Reply
from web.app import create_app
from web.auth import Principal, issue_token
from web.embedded import free_port, port_open
from workers.handlers import wire

# Under pytest-xdist (`make pytest PYTEST_ARGS="-n 2 --dist loadgroup"`) each worker process
# has its own database, Redis prefix, servers and browsers (tests/infra.py). Tests go to a
# worker a file at a time; these folders go whole, since their files share a session's
# expensive fixtures: the browser and its server (e2e), nginx and ffmpeg (video), the hub's
# server (realtime, and engagement that uses it).
XDIST_GROUPED_FOLDERS = {"e2e": "e2e", "video": "video", "realtime": "realtime",
                         "engagement": "realtime"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep_processes_together(items)
    if not config.pluginmanager.hasplugin("xdist"):
        return
    tests_dir = ROOT / "tests"
    for item in items:
        relative = item.path.relative_to(tests_dir)
        group = XDIST_GROUPED_FOLDERS.get(relative.parts[0], relative.as_posix())
        item.add_marker(pytest.mark.xdist_group(group))


def keep_processes_together(items: list[pytest.Item]) -> None:
    """Within each folder, the tests that use a kept process (`tests.infra.kept`: a Celery
    worker, the beat) run after the others, grouped by the processes they use, each group in
    its collected order: one worker then serves a row of tests of several files, instead of
    starting and stopping around every test that does not use it (seconds each)."""
    first_of_folder: dict[Any, int] = {}
    for index, item in enumerate(items):
        first_of_folder.setdefault(item.path.parent, index)

    def place(pair: tuple[int, pytest.Item]) -> tuple[int, tuple[str, ...], int]:
        index, item = pair
        uses = tuple(sorted(KEPT_FIXTURES & set(getattr(item, "fixturenames", ()))))
        return first_of_folder[item.path.parent], uses, index

    items[:] = [item for _, item in sorted(enumerate(items), key=place)]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    stop_kept(set(nextitem.fixturenames) if nextitem is not None else None)  # type: ignore[attr-defined]


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(_NOT_RUN_DIR, ignore_errors=True)  # an earlier run's


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_kept(None)
    if os.environ.get("REDIS6_EVERY_SCRIPT") and not hasattr(session.config, "workerinput"):
        # Under pytest-xdist each worker ran some of the scripts on a Redis of its own
        # (`infra`): a script fails the pass only if no worker ran it.
        reports = list(_NOT_RUN_DIR.glob("*.json"))
        if reports:
            never = set.intersection(*(set(json.loads(r.read_text())) for r in reports))
            for report in reports:
                report.unlink()
            if never:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
                print(f"\n{NOT_RUN_MESSAGE}{', '.join(sorted(never))}")


_NOT_RUN_DIR = ROOT / ".data" / "test" / "redis6-not-run"
NOT_RUN_MESSAGE = ("these Redis scripts never ran in the Redis-6.2 pass: mark a test of each "
                   "`redis6` (Makefile, pytest-redis6): ")


@pytest.fixture(scope="session")
def infra() -> Iterator[TestInfra]:
    infra = start_infra()
    os.environ.update(infra.env())
    upgrade(infra.database_url)
    not_run: list[str] = []
    try:
        yield infra
        if os.environ.get("REDIS6_EVERY_SCRIPT"):
            not_run = scripts_not_run(infra.redis_url)
    finally:
        stop_infra(infra)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and os.environ.get("REDIS6_EVERY_SCRIPT"):
        _NOT_RUN_DIR.mkdir(parents=True, exist_ok=True)
        (_NOT_RUN_DIR / f"{worker}.json").write_text(json.dumps(not_run))
        return
    assert not not_run, NOT_RUN_MESSAGE + ", ".join(not_run)


def scripts_not_run(redis_url: str) -> list[str]:
    """The project's Lua scripts (`*/scripts/*.lua`) that the Redis at `redis_url` never ran.
    Redis keeps each script it ran (EVALSHA, after a SCRIPT LOAD) in its script cache, whichever
    process ran it, until a restart or SCRIPT FLUSH: `make pytest-redis6` runs on an embedded
    server of its own, and checks with this that every script ran there."""
    import redis

    paths = sorted(ROOT.glob("*/scripts/*.lua"))
    # As redis-py names a script: the SHA1 of its text (read as LuaScript reads it).
    shas = [hashlib.sha1(path.read_text().encode()).hexdigest() for path in paths]
    client = redis.Redis.from_url(redis_url)
    try:
        ran = client.script_exists(*shas)
    finally:
        client.close()
    return [str(path.relative_to(ROOT)) for path, seen in zip(paths, ran, strict=True) if not seen]


@pytest.fixture(scope="session")
def settings(infra: TestInfra) -> Settings:
    loaded = load_settings()
    # As the app does when it starts: the factories below hash at the tests' cost too.
    configure_password_cost(loaded.password_hash_time_cost, loaded.password_hash_memory_kib)
    return loaded


@pytest.fixture(scope="session")
async def services(settings: Settings) -> AsyncIterator[Services]:
    svc = wire(Services.from_settings(settings))
    yield svc
    await svc.close()


# The tables of this run's database: which tables each references, and whether it has
# triggers of its own (an append-only ledger refuses DELETE: it is truncated instead).
_TABLES = text(
    "select c.relname, coalesce(array_agg(distinct r.relname) filter (where r.relname is not null "
    "and r.relname <> c.relname), '{}'), exists(select 1 from pg_trigger t where t.tgrelid = c.oid "
    "and not t.tgisinternal) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
    "left join pg_constraint f on f.conrelid = c.oid and f.contype = 'f' "
    "left join pg_class r on r.oid = f.confrelid "
    "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition "
    "and c.relname <> 'alembic_version' group by c.oid, c.relname")


def deletion_order(references: dict[str, list[str]]) -> list[str] | None:
    """The tables, each before every table it references (so DELETE never breaks a foreign
    key nor sets off a referential action), or None when the references go round in a cycle."""
    order: list[str] = []
    left = {table: set(refs) & references.keys() for table, refs in references.items()}
    while left:
        # A table no table left references can go now.
        referenced = set().union(*left.values())
        free = sorted(t for t in left if t not in referenced)
        if not free:
            return None
        order.extend(free)
        for table in free:
            del left[table]
    return order


def emptying_block(rows: list[Any], superuser: bool) -> str:
    """One DO block that empties every table of `rows` (the `_TABLES` query's) with DELETE: the
    few rows a test leaves go in a millisecond, where TRUNCATE costs a new file per table and
    an fsync (a third of a second per test for the whole schema, even empty). When the role
    may (a superuser, as the tests' local PostgreSQL has), the block turns the tables'
    triggers off for itself (session_replication_role): foreign keys are not checked, so the
    order does not matter (the references go round in a cycle: orders and coupon claims), and
    an append-only ledger takes a DELETE. Otherwise tables go children first, a table with
    triggers of its own is truncated when it has rows, and the whole schema is truncated when
    the references go round. The block first checks that the schema still has as many tables:
    a test that migrates down and up again may change it, and the block is then made anew."""
    references = {row[0]: list(row[1]) for row in rows}
    triggered = {row[0] for row in rows if row[2]}
    order = deletion_order(references)
    if superuser:
        statements = ["perform set_config('session_replication_role', 'replica', true);",
                      *(f'delete from "{table}";' for table in sorted(references))]
    elif order is None:
        statements = ["truncate " + ", ".join(f'"{t}"' for t in references) + " cascade;"]
    else:
        statements = [f'delete from "{table}";' if table not in triggered else
                      f'if exists(select 1 from "{table}") then truncate "{table}" cascade; end if;'
                      for table in order]
    guard = ("if (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
             "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition "
             f"and c.relname <> 'alembic_version') <> {len(references)} then "
             "raise exception 'the schema changed' using errcode = 'LS001'; end if;")
    return "do $empty$ begin " + guard + " " + " ".join(statements) + " end $empty$"


_emptying: dict[str, str] = {}


async def empty_tables(engine: Any) -> None:
    """Every table of the schema emptied in one round trip (`emptying_block`, made once per
    schema): a round trip per statement cost more than the deleting (36 tables, a third of a
    second per test on a busy machine)."""
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        block = _emptying.get("block")
        if block is not None:
            try:
                await driver.execute(block)
                return
            except Exception as exc:  # the schema changed: a table gone, renamed or added
                if getattr(exc, "sqlstate", None) not in ("LS001", "42P01"):
                    raise
        rows = (await conn.execute(_TABLES)).all()
        superuser = bool(await conn.scalar(text(
            "select rolsuper from pg_roles where rolname = current_user")))
        await conn.rollback()
        block = _emptying["block"] = emptying_block(rows, superuser)
        await driver.execute(block)


async def settle_stock_news(services: Services) -> None:
    """Publish now the stock and units-left news the setup's moves left pending: it goes out
    coalesced, up to 250 ms after a move (orders/runtime.py), and would land in a capture of
    the published events that the test starts next. A flush waits for one under way."""
    news = orders_runtime(services)
    await news.publisher.flush()
    await news.units.flush()


@contextlib.asynccontextmanager
async def capture_news(services: Services) -> AsyncIterator[list[dict[str, Any]]]:
    """What is published inside the block (`realtime.publish.capture_published`), and nothing
    that the setup's coalesced stock news would have sent into it a moment later."""
    await settle_stock_news(services)
    with capture_published() as published:
        yield published


@pytest.fixture(autouse=True)
async def clean_state(services: Services) -> AsyncIterator[None]:
    """Every test starts with empty tables and no Redis keys of this run."""
    svc = services
    # The units left of products an earlier test moved go out coalesced, up to 250 ms later
    # (orders/runtime.py): published now (without waiting out the interval), before the keys
    # go, not into this test's capture; the sleeping publisher then wakes to nothing.
    await settle_stock_news(svc)
    # A worker or beat of an earlier test may still be finishing a transaction; our locks can
    # then deadlock with it. PostgreSQL aborts one side: ours is retried.
    for attempt in range(5):
        try:
            await empty_tables(svc.db.engine)
            break
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != "40P01" or attempt == 4:
                raise
    keys = [key async for key in svc.redis.scan_iter(match=f"{svc.keys.prefix}*", count=1000)]
    if keys:
        await svc.redis.delete(*keys)
    yield


@pytest.fixture(scope="session")
async def app(services: Services, settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings, services)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        yield http


@dataclass
class TestUser:
    __test__ = False  # a helper, not a test class

    id: int
    email: str
    password: str
    role: str
    display_name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def principal(self) -> Principal:
        return Principal(self.id, self.display_name, self.role, via_cookie=False)

    @property
    def is_ops(self) -> bool:
        return self.role == Role.OPS


@dataclass
class RoomOffer:
    """What a host offers in their live room (a flash sale, a group deal): the host, the room,
    the product, and the offer as the API answered it."""

    host: TestUser
    room: dict[str, Any]
    product: dict[str, Any]
    offer: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.offer["id"])


MakeUser = Callable[..., Awaitable[TestUser]]


@pytest.fixture
def make_user(services: Services, settings: Settings) -> MakeUser:
    counter = {"n": 0}

    async def make(role: str = "viewer", name: str | None = None) -> TestUser:
        counter["n"] += 1
        display = name or f"{role}{counter['n']}"
        email = f"{display.lower().replace(' ', '')}{counter['n']}@example.com"
        async with services.db.transaction() as session:
            user = await create_user(session, email=email, password="password123",
                                     display_name=display, role=Role(role))
        return TestUser(user.id, email, "password123", user.role, display, issue_token(settings, user))

    return make


@pytest.fixture
def make_product(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def make(host: TestUser, **overrides: Any) -> dict[str, Any]:
        body = {"title": "Silk scarf", "price_minor": 1999, "currency": "USD", "stock": 50,
                **overrides}
        response = await client.post("/api/products", json=body, headers=host.headers)
        assert response.status_code == 201, response.text
        product: dict[str, Any] = response.json()
        return product

    return make


@pytest.fixture
def make_room(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def make(host: TestUser, *, products: list[dict[str, Any]] | None = None,
                   live: bool = False, **overrides: Any) -> dict[str, Any]:
        response = await client.post("/api/rooms", json={"title": "Evening drop", **overrides},
                                     headers=host.headers)
        assert response.status_code == 201, response.text
        room: dict[str, Any] = response.json()
        if products:
            response = await client.put(f"/api/rooms/{room['id']}/lineup",
                                        json={"product_ids": [p["id"] for p in products]},
                                        headers=host.headers)
            assert response.status_code == 200, response.text
        if live:
            response = await client.post(f"/api/rooms/{room['id']}/status", json={"status": "live"},
                                         headers=host.headers)
            assert response.status_code == 200, response.text
        return room

    return make


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


def start_server(infra: TestInfra, extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    # The sandbox gateway's webhooks (sent by a worker) come back to this server.
    env = {**os.environ, **infra.env(), "ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
           "INTERNAL_BASE_URL": f"http://127.0.0.1:{port}", **(extra_env or {})}
    # The child keeps its own copy of the descriptor; ours is closed at once.
    with open(ROOT / ".data" / f"server-{port}.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start; see .data/server-{port}.log")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", process, port)


def stop_server(server: LiveServer) -> None:
    stop_process(server.process)


@pytest.fixture(scope="session")
def live_server(infra: TestInfra) -> Iterator[LiveServer]:
    """The app in its own uvicorn process, on a free port, for websocket and browser tests:
    one for the whole run (the browser tests' `server`, the workers' `app_server`), as a
    deployment's web process outlives its users' requests; tests isolate by their own data.
    (The hub tests of tests/realtime run a server of their own.)"""
    (ROOT / ".data").mkdir(exist_ok=True)
    # Less the ResourceWarning of the log file, whose descriptor the child keeps.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        server = start_server(infra)
        gc.collect()
    yield server
    stop_server(server)


async def insert_viewers(services: Services, settings: Settings, name: str,
                         numbers: range) -> list[TestUser]:
    """Viewers `{name}{n}` for each number, inserted in one statement (hashing thousands of
    passwords would take minutes), each with a valid bearer token."""
    async with services.db.transaction() as session:
        rows = (await session.execute(insert(User).values([
            {"email": f"{name}{n}@example.com", "display_name": f"{name}{n}",
             "password_hash": "not-a-hash", "role": "viewer"} for n in numbers
        ]).returning(User.id, User.email, User.display_name, User.token_version))).all()
    secret = settings.secret_key.reveal()
    return [TestUser(r.id, r.email, "", "viewer", r.display_name,
                     sign_token(secret, r.id, r.token_version, 3600)) for r in rows]


async def count_rows(services: Services, *models: Any) -> tuple[int, ...]:
    """How many rows each of these tables holds, in one session."""
    async with services.db.session() as session:
        return tuple([int(await session.scalar(select(func.count()).select_from(model)) or 0)
                      for model in models])


def tally(users: list[TestUser], replies: Sequence[httpx.Response | Reply],
          ) -> tuple[Counter[int | str], list[tuple[int, Any]]]:
    """A rush's replies counted by outcome (201, or the refusal's code), and each winner's id
    with the body of their 201."""
    outcomes: Counter[int | str] = Counter(
        r.status_code if r.status_code == 201 else r.json()["error"]["code"] for r in replies)
    won = [(user.id, reply.json()) for user, reply in zip(users, replies, strict=True)
           if reply.status_code == 201]
    return outcomes, won


async def warm_accounts(http: httpx.AsyncClient | RawClient, users: list[TestUser]) -> None:
    """Have the server read each account once (GET /api/me), as a real buyer's page does before
    a sale. Twenty at a time: a thousand first reads at once wait for the database pool, time
    out and are asked again, several times slower in all. Such a 503 (with Retry-After, on a
    loaded machine) is asked again, as a page would, so the rush that follows starts from warm
    accounts either way."""
    import asyncio

    at_once = asyncio.Semaphore(20)

    async def warm(user: TestUser) -> int:
        for _ in range(50):
            async with at_once:
                reply = await http.get("/api/me", headers=user.headers)
            if reply.status_code != 503:
                return reply.status_code
            await asyncio.sleep(0.2)
        return reply.status_code

    assert set(await asyncio.gather(*(warm(user) for user in users))) == {200}


async def poll_until(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0,
                     interval: float = 0.02, message: str = "condition") -> None:
    """Wait for `check()` to become true, failing after `timeout` seconds. Never a bare sleep."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        await asyncio.sleep(interval)
