"""Group-buy join benchmark: committed joins a second from ONE web process, with p99, against
the flash-sale buy measured in the same run on the same machine.

    python -m bench.groups            # the full run (make bench); writes BENCHMARKS.md
    python -m bench.groups --quick    # a smoke run in well under a minute; prints only

What it measures:
- One `livesell serve` process (as bench/buy.py starts it), the load client
  (`bench/loadgen.py`) in a process of its own, open loop: request i leaves at start + i/rate
  whatever the server does, and its latency counts from that scheduled time.
- Buyers: distinct users, each logged in and warmed by one `GET /api/me`.
- Steps at rising offered rates, each on a fresh group deal whose groups of 10 were opened
  beforehand with a free slot for every request (so every reply should be a join: the slot
  held by the join script and the member's order committed to PostgreSQL before the reply,
  the room told of the group's progress after the commit), and, at the same rate right
  after, the flash-sale buy on a fresh sale with a unit for every request. A step passes at
  p99 <= 50 ms with every reply accepted. The result is each one's highest passing rate, and
  their ratio: the numbers of a shared machine mean little alone, the ratio more.
- After each join step, `livesell check-groups`' check of the deal: the units and every
  group's slots as PostgreSQL has them.
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
    live_room_with_product,
    make_step,
)
from bench.common import post_request

DEFAULT_RATES = "100,200,300,450,600,800"
GROUP_SIZE = 10
# Each group is opened by a buyer of its own: the joins fill its other nine slots.
SLOTS_PER_GROUP = GROUP_SIZE - 1


def join_request(port: int, group_id: int, token: str) -> str:
    return post_request(port, f"/api/groups/{group_id}/join", token=token)


async def _deal_with_groups(services: Any, host: BenchHost, openers: list[int]) -> tuple[int, list[int]]:
    """A live room's group deal with one open group per opener: (deal id, group ids)."""
    from live import actions as live
    from orders import groups
    from orders.group_schemas import GroupDealIn

    units = len(openers) * GROUP_SIZE
    room, product = await live_room_with_product(services, host, units,
                                                 product_title="Bench tea set",
                                                 room_title="Bench group room")
    deal = await groups.create_deal(services, host, room.id, GroupDealIn(
        product_id=product.id, price_minor=1500, group_size=GROUP_SIZE, open_seconds=3600,
        units=units), lambda session: live.take_stock_for_sale(
            session, host, room.id, product.id, units))
    opened = [await groups.open_group(services, user_id, deal.id) for user_id in openers]
    return int(deal.id), [j.group_id for j in opened]


async def _deal_check(services: Any, deal_id: int) -> tuple[int, str]:
    """The deal's group orders in PostgreSQL, and what `livesell check-groups` says."""
    from sqlalchemy import func, select

    from orders.group_models import Group
    from orders.group_reconcile import check_deal
    from orders.models import Order

    async with services.db.session() as session:
        orders = await session.scalar(select(func.count()).where(
            Order.group_id.in_(select(Group.id).where(Group.deal_id == deal_id))))
    check = await check_deal(services, deal_id)
    return int(orders or 0), "clean" if check.ok else "; ".join(check.problems)


class GroupBench(pairs.PairBench):
    def join_step(self, server: Any, rate: float, seconds: float) -> Step:
        assert self.host is not None
        count = max(1, int(rate * seconds))
        group_count = -(-count // SLOTS_PER_GROUP)
        # The openers are buyers of their own, after the joiners: nobody joins their own group.
        self.buyers(count + group_count)
        openers = self.user_ids[count:count + group_count]
        deal_id, group_ids = self.run(_deal_with_groups(self.services, self.host, openers))
        requests = [join_request(server.port, group_ids[i // SLOTS_PER_GROUP], token)
                    for i, token in enumerate(self.tokens[:count])]
        step = make_step("join", "join", rate, self.load(server, requests, rate))
        orders, verdict = self.run(_deal_check(self.services, deal_id))
        step.orders = orders
        accepted = step.counts.get("accepted", 0)
        # Every accepted reply is a committed order (the openers' too); the check is exact.
        step.invariant = (verdict if orders >= accepted + group_count
                          else f"{orders} orders for {accepted} joins: **WRONG**")
        return step


def main() -> None:
    args, write, rates = pairs.arguments(__doc__.split("\n")[0], DEFAULT_RATES, "100,200")
    sys.path.insert(0, str(os.getcwd()))
    load_before = os.getloadavg()

    bench = GroupBench(args)
    with bench.serving() as server:
        steps = bench.alternate_with_buy(server, rates, args.seconds, "join", bench.join_step,
                                         warm_rate=50)

    best, ratio = pairs.best_rates(steps, ("join", "buy"))
    lines = [
        *pairs.opening("bench.groups", load_before,
                       f"Each join step: a fresh group deal with groups of {GROUP_SIZE} opened "
                       "beforehand, a free slot for every request, distinct logged-in buyers; "
                       "each join holds its slot in one Lua script and commits the member's "
                       "order to PostgreSQL before its reply, and the room hears the group's "
                       "progress after the commit. Then the flash-sale buy at the same rate on "
                       f"a fresh sale. A step passes at p99 <= {PASS_P99_MS:.0f} ms with every "
                       "reply accepted; `check` is the deal's invariant check after the step."),
        *pairs.table(steps, check=True),
        "",
        f"**Highest passing rate: group joins {best['join']:,.0f}/s, flash-sale buys "
        f"{best['buy']:,.0f}/s; join/buy ratio {ratio:.2f}.**",
        "",
        "The machine is shared (2 cores for the server, PostgreSQL, Redis, the client and "
        "other people's work, which ran during this run): the absolute rates move from run to "
        "run; the ratio of joins to buys, measured minutes apart in one run, is the figure to "
        "read. A join costs more than a buy by design: it is an ordinary route (one statement "
        "reading the group and taking the deal's advisory lock, the script, the order's "
        "INSERT, a commit per join) where the buy path batches its INSERTs and records no "
        "event; and each join's progress is published to the room.",
    ]
    pairs.publish(lines, write, "groups", "Group-buy joins")


if __name__ == "__main__":
    main()
