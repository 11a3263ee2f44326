"""Regular-price benchmark: how many committed regular-price buys, and cart checkouts of three
lines, a second ONE web process answers within 50 ms at p99, as ratios against the flash-sale
buy figure measured the same way in the same run.

    python -m bench.regular             # the full run (make bench); writes BENCHMARKS.md
    python -m bench.regular --quick     # a smoke run in about a minute; prints only

What it measures (issue 11), with bench/buy.py's machinery (`bench.buy.Bench`: the
`livesell serve` process, the open-loop client in its own process, logged-in buyers warmed by
one `GET /api/me`, latency counted from each request's scheduled time):
- flash sale: `POST /api/sales/{id}/buy`, a fresh sale with a unit per request;
- regular buy: `POST /api/rooms/{id}/buy` of one variant, quantity 1, a fresh variant with a
  unit per request, every buyer with a shipping address;
- cart checkout: `POST /api/rooms/{id}/cart/checkout` of a cart of three products' variants
  (filled in Redis before the step, as `PUT .../cart/{variant}` leaves it), one order of three
  lines per request, every line held by one script.
Each step runs at a fixed offered rate for a few seconds; a step passes when every reply is an
accepted, committed order and p99 <= 50 ms. The result of each kind is its highest passing
rate; after each step the variants' invariant (`stock = available + held + sold`, PostgreSQL
agreeing) is checked and the orders counted.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench import sections
from bench.buy import (
    PASS_P99_MS,
    Bench,
    FindMax,
    Server,
    Step,
    _machine,
    climb,
    make_step,
    new_key,
    start_server,
)
from bench.common import post_request

DEFAULT_FLASH_RATES = "300,600,1200,1800,2400,3000,3600"
DEFAULT_REGULAR_RATES = "50,100,150,200,250,300,400"
DEFAULT_CART_RATES = "50,75,100,150,200,250,300"
CART_LINES = 3


def regular_request(port: int, room_id: int, variant_id: int, token: str, key: str) -> str:
    return post_request(port, f"/api/rooms/{room_id}/buy", token=token, key=key,
                        body=f'{{"variant_id":{variant_id},"quantity":1}}')


def checkout_request(port: int, room_id: int, token: str, key: str) -> str:
    return post_request(port, f"/api/rooms/{room_id}/cart/checkout", token=token, key=key)


# Data -------------------------------------------------------------------------------------


async def _addresses(services: Any, user_ids: list[int]) -> None:
    from sqlalchemy import update

    from core.accounts import User

    address = {"name": "Bench buyer", "line1": "1 Bench Road", "line2": "", "city": "Shanghai",
               "region": "", "postal_code": "200001", "country": "CN", "phone": "+86 100 0000"}
    async with services.db.transaction() as session:
        await session.execute(update(User).where(User.id.in_(user_ids))
                              .values(shipping_address=address))


async def _shop(services: Any, host: Any, products: int, units: int) -> tuple[int, list[int]]:
    """A live room whose lineup has `products` products, each with one variant of `units`."""
    from live import actions as live
    from live.models import RoomStatus
    from live.schemas import ProductIn, RoomIn
    from orders import variants
    from orders.schemas import VariantsIn

    room = await live.create_room(services, host, RoomIn(title="Bench shop"))
    made = []
    for n in range(products):
        product = await live.create_product(services, host, ProductIn(
            title=f"Bench mug {n}", price_minor=800 + n, currency="USD", stock=1))
        made.append(product)
    await live.set_lineup(services, host, room.id, [p.id for p in made])
    await live.change_status(services, host, room.id, RoomStatus.LIVE)
    variant_ids = []
    for product in made:
        reply = await variants.set_variants(
            services, host, variants.ProductFacts(product.id, host.id, product.title,
                                                  product.price_minor, product.currency),
            VariantsIn.model_validate({"variants": [{"stock": units}]}))
        variant_ids.append(int(reply["variants"][0]["id"]))
    return room.id, variant_ids


async def _fill_carts(services: Any, room_id: int, user_ids: list[int],
                      variant_ids: list[int]) -> None:
    from orders.cart import cart_key

    async with services.redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.hset(cart_key(services, user_id, room_id),
                      mapping={str(v): 1 for v in variant_ids})
        await pipe.execute()


async def _check(services: Any, variant_ids: list[int]) -> tuple[int, str]:
    """Orders holding units of the variants, and what `livesell check-variants` says."""
    from sqlalchemy import func, select

    from orders import variants
    from orders.models import OrderLine

    async with services.db.session() as session:
        orders = await session.scalar(select(func.count(func.distinct(OrderLine.order_id)))
                                      .where(OrderLine.variant_id.in_(variant_ids)))
    problems = []
    for variant_id in variant_ids:
        problems += (await variants.check_variant(services, variant_id)).problems
    return int(orders or 0), "clean" if not problems else "; ".join(problems)


# Steps ------------------------------------------------------------------------------------


class RegularBench:
    def __init__(self, bench: Bench, server: Server, seconds: float) -> None:
        self.bench = bench
        self.server = server
        self.seconds = seconds
        self.addressed = 0

    def _buyers(self, count: int) -> list[str]:
        self.bench.buyers(count)
        if count > self.addressed:
            self.bench.run(_addresses(self.bench.services, self.bench.user_ids[:count]))
            self.addressed = count
        return self.bench.tokens[:count]

    def flash(self, rate: float) -> Step:
        return self.bench.step(self.server, rate, self.seconds)

    def regular(self, rate: float) -> Step:
        count = max(1, int(rate * self.seconds))
        tokens = self._buyers(count)
        assert self.bench.host is not None
        room_id, (variant_id,) = self.bench.run(_shop(self.bench.services, self.bench.host,
                                                      1, count))
        requests = [regular_request(self.server.port, room_id, variant_id, t, new_key())
                    for t in tokens]
        return self._finish("regular", rate, requests, [variant_id])

    def cart(self, rate: float) -> Step:
        count = max(1, int(rate * self.seconds))
        tokens = self._buyers(count)
        assert self.bench.host is not None
        room_id, variant_ids = self.bench.run(_shop(self.bench.services, self.bench.host,
                                                    CART_LINES, count))
        self.bench.run(_fill_carts(self.bench.services, room_id, self.bench.user_ids[:count],
                                   variant_ids))
        requests = [checkout_request(self.server.port, room_id, t, new_key()) for t in tokens]
        return self._finish("cart", rate, requests, variant_ids)

    def _finish(self, label: str, rate: float, requests: list[str],
                variant_ids: list[int]) -> Step:
        result = self.bench.load(self.server, requests, rate, seconds=self.seconds)
        step = make_step("product", label, rate, result)
        step.orders, step.invariant = self.bench.run(_check(self.bench.services, variant_ids))
        return step

    def find_max(self, name: str, rates: list[float]) -> FindMax:
        run = {"flash": self.flash, "regular": self.regular, "cart": self.cart}[name]
        return climb(name, rates, self.bench.settle, run,
                     lambda step: f"{name:>7} {step.rate:>6,.0f}/s  p50 {step.p50:6.1f}  "
                                  f"p99 {step.p99:7.1f}  max {step.worst:6.0f} ms  "
                                  f"errors {step.errors:,}  orders {step.orders}  "
                                  f"{step.invariant}")


# Report -----------------------------------------------------------------------------------


def report(kinds: dict[str, FindMax], seconds: float, load_before: tuple[float, ...]) -> str:
    flash = kinds["flash"].best
    lines = [
        f"One `livesell serve` process, {seconds:g}-second steps at fixed offered rates (open "
        f"loop), a step passing when every reply is an accepted order committed before its reply "
        f"and p99 <= {PASS_P99_MS:g} ms. Measured on {_machine()}; load average before the run "
        f"{', '.join(f'{v:.2f}' for v in load_before)}. **The machine was shared** with other "
        "engineers' work while this ran: the absolute figures move with that, so the "
        "comparison is the ratio against the flash-sale figure measured in the same run.",
        "",
        "| what | best passing rate/s | vs flash sale | p50 ms | p99 ms | server CPU | "
        "orders | invariant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    titles = {"flash": "flash-sale buy (`POST /api/sales/{id}/buy`)",
              "regular": "regular-price buy, one variant (`POST /api/rooms/{id}/buy`)",
              "cart": f"cart checkout, {CART_LINES} lines (`POST /api/rooms/{{id}}/cart/checkout`)"}
    for name, kind in kinds.items():
        best = kind.best_step()
        ratio = f"{kind.best / flash:.2f}" if flash else "n/a"
        if best is None:
            lines.append(f"| {titles[name]} | none passed | {ratio} | | | | | |")
            continue
        lines.append(f"| {titles[name]} | {kind.best:,.0f} | {ratio} | {best.p50:.1f} "
                     f"| {best.p99:.1f} | {best.cpu_pct('server'):.0f}% | {best.orders:,} "
                     f"| {best.invariant} |")
    lines += ["", "Every step:", "",
              "| what | offered/s | sent | accepted | other replies | p50 ms | p99 ms | max ms "
              "| orders | invariant | |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, kind in kinds.items():
        for step in kind.steps:
            other = ", ".join(f"{k} {v:,}" for k, v in sorted(step.counts.items())
                              if k != "accepted") or "none"
            lines.append(f"| {name} | {step.rate:,.0f} | {step.sent:,} "
                         f"| {step.counts.get('accepted', 0):,} | {other} | {step.p50:.1f} "
                         f"| {step.p99:.1f} | {step.worst:.0f} | {step.orders} "
                         f"| {step.invariant} | {'pass' if step.passed else 'fail'} |")
    # CPU per order at each kind's lowest step (not net of the idle server's own CPU): the
    # server's CPU seconds over the orders it committed. Less at the mercy of the neighbours
    # than the passing rate (a starved process spends its CPU all the same, only later).
    per_order = {name: (kind.steps[0].cpu.get("server", 0.0) * 1000.0 / max(kind.steps[0].orders or 0, 1),
                        kind.steps[0].rate) for name, kind in kinds.items() if kind.steps}
    flash_cpu = per_order.get("flash", (0.0, 0.0))[0]
    lines += ["", "Server CPU per committed order, at each kind's lowest step:", "",
              "| what | offered/s | server CPU ms per order | vs flash sale |", "|---|---|---|---|"]
    for name, (cpu_ms, rate) in per_order.items():
        ratio = f"{cpu_ms / flash_cpu:.1f}x" if flash_cpu else "n/a"
        lines.append(f"| {name} | {rate:,.0f} | {cpu_ms:.2f} | {ratio} |")
    lines += ["", "Why a regular buy costs more than a flash-sale buy "
              "(docs/decisions/0017-regular-price-orders-and-cart.md): it is one transaction of "
              "its own, through SQLAlchemy and the whole middleware stack (BEGIN; the address, a "
              "repeat of the key and the order id in one read; the variants' advisory locks; the "
              "variants; the room and its lineup's products; the hold script; the order, its "
              "lines and its event in one insert; COMMIT), where a flash-sale buy takes its own "
              "way in past the router and is one script and a share of one batched insert on "
              "asyncpg directly. A checkout of three lines costs about what a single buy does: "
              "the same statements, three lines instead of one. Regular buys do not come in "
              "rushes of thousands at one instant, so they are not batched; what would cut "
              "their cost next is the flash path's treatment (asyncpg directly, fewer "
              "statements), not a different design."]
    return "\n".join(lines)


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run; prints only")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each step")
    parser.add_argument("--flash-rates", default=DEFAULT_FLASH_RATES)
    parser.add_argument("--regular-rates", default=DEFAULT_REGULAR_RATES)
    parser.add_argument("--cart-rates", default=DEFAULT_CART_RATES)
    parser.add_argument("--write", action="store_true", help="write BENCHMARKS.md (the full run "
                        "writes it unless --quick)")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    rates = {name: [float(r) for r in text.split(",")][:2 if args.quick else None]
             for name, text in (("flash", args.flash_rates), ("regular", args.regular_rates),
                                ("cart", args.cart_rates))}
    load_before = os.getloadavg()
    bench = Bench(argparse.Namespace(quick=args.quick))
    server = None
    try:
        bench.setup()
        server = start_server("product", bench.env)
        bench.warm_up(server)
        runner = RegularBench(bench, server, seconds)
        runner.regular(50)  # the variant scripts and routes warmed, not counted
        kinds = {name: runner.find_max(name, rates[name]) for name in ("flash", "regular", "cart")}
    finally:
        if server is not None:
            server.stop()
        bench.close()
    text = report(kinds, seconds, load_before)
    print(text)
    if args.write or not args.quick:
        sections.write_section("regular", "Regular-price buys and cart checkouts", text)


if __name__ == "__main__":
    main()
