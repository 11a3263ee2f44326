"""Every operator command is `livesell`'s (web/cli.py): no domain package has a command line
of its own that could run without the process's event handlers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from web import cli

DOMAIN_PACKAGES = ("analytics", "core", "live", "orders", "realtime", "workers")
ROOT = Path(__file__).resolve().parents[2]


def test_no_domain_package_is_a_second_command_line() -> None:
    assert [p for p in DOMAIN_PACKAGES if importlib.util.find_spec(f"{p}.__main__")] == []
    scripts = [str(path.relative_to(ROOT)) for package in DOMAIN_PACKAGES
               for path in sorted((ROOT / package).rglob("*.py"))
               if 'if __name__ == "__main__"' in path.read_text()]
    assert scripts == []


# (`rebuild-reports` parses its own options once the servers are up: tests/analytics/test_tasks.py)
@pytest.mark.parametrize("command", [["reconcile", "--help"], ["check", "--help"],
                                     ["expire", "--help"]])
def test_livesell_has_every_operator_command(command: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(command)
    assert exited.value.code == 0
    assert "usage: livesell" in capsys.readouterr().out
