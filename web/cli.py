"""The `livesell` command: run the whole stack, migrate, seed.

    livesell run        # web app + Celery worker + scheduler (embedded PostgreSQL/Redis unless
                        # DATABASE_URL / REDIS_URL are set), migrated and seeded, Ctrl-C stops all
    livesell serve      # only the web app (uvicorn with the options the hub is built for)
    livesell migrate    # apply the Alembic migrations
    livesell seed       # create the demo data (idempotent)
    livesell reconcile SALE_ID        # rebuild a sale's Redis counters from PostgreSQL
    livesell check SALE_ID            # check initial = available + reserved + sold
    livesell expire                   # run one expiry sweep of unpaid orders now
    livesell rebuild-reports --since YYYY-MM-DD [--until YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("LIVESELL_DATA_DIR", ROOT / ".data"))


def _say(message: str) -> None:
    print(f"livesell | {message}", flush=True)


def ensure_services() -> list[Callable[[], None]]:
    """Point DATABASE_URL and REDIS_URL at servers, starting embedded ones for what is unset."""
    from web.embedded import start_postgres, start_redis

    stoppers: list[Callable[[], None]] = []
    if not os.environ.get("DATABASE_URL"):
        _say(f"starting embedded PostgreSQL in {DATA_DIR / 'postgres'}")
        pg = start_postgres(DATA_DIR / "postgres")
        os.environ["DATABASE_URL"] = pg.url
        stoppers.append(pg.stop)
    if not os.environ.get("REDIS_URL"):
        _say(f"starting embedded Redis in {DATA_DIR / 'redis'}")
        redis = start_redis(DATA_DIR / "redis")
        os.environ["REDIS_URL"] = redis.url
        stoppers.append(redis.stop)
    return stoppers


def serve(host: str, port: int, log_level: str = "info") -> None:
    """The web app in this process. The websocket options matter: the sans-I/O protocol lets
    the hub write each pre-built frame straight to the socket, and per-message deflate would
    compress every message again for every viewer (see docs/decisions/0011)."""
    import uvicorn

    from realtime.protocol import WS_MAX_MESSAGE_BYTES

    # ws_max_size: uvicorn's default (16 MiB) would read a 15 MiB frame from anyone; our
    # client frames are ~2 kB. Request bodies are limited where they are read
    # (web/validation.py) without a middleware hop on every request.
    uvicorn.run("web.asgi:app", host=host, port=port, log_level=log_level,
                ws="websockets-sansio", ws_per_message_deflate=False,
                ws_max_size=WS_MAX_MESSAGE_BYTES, proxy_headers=True,
                forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))


def migrate() -> None:
    from core.migrate import upgrade
    from core.settings import get_settings

    upgrade(get_settings().database_url)
    _say("database migrated")


def seed() -> dict[str, int]:
    from core.context import Services
    from core.settings import get_settings
    from web.seed import seed_demo

    async def run() -> dict[str, int]:
        svc = Services.from_settings(get_settings(), pool_size=2)
        try:
            return await seed_demo(svc)
        finally:
            await svc.close()

    ids = asyncio.run(run())
    _say("demo data ready")
    return ids


def _spawn(name: str, args: list[str], log_dir: Path) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child for its life
    # A new process group each, so Ctrl-C reaches only us and we stop them in order.
    return subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def run(host: str, port: int, with_workers: bool) -> int:
    stoppers = ensure_services()
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        os.environ.setdefault("ALLOWED_ORIGINS", f"http://{host}:{port},http://localhost:{port}")
        migrate()
        ids = seed()
        python = sys.executable
        logs = DATA_DIR / "logs"
        children.append(("web", _spawn("web", [python, "-m", "web.cli", "serve", "--host", host,
                                               "--port", str(port)], logs)))
        if with_workers:
            children.append(("worker", _spawn("worker", [
                python, "-m", "celery", "-A", "workers.app", "worker", "--loglevel=INFO",
                "--concurrency=2"], logs)))
            children.append(("scheduler", _spawn("scheduler", [
                python, "-m", "celery", "-A", "workers.app", "beat", "--loglevel=INFO",
                "--schedule", str(DATA_DIR / "celerybeat-schedule")], logs)))
        base = f"http://{host}:{port}"
        print(f"""
  livesell is running (logs in {logs})

    Live room     {base}/rooms/{ids['room_id']}
    Host panel    {base}/host
    Dashboard     {base}/ops
    API           {base}/openapi.json
    Health        {base}/healthz

  Demo logins (password: livesell-demo)
    host@livesell.local     host
    viewer@livesell.local   viewer
    ops@livesell.local      ops

  Ctrl-C stops everything.
""", flush=True)
        while True:
            for name, child in children:
                if child.poll() is not None:
                    _say(f"{name} exited with {child.returncode}; see {logs / (name + '.log')}")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        _say("stopping")
        return 0
    finally:
        for _name, child in reversed(children):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for _name, child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        for stop in reversed(stoppers):
            stop()


def _delegated(argv: list[str]) -> int | None:
    """Operator commands that live in their domain package, run against the same servers."""
    if not argv or argv[0] not in ("reconcile", "check", "expire", "rebuild-reports"):
        return None
    stoppers = ensure_services()
    try:
        if argv[0] == "rebuild-reports":
            from analytics.cli import main as rebuild_main

            return rebuild_main(argv[1:])
        from orders.__main__ import main as orders_main

        return orders_main(argv)
    finally:
        for stop in reversed(stoppers):
            stop()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    delegated = _delegated(argv)
    if delegated is not None:
        return delegated
    parser = argparse.ArgumentParser(
        prog="livesell",
        epilog="operator commands: reconcile SALE_ID, check SALE_ID, expire, "
               "rebuild-reports --since DAY [--until DAY]")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run the whole stack")
    run_parser.add_argument("--host", default="127.0.0.1")
    run_parser.add_argument("--port", type=int, default=8000)
    run_parser.add_argument("--no-workers", action="store_true",
                            help="only the web app (no Celery worker and scheduler)")
    serve_parser = sub.add_parser("serve", help="run only the web app")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--log-level", default="info")
    sub.add_parser("migrate", help="apply the database migrations")
    sub.add_parser("seed", help="create the demo data (idempotent)")
    args = parser.parse_args(argv)

    if args.command == "run":
        return run(args.host, args.port, not args.no_workers)
    if args.command == "serve":
        serve(args.host, args.port, args.log_level)
        return 0
    stoppers = ensure_services() if args.command in ("migrate", "seed") else []
    try:
        if args.command == "migrate":
            migrate()
        elif args.command == "seed":
            migrate()
            seed()
    finally:
        for stop in reversed(stoppers):
            stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
