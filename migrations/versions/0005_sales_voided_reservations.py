"""Reservations voided by the unwritten-hold sweep, on the sale's row: the order writer reads
them through the row lock it already takes, so an order whose reservation was voided (and its
units released) can never be committed afterwards. See docs/decisions/0013.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'


def upgrade() -> None:
    op.add_column('sales', sa.Column('voided_reservations', postgresql.ARRAY(sa.BigInteger()),
                                     server_default='{}', nullable=False))


def downgrade() -> None:
    op.drop_column('sales', 'voided_reservations')
