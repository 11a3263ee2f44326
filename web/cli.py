"""The `livesell` command: run the whole stack, migrate, seed.

    livesell run        # web app + Celery worker + scheduler (embedded PostgreSQL/Redis unless
                        # DATABASE_URL / REDIS_URL are set), migrated and seeded; a child that
                        # dies is restarted; Ctrl-C or SIGTERM stops all
    livesell serve      # only the web app (uvicorn with the options the hub is built for)
    livesell migrate    # apply the Alembic migrations
    livesell seed       # create the demo data (idempotent)
    livesell reconcile SALE_ID        # rebuild a sale's Redis counters from PostgreSQL
    livesell check SALE_ID            # check initial = available + reserved + sold, and
                                      # that every hold has its order
    livesell reconcile-variant [VARIANT_ID ...]  # rebuild variants' stock counters (all if none)
    livesell check-variants [VARIANT_ID ...]  # stock = available + held + sold per variant
    livesell check-groups [DEAL_ID ...]       # units = returned + available + held + sold per
                                              # group deal, and every group's slots
    livesell expire                   # run one expiry sweep of unpaid orders now
    livesell rebuild-reports --since YYYY-MM-DD [--until YYYY-MM-DD]
    livesell verify-draw DRAW_ID [--url URL]
                        # recompute a lucky draw's winners from its public data (the seed,
                        # its committed hash, the entrant list; docs/engagement.md)
    livesell nginx-config [--prefix DIR] [--callback URL]
                        # print nginx's config for the video ingest (docs/video.md)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from web.supervise import ChildSpec

ROOT = Path(__file__).resolve().parent.parent
# Read here, not in core/settings.py: the data folder is where `livesell run` starts the
# embedded PostgreSQL and Redis and keeps the random SECRET_KEY, i.e. what it needs to know
# before DATABASE_URL, REDIS_URL and SECRET_KEY exist, and settings can be loaded at all.
DATA_DIR = Path(os.environ.get("LIVESELL_DATA_DIR", ROOT / ".data"))


def _say(message: str) -> None:
    print(f"livesell | {message}", flush=True)


def ensure_services(stoppers: list[Callable[[], None]] | None = None) -> list[Callable[[], None]]:
    """Point DATABASE_URL and REDIS_URL at servers, starting embedded ones for what is unset.

    Also sets SECRET_KEY from the data folder when the environment has none. The stop of each
    server started goes into `stoppers` at once, so an interrupted start still stops it.
    This writes the environment rather than settings: it runs before settings can load (they
    require all three), and the children it starts read their settings from it.
    """
    from web.embedded import start_postgres, start_redis

    stoppers = [] if stoppers is None else stoppers
    ensure_secret_key()
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


def ensure_secret_key() -> None:
    """SECRET_KEY from the environment, else the local install's own random key (made on first
    start in the data folder). There is no default: anyone could sign with a key in the source."""
    if os.environ.get("SECRET_KEY"):
        return
    from web.embedded import load_or_create_secret_key

    path = DATA_DIR / "secret_key"
    existed = path.exists()
    os.environ["SECRET_KEY"] = load_or_create_secret_key(path)
    if not existed:
        _say(f"made a random SECRET_KEY in {path} (kept for later starts)")


def serve(host: str, port: int, log_level: str = "info") -> None:
    """The web app in this process. The websocket options matter: the sans-I/O protocol lets
    the hub write each pre-built frame straight to the socket, and per-message deflate would
    compress every message again for every viewer (see docs/decisions/0011)."""
    import uvicorn

    from core.logging import configure_logging
    from core.settings import get_settings
    from realtime.protocol import WS_MAX_MESSAGE_BYTES

    settings = get_settings()
    # Our handler for every logger, uvicorn's included (log_config=None: uvicorn adds none).
    configure_logging(settings.log_format, log_level.upper())
    # ws_max_size: uvicorn's default (16 MiB) would read a 15 MiB frame from anyone; our
    # client frames are ~2 kB. Request bodies are limited where they are read
    # (web/validation.py) without a middleware hop on every request.
    # The access log (one INFO line a request) only when INFO lines are written: below that
    # uvicorn would still format each line's client address and quoted path, then drop it.
    access_log = logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO)
    uvicorn.run("web.asgi:app", host=host, port=port, log_level=log_level, log_config=None,
                access_log=access_log, ws="websockets-sansio", ws_per_message_deflate=False,
                ws_max_size=WS_MAX_MESSAGE_BYTES, proxy_headers=True,
                forwarded_allow_ips=settings.forwarded_allow_ips)


def migrate() -> None:
    from core.migrate import upgrade
    from core.settings import get_settings

    rebuilds = upgrade(get_settings().database_url)
    _say("database migrated")
    if "variants" in rebuilds:
        rebuilt = rebuild_variant_counters()
        _say(f"stock counters of {rebuilt} variants rebuilt from PostgreSQL")


def rebuild_variant_counters() -> int:
    """Every variant's Redis stock counters rebuilt from PostgreSQL (each fenced by its
    advisory lock, so buys in flight are counted once): after a migration that changed the
    stock they are built from. Answers how many."""
    from core.context import Services
    from core.models import import_all_models
    from core.settings import get_settings
    from orders import variants
    from workers.handlers import wire

    async def run() -> int:
        import_all_models()
        svc = wire(Services.from_settings(get_settings(), pool_size=2))
        try:
            ids = await variants.all_variant_ids(svc)
            for variant_id in ids:
                await variants.reconcile_variant(svc, variant_id)
            return len(ids)
        finally:
            await svc.close()

    return asyncio.run(run())


def seed() -> dict[str, int]:
    from core.context import Services
    from core.settings import get_settings
    from web.seed import seed_demo
    from workers.handlers import wire

    async def run() -> dict[str, int]:
        svc = wire(Services.from_settings(get_settings(), pool_size=2))
        try:
            return await seed_demo(svc)
        finally:
            await svc.close()

    ids = asyncio.run(run())
    _say("demo data ready")
    return ids


def sale_command(command: str, sale_id: int | None, variant_ids: list[int] | None = None) -> int:
    """`reconcile SALE_ID`, `check SALE_ID`, `expire`, `reconcile-variant VARIANT_ID`,
    `check-variants [VARIANT_ID ...]`: the orders package's operator commands,
    run with the process's event handlers wired (an expiry tells buyers and rooms, and a sale
    it settles gives its units back to live's product through a handler). Prints JSON."""
    import orjson

    from core.context import Services
    from core.models import import_all_models
    from core.settings import get_settings
    from orders import group_reconcile, order_moves, reconcile, variants
    from workers.handlers import wire

    async def run() -> int:
        import_all_models()
        svc = wire(Services.from_settings(get_settings(), pool_size=2))
        try:
            if command == "reconcile" and sale_id is not None:
                report = await reconcile.reconcile_sale(svc, sale_id)
                print(orjson.dumps(report.__dict__).decode())
                return 0
            if command == "check" and sale_id is not None:
                invariant = await reconcile.check_invariant(svc, sale_id)
                print(orjson.dumps({
                    "ok": invariant.ok, "problems": invariant.problems,
                    "initial": invariant.initial,
                    "redis": invariant.redis.__dict__ if invariant.redis else None,
                    "pg_reserved": invariant.pg_reserved, "pg_sold": invariant.pg_sold,
                    "unbacked_holds": list(invariant.unbacked_holds)}).decode())
                return 0 if invariant.ok else 1
            if command == "reconcile-variant":
                for variant_id in variant_ids or await variants.all_variant_ids(svc):
                    rebuilt = await variants.reconcile_variant(svc, variant_id)
                    print(orjson.dumps({"variant_id": rebuilt.variant_id,
                                        **rebuilt.counts.__dict__}).decode())
                return 0
            if command == "check-variants":
                ids = variant_ids or await variants.all_variant_ids(svc)
                problems: list[str] = []
                for variant_id in ids:
                    problems.extend((await variants.check_variant(svc, variant_id)).problems)
                print(orjson.dumps({"ok": not problems, "variants": len(ids),
                                    "problems": problems}).decode())
                return 0 if not problems else 1
            if command == "check-groups":
                deal_ids = variant_ids or await group_reconcile.all_deal_ids(svc)
                problems = []
                for deal_id in deal_ids:
                    problems.extend((await group_reconcile.check_deal(svc, deal_id)).problems)
                print(orjson.dumps({"ok": not problems, "deals": len(deal_ids),
                                    "problems": problems}).decode())
                return 0 if not problems else 1
            expired = await order_moves.expire_due_orders(svc)
            print(orjson.dumps({"expired": expired}).decode())
            return 0
        finally:
            await svc.close()

    return asyncio.run(run())


