"""The social package reads live's and orders' tables and tells users through realtime's
publish API; it never imports the web edge or the workers (docs/architecture.md), and no
domain package but analytics imports it."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_orders_imports import _imported_modules

ROOT = Path(__file__).resolve().parents[2]
# live.videos: the Following feed pages with the main feed's own order and cursor.
ALLOWED = ("core", "social", "live.models", "live.errors", "live.videos", "orders.models",
           "realtime.publish")
OURS = ("core", "orders", "realtime", "live", "analytics", "social", "workers", "web")


def _wrong(package: str, allowed: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)}: {module}"
        for path in (ROOT / package).rglob("*.py")
        for module in _imported_modules(path)
        if module.split(".")[0] in OURS
        and not any(module == ok or module.startswith(ok + ".") for ok in allowed))


def test_social_imports_only_core_the_tables_it_reads_and_the_publish_api() -> None:
    assert _wrong("social", ALLOWED) == []


def test_no_domain_package_but_analytics_imports_social() -> None:
    for package in ("core", "live", "orders", "realtime"):
        assert not [line for line in _wrong(package, ("core", "live", "orders", "realtime"))
                    if ": social" in line], package
