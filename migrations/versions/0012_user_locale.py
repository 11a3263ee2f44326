"""A user's language for the pages, when they chose one (web/i18n.py).

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07 01:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0018'


def upgrade() -> None:
    op.add_column('users', sa.Column('locale', sa.String(length=10), nullable=True))
    op.create_check_constraint(op.f('ck_users_locale'), 'users',
                               "locale is null or locale in ('zh-CN', 'en')")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_users_locale'), 'users', type_='check')
    op.drop_column('users', 'locale')