def internal_base_url(host: str, port: int) -> str:
    """Where processes on this machine reach a server listening on host:port (0.0.0.0 and ::
    listen everywhere, loopback included)."""
    reachable = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in reachable and not reachable.startswith("["):
        reachable = f"[{reachable}]"  # an IPv6 literal in a URL
    return f"http://{reachable}:{port}"


BANNER = """
  livesell is running (logs in {logs})

    Live room     {base}/rooms/{room_id}
    Host panel    {base}/host
    Dashboard     {base}/ops
    API           {base}/openapi.json
    Health        {base}/healthz

  Demo logins (password: livesell-demo)
    host@livesell.local     host
    viewer@livesell.local   viewer
    ops@livesell.local      ops

  Ctrl-C stops everything.
"""


# Video ingest ---------------------------------------------------------------------------


def ingest_children(callback_base: str) -> list[ChildSpec]:
    """nginx for the video ingest (RTMP in, HLS out) as a supervised child, with its config
    rendered under the data folder; none, and one line saying why, where nginx is missing."""
    from core.settings import get_settings
    from web import nginx
    from web.supervise import ChildSpec

    reason = nginx.missing()
    if reason is not None:
        _say(f"{reason}: running without video ingest (install: {nginx.INSTALL_HINT})")
        # For the children: the room page does not look for a stream nobody serves.
        os.environ["INGEST_ENABLED"] = "0"
        return []
    ingest = get_settings().ingest
    if not ingest.enabled:
        _say("video ingest is off (INGEST_ENABLED=0)")
        return []
    layout = nginx.prepare(ingest, DATA_DIR / "nginx", callback_base)
    _say(f"video ingest: {ingest.rtmp_url} (HLS on {ingest.hls_base_url})")
    return [ChildSpec("nginx", nginx.command(layout))]


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM during start-up: stop as Ctrl-C does


