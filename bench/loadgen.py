"""The buy benchmark's load client, run in its own process: `python -m bench.loadgen SPEC OUT`.

SPEC is a JSON file written by `bench.buy`; OUT receives the samples and the CPU each watched
process used during the timed phase. The client is a minimal HTTP/1.1 client on raw asyncio
protocols (uvloop when present) over keep-alive connections, because a full HTTP client library
would cost more CPU than the server it measures on a 2-core machine.

Two phases:
- warm (optional): requests sent closed-loop, a few at a time (the buyers' `GET /api/me`);
- timed: open loop. Request i leaves at start + i / rate whatever the server does, and its
  latency counts from that scheduled time, so a slow reply cannot hide the queue behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson
import psutil


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request outstanding."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: Any = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bytes]] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.total -= 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def send(self, raw: bytes) -> asyncio.Future[tuple[int, bytes, bytes]]:
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
            waiter.set_result((status, head, body))


class Pool:
    def __init__(self, host: str, port: int, max_connections: int) -> None:
        self.host, self.port = host, port
        self.max_connections = max_connections
        self.idle: deque[Conn] = deque()
        self.total = 0

    async def open(self) -> Conn:
        self.total += 1
        try:
            _, conn = await asyncio.get_running_loop().create_connection(
                lambda: Conn(self), self.host, self.port)
        except BaseException:
            self.total -= 1
            raise
        return conn

    async def get(self) -> Conn:
        while self.idle:
            conn = self.idle.popleft()
            if not conn.transport.is_closing():
                return conn
        if self.total >= self.max_connections:
            raise RuntimeError("client connection limit reached")
        return await self.open()

    def put(self, conn: Conn) -> None:
        if not conn.transport.is_closing():
            self.idle.append(conn)


def reply_kind(status: int, head: bytes, body: bytes) -> str:
    """accepted, replayed, or the error code of the reply (sold_out, limit_reached, ...)."""
    if status in (200, 201):
        return "replayed" if b"idempotent-replayed: true" in head else "accepted"
    try:
        return str(orjson.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{status}"


class Watch:
    """CPU seconds (user + system) of groups of processes, between two snapshots."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.procs: dict[str, list[psutil.Process]] = {}
        for name, pids in groups.items():
            self.procs[name] = []
            for pid in pids:
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.procs[name].append(psutil.Process(pid))

    def snapshot(self) -> dict[int, tuple[float, float]]:
        """pid -> (user + system, system) CPU seconds."""
        out: dict[int, tuple[float, float]] = {}
        for procs in self.procs.values():
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    out[proc.pid] = (times.user + times.system, times.system)
        return out

    def used(self, before: dict[int, tuple[float, float]],
             after: dict[int, tuple[float, float]]) -> dict[str, float]:
        """CPU seconds of each group, and of its kernel time as `NAME_system`."""
        out: dict[str, float] = {}
        for name, procs in self.procs.items():
            alive = [p.pid for p in procs if p.pid in before and p.pid in after]
            out[name] = sum(after[pid][0] - before[pid][0] for pid in alive)
            out[f"{name}_system"] = sum(after[pid][1] - before[pid][1] for pid in alive)
        return out


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    host, port = spec["host"], spec["port"]
    pool = Pool(host, port, spec.get("max_connections", 1500))
    timeout = float(spec.get("timeout", 15.0))
    wanted = spec.get("connections", 200)
    # In batches, so that a rush's thousands of connections do not overflow the listen backlog.
    for first in range(0, wanted, 500):
        pool.idle.extend(await asyncio.gather(*(pool.open()
                                                for _ in range(min(500, wanted - first)))))

    warm_errors = 0
    warm: list[bytes] = [r.encode("latin-1") for r in spec.get("warm", [])]
    if warm:
        # Closed loop, one request per idle connection at a time.
        queue = deque(warm)

        async def worker(conn: Conn) -> None:
            nonlocal warm_errors
            while queue:
                status, _, _ = await asyncio.wait_for(conn.send(queue.popleft()), timeout)
                warm_errors += not 200 <= status < 300

        await asyncio.gather(*(worker(c) for c in list(pool.idle)[:spec.get("warm_concurrency",
                                                                          64)]))

    # Not loop.time(): uvloop's clock ticks in whole milliseconds.
    clock = time.perf_counter
    requests = [r.encode("latin-1") for r in spec["requests"]]
    rate = float(spec["rate"])
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, float, int, str]] = []

    async def one(raw: bytes, scheduled: float) -> None:
        try:
            conn = await pool.get()
        except (RuntimeError, OSError):
            samples.append((scheduled, clock(), 0, "client_backlog"))
            return
        try:
            status, head, body = await asyncio.wait_for(conn.send(raw), timeout)
            pool.put(conn)
            samples.append((scheduled, clock(), status, reply_kind(status, head, body)))
        except TimeoutError:
            conn.transport.close()
            samples.append((scheduled, clock(), 0, "timeout"))
        except (ConnectionError, OSError) as exc:
            samples.append((scheduled, clock(), 0, type(exc).__name__))

    watch = Watch({**spec.get("watch", {}), "client": [psutil.Process().pid]})
    tasks: list[asyncio.Task[None]] = []
    start = clock() + 0.1
    cpu_before = watch.snapshot()
    wall_before = clock()
    index, total = 0, len(requests)
    while index < total:
        now = clock()
        # Every request whose time has come leaves now, with its own scheduled time.
        while index < total and start + index / rate <= now:
            tasks.append(loop.create_task(one(requests[index], start + index / rate)))
            index += 1
        if index < total:
            await asyncio.sleep(max(0.0, start + index / rate - clock()))
    await asyncio.gather(*tasks)
    window = clock() - wall_before
    cpu = watch.used(cpu_before, watch.snapshot())
    for conn in pool.idle:
        conn.transport.close()
    return {"samples": [(s - start, (d - s) * 1000.0, status, code)
                        for s, d, status, code in samples],
            "cpu": cpu, "window": window, "warm_errors": warm_errors}


def main() -> None:
    spec = orjson.loads(Path(sys.argv[1]).read_bytes())
    try:
        import uvloop

        factory: Any = uvloop.new_event_loop
    except ImportError:
        factory = None
    began = time.monotonic()
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(run(spec))
    result["elapsed"] = time.monotonic() - began
    Path(sys.argv[2]).write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
