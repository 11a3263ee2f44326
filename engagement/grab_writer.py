"""Commit grabs to PostgreSQL in batches, before each grabber's reply (a
`core.batch_writer.BatchWriter`, as `orders.writer.OrderWriter` is).

A grab popped its envelope in Redis; here its owner is set on the envelope row and the ledger
entry that credits the grabber is inserted, in one statement that is its own transaction.
Grabs that arrive while a batch is being written go into the next one, so a burst of
thousands of grabs is a few dozen commits, and a lone grab is written at once.

The rain's row is share-locked by the statement: settling takes it `FOR UPDATE`, so a settle
waits for batches already writing, and a batch after it finds the rain settled and writes
nothing (the settle has already committed every grab Redis knew of).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from core.batch_writer import BatchWriter, Pending, driver_of
from core.db import Database
from engagement.errors import GrabConflict

# 1,000 grabs x 3 arrays is far below PostgreSQL's bind-parameter limit (the arrays are 3
# parameters whatever their length); a batch this large commits in tens of milliseconds.
MAX_BATCH = 1000
# One batch being committed while the next fills, and one spare for a slow commit.
WRITERS = 3

# One statement, one round trip: the batch as arrays, the rains share-locked while still
# dropped, each envelope given to its grabber only if it is still nobody's, and the credit
# entries inserted from what was claimed. A grab whose envelope was not claimed is answered
# by `committed_grabs` (it may have been committed already: a retry, or the settle).
CLAIM = """
WITH open_rains AS (
    SELECT id, currency FROM envelope_rains
    WHERE id = ANY(CAST($1 AS bigint[])) AND status = 'dropped' ORDER BY id FOR SHARE
), batch AS (
    SELECT * FROM unnest(CAST($2 AS bigint[]), CAST($3 AS bigint[]), CAST($4 AS bigint[]))
        AS b(rain_id, seq, user_id)
), claimed AS (
    UPDATE envelopes e SET user_id = b.user_id, grabbed_at = now()
    FROM batch b JOIN open_rains r ON r.id = b.rain_id
    WHERE e.rain_id = b.rain_id AND e.seq = b.seq AND e.user_id IS NULL
    RETURNING e.rain_id, e.seq, e.user_id, e.amount_minor, r.currency
), credited AS (
    INSERT INTO wallet_entries (user_id, currency, amount_minor, kind, rain_id, envelope_seq)
    SELECT user_id, currency, amount_minor, 'envelope', rain_id, seq FROM claimed
)
SELECT rain_id, seq, user_id, amount_minor FROM claimed
"""

COMMITTED = """
SELECT e.rain_id, e.seq, e.user_id, e.amount_minor FROM envelopes e
JOIN unnest(CAST($1 AS bigint[]), CAST($2 AS bigint[])) AS g(rain_id, user_id)
  ON e.rain_id = g.rain_id AND e.user_id = g.user_id
"""


@dataclass(frozen=True, slots=True)
class Grab:
    rain_id: int
    seq: int
    user_id: int


@dataclass(frozen=True, slots=True)
class Committed:
    """The envelope PostgreSQL holds for this grabber (the one Redis gave, or an earlier one)."""

    rain_id: int
    seq: int
    user_id: int
    amount_minor: int


_Item = Pending[Grab, Committed]


async def committed_grabs(conn: asyncpg.Connection,
                          grabs: list[Grab]) -> dict[tuple[int, int], Committed]:
    rows = await conn.fetch(COMMITTED, [g.rain_id for g in grabs], [g.user_id for g in grabs])
    return {(r["rain_id"], r["user_id"]): Committed(r["rain_id"], r["seq"], r["user_id"],
                                                     r["amount_minor"]) for r in rows}


class GrabWriter(BatchWriter[Grab, Committed]):
    """`submit(grab)`: the future resolves once PostgreSQL holds the grabber's envelope, or
    fails (GrabConflict: the envelope went to someone else; or the database's error)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, name="grab", max_batch=MAX_BATCH, writers=WRITERS)

    def _shutdown_error(self) -> Exception:
        return GrabConflict("the server is shutting down; try again")

    async def _settle_failed(self, conn: AsyncConnection | None, item: _Item,
                             exc: Exception) -> AsyncConnection | None:
        if isinstance(exc, asyncpg.UniqueViolationError) and conn is not None:
            # The grabber holds another envelope of this rain already (they grabbed before and
            # after a rebuild of Redis): that one stands.
            await self._answer_with_held(conn, item)
            return conn
        return await super()._settle_failed(conn, item, exc)

    async def _answer_with_held(self, conn: AsyncConnection, item: _Item) -> None:
        try:
            held = await committed_grabs(await driver_of(conn), [item.value])
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            return
        found = held.get((item.value.rain_id, item.value.user_id))
        if item.future.done():
            return
        if found is None:
            item.future.set_exception(GrabConflict("try again", field="rain_id"))
        else:
            item.future.set_result(found)

    async def _write_batch(self, conn: asyncpg.Connection, batch: list[_Item]) -> None:
        grabs = [item.value for item in batch]
        rows = await conn.fetch(CLAIM, sorted({g.rain_id for g in grabs}),
                                [g.rain_id for g in grabs], [g.seq for g in grabs],
                                [g.user_id for g in grabs])
        # Committed (autocommit: the statement was its own transaction).
        claimed = {(r["rain_id"], r["user_id"]): Committed(r["rain_id"], r["seq"], r["user_id"],
                                                            r["amount_minor"]) for r in rows}
        missing = [g for g in grabs if (g.rain_id, g.user_id) not in claimed]
        if missing:
            claimed.update(await committed_grabs(conn, missing))
        for item, grab in zip(batch, grabs, strict=True):
            done = claimed.get((grab.rain_id, grab.user_id))
            if item.future.done():
                continue
            if done is None:
                item.future.set_exception(GrabConflict(
                    "that envelope went to someone else while the rain was being rebuilt; "
                    "try again", field="rain_id"))
            else:
                item.future.set_result(done)
