"""Buy benchmark: an open-loop load of flash-sale buys over HTTP against ONE web process.

    python -m bench.buy                 # the full run (make bench); writes BENCHMARKS.md
    python -m bench.buy --quick         # a smoke run, prints only
    python -m bench.buy --rate 2000 --seconds 8

Requests are sent at a fixed arrival rate whatever the server does (open loop), and each
latency is measured from the request's *scheduled* send time, so a slow reply cannot hide
the queue behind it (no coordinated omission). Every buyer is a distinct user with a per-user
limit of 1 and a fresh Idempotency-Key. The sale holds fewer units than the run sends, so
the run has an accepting phase and a sold-out phase.

The same load then runs against the baseline endpoint (`bench/baseline_forupdate.py`): the
same app, authentication, order rows and reply, but stock decided by PostgreSQL
`SELECT … FOR UPDATE` on the product row. Both in the same run, on the same machine.

It starts its own PostgreSQL database and Redis key prefix (tests/infra.py), a uvicorn
process (uvloop, httptools, no access log) and drives it from this process with a minimal
HTTP/1.1 client on raw asyncio protocols over keep-alive connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import sections

ROOT = Path(__file__).resolve().parent.parent
# Connections opened before the run; more are opened if all are busy (and that cost counts).
WARM_CONNECTIONS = 200
# Beyond this many requests outstanding the server is hopelessly behind; the client sheds
# further arrivals (counted as "client_backlog") instead of opening ever more sockets.
MAX_CONNECTIONS = 1500
# A reply slower than this counts as a timeout (and its connection is dropped).
REQUEST_TIMEOUT_SECONDS = 15.0


# The load client -------------------------------------------------------------------------


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request outstanding."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: Any = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.total -= 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def send(self, raw: bytes) -> asyncio.Future[tuple[int, bytes]]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        length = 0
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line[15:])
        if len(self.buf) < end + 4 + length:
            return
        status = int(self.buf[9:12])
        body = bytes(self.buf[end + 4:end + 4 + length])
        del self.buf[:end + 4 + length]
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))


class Pool:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: deque[Conn] = deque()
        self.total = 0

    async def open(self) -> Conn:
        self.total += 1
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: Conn(self), self.host, self.port)
        await conn.ready
        return conn

    async def get(self) -> Conn:
        while self.idle:
            conn = self.idle.popleft()
            if not conn.transport.is_closing():
                return conn
        if self.total >= MAX_CONNECTIONS:
            raise RuntimeError("client connection limit reached")
        return await self.open()

    def put(self, conn: Conn) -> None:
        if not conn.transport.is_closing():
            self.idle.append(conn)


@dataclass
class Sample:
    scheduled: float
    done: float
    status: int
    code: str


def _code(status: int, body: bytes) -> str:
    if status == 201:
        return "accepted"
    for code in (b"sold_out", b"limit_reached", b"sale_unavailable"):
        if code in body:
            return code.decode()
    return f"http_{status}"


async def run_load(host: str, port: int, requests: list[bytes], rate: float) -> list[Sample]:
    pool = Pool(host, port)
    warm = await asyncio.gather(*(pool.open() for _ in range(WARM_CONNECTIONS)))
    pool.idle.extend(warm)
    loop = asyncio.get_running_loop()
    samples: list[Sample] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(raw: bytes, scheduled: float) -> None:
        try:
            conn = await pool.get()
        except RuntimeError:
            samples.append(Sample(scheduled, loop.time(), 0, "client_backlog"))
            return
        try:
            status, body = await asyncio.wait_for(conn.send(raw), REQUEST_TIMEOUT_SECONDS)
            pool.put(conn)
            samples.append(Sample(scheduled, loop.time(), status, _code(status, body)))
        except TimeoutError:
            conn.transport.close()
            samples.append(Sample(scheduled, loop.time(), 0, "timeout"))
        except (ConnectionError, OSError) as exc:
            samples.append(Sample(scheduled, loop.time(), 0, type(exc).__name__))

    start = loop.time() + 0.2
    for index, raw in enumerate(requests):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(one(raw, scheduled)))
    await asyncio.gather(*tasks)
    for conn in pool.idle:
        conn.transport.close()
    return samples


# Setup ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchHost:
    id: int
    is_ops: bool = False


@dataclass
class Target:
    name: str
    sale_id: int
    path: str
    warm_sale_id: int
    warm_path: str


async def _users(services: Any, count: int, tag: str) -> list[str]:
    from sqlalchemy import insert

    from core.accounts import User
    from core.security import sign_token

    rows: list[Any] = []
    # 5,000 rows x 5 columns per statement stays under PostgreSQL's 32,767 parameters.
    for first in range(0, count, 5000):
        async with services.db.transaction() as session:
            rows += (await session.execute(insert(User).values([
                {"email": f"b{tag}{n}@example.com", "display_name": f"b{n}",
                 "password_hash": "x", "role": "viewer"}
                for n in range(first, min(count, first + 5000))
            ]).returning(User.id, User.token_version))).all()
    # The buyers are logged in, as buyers in a live room are: their accounts are in Redis,
    # where the login put them (web.api_accounts.login -> web.auth.remember_account).
    from web.auth import Account, remember_account

    for first in range(0, len(rows), 500):
        await asyncio.gather(*(
            remember_account(services.redis, services.keys, Account(r.id, "b", "viewer",
                                                                     r.token_version))
            for r in rows[first:first + 500]))
    secret = services.settings.secret_key.reveal()
    return [sign_token(secret, r.id, r.token_version, 7200) for r in rows]


async def _sale(services: Any, host: BenchHost, quantity: int) -> int:
    from live import actions as live
    from live.models import RoomStatus
    from live.schemas import ProductIn, RoomIn
    from orders import sales
    from orders.schemas import SaleIn

    product = await live.create_product(services, host, ProductIn(
        title="Bench scarf", price_minor=1999, currency="USD", stock=quantity))
    room = await live.create_room(services, host, RoomIn(title="Bench room"))
    await live.set_lineup(services, host, room.id, [product.id])
    await live.change_status(services, host, room.id, RoomStatus.LIVE)
    sale = await sales.create_sale(services, host, room.id, SaleIn(
        product_id=product.id, price_minor=1500, quantity=quantity, per_user_limit=1,
        duration_seconds=3600), lambda session: live.take_stock_for_sale(
            session, host, room.id, product.id, quantity))
    return sale.id


async def _baseline_stock(services: Any, sale_id: int, quantity: int) -> None:
    """The baseline sells from the product row: give it the sale's units back there."""
    from sqlalchemy import update

    from live.models import Product
    from orders.models import Sale

    async with services.db.transaction() as session:
        sale = await session.get(Sale, sale_id)
        await session.execute(update(Product).where(Product.id == sale.product_id)
                              .values(stock=quantity))


