"""The one check behind the import tests (`test_*_imports.py`): which of our modules a
package's files import, read from their syntax trees, against the table of
docs/architecture.md ("Packages and who imports whom")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Our packages: an import of anything else (the standard library, SQLAlchemy …) is free.
OURS = ("core", "live", "realtime", "orders", "social", "engagement", "sharing", "analytics",
        "workers", "web")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def imports_outside(package: str, allowed: tuple[str, ...]) -> list[str]:
    """Each `file: module` of the package that imports a module of ours which `allowed` does
    not name (a name allows the module and everything under it)."""
    return sorted(
        f"{path.relative_to(ROOT)}: {module}"
        for path in (ROOT / package).rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in OURS
        and not any(module == ok or module.startswith(ok + ".") for ok in allowed))


def source_of(package: str) -> str:
    """Every file of the package, joined: for the tests of which tables it names."""
    return "\n".join(path.read_text() for path in (ROOT / package).rglob("*.py"))
