"""The social package reads live's and orders' tables and tells users through realtime's
publish API; it never imports the web edge or the workers (docs/architecture.md), and no
domain package but analytics imports it."""

from __future__ import annotations

from tests.unit.import_rules import imports_outside

# live.videos: the Following feed pages with the main feed's own order and cursor.
ALLOWED = ("core", "social", "live.models", "live.errors", "live.videos", "orders.models",
           "realtime.publish")


def test_social_imports_only_core_the_tables_it_reads_and_the_publish_api() -> None:
    assert imports_outside("social", ALLOWED) == []


def test_no_domain_package_but_analytics_imports_social() -> None:
    for package in ("core", "live", "orders", "realtime"):
        assert not [line for line in imports_outside(package, ("core", "live", "orders", "realtime"))
                    if ": social" in line], package
