"""What one process keeps for the grab path: the grab writer and the coalescing count of
envelopes left, and the tick that settles rains and draws when their time is up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from core.context import Services
from engagement.grab_writer import GrabWriter
from engagement.presence import keep_marking, tracker_of

if TYPE_CHECKING:
    from engagement.draws import FollowersOf
from realtime.publish import ServerEvent, publish_room

log = logging.getLogger(__name__)

# The room hears how many envelopes are left at most this often per rain and per process:
# live enough for a countdown of envelopes, where one event per grab would flood a rain of
# thousands of grabs a second.
LEFT_PUBLISH_INTERVAL_SECONDS = 0.25


class LeftTicker:
    """Coalesces the envelopes-left count of each rain into a few room events a second."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        # rain id -> (room id, envelopes left)
        self.left: dict[int, tuple[int, int]] = {}
        self.task: asyncio.Task[None] | None = None

    def changed(self, rain_id: int, room_id: int, left: int) -> None:
        # The smallest count wins: grabs of one rain only ever lower it.
        self.left[rain_id] = (room_id, min(left, self.left.get(rain_id, (room_id, left))[1]))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="rain-left")

    async def _run(self) -> None:
        while self.left:
            await asyncio.sleep(LEFT_PUBLISH_INTERVAL_SECONDS)
            pending, self.left = self.left, {}
            for rain_id, (room_id, left) in pending.items():
                try:
                    await publish_room(self.svc.redis, self.svc.keys, room_id,
                                       ServerEvent.RAIN, {"action": "left", "rain_id": rain_id,
                                                          "left": left})
                except Exception:  # the next tick (or the settle) tells the room again
                    log.warning("rain %s: publishing the count left failed", rain_id,
                                exc_info=True)


@dataclass
class Runtime:
    writer: GrabWriter
    ticker: LeftTicker
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


_runtimes: dict[int, Runtime] = {}


def runtime_of(svc: Services) -> Runtime:
    current = _runtimes.get(id(svc))
    if current is None:
        current = _runtimes[id(svc)] = Runtime(GrabWriter(svc.db), LeftTicker(svc))
    return current


async def close_runtime(svc: Services) -> None:
    current = _runtimes.pop(id(svc), None)
    if current is None:
        return
    await current.writer.close()
    for task in [*current.tasks, current.ticker.task]:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def tick(svc: Services, followers_of: FollowersOf | None = None) -> None:
    """Settle the rains and draw the draws whose time is up. Every web process runs it (and
    the Celery beat runs `settle_overdue`, for a deployment without web processes running):
    each settle and draw is a conditional move under the row's lock, so running it twice at
    once does it once."""
    from engagement import draws, rains

    await rains.settle_due_rains(svc)
    await draws.draw_due(svc, followers_of=followers_of)


# The beat's backstop leaves alone what a web process's tick (every second) should have done
# by now: only a rain or draw this late past its close is settled by a worker, so the two
# rarely meet (and when they do, the row lock makes one of them a no-op).
BACKSTOP_OVERDUE = timedelta(seconds=5)


async def settle_overdue(svc: Services, *, overdue_by: timedelta = BACKSTOP_OVERDUE,
                         followers_of: FollowersOf | None = None) -> dict[str, list[int]]:
    """The Celery beat's backstop of the tick (workers/engagement_tasks.py): settle the rains
    and draw the draws overdue by `overdue_by`, for a deployment whose web processes are all
    down. Each settle and draw is the same conditional move under the row's lock as the
    tick's, so either may run at any time, any number of times: each happens once."""
    from engagement import draws, rains

    return {"rains": await rains.settle_due_rains(svc, overdue_by=overdue_by),
            "draws": await draws.draw_due(svc, overdue_by=overdue_by,
                                          followers_of=followers_of)}


def start_ticking(svc: Services, interval_seconds: float,
                  followers_of: FollowersOf | None = None) -> None:
    """Run `tick` every `interval_seconds` in this process until `close_runtime`
    (`followers_of`: social's followers of a host, for the draws that follow the host), and
    mark the process's viewers present in their rooms as often."""

    async def forever() -> None:
        while True:
            started = time.monotonic()
            try:
                await tick(svc, followers_of)
            except Exception:
                log.exception("engagement tick failed")
            await asyncio.sleep(max(0.0, interval_seconds - (time.monotonic() - started)))

    loop = asyncio.get_running_loop()
    runtime_of(svc).tasks.append(loop.create_task(forever(), name="engagement-tick"))
    # Who is in each room, marked by a loop of its own: a slow tick (a big draw announced to
    # every entrant) must not let the marks lapse.
    runtime_of(svc).tasks.append(loop.create_task(
        keep_marking(tracker_of(id(svc)), svc.redis, svc.keys, interval_seconds),
        name="engagement-presence"))
