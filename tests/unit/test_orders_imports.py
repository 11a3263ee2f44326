"""The orders package depends on core and realtime's publish API only (docs/architecture.md):
it neither imports another domain package nor names another package's tables."""

from __future__ import annotations

import ast
from pathlib import Path

ORDERS = Path(__file__).resolve().parents[2] / "orders"
ALLOWED = ("core", "orders", "realtime.publish")
OURS = ("core", "orders", "realtime", "live", "analytics", "social", "workers", "web")


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_orders_imports_only_core_and_the_publish_api():
    wrong = sorted(
        f"{path.relative_to(ORDERS.parent)}: {module}"
        for path in ORDERS.rglob("*.py")
        for module in _imported_modules(path)
        if module.split(".")[0] in OURS
        and not any(module == ok or module.startswith(ok + ".") for ok in ALLOWED))
    assert wrong == []


def test_orders_names_no_table_of_live_that_it_could_write():
    # rooms.title is read for the commission statements, and products.share_rate_bp for a
    # sharer's rate (docs/social.md), through stand-ins of those columns alone that nothing
    # writes; the rest of products and the lineup are live's.
    source = "\n".join(path.read_text() for path in ORDERS.rglob("*.py"))
    assert source.count('table("products"') == 1
    assert 'products_share_table = table("products", column("id"), column("share_rate_bp"))' in source
    for verb in ("insert", "update", "delete"):
        assert f"{verb}(products_share_table" not in source
    assert 'table("lineup_items"' not in source
