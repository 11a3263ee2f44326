"""`livesell rebuild-reports --since 2026-11-01 --until 2026-11-30`: rebuild the reports of the
rooms that ended in a date range (days in UTC, both included), with a progress bar. The command
is `livesell`'s (web/cli.py), the one command line of operator commands; this module parses
its options and runs it.

Rebuilding is idempotent: the same recorded events and orders give the same reports.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TextIO

from analytics import actions
from core.context import Services
from core.settings import get_settings

BAR_WIDTH = 30


def parse_day(raw: str) -> datetime:
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


class ProgressBar:
    """`[#########.........]  12/40  room 123  3.1/s`, redrawn in place on a terminal, one
    line per 10% otherwise (a log file gets a readable record, not 40 carriage returns)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.interactive = stream.isatty()
        self.last_decile = -1

    def __call__(self, done: int, total: int, room_id: int) -> None:
        filled = BAR_WIDTH * done // total
        elapsed = max(time.monotonic() - self.started, 1e-6)
        line = (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:>{len(str(total))}}/{total}"
                f"  room {room_id}  {done / elapsed:.1f}/s")
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if done == total else ""))
        elif (decile := 10 * done // total) != self.last_decile or done == total:
            self.last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()


async def rebuild(since: datetime, until: datetime, stream: TextIO) -> int:
    services = Services.from_settings(get_settings(), pool_size=2)
    try:
        room_ids = await actions.rebuild_reports(services, since, until, ProgressBar(stream))
    finally:
        await services.close()
    return len(room_ids)


def main(argv: Sequence[str] | None = None, stream: TextIO | None = None) -> int:
    out = stream or sys.stdout
    parser = argparse.ArgumentParser(
        prog="livesell rebuild-reports",
        description="Rebuild the broadcast reports of rooms that ended between two days (UTC, "
                    "both included).")
    parser.add_argument("--since", type=parse_day, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--until", type=parse_day, help="last day, YYYY-MM-DD (default: today)")
    args = parser.parse_args(argv)
    since: datetime = args.since
    until: datetime = (args.until or datetime.now(UTC).replace(
        hour=0, minute=0, second=0, microsecond=0)) + timedelta(days=1)
    if until <= since:
        parser.error("--until must not be before --since")
    count = asyncio.run(rebuild(since, until, out))
    out.write(f"rebuilt {count} report{'' if count == 1 else 's'} of rooms that ended "
              f"{since:%Y-%m-%d} to {until - timedelta(days=1):%Y-%m-%d}\n")
    return 0

