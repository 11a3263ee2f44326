"""The database engine, sessions and the declarative base.

PostgreSQL is the source of truth. Schema changes go through Alembic only
(`migrations/`); `Base.metadata` is what the migrations are checked against.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar

from sqlalchemy import BigInteger, DateTime, MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from core.metrics import POSTGRES_POOL_WAIT

Row = TypeVar("Row")

# Stable constraint names, so that Alembic migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True), int: BigInteger}


class MeteredQueuePool(AsyncAdaptedQueuePool):
    """The async engine's usual pool, timing each checkout (`livesell_pool_wait_seconds`):
    a wait here means every connection is busy, which requests feel before anything else."""

    def _do_get(self) -> ConnectionPoolEntry:
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            POSTGRES_POOL_WAIT.observe(time.perf_counter() - started)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> AsyncEngine:
    return create_async_engine(
        url,
        poolclass=MeteredQueuePool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: it costs a round trip on every checkout, on every request. A connection
        # that died (a server restart) fails its request once and is discarded; connections are
        # also recycled after 30 minutes so none outlives a failover for long.
        pool_pre_ping=False,
        pool_recycle=1800,
        # Sessions run in UTC so that now() and timestamps agree across hosts.
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "livesell"}},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def advisory_key(object_id: int) -> int:
    """An object's key within its advisory lock namespace. The two-key lock functions take
    int4s, so ids past 2^31 share a lock: more waiting, never less."""
    return object_id % 2_147_483_647


async def lock_advisory(session: AsyncSession, namespace: int, object_ids: Iterable[int], *,
                        shared: bool) -> None:
    """Hold the objects' advisory locks of `namespace` (a package's two letters, "VS") until the
    transaction ends, shared or exclusive. Several are taken in key order, so that two lockers
    never wait on each other in a cycle."""
    keys = sorted({advisory_key(object_id) for object_id in object_ids})
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    if len(keys) == 1:
        await session.execute(text(f"SELECT {function}(:namespace, :key)"),
                              {"namespace": namespace, "key": keys[0]})
    elif keys:
        await session.execute(text(
            f"SELECT {function}(:namespace, k) FROM unnest(CAST(:keys AS integer[])) AS k "
            "ORDER BY k"), {"namespace": namespace, "keys": keys})


async def database_now(session: AsyncSession) -> datetime:
    """The transaction's `now()`: the one clock every row of the transaction is dated by."""
    now = await session.scalar(text("SELECT now()"))
    if not isinstance(now, datetime):
        raise RuntimeError(f"PostgreSQL answered {now!r} to SELECT now()")
    return now


class Database:
    """One engine and its session factory, owned by the process (web app, worker, CLI)."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 20) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        self.sessions = make_sessionmaker(self.engine)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    async def get(self, model: type[Row], row_id: int, *, missing: Exception) -> Row:
        """The row of `model` with this primary key, read in a session of its own (its
        attributes stay loaded: sessions do not expire on commit); `missing` is raised when
        there is none."""
        async with self.sessions() as session:
            row = await session.get(model, row_id)
        if row is None:
            raise missing
        return row

    def with_session_info(self, **info: object) -> Database:
        """This database (the same engine and pool) whose sessions carry `info` in their
        `Session.info`."""
        twin = copy.copy(self)
        twin.sessions = make_sessionmaker(self.engine)
        twin.sessions.configure(info=info)
        return twin

    async def dispose(self) -> None:
        await self.engine.dispose()


# Imported for type checkers and for the migration environment.
__all__ = ["Base", "BigInteger", "Database", "make_engine", "make_sessionmaker"]
