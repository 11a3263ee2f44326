"""Production code says what it checks with a real error: an `assert` is gone under
`python -O`, and the None it was guarding fails further on, far from its cause
(`core.errors.present` names a value the caller's invariant promises)."""

from __future__ import annotations

import ast

from tests.unit.import_rules import OURS, ROOT


def test_no_package_of_ours_uses_assert_outside_its_tests() -> None:
    found = sorted(
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for package in OURS
        for path in (ROOT / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Assert))
    assert found == []
