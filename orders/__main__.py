"""Operator commands of the orders package.

    python -m orders reconcile SALE_ID    rebuild a sale's Redis counters from PostgreSQL
    python -m orders check SALE_ID        check initial = available + reserved + sold, and that
                                          every hold has its order
    python -m orders expire               run one expiry sweep now
    python -m orders reconcile-variant VARIANT_ID   rebuild a variant's regular-price counters
    python -m orders check-variants [VARIANT_ID ...] check stock = available + held + sold for
                                          the variants (all of them if none is named), and that
                                          every hold has its order

`livesell reconcile|check|expire` runs these with the process's event handlers wired (an
expiry tells buyers and rooms, and a sale it settles gives units back to live's product
through a handler). Run directly, `python -m orders` wires none, so it refuses `expire`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

import orjson

from core.context import Services
from core.models import import_all_models
from core.settings import get_settings
from orders import order_moves, reconcile, variants

Wire = Callable[[Services], Services]


async def _main(args: argparse.Namespace, wire: Wire | None) -> int:
    import_all_models()
    svc = Services.from_settings(get_settings(), pool_size=2)
    if wire is not None:
        svc = wire(svc)
    elif args.command == "expire":
        await svc.close()
        print("expire needs the event handlers: run `livesell expire`", file=sys.stderr)
        return 2
    try:
        if args.command == "reconcile":
            report = await reconcile.reconcile_sale(svc, args.sale_id)
            print(orjson.dumps(report.__dict__).decode())
            return 0
        if args.command == "reconcile-variant":
            rebuilt = await variants.reconcile_variant(svc, args.variant_id)
            print(orjson.dumps({"variant_id": rebuilt.variant_id,
                                **rebuilt.counts.__dict__}).decode())
            return 0
        if args.command == "check-variants":
            ids = args.variant_ids or await variants.all_variant_ids(svc)
            problems: list[str] = []
            for variant_id in ids:
                problems.extend((await variants.check_variant(svc, variant_id)).problems)
            print(orjson.dumps({"ok": not problems, "variants": len(ids),
                                "problems": problems}).decode())
            return 0 if not problems else 1
        if args.command == "check":
            invariant = await reconcile.check_invariant(svc, args.sale_id)
            print(orjson.dumps({"ok": invariant.ok, "problems": invariant.problems,
                                "initial": invariant.initial,
                                "redis": invariant.redis.__dict__ if invariant.redis else None,
                                "pg_reserved": invariant.pg_reserved,
                                "pg_sold": invariant.pg_sold,
                                "unbacked_holds": list(invariant.unbacked_holds)}).decode())
            return 0 if invariant.ok else 1
        expired = await order_moves.expire_due_orders(svc)
        print(orjson.dumps({"expired": expired}).decode())
        return 0
    finally:
        await svc.close()


def main(argv: list[str] | None = None, *, wire: Wire | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orders")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("reconcile", "check"):
        command = commands.add_parser(name)
        command.add_argument("sale_id", type=int)
    commands.add_parser("expire")
    commands.add_parser("reconcile-variant").add_argument("variant_id", type=int)
    commands.add_parser("check-variants").add_argument("variant_ids", type=int, nargs="*")
    return asyncio.run(_main(parser.parse_args(argv), wire))


if __name__ == "__main__":
    sys.exit(main())
