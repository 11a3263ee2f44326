"""core is the shared kernel (docs/architecture.md): it imports nothing of ours, so that every
package may import it, the batched writer of the hot paths included (`core/batch_writer.py`)."""

from __future__ import annotations

from tests.unit.import_rules import imports_outside


def test_core_imports_nothing_of_ours() -> None:
    assert imports_outside("core", ("core",)) == []