def _requests(host: str, path: str, tokens: list[str]) -> list[bytes]:
    return [(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
             f"Idempotency-Key: {secrets.token_hex(8)}\r\nContent-Type: application/json\r\n"
             "Content-Length: 2\r\n\r\n{}").encode() for token in tokens]


# Reporting -------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


@dataclass
class Outcome:
    name: str
    offered_rate: float
    sent: int
    quantity: int
    accepted: int
    sold_out: int
    other: dict[str, int]
    accepted_per_s: float
    sold_out_per_s: float
    p50: float
    p99: float
    p50_accepted: float
    p99_accepted: float
    worst: float
    server_cpu: float
    extra: dict[str, Any] = field(default_factory=dict)


def summarize(name: str, samples: list[Sample], rate: float, quantity: int,
              server_cpu: float) -> Outcome:
    # Requests the client shed never reached the server: no latency to count for them.
    latencies = sorted((s.done - s.scheduled) * 1000 for s in samples
                       if s.code != "client_backlog")
    accepted = [s for s in samples if s.code == "accepted"]
    sold_out = [s for s in samples if s.code == "sold_out"]
    accepted_lat = sorted((s.done - s.scheduled) * 1000 for s in accepted)
    start = min(s.scheduled for s in samples)
    # Accepted buys per second while the sale was selling: from the first request to the
    # last accepted reply. Sold-out rejections per second: over their own span.
    accepted_span = (max(s.done for s in accepted) - start) if accepted else 1.0
    sold_out_span = ((max(s.done for s in sold_out) - min(s.done for s in sold_out))
                     if len(sold_out) > 1 else 1.0)
    other: dict[str, int] = {}
    for sample in samples:
        if sample.code not in ("accepted", "sold_out"):
            other[sample.code] = other.get(sample.code, 0) + 1
    return Outcome(name, rate, len(samples), quantity, len(accepted), len(sold_out), other,
                   len(accepted) / accepted_span, len(sold_out) / max(sold_out_span, 1e-3),
                   _percentile(latencies, 0.5), _percentile(latencies, 0.99),
                   _percentile(accepted_lat, 0.5), _percentile(accepted_lat, 0.99),
                   latencies[-1] if latencies else float("nan"), server_cpu)