def run(host: str, port: int, with_workers: bool) -> int:
    """Start the stack and keep it up: a child that dies is restarted (web/supervise.py);
    Ctrl-C or SIGTERM stops every child, then the embedded servers."""
    from web.supervise import ChildSpec, Supervisor

    stop_requested = threading.Event()
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in handled}
    signal.signal(signal.SIGTERM, _interrupt)
    stoppers: list[Callable[[], None]] = []
    supervisor: Supervisor | None = None
    try:
        ensure_services(stoppers)
        # For the children, whose settings are read from the environment they inherit.
        os.environ.setdefault("ALLOWED_ORIGINS", f"http://{host}:{port},http://localhost:{port}")
        # The worker posts the sandbox gateway's webhooks to the web app started here.
        os.environ.setdefault("INTERNAL_BASE_URL", internal_base_url(host, port))
        migrate()
        ids = seed()
        python = sys.executable
        logs = DATA_DIR / "logs"
        specs = [ChildSpec("web", [python, "-m", "web.cli", "serve", "--host", host,
                                   "--port", str(port)])]
        specs.extend(ingest_children(internal_base_url(host, port)))
        if with_workers:
            specs.append(ChildSpec("worker", [
                python, "-m", "celery", "-A", "workers.app", "worker", "--loglevel=INFO",
                "--concurrency=2"]))
            specs.append(ChildSpec("scheduler", [
                python, "-m", "celery", "-A", "workers.app", "beat", "--loglevel=INFO",
                "--schedule", str(DATA_DIR / "celerybeat-schedule")]))
        # From here a signal only asks the loop below to stop, so that it never lands between
        # starting a child and recording it.
        for signum in handled:
            signal.signal(signum, lambda _signum, _frame: stop_requested.set())
        supervisor = Supervisor(specs, logs, cwd=ROOT, say=_say)
        supervisor.start()
        print(BANNER.format(logs=logs, base=f"http://{host}:{port}", room_id=ids["room_id"]),
              flush=True)
        while not stop_requested.is_set():
            supervisor.poll()
            # Half a second between looks: a restart is due in a second at the soonest.
            stop_requested.wait(0.5)
        _say("stopping")
        return 0
    except KeyboardInterrupt:
        _say("stopping")
        return 0
    finally:
        # A second Ctrl-C must not cut the stop short and leave servers behind; it is bounded.
        for signum in handled:
            signal.signal(signum, signal.SIG_IGN)
        try:
            if supervisor is not None:
                supervisor.stop()
                supervisor.close()
            for stop in reversed(stoppers):
                stop()
        finally:
            for signum, handler in previous.items():
                if handler is not None:  # None: set outside Python, nothing to put back
                    signal.signal(signum, handler)


def print_nginx_config(prefix: Path, callback_base: str) -> int:
    """The rendered config, for running nginx yourself. Reads the INGEST_* settings alone: the
    rest of the settings (a database, a key) are not needed to write it."""
    from core.settings import SettingsError, ingest_settings
    from web import nginx

    try:
        ingest = ingest_settings()
    except SettingsError as exc:
        print(f"livesell: {exc}", file=sys.stderr)
        return 2
    print(nginx.render(ingest, nginx.NginxLayout(prefix.resolve()), callback_base), end="")
    return 0


def _rebuild_reports(argv: list[str]) -> int | None:
    """`rebuild-reports` parses its own options (analytics/cli.py: the days, the progress bar)."""
    if not argv or argv[0] != "rebuild-reports":
        return None
    stoppers: list[Callable[[], None]] = []
    try:
        ensure_services(stoppers)
        from analytics.cli import main as rebuild_main

        return rebuild_main(argv[1:])
    finally:
        for stop in reversed(stoppers):
            stop()


