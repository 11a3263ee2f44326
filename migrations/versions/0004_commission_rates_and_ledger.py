"""Commission rates (products, rooms, snapshotted on sales and orders) and the host commission
ledger. Sales and orders made before this revision get rate 0: no commission is accrued on them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 02:00:37.641498
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.ddl import created_at, currency_column, id_column, primary_key, reference

revision: str = '0004'
down_revision: str | None = '0003'


def upgrade() -> None:
    op.create_table(
        'commission_entries',
        id_column(),
        reference('commission_entries', 'host_id', 'users'),
        reference('commission_entries', 'order_id', 'orders'),
        reference('commission_entries', 'room_id', 'rooms'),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('base_minor', sa.BigInteger(), nullable=False),
        sa.Column('rate_bp', sa.BigInteger(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        currency_column(),
        sa.Column('status', sa.String(length=10), nullable=False),
        created_at(),
        sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('frozen_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("(kind = 'accrual' and amount_minor >= 0) or (kind = 'reversal' and amount_minor <= 0)", name=op.f('ck_commission_entries_amount_sign')),
        sa.CheckConstraint("kind in ('accrual', 'reversal')", name=op.f('ck_commission_entries_kind')),
        sa.CheckConstraint("status in ('pending', 'frozen', 'settled', 'void')", name=op.f('ck_commission_entries_status')),
        sa.CheckConstraint('rate_bp >= 0 and rate_bp <= 10000', name=op.f('ck_commission_entries_rate_range')),
        primary_key('commission_entries'),
        sa.UniqueConstraint('order_id', 'kind', name='uq_commission_entries_order_kind'),
    )
    op.create_index('ix_commission_entries_frozen_until', 'commission_entries', ['frozen_until'], unique=False, postgresql_where=sa.text("status = 'frozen'"))
    op.create_index('ix_commission_entries_host_created', 'commission_entries', ['host_id', 'created_at'], unique=False)
    op.create_index('ix_commission_entries_room_id', 'commission_entries', ['room_id'], unique=False)
    op.add_column('orders', sa.Column('commission_rate_bp', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('products', sa.Column('commission_rate_bp', sa.BigInteger(), nullable=True))
    op.add_column('rooms', sa.Column('commission_rate_bp', sa.BigInteger(), nullable=True))
    op.add_column('sales', sa.Column('commission_rate_bp', sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('sales', 'commission_rate_bp')
    op.drop_column('rooms', 'commission_rate_bp')
    op.drop_column('products', 'commission_rate_bp')
    op.drop_column('orders', 'commission_rate_bp')
    op.drop_index('ix_commission_entries_room_id', table_name='commission_entries')
    op.drop_index('ix_commission_entries_host_created', table_name='commission_entries')
    op.drop_index('ix_commission_entries_frozen_until', table_name='commission_entries', postgresql_where=sa.text("status = 'frozen'"))
    op.drop_table('commission_entries')
