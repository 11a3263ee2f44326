"""The engagement package depends on core and realtime's publish API only
(docs/architecture.md): it imports no other domain package, and of live's tables it names only
the rooms (read for a room's host and status, never written)."""

from __future__ import annotations

import re

from tests.unit.import_rules import imports_outside, source_of


def test_engagement_imports_only_core_and_the_publish_api() -> None:
    assert imports_outside("engagement", ("core", "engagement", "realtime.publish")) == []


def test_engagement_names_only_the_rooms_of_live_and_never_writes_them() -> None:
    source = source_of("engagement")
    assert re.findall(r'table\("(\w+)"', source) == ["rooms"]
    assert "update(rooms_table" not in source and "insert(rooms_table" not in source
