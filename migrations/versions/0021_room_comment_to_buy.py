"""A room's comment-to-buy switch: while it is on, a viewer's chat line such as `buy 2 blue M`
or `+1` holds a regular-price order of the pinned product (orders/chat_buy.py).

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-07 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0017'


def upgrade() -> None:
    op.add_column('rooms', sa.Column('comment_to_buy', sa.Boolean(), server_default='false',
                                     nullable=False))


def downgrade() -> None:
    op.drop_column('rooms', 'comment_to_buy')
