"""Red envelope grab benchmark: committed grabs a second from ONE web process, with p99,
against the flash-sale buy measured in the same run on the same machine.

    python -m bench.envelopes            # the full run (make bench); writes BENCHMARKS.md
    python -m bench.envelopes --quick    # a smoke run in well under a minute; prints only

What it measures:
- One `livesell serve` process (as bench/buy.py starts it), the load client
  (`bench/loadgen.py`) in a process of its own, open loop: request i leaves at start + i/rate
  whatever the server does, and its latency counts from that scheduled time.
- Viewers: distinct users, each logged in and warmed by one `GET /api/me`, and marked present
  in the rain's room as a websocket of the room would have them (a grab from outside the room
  is refused).
- Steps at rising offered rates, each on a fresh rain with an envelope for every request (so
  every reply should be a grab, committed to PostgreSQL before its reply), and, at the same
  rate right after, the flash-sale buy on a fresh sale with a unit for every request. A step
  passes at p99 <= 50 ms with every reply accepted. The result is each one's highest passing
  rate, and their ratio: the numbers of a shared machine mean little alone, the ratio more.
- The rain race: 5,000 distinct viewers within one second on 1,000 envelopes: exactly 1,000
  grabs, 4,000 told the rain is empty, amounts summing to the pool, nobody holding two.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from bench import pairs
from bench.buy import (
    PASS_P99_MS,
    BenchHost,
    Step,
    make_step,
    say,
)
from bench.common import post_request

DEFAULT_RATES = "300,600,1000,1500,2000,2600"
RACE_VIEWERS = 5000
RACE_ENVELOPES = 1000
RACE_POOL = 1_000_000


def grab_request(port: int, rain_id: int, token: str) -> str:
    return post_request(port, f"/api/rains/{rain_id}/grab", token=token)


async def _rain(services: Any, host: BenchHost, envelopes: int, pool: int,
                viewers: list[int]) -> int:
    """A live room of the bench host with an open rain of `envelopes` envelopes, and the
    `viewers` in it: marked present in the room (as a web process marks a viewer whose page
    holds a websocket of the room) for the hour, since a grab from outside the room is
    refused and the load client opens no websockets."""
    from engagement import rains
    from engagement.presence import mark_present
    from live import actions as live
    from live.models import RoomStatus
    from live.schemas import RoomIn

    room = await live.create_room(services, host, RoomIn(title="Bench rain room"))
    await live.change_status(services, host, room.id, RoomStatus.LIVE)
    rain = await rains.drop_rain(services, host, room.id, rains.RainTerms(
        envelope_count=envelopes, total_minor=pool, currency="USD", countdown_seconds=0,
        duration_seconds=600, min_minor=1))
    await mark_present(services.redis, services.keys, {room.id: viewers}, ttl_ms=3_600_000)
    return int(rain.id)


async def _rain_check(services: Any, rain_id: int) -> tuple[int, int, int, int]:
    """Envelopes held, distinct holders, the amounts they hold, and the rain's credits in the
    ledger."""
    from sqlalchemy import text

    async with services.db.session() as session:
        row = (await session.execute(text(
            "select count(user_id), count(distinct user_id), "
            "coalesce(sum(amount_minor) filter (where user_id is not null), 0), "
            "(select coalesce(sum(amount_minor), 0) from wallet_entries "
            " where rain_id = :r and kind = 'envelope') "
            "from envelopes where rain_id = :r"), {"r": rain_id})).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


class EnvelopeBench(pairs.PairBench):
    def rain(self, envelopes: int, pool: int, viewers: int) -> int:
        """A fresh rain, with the first `viewers` bench users in its room."""
        assert self.host is not None
        return int(self.run(_rain(self.services, self.host, envelopes, pool,
                                  self.user_ids[:viewers])))

    def grab_step(self, server: Any, rate: float, seconds: float) -> Step:
        count = max(1, int(rate * seconds))
        self.buyers(count)
        rain_id = self.rain(count, count * 100, count)
        requests = [grab_request(server.port, rain_id, t) for t in self.tokens[:count]]
        step = make_step("grab", "grab", rate, self.load(server, requests, rate))
        held, holders, _, _ = self.run(_rain_check(self.services, rain_id))
        step.orders = held
        step.invariant = ("clean" if held == holders == step.counts.get("accepted", 0)
                          else f"{held} held by {holders} for "
                               f"{step.counts.get('accepted', 0)} replies")
        return step

    def race(self, server: Any, viewers: int, envelopes: int, pool: int) -> tuple[Step, str]:
        self.buyers(viewers)
        rain_id = self.rain(envelopes, pool, viewers)
        requests = [grab_request(server.port, rain_id, t) for t in self.tokens[:viewers]]
        result = self.load(server, requests, float(viewers), connections=viewers,
                           max_connections=viewers)
        step = make_step("grab", "race", float(viewers), result)
        held, holders, held_minor, credited = self.run(_rain_check(self.services, rain_id))
        accepted = step.counts.get("accepted", 0)
        # Exact: nobody holds two, every credit is an envelope held, every accepted reply is a
        # committed grab (a grab the client gave up waiting for may be committed too), and
        # when every grab was answered, every envelope went out and the rest were told so.
        exact = (held == holders and credited == held_minor and accepted <= held <= envelopes
                 and (step.counts.get("rain_empty", 0) + accepted < viewers
                      or (held == envelopes and credited == pool)))
        verdict = (f"{held:,} envelopes held by {holders:,} distinct viewers, "
                   f"{credited:,} credited for {held_minor:,} held: "
                   + ("exact" if exact else "**WRONG**"))
        return step, verdict


def main() -> None:
    args, write, rates = pairs.arguments(__doc__.split("\n")[0], DEFAULT_RATES, "200,400")
    sys.path.insert(0, str(os.getcwd()))
    load_before = os.getloadavg()

    bench = EnvelopeBench(args)
    race: tuple[Step, str] | None = None
    # A step of 2,600/s for 5 s is 13,000 envelopes: more than the default cap of one rain.
    with bench.serving(RAIN_MAX_ENVELOPES="100000") as server:
        steps = bench.alternate_with_buy(server, rates, args.seconds, "grab", bench.grab_step,
                                         warm_rate=100)
        viewers, envelopes = (RACE_VIEWERS, RACE_ENVELOPES) if not args.quick else (1000, 200)
        race = bench.race(server, viewers, envelopes, RACE_POOL)
        say(f"race: {race[1]}; last reply {race[0].worst:.0f} ms after its scheduled time")

    best, ratio = pairs.best_rates(steps, ("grab", "buy"))
    lines = [
        *pairs.opening("bench.envelopes", load_before,
                       "Each step: a fresh rain with an envelope for every request, distinct "
                       "logged-in viewers, every grab committed to PostgreSQL before its reply; "
                       "then the flash-sale buy at the same rate on a fresh sale. A step passes "
                       f"at p99 <= {PASS_P99_MS:.0f} ms with every reply accepted."),
        *pairs.table(steps),
        "",
        f"**Highest passing rate: grabs {best['grab']:,.0f}/s, buys {best['buy']:,.0f}/s; "
        f"grab/buy ratio {ratio:.2f}.**",
    ]
    if race is not None:
        step, verdict = race
        replies = ", ".join(f"{k} {v:,}" for k, v in sorted(step.counts.items()))
        lines += ["", f"Rain race: {step.sent:,} distinct viewers within one second on one "
                  f"rain: replies {replies}; p99 {step.p99:.0f} ms, the last reply "
                  f"{step.worst:.0f} ms after its scheduled time; {verdict}."]
    lines += ["", "The machine is shared (2 cores for the server, PostgreSQL, Redis, the "
              "client and other people's work): the absolute rates move from run to run; the "
              "ratio of grabs to buys, measured minutes apart in one run, is the figure to "
              "read."]
    pairs.publish(lines, write, "envelopes", "Red envelope grabs")


if __name__ == "__main__":
    main()
