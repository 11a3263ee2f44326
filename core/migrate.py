"""Apply the Alembic migrations programmatically (used by the CLI and the tests).

A migration that changes what Redis counters are built from says so with a module-level
`REBUILDS_REDIS = ("variants",)`; `upgrade` answers which of those it applied, and the CLI
rebuilds them from PostgreSQL once the schema is in place (web/cli.py `migrate`), so that
no operator has to remember a command after upgrading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> set[str]:
    """Upgrade to `revision`; answers the Redis state the applied migrations ask to rebuild
    (their `REBUILDS_REDIS`), empty when none or when nothing was applied."""
    config = alembic_config(database_url)
    applied: list[str] = []

    def on_version_apply(*, step: Any, **_: Any) -> None:
        if step.is_upgrade and step.up_revision_id is not None:
            applied.append(step.up_revision_id)

    config.attributes["on_version_apply"] = on_version_apply
    command.upgrade(config, revision)
    scripts = ScriptDirectory.from_config(config)
    rebuilds: set[str] = set()
    for revision_id in applied:
        script = scripts.get_revision(revision_id)
        if script is not None:
            rebuilds.update(getattr(script.module, "REBUILDS_REDIS", ()))
    return rebuilds
