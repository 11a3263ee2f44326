"""Honest bargaining: hosts' bargain offers, buyers' bargains and their friends' cuts, and
`bargain` as an order's source (orders/bargains.py; docs/social.md, "Bargaining").

A cut is unique per bargain and helper (a friend helps once) and per bargain and rank (`seq`:
the rank fixes the amount by the published rule). The order a bargain's buyer places is a
regular-price order whose source is the bargain (`source_kind = 'bargain'`, `source_id` its
id).

The check on `orders.source_kind` is rewritten from the one in the database, with `bargain`
added (and removed again on the way down), so that another migration adding a source kind of
its own keeps it whatever the order they run in.

Revision ID: 0023
Revises: 0020
Create Date: 2026-12-07 05:00:00.000000
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE_CHECK = 'ck_orders_source_kind'


def _source_kinds() -> list[str]:
    definition = op.get_bind().scalar(sa.text(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"),
        {"name": SOURCE_CHECK})
    return re.findall(r"'(\w+)'", definition or "")


def _set_source_kinds(kinds: list[str]) -> None:
    op.drop_constraint(op.f(SOURCE_CHECK), 'orders', type_='check')
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    op.create_check_constraint(op.f(SOURCE_CHECK), 'orders', f"source_kind in ({listed})")


def upgrade() -> None:
    op.create_table('bargain_offers',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('room_id', sa.BigInteger(), nullable=False),
    sa.Column('host_id', sa.BigInteger(), nullable=False),
    sa.Column('product_id', sa.BigInteger(), nullable=False),
    sa.Column('variant_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.String(length=250), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('start_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('floor_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('helpers_needed', sa.Integer(), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('floor_price_minor >= 1', name=op.f('ck_bargain_offers_floor_positive')),
    sa.CheckConstraint('floor_price_minor < start_price_minor', name=op.f('ck_bargain_offers_floor_below_start')),
    sa.CheckConstraint('helpers_needed between 1 and 50', name=op.f('ck_bargain_offers_helpers_range')),
    sa.CheckConstraint('start_price_minor - floor_price_minor >= helpers_needed', name=op.f('ck_bargain_offers_a_unit_per_cut')),
    sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_bargain_offers_room_id_rooms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['host_id'], ['users.id'], name=op.f('fk_bargain_offers_host_id_users')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_bargain_offers_product_id_products')),
    sa.ForeignKeyConstraint(['variant_id'], ['product_variants.id'], name=op.f('fk_bargain_offers_variant_id_product_variants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bargain_offers'))
    )
    op.create_index('ix_bargain_offers_room_id', 'bargain_offers', ['room_id'], unique=False)
    op.create_table('bargains',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('offer_id', sa.BigInteger(), nullable=False),
    sa.Column('buyer_id', sa.BigInteger(), nullable=False),
    sa.Column('price_minor', sa.BigInteger(), nullable=False),
    sa.Column('helpers_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('helpers_count >= 0', name=op.f('ck_bargains_helpers_count_non_negative')),
    sa.CheckConstraint('price_minor >= 1', name=op.f('ck_bargains_price_positive')),
    sa.ForeignKeyConstraint(['offer_id'], ['bargain_offers.id'], name=op.f('fk_bargains_offer_id_bargain_offers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_bargains_buyer_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bargains')),
    sa.UniqueConstraint('offer_id', 'buyer_id', name='uq_bargains_offer_buyer')
    )
    op.create_index('ix_bargains_buyer_id', 'bargains', ['buyer_id'], unique=False)
    op.create_table('bargain_cuts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('bargain_id', sa.BigInteger(), nullable=False),
    sa.Column('helper_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('price_after_minor', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount_minor >= 1', name=op.f('ck_bargain_cuts_amount_positive')),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_bargain_cuts_seq_positive')),
    sa.ForeignKeyConstraint(['bargain_id'], ['bargains.id'], name=op.f('fk_bargain_cuts_bargain_id_bargains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['helper_id'], ['users.id'], name=op.f('fk_bargain_cuts_helper_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bargain_cuts')),
    sa.UniqueConstraint('bargain_id', 'helper_id', name='uq_bargain_cuts_bargain_helper'),
    sa.UniqueConstraint('bargain_id', 'seq', name='uq_bargain_cuts_bargain_seq')
    )
    kinds = _source_kinds()
    if 'bargain' not in kinds:
        _set_source_kinds([*kinds, 'bargain'])


def downgrade() -> None:
    # Refused while an order of a bargain is kept (the check would fail): its history stays.
    _set_source_kinds([kind for kind in _source_kinds() if kind != 'bargain'])
    op.drop_table('bargain_cuts')
    op.drop_index('ix_bargains_buyer_id', table_name='bargains')
    op.drop_table('bargains')
    op.drop_index('ix_bargain_offers_room_id', table_name='bargain_offers')
    op.drop_table('bargain_offers')
