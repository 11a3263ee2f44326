"""The engagement package depends on core and realtime's publish API only
(docs/architecture.md): it imports no other domain package, and of live's tables it names only
the rooms (read for a room's host and status, never written)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ENGAGEMENT = Path(__file__).resolve().parents[2] / "engagement"
ALLOWED = ("core", "engagement", "realtime.publish")
OURS = ("core", "engagement", "orders", "realtime", "live", "analytics", "workers", "web")


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_engagement_imports_only_core_and_the_publish_api() -> None:
    wrong = sorted(
        f"{path.relative_to(ENGAGEMENT.parent)}: {module}"
        for path in ENGAGEMENT.rglob("*.py")
        for module in _imported_modules(path)
        if module.split(".")[0] in OURS
        and not any(module == ok or module.startswith(ok + ".") for ok in ALLOWED))
    assert wrong == []


def test_engagement_names_only_the_rooms_of_live_and_never_writes_them() -> None:
    source = "\n".join(path.read_text() for path in ENGAGEMENT.rglob("*.py"))
    assert re.findall(r'table\("(\w+)"', source) == ["rooms"]
    assert "update(rooms_table" not in source and "insert(rooms_table" not in source
