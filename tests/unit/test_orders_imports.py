"""The orders package depends on core and realtime's publish API only (docs/architecture.md):
it neither imports another domain package nor names another package's tables."""

from __future__ import annotations

from tests.unit.import_rules import imports_outside, source_of


def test_orders_imports_only_core_and_the_publish_api():
    assert imports_outside("orders", ("core", "orders", "realtime.publish")) == []


def test_orders_names_no_table_of_live_that_it_could_write():
    # rooms.title is read for the commission statements, and products.share_rate_bp for a
    # sharer's rate (docs/social.md), through stand-ins of those columns alone that nothing
    # writes; the rest of products and the lineup are live's.
    source = source_of("orders")
    assert source.count('table("products"') == 1
    assert 'products_share_table = table("products", column("id"), column("share_rate_bp"))' in source
    for verb in ("insert", "update", "delete"):
        assert f"{verb}(products_share_table" not in source
    assert 'table("lineup_items"' not in source
