"""A host withdraws a bargain offer: `bargain_offers.withdrawn_at` (orders/bargains.py;
docs/social.md, "Bargaining"). A withdrawn offer starts no new bargain; the bargains already
started keep their deadline.

Revision ID: 0028
Revises: 0023
Create Date: 2026-12-07 05:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0028'
down_revision: str | None = '0022'


def upgrade() -> None:
    op.add_column('bargain_offers',
                  sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('bargain_offers', 'withdrawn_at')
