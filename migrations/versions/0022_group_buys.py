"""Group buys (拼团): a host's group deals on lineup products, the groups buyers open, and
`orders.group_id`, the group an order is a member's unit of (orders/group_models.py).

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-07 04:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.ddl import created_at, currency_column, id_column, primary_key, reference

revision: str = '0022'
down_revision: str | None = '0024'


def upgrade() -> None:
    op.create_table(
        'group_deals',
        id_column(),
        reference('group_deals', 'room_id', 'rooms', ondelete='CASCADE'),
        reference('group_deals', 'product_id', 'products'),
        reference('group_deals', 'host_id', 'users'),
        sa.Column('price_minor', sa.BigInteger(), nullable=False),
        currency_column(),
        sa.Column('group_size', sa.SmallInteger(), nullable=False),
        sa.Column('open_seconds', sa.BigInteger(), nullable=False),
        sa.Column('units', sa.BigInteger(), nullable=False),
        sa.Column('commission_rate_bp', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('status', sa.String(length=10), server_default='open', nullable=False),
        sa.Column('returned_units', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        created_at(),
        sa.CheckConstraint("status in ('open', 'ended')", name=op.f('ck_group_deals_status')),
        sa.CheckConstraint('group_size between 2 and 10', name=op.f('ck_group_deals_group_size_range')),
        sa.CheckConstraint('units > 0', name=op.f('ck_group_deals_units_positive')),
        sa.CheckConstraint('price_minor >= 0', name=op.f('ck_group_deals_price_non_negative')),
        sa.CheckConstraint('open_seconds > 0', name=op.f('ck_group_deals_open_seconds_positive')),
        sa.CheckConstraint('returned_units between 0 and units', name=op.f('ck_group_deals_returned_range')),
        primary_key('group_deals'),
    )
    op.create_index('ix_group_deals_room_id', 'group_deals', ['room_id'])
    op.create_index('ix_group_deals_unsettled', 'group_deals', ['id'],
                    postgresql_where=sa.text('settled_at is null'))
    op.create_table(
        'groups',
        id_column(),
        reference('groups', 'deal_id', 'group_deals'),
        sa.Column('code', sa.String(length=24), nullable=False),
        reference('groups', 'leader_id', 'users'),
        sa.Column('size', sa.SmallInteger(), nullable=False),
        sa.Column('status', sa.String(length=10), server_default='open', nullable=False),
        sa.Column('paid_count', sa.SmallInteger(), server_default='0', nullable=False),
        sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
        sa.Column('fail_reason', sa.String(length=20), nullable=True),
        sa.Column('formed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
        created_at(),
        sa.CheckConstraint("status in ('open', 'formed', 'failed')", name=op.f('ck_groups_status')),
        sa.CheckConstraint('paid_count between 0 and size', name=op.f('ck_groups_paid_range')),
        sa.CheckConstraint("status <> 'formed' OR paid_count = size", name=op.f('ck_groups_formed_full')),
        primary_key('groups'),
    )
    op.create_index('uq_groups_code', 'groups', ['code'], unique=True)
    op.create_index('ix_groups_deal_id', 'groups', ['deal_id'])
    op.create_index('ix_groups_open_deadline', 'groups', ['deadline'],
                    postgresql_where=sa.text("status = 'open'"))
    op.add_column('orders', reference('orders', 'group_id', 'groups', nullable=True))
    op.create_check_constraint(op.f('ck_orders_group_order_no_sale'), 'orders',
                               'group_id IS NULL OR sale_id IS NULL')
    op.create_index('uq_orders_group_member', 'orders', ['group_id', 'user_id'], unique=True,
                    postgresql_where=sa.text("group_id IS NOT NULL AND status IN "
                                             "('pending_payment', 'paid', 'completed')"))


def downgrade() -> None:
    op.drop_index('uq_orders_group_member', table_name='orders')
    op.drop_constraint(op.f('ck_orders_group_order_no_sale'), 'orders', type_='check')
    op.drop_constraint(op.f('fk_orders_group_id_groups'), 'orders', type_='foreignkey')
    op.drop_column('orders', 'group_id')
    op.drop_table('groups')
    op.drop_table('group_deals')
