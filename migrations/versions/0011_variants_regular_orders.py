"""Product variants (SKUs) with their own stock, regular-price orders with lines, and the
buyer's shipping address on the account (copied onto each order).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 01:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.ddl import created_at, id_column, primary_key, reference

revision: str = '0011'
down_revision: str | None = '0012'


def upgrade() -> None:
    op.create_table(
        'product_variants',
        id_column(),
        reference('product_variants', 'product_id', 'products'),
        reference('product_variants', 'host_id', 'users'),
        sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), server_default='{}',
                  nullable=False),
        sa.Column('label', sa.String(length=120), server_default='', nullable=False),
        sa.Column('price_minor', sa.BigInteger(), nullable=True),
        sa.Column('stock', sa.BigInteger(), nullable=False),
        sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
        sa.Column('position', sa.BigInteger(), server_default='0', nullable=False),
        created_at(),
        sa.CheckConstraint('stock >= 0', name=op.f('ck_product_variants_stock_non_negative')),
        sa.CheckConstraint('price_minor is null or price_minor >= 0',
                           name=op.f('ck_product_variants_price_non_negative')),
        primary_key('product_variants'),
        sa.UniqueConstraint('product_id', 'options', name='uq_product_variants_product_options'),
    )
    op.create_index('ix_product_variants_product_id', 'product_variants', ['product_id'])

    op.alter_column('orders', 'sale_id', existing_type=sa.BigInteger(), nullable=True)
    op.add_column('orders', reference('orders', 'host_id', 'users', nullable=True))
    op.add_column('orders', sa.Column('shipping_address', postgresql.JSONB(astext_type=sa.Text()),
                                      nullable=True))
    # A regular-price order is one per idempotency key of its buyer (a sale's orders have
    # their own key per sale).
    op.create_index('uq_orders_regular_user_key', 'orders', ['user_id', 'idempotency_key'],
                    unique=True, postgresql_where=sa.text('sale_id IS NULL'))
    op.create_index('ix_orders_host_id', 'orders', ['host_id'],
                    postgresql_where=sa.text('host_id IS NOT NULL'))
    op.create_check_constraint(op.f('ck_orders_regular_or_sale'), 'orders',
                               '(sale_id is null) <> (host_id is null)')

    op.create_table(
        'order_lines',
        id_column(),
        reference('order_lines', 'order_id', 'orders'),
        reference('order_lines', 'product_id', 'products'),
        reference('order_lines', 'variant_id', 'product_variants'),
        sa.Column('title', sa.String(length=250), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('unit_price_minor', sa.BigInteger(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('commission_rate_bp', sa.Integer(), nullable=False),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_order_lines_quantity_positive')),
        primary_key('order_lines'),
        sa.UniqueConstraint('order_id', 'variant_id', name='uq_order_lines_order_variant'),
    )
    op.create_index('ix_order_lines_order_id', 'order_lines', ['order_id'])
    op.create_index('ix_order_lines_variant_id', 'order_lines', ['variant_id'])

    op.add_column('users', sa.Column('shipping_address', postgresql.JSONB(astext_type=sa.Text()),
                                     nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'shipping_address')
    op.drop_index('ix_order_lines_variant_id', table_name='order_lines')
    op.drop_index('ix_order_lines_order_id', table_name='order_lines')
    op.drop_table('order_lines')
    op.execute("DELETE FROM order_events WHERE order_id IN "
               "(SELECT id FROM orders WHERE sale_id IS NULL)")
    op.execute("DELETE FROM orders WHERE sale_id IS NULL")
    op.drop_constraint(op.f('ck_orders_regular_or_sale'), 'orders', type_='check')
    op.drop_index('ix_orders_host_id', table_name='orders')
    op.drop_index('uq_orders_regular_user_key', table_name='orders')
    op.drop_column('orders', 'shipping_address')
    op.drop_constraint(op.f('fk_orders_host_id_users'), 'orders', type_='foreignkey')
    op.drop_column('orders', 'host_id')
    op.alter_column('orders', 'sale_id', existing_type=sa.BigInteger(), nullable=False)
    op.drop_index('ix_product_variants_product_id', table_name='product_variants')
    op.drop_table('product_variants')