def _machine() -> str:
    import psutil

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} CPUs ({cpu}), {psutil.virtual_memory().total / 2**30:.1f} GiB, "
            f"Python {platform.python_version()}, {platform.platform()}")


def report(outcomes: list[Outcome], load_before: tuple[float, ...], batches: str) -> str:
    lines = [
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `python -m bench.buy`; "
        f"machine: {_machine()}. Load average before the run: "
        + ", ".join(f"{x:.2f}" for x in load_before) + ".",
        "",
        "One uvicorn process (uvloop, httptools), local PostgreSQL and Redis, the load client "
        "in a third process on the same cores. Open loop: requests leave at a fixed rate and "
        "latency counts from each request's scheduled time. Every buyer is a distinct user "
        "(per-user limit 1) with its own Idempotency-Key; each accepted buy is committed to "
        "PostgreSQL before its reply.",
        "",
        "| endpoint | offered/s | sent | units | accepted | accepted buys/s | sold-out/s "
        "| p50 ms | p99 ms | p50 accepted | p99 accepted | max ms | other | server CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        other = ", ".join(f"{k}: {v}" for k, v in sorted(o.other.items())) or "none"
        lines.append(
            f"| {o.name} | {o.offered_rate:,.0f} | {o.sent:,} | {o.quantity:,} | {o.accepted:,} "
            f"| {o.accepted_per_s:,.0f} | {o.sold_out_per_s:,.0f} | {o.p50:.1f} | {o.p99:.1f} "
            f"| {o.p50_accepted:.1f} | {o.p99_accepted:.1f} | {o.worst:.0f} | {other} "
            f"| {o.server_cpu:.0f}% |")
    for rate in sorted({o.offered_rate for o in outcomes}):
        at_rate = {o.name.split(" ")[0]: o for o in outcomes if o.offered_rate == rate}
        product, baseline = at_rate.get("product"), at_rate.get("baseline")
        if product and baseline and baseline.accepted_per_s > 0:
            lines += ["", f"At {rate:,.0f}/s offered, accepted buys/s product / baseline = "
                      f"**{product.accepted_per_s / baseline.accepted_per_s:.1f}x**; p99 "
                      f"{product.p99:,.0f} ms vs {baseline.p99:,.0f} ms."]
    for rate in sorted({o.offered_rate for o in outcomes}):
        at_rate = {o.name.split(" ")[0]: o for o in outcomes if o.offered_rate == rate}
        product, diagnostic = at_rate.get("product"), at_rate.get("diagnostic:")
        if product and diagnostic:
            lines += ["", f"At {rate:,.0f}/s, the same buy path without the per-request user "
                      f"lookup accepted {diagnostic.accepted_per_s:,.0f}/s (p99 "
                      f"{diagnostic.p99:,.0f} ms) against the product endpoint's "
                      f"{product.accepted_per_s:,.0f}/s (p99 {product.p99:,.0f} ms)."]
    if batches:
        lines += ["", batches]
    lines += ["", "The buyers are logged in, as in a live room: each one's account is in Redis, "
              "where the login put it, so a buy authenticates with one HGETALL (then this "
              "process's principal cache); the diagnostic row skips even that. What holds it "
              "back: the buy itself is one Redis script and a share of one batched INSERT "
              "statement; the in-process figure shows what it does without HTTP, so the rest is "
              "the HTTP stack (uvicorn, Starlette middleware, JSON) and the load client, which "
              "share the cores. On a 2-core machine shared with the load client, PostgreSQL and "
              "Redis (see the load average), the numbers are lower bounds; the ratio to the "
              "baseline is the comparable figure."]
    return "\n".join(lines)


def write_section(text: str) -> None:
    sections.write_section("buy", "Flash-sale buys", text)


# The run --------------------------------------------------------------------------------


def start_server(app: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    from web.embedded import free_port, port_open

    port = free_port()
    (ROOT / ".data").mkdir(exist_ok=True)
    with open(ROOT / ".data" / f"bench-buy-{port}.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning", "--no-access-log", "--loop", "uvloop",
             "--http", "httptools", "--backlog", "4096"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start; see .data/bench-buy-{port}.log")
        time.sleep(0.05)
    return process, port


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(name: str, app: str, target_path: str, warm_path: str, env: dict[str, str],
            tokens: list[str], warm_tokens: list[str], rate: float, quantity: int) -> Outcome:
    import psutil

    process, port = start_server(app, env)
    try:
        host = f"127.0.0.1:{port}"
        loop = asyncio.new_event_loop()
        # Warm-up on another sale: connections, pools, imports, the Lua scripts' SHAs.
        loop.run_until_complete(run_load("127.0.0.1", port, _requests(host, warm_path,
                                                                      warm_tokens), 300))
        server = psutil.Process(process.pid)
        cpu_before = server.cpu_times()
        began = time.monotonic()
        samples = loop.run_until_complete(run_load("127.0.0.1", port,
                                                   _requests(host, target_path, tokens), rate))
        window = time.monotonic() - began
        cpu_after = server.cpu_times()
        loop.close()
    finally:
        stop_server(process)
    cpu = ((cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)) / window
    return summarize(name, samples, rate, quantity, cpu * 100)


@dataclass
class Plan:
    name: str
    app: str
    path: str
    rate: float
    quantity: int
    sale_id: int = 0
    warm_sale_id: int = 0
    tokens: list[str] = field(default_factory=list)
    warm_tokens: list[str] = field(default_factory=list)


PRODUCT_APP = "web.asgi:app"
BENCH_APP = "bench.baseline_forupdate:app"


def plans(rates: list[float], seconds: float, diagnostic: bool) -> list[Plan]:
    out = []
    for rate in rates:
        # Three quarters of the requests find a unit: each run sells out, then keeps refusing.
        quantity = max(1, int(rate * seconds) * 3 // 4)
        out.append(Plan("product (Redis Lua + batched commit)", PRODUCT_APP,
                        "/api/sales/{}/buy", rate, quantity))
        if diagnostic:
            out.append(Plan("diagnostic: product path, token checked without DB lookup",
                            BENCH_APP, "/bench/token-only/sales/{}/buy", rate, quantity))
        out.append(Plan("baseline (PostgreSQL SELECT … FOR UPDATE)", BENCH_APP,
                        "/bench/baseline/sales/{}/buy", rate, quantity))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run; prints only")
    parser.add_argument("--rates", default="300,1500",
                        help="offered buys per second, one run per rate and endpoint")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load")
    parser.add_argument("--no-diagnostic", action="store_true",
                        help="skip the run without the per-request user lookup")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    if args.quick:
        rates, args.seconds = [200.0], 2.0
    sys.path.insert(0, str(ROOT))
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    from core.context import Services
    from core.migrate import upgrade
    from core.models import import_all_models
    from core.settings import load_settings
    from tests.infra import start_infra, stop_infra

    import_all_models()
    load_before = os.getloadavg()
    runs = plans(rates, args.seconds, diagnostic=not (args.quick or args.no_diagnostic))
    outcomes: list[Outcome] = []
    notes: list[str] = []
    infra = start_infra()
    try:
        os.environ.update(infra.env())
        env = {**os.environ}
        upgrade(infra.database_url)
        setup_loop = asyncio.new_event_loop()
        services = Services.from_settings(load_settings())

        async def prepare() -> None:
            from core.accounts import Role, create_user

            async with services.db.transaction() as session:
                user = await create_user(session, email="bench-host@example.com",
                                         password="bench-password", display_name="Bench host",
                                         role=Role.HOST)
            host = BenchHost(user.id)
            for n, run in enumerate(runs):
                run.sale_id = await _sale(services, host, run.quantity)
                run.warm_sale_id = await _sale(services, host, 1000)
                run.tokens = await _users(services, int(run.rate * args.seconds), f"r{n}_")
                run.warm_tokens = await _users(services, 300, f"w{n}_")
                if run.app == BENCH_APP and "baseline" in run.path:
                    # The baseline sells from the product row: the units live there.
                    await _baseline_stock(services, run.sale_id, run.quantity)
                    await _baseline_stock(services, run.warm_sale_id, 1000)

        setup_loop.run_until_complete(prepare())
        for run in runs:
            print(f"-- {run.name}: {len(run.tokens)} buys at {run.rate:.0f}/s for "
                  f"{run.quantity} units", flush=True)
            outcome = measure(run.name, run.app, run.path.format(run.sale_id),
                              run.path.format(run.warm_sale_id), env, run.tokens,
                              run.warm_tokens, run.rate, run.quantity)
            outcomes.append(outcome)
            print(report([outcome], load_before, "").splitlines()[-1], flush=True)
            if run.app == PRODUCT_APP:
                notes.append(setup_loop.run_until_complete(
                    _batch_stats(services, run.sale_id, run.rate)))
                notes.append(setup_loop.run_until_complete(_invariant(services, run.sale_id)))
        if not args.quick:
            notes.append(setup_loop.run_until_complete(_in_process(services)))
        setup_loop.run_until_complete(services.close())
        setup_loop.close()
    finally:
        stop_infra(infra)
    text = report(outcomes, load_before, " ".join(notes))
    print(text)
    if not args.quick:
        write_section(text)


async def _batch_stats(services: Any, sale_id: int, rate: float) -> str:
    from sqlalchemy import func, select

    from orders.models import Order

    async with services.db.session() as session:
        orders = await session.scalar(select(func.count()).select_from(Order)
                                      .where(Order.sale_id == sale_id))
        commits = await session.scalar(select(func.count(func.distinct(Order.created_at)))
                                       .where(Order.sale_id == sale_id))
    return (f"At {rate:,.0f}/s the product endpoint's {orders:,} orders were committed in "
            f"{commits:,} transactions (batches of {orders / max(commits or 1, 1):.1f} on "
            "average).")


async def _in_process(services: Any, buyers: int = 3000) -> str:
    """The domain's buy path alone (Lua reserve + batched commit), called from this process
    with no HTTP, no authentication: what one process's orders code can do."""
    from core.accounts import Role, create_user
    from orders import buying
    from orders.runtime import close_runtime, runtime

    async with services.db.transaction() as session:
        user = await create_user(session, email="bench-host-2@example.com",
                                 password="bench-password", display_name="Bench host",
                                 role=Role.HOST)
    sale_id = await _sale(services, BenchHost(user.id), buyers)
    tokens = await _users(services, buyers, "ip")
    from core.security import read_token

    secret = services.settings.secret_key.reveal()
    user_ids = [parsed[0] for t in tokens if (parsed := read_token(secret, t))]
    writer = runtime(services).writer
    batches_before = writer.batches
    began = time.perf_counter()
    await asyncio.gather(*(buying.buy(services, uid, sale_id, "k", 1) for uid in user_ids))
    elapsed = time.perf_counter() - began
    batches = writer.batches - batches_before
    await close_runtime(services)
    return (f"In-process, without HTTP or authentication, {len(user_ids):,} concurrent buys "
            f"(each committed) took {elapsed:.2f} s: {len(user_ids) / elapsed:,.0f} buys/s in "
            f"{batches:,} batches.")


async def _invariant(services: Any, sale_id: int) -> str:
    from orders.reconcile import check_invariant

    result = await check_invariant(services, sale_id)
    return ("After it the invariant held (initial = available + reserved + sold, Redis and "
            "PostgreSQL agree)." if result.ok else f"INVARIANT BROKEN: {result.problems}")


if __name__ == "__main__":
    main()
