"""Coupons dropped into a live room, their claims, and the coupon an order used.

A claim is one viewer's copy of a coupon (one per viewer, at most `quantity` per coupon). The
order that used it is written on the claim (`order_id`) and on the order (`coupon_claim_id`,
`discount_minor`); a cancelled or expired order clears the claim's `order_id`, so the viewer's
next order may use it.

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-07 02:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.ddl import created_at, currency_column, id_column, now_column, primary_key, reference

revision: str = '0020'
down_revision: str | None = '0021'


def upgrade() -> None:
    op.create_table(
        'coupons',
        id_column(),
        reference('coupons', 'room_id', 'rooms', ondelete='CASCADE'),
        reference('coupons', 'host_id', 'users'),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('amount_off_minor', sa.BigInteger(), nullable=True),
        sa.Column('percent_off', sa.Integer(), nullable=True),
        sa.Column('max_off_minor', sa.BigInteger(), nullable=True),
        sa.Column('min_spend_minor', sa.BigInteger(), server_default='0', nullable=False),
        currency_column(),
        sa.Column('quantity', sa.BigInteger(), nullable=False),
        sa.Column('followers_only', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
        created_at(),
        sa.CheckConstraint("kind in ('amount', 'percent')", name=op.f('ck_coupons_kind')),
        sa.CheckConstraint("(kind = 'amount' and amount_off_minor > 0 and percent_off is null "
                           "and max_off_minor is null) or (kind = 'percent' and amount_off_minor "
                           "is null and percent_off between 1 and 100 and max_off_minor > 0)",
                           name=op.f('ck_coupons_terms')),
        sa.CheckConstraint('min_spend_minor >= 0', name=op.f('ck_coupons_min_spend_non_negative')),
        sa.CheckConstraint('quantity > 0', name=op.f('ck_coupons_quantity_positive')),
        primary_key('coupons'),
    )
    op.create_index('ix_coupons_room_id', 'coupons', ['room_id'], unique=False)
    op.create_table(
        'coupon_claims',
        id_column(),
        reference('coupon_claims', 'coupon_id', 'coupons', ondelete='CASCADE'),
        reference('coupon_claims', 'user_id', 'users'),
        reference('coupon_claims', 'order_id', 'orders', nullable=True),
        now_column('claimed_at'),
        primary_key('coupon_claims'),
        sa.UniqueConstraint('coupon_id', 'user_id', name='uq_coupon_claims_coupon_user'),
    )
    op.create_index('ix_coupon_claims_user_id', 'coupon_claims', ['user_id'], unique=False)
    op.create_index('uq_coupon_claims_order_id', 'coupon_claims', ['order_id'], unique=True,
                    postgresql_where=sa.text('order_id IS NOT NULL'))
    op.add_column('orders', reference('orders', 'coupon_claim_id', 'coupon_claims', nullable=True))
    op.add_column('orders', sa.Column('discount_minor', sa.BigInteger(), server_default='0',
                                      nullable=False))
    op.create_check_constraint(op.f('ck_orders_discount_non_negative'), 'orders',
                               'discount_minor >= 0')


def downgrade() -> None:
    op.drop_constraint(op.f('ck_orders_discount_non_negative'), 'orders', type_='check')
    op.drop_constraint(op.f('fk_orders_coupon_claim_id_coupon_claims'), 'orders',
                       type_='foreignkey')
    op.drop_column('orders', 'discount_minor')
    op.drop_column('orders', 'coupon_claim_id')
    op.drop_index('uq_coupon_claims_order_id', table_name='coupon_claims')
    op.drop_index('ix_coupon_claims_user_id', table_name='coupon_claims')
    op.drop_table('coupon_claims')
    op.drop_index('ix_coupons_room_id', table_name='coupons')
    op.drop_table('coupons')