def verify_draw(draw_id: int, base_url: str) -> int:
    """Fetch a draw's public JSON and recompute it: 0 when the seed matches its committed hash
    and the winners follow from it, 1 when not (or not drawn yet), 2 when it cannot be read."""
    import json
    import urllib.error
    import urllib.request

    from engagement.fairness import commitment, pick_winners

    url = f"{base_url.rstrip('/')}/api/draws/{draw_id}"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            draw = json.loads(reply.read())
    except (urllib.error.URLError, ValueError) as exc:
        print(f"could not read {url}: {exc}", file=sys.stderr)
        return 2
    print(f"draw {draw['id']}: {draw['prize']} ({draw['winner_count']} to win)")
    print(f"committed hash  {draw['seed_hash']}")
    if draw["status"] != "drawn" or not draw.get("seed"):
        print("not drawn yet: the seed is revealed at the draw")
        return 1
    seed = bytes.fromhex(draw["seed"])
    print(f"revealed seed   {draw['seed']}")
    hash_ok = commitment(seed) == draw["seed_hash"]
    print(f"sha256(seed)    {commitment(seed)}  {'matches' if hash_ok else 'DOES NOT MATCH'}")
    entrants = list(draw["entrants"])
    recomputed = pick_winners(seed, entrants, int(draw["winner_count"]))
    print(f"entrants        {len(entrants)}: {', '.join(map(str, entrants))}")
    print(f"published       {', '.join(map(str, draw['winners']))}")
    print(f"recomputed      {', '.join(map(str, recomputed))}")
    winners_ok = recomputed == list(draw["winners"])
    print("verified" if hash_ok and winners_ok else "NOT VERIFIED")
    return 0 if hash_ok and winners_ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rebuilt = _rebuild_reports(argv)
    if rebuilt is not None:
        return rebuilt
    parser = argparse.ArgumentParser(
        prog="livesell", epilog="also: rebuild-reports --since DAY [--until DAY]")
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
    nginx_parser = sub.add_parser("nginx-config",
                                  help="print nginx's config for the video ingest")
    nginx_parser.add_argument("--prefix", default=str(DATA_DIR / "nginx"),
                              help="nginx's folder (logs, HLS); default: the data folder's")
    nginx_parser.add_argument("--callback", default="http://127.0.0.1:8000",
                              help="where nginx reaches the web app")
    sub.add_parser("migrate", help="apply the database migrations")
    sub.add_parser("seed", help="create the demo data (idempotent)")
    verify_parser = sub.add_parser("verify-draw", help="recompute a lucky draw's winners from "
                                                       "its public data")
    verify_parser.add_argument("draw_id", type=int)
    verify_parser.add_argument("--url", default=os.environ.get("PUBLIC_BASE_URL")
                               or os.environ.get("INTERNAL_BASE_URL") or "http://127.0.0.1:8000",
                               help="the site to ask (default: PUBLIC_BASE_URL, else "
                                    "INTERNAL_BASE_URL, else http://127.0.0.1:8000)")
    sub.add_parser("reconcile", help="rebuild a sale's Redis counters from PostgreSQL"
                   ).add_argument("sale_id", type=int)
    sub.add_parser("check", help="check initial = available + reserved + sold, and that every "
                   "hold has its order").add_argument("sale_id", type=int)
    sub.add_parser("expire", help="run one expiry sweep of unpaid orders now")
    sub.add_parser("reconcile-variant", help="rebuild variants' stock counters from PostgreSQL "
                   "(every variant if none is named)").add_argument("variant_ids", type=int,
                                                                    nargs="*")
    sub.add_parser("check-variants", help="check stock = available + held + sold per variant "
                   "(every variant if none is named), and that every hold has its order"
                   ).add_argument("variant_ids", type=int, nargs="*")
    sub.add_parser("check-groups", help="check units = returned + available + held + sold per "
                   "group deal (every deal if none is named), and each group's slots"
                   ).add_argument("deal_ids", type=int, nargs="*")
    args = parser.parse_args(argv)

    if args.command == "run":
        return run(args.host, args.port, not args.no_workers)
    if args.command == "serve":
        serve(args.host, args.port, args.log_level)
        return 0
    if args.command == "nginx-config":
        return print_nginx_config(Path(args.prefix), args.callback)
    if args.command == "verify-draw":
        return verify_draw(args.draw_id, args.url)
    stoppers: list[Callable[[], None]] = []
    try:
        ensure_services(stoppers)
        if args.command in ("reconcile", "check", "expire"):
            return sale_command(args.command, getattr(args, "sale_id", None))
        if args.command == "reconcile-variant":
            return sale_command(args.command, None, list(args.variant_ids))
        if args.command == "check-variants":
            return sale_command(args.command, None, list(args.variant_ids))
        if args.command == "check-groups":
            return sale_command(args.command, None, list(args.deal_ids))
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
