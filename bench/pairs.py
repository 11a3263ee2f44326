"""Two paths measured side by side in one run (a path against the flash-sale buy): the command
line they share, the alternating step search and the table's rows (bench/envelopes.py,
bench/groups.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from bench import sections
from bench.buy import (
    Bench,
    Server,
    Step,
    _machine,
    buy_request,
    make_step,
    new_key,
    say,
    start_server,
)

# Two failed steps in a row end a path's climb.
FAILS_TO_STOP = 2


def arguments(description: str, default_rates: str, quick_rates: str,
              ) -> tuple[argparse.Namespace, bool, list[float]]:
    """The pair benchmarks' options: (args, write BENCHMARKS.md?, the offered rates)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a smoke run; prints only")
    parser.add_argument("--rates", default=default_rates)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--write", dest="write", action="store_true", default=None)
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    if args.quick:
        args.rates, args.seconds = quick_rates, 1.0
    # Bench's own knobs (bench.buy's settle pause, quick mode).
    args.profile = False
    write = args.write if args.write is not None else not args.quick
    return args, write, [float(r) for r in args.rates.split(",")]


def alternate(settle: float, rates: list[float], seconds: float,
              paths: dict[str, Callable[[float, float], Step]]) -> list[Step]:
    """Each offered rate, each path in turn (a pause before each step), a path left out after
    `FAILS_TO_STOP` failed steps in a row."""
    steps: list[Step] = []
    fails = dict.fromkeys(paths, 0)
    for rate in rates:
        for kind, run in paths.items():
            if fails[kind] >= FAILS_TO_STOP:
                continue
            asyncio.run(asyncio.sleep(settle))
            step = run(rate, seconds)
            steps.append(step)
            fails[kind] = 0 if step.passed else fails[kind] + 1
            say(f"{kind} {rate:>6,.0f}/s  p50 {step.p50:6.1f}  p99 {step.p99:7.1f}  "
                f"errors {step.errors:,}  server CPU {step.cpu_pct('server'):.0f}%  "
                f"{step.invariant}  {'pass' if step.passed else 'FAIL'}")
    return steps


def best_rates(steps: list[Step], kinds: tuple[str, str]) -> tuple[dict[str, float], float]:
    """Each path's highest passing rate, and the first's over the second's."""
    best = {kind: max((s.rate for s in steps if s.target == kind and s.passed), default=0.0)
            for kind in kinds}
    first, second = kinds
    return best, best[first] / best[second] if best[second] else float("nan")


def table(steps: list[Step], *, check: bool = False) -> list[str]:
    """The steps' table: a row each (`row`), with the invariant's column if `check`."""
    columns = ["path", "offered/s", "sent", "accepted", "other replies", "p50 ms", "p99 ms",
               "max ms", "server CPU", *(["check"] if check else [])]
    # The last column, unnamed, is the step's pass or fail.
    return ["| " + " | ".join(columns) + " | |", "|---" * (len(columns) + 1) + "|",
            *[row(s, check=check) for s in steps]]


def publish(lines: list[str], write: bool, name: str, heading: str) -> None:
    """Print the section, and write it into BENCHMARKS.md if `write`."""
    text = "\n".join(lines)
    print(text)
    if write:
        sections.write_section(name, heading, text)


def row(step: Step, *, check: bool = False) -> str:
    other = ", ".join(f"{k} {v:,}" for k, v in sorted(step.counts.items())
                      if k != "accepted") or "none"
    checked = f"{step.invariant or '-'} | " if check else ""
    return (f"| {step.target} | {step.rate:,.0f} | {step.sent:,} | "
            f"{step.counts.get('accepted', 0):,} | {other} | {step.p50:.1f} | {step.p99:.1f} | "
            f"{step.worst:.0f} | {step.cpu_pct('server'):.0f}% | {checked}"
            f"{'pass' if step.passed else '**fail**'} |")


class PairBench(Bench):
    """A bench whose second path is the flash-sale buy."""

    def buy_step(self, server: Any, rate: float, seconds: float) -> Step:
        """The flash-sale buy at `rate` on a fresh sale with a unit for every request."""
        count = max(1, int(rate * seconds))
        self.buyers(count)
        sale_id = self.product_sale(count)
        requests = [buy_request(server.port, sale_id, t, new_key()) for t in self.tokens[:count]]
        return make_step("buy", "buy", rate, self.load(server, requests, rate))

    @contextlib.contextmanager
    def serving(self, **env: str) -> Iterator[Server]:
        """The bench set up, and one `livesell serve` process on it (with `env` over the bench's
        environment) until the block ends; then both cleaned up."""
        self.setup()
        server = start_server("product", {**self.env, **env})
        try:
            yield server
        finally:
            server.stop()
            self.close()

    def alternate_with_buy(self, server: Any, rates: list[float], seconds: float, kind: str,
                           step: Callable[[Any, float, float], Step], warm_rate: float,
                           ) -> list[Step]:
        """Both paths warmed up at `warm_rate` (not counted), then `alternate`d: the path
        `kind`, run by `step`, and the flash-sale buy."""
        say("warming up (not counted)")
        step(server, warm_rate, 0.5)
        self.buy_step(server, warm_rate, 0.5)
        return alternate(self.settle, rates, seconds, {
            kind: lambda rate, seconds: step(server, rate, seconds),
            "buy": lambda rate, seconds: self.buy_step(server, rate, seconds)})


def opening(module: str, load_before: tuple[float, float, float], steps: str) -> list[str]:
    """A pair benchmark's section up to its table: the run, the set-up, and what `steps` did."""
    return [run_line(module, load_before), "",
            "One `livesell serve` process; the load client in a process of its own, open loop "
            "(latency from each request's scheduled time). " + steps, ""]


def run_line(module: str, load_before: tuple[float, float, float]) -> str:
    """The first line of a pair benchmark's section: when, by which command, on what."""
    return (f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `python -m {module}"
            f"{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`; machine: {_machine()}. "
            "Load average before the run: " + ", ".join(f"{x:.2f}" for x in load_before) + ".")
