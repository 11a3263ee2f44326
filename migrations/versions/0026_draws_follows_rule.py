"""A lucky draw's third entry rule, "follows the host": every follower of the host when the
draw closes is an entrant (engagement/draws.py, docs/engagement.md).

Revision ID: 0026
Revises: 0020
Create Date: 2026-12-07 05:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision: str = '0026'
down_revision: str | None = '0020'


def upgrade() -> None:
    op.drop_constraint(op.f('ck_draws_rule'), 'draws', type_='check')
    op.create_check_constraint(op.f('ck_draws_rule'), 'draws',
                               "rule in ('in_room', 'keyword', 'follows')")


def downgrade() -> None:
    # Drawn follows draws cannot be expressed before this revision: refuse rather than lose them.
    op.drop_constraint(op.f('ck_draws_rule'), 'draws', type_='check')
    op.create_check_constraint(op.f('ck_draws_rule'), 'draws', "rule in ('in_room', 'keyword')")
