"""sales orders payments outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:42:50.951136
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.ddl import (
    created_at,
    currency_column,
    id_column,
    now_column,
    primary_key,
    reference,
    updated_at,
)

revision: str = '0002'
down_revision: str | None = '0001'


def upgrade() -> None:
    op.create_table(
        'outbox',
        id_column(),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('attempts', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        created_at(),
        primary_key('outbox'),
    )
    op.create_index('ix_outbox_undelivered', 'outbox', ['created_at'], unique=False, postgresql_where=sa.text('delivered_at is null'))
    op.create_table(
        'sales',
        id_column(),
        reference('sales', 'room_id', 'rooms', ondelete='CASCADE'),
        reference('sales', 'product_id', 'products'),
        reference('sales', 'host_id', 'users'),
        sa.Column('price_minor', sa.BigInteger(), nullable=False),
        currency_column(),
        sa.Column('quantity', sa.BigInteger(), nullable=False),
        sa.Column('per_user_limit', sa.BigInteger(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=10), server_default='scheduled', nullable=False),
        sa.Column('redis_epoch', sa.BigInteger(), server_default='1', nullable=False),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        reference('sales', 'stopped_by', 'users', nullable=True),
        created_at(),
        sa.CheckConstraint("status in ('scheduled', 'running', 'ended')", name=op.f('ck_sales_status')),
        sa.CheckConstraint('per_user_limit > 0', name=op.f('ck_sales_limit_positive')),
        sa.CheckConstraint('price_minor >= 0', name=op.f('ck_sales_price_non_negative')),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_sales_quantity_positive')),
        primary_key('sales'),
    )
    op.create_index('ix_sales_room_id', 'sales', ['room_id'], unique=False)
    op.create_index('ix_sales_status_ends_at', 'sales', ['status', 'ends_at'], unique=False)
    op.create_table(
        'orders',
        id_column(),
        reference('orders', 'sale_id', 'sales'),
        reference('orders', 'room_id', 'rooms'),
        reference('orders', 'product_id', 'products'),
        reference('orders', 'user_id', 'users'),
        sa.Column('quantity', sa.BigInteger(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        currency_column(),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('idempotency_key', sa.String(length=100), nullable=False),
        sa.Column('reservation_no', sa.BigInteger(), nullable=False),
        sa.Column('hold_expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
        created_at(),
        updated_at(),
        sa.CheckConstraint("status in ('pending_payment', 'paid', 'completed', 'expired', 'cancelled', 'refunded')", name=op.f('ck_orders_status')),
        sa.CheckConstraint('amount_minor >= 0', name=op.f('ck_orders_amount_non_negative')),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_orders_quantity_positive')),
        primary_key('orders'),
        sa.UniqueConstraint('sale_id', 'reservation_no', name='uq_orders_sale_reservation'),
        sa.UniqueConstraint('sale_id', 'user_id', 'idempotency_key', name='uq_orders_sale_user_key'),
    )
    op.create_index('ix_orders_pending_hold', 'orders', ['hold_expires_at'], unique=False, postgresql_where=sa.text("status = 'pending_payment'"))
    op.create_index('ix_orders_user_id', 'orders', ['user_id'], unique=False)
    op.create_table(
        'sale_events',
        id_column(),
        reference('sale_events', 'sale_id', 'sales'),
        sa.Column('type', sa.String(length=40), nullable=False),
        reference('sale_events', 'actor_id', 'users', nullable=True),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        created_at(),
        primary_key('sale_events'),
    )
    op.create_index('ix_sale_events_sale_id', 'sale_events', ['sale_id'], unique=False)
    op.create_table(
        'order_events',
        id_column(),
        reference('order_events', 'order_id', 'orders'),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('from_status', sa.String(length=20), nullable=True),
        sa.Column('to_status', sa.String(length=20), nullable=False),
        reference('order_events', 'actor_id', 'users', nullable=True),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        created_at(),
        primary_key('order_events'),
    )
    op.create_index('ix_order_events_order_id', 'order_events', ['order_id'], unique=False)
    op.create_table(
        'payment_events',
        id_column(),
        sa.Column('provider', sa.String(length=20), nullable=False),
        sa.Column('event_id', sa.String(length=100), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        reference('payment_events', 'order_id', 'orders', nullable=True),
        sa.Column('outcome', sa.String(length=40), nullable=False),
        sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        now_column('received_at'),
        primary_key('payment_events'),
        sa.UniqueConstraint('provider', 'event_id', name='uq_payment_events_provider_event'),
    )
    op.create_table(
        'payments',
        id_column(),
        reference('payments', 'order_id', 'orders'),
        sa.Column('provider', sa.String(length=20), nullable=False),
        sa.Column('provider_ref', sa.String(length=100), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        currency_column(),
        sa.Column('status', sa.String(length=20), nullable=False),
        created_at(),
        updated_at(),
        sa.CheckConstraint("status in ('processing', 'succeeded', 'failed', 'refunded')", name=op.f('ck_payments_status')),
        primary_key('payments'),
        sa.UniqueConstraint('provider', 'provider_ref', name='uq_payments_provider_ref'),
    )
    op.create_index('ix_payments_order_id', 'payments', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_payments_order_id', table_name='payments')
    op.drop_table('payments')
    op.drop_table('payment_events')
    op.drop_index('ix_order_events_order_id', table_name='order_events')
    op.drop_table('order_events')
    op.drop_index('ix_sale_events_sale_id', table_name='sale_events')
    op.drop_table('sale_events')
    op.drop_index('ix_orders_user_id', table_name='orders')
    op.drop_index('ix_orders_pending_hold', table_name='orders', postgresql_where=sa.text("status = 'pending_payment'"))
    op.drop_table('orders')
    op.drop_index('ix_sales_status_ends_at', table_name='sales')
    op.drop_index('ix_sales_room_id', table_name='sales')
    op.drop_table('sales')
    op.drop_index('ix_outbox_undelivered', table_name='outbox', postgresql_where=sa.text('delivered_at is null'))
    op.drop_table('outbox')
