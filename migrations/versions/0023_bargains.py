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

import sqlalchemy as sa
from alembic import op

from core.ddl import created_at, currency_column, id_column, now_column, primary_key, reference

revision: str = '0023'
down_revision: str | None = '0026'

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
    op.create_table(
        'bargain_offers',
        id_column(),
        reference('bargain_offers', 'room_id', 'rooms', ondelete='CASCADE'),
        reference('bargain_offers', 'host_id', 'users'),
        reference('bargain_offers', 'product_id', 'products'),
        reference('bargain_offers', 'variant_id', 'product_variants'),
        sa.Column('title', sa.String(length=250), nullable=False),
        currency_column(),
        sa.Column('start_price_minor', sa.BigInteger(), nullable=False),
        sa.Column('floor_price_minor', sa.BigInteger(), nullable=False),
        sa.Column('helpers_needed', sa.Integer(), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        created_at(),
        sa.CheckConstraint('floor_price_minor >= 1', name=op.f('ck_bargain_offers_floor_positive')),
        sa.CheckConstraint('floor_price_minor < start_price_minor', name=op.f('ck_bargain_offers_floor_below_start')),
        sa.CheckConstraint('helpers_needed between 1 and 50', name=op.f('ck_bargain_offers_helpers_range')),
        sa.CheckConstraint('start_price_minor - floor_price_minor >= helpers_needed', name=op.f('ck_bargain_offers_a_unit_per_cut')),
        primary_key('bargain_offers'),
    )
    op.create_index('ix_bargain_offers_room_id', 'bargain_offers', ['room_id'], unique=False)
    op.create_table(
        'bargains',
        id_column(),
        reference('bargains', 'offer_id', 'bargain_offers', ondelete='CASCADE'),
        reference('bargains', 'buyer_id', 'users'),
        sa.Column('price_minor', sa.BigInteger(), nullable=False),
        sa.Column('helpers_count', sa.Integer(), server_default='0', nullable=False),
        now_column('started_at'),
        sa.CheckConstraint('helpers_count >= 0', name=op.f('ck_bargains_helpers_count_non_negative')),
        sa.CheckConstraint('price_minor >= 1', name=op.f('ck_bargains_price_positive')),
        primary_key('bargains'),
        sa.UniqueConstraint('offer_id', 'buyer_id', name='uq_bargains_offer_buyer'),
    )
    op.create_index('ix_bargains_buyer_id', 'bargains', ['buyer_id'], unique=False)
    op.create_table(
        'bargain_cuts',
        id_column(),
        reference('bargain_cuts', 'bargain_id', 'bargains', ondelete='CASCADE'),
        reference('bargain_cuts', 'helper_id', 'users'),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('price_after_minor', sa.BigInteger(), nullable=False),
        created_at(),
        sa.CheckConstraint('amount_minor >= 1', name=op.f('ck_bargain_cuts_amount_positive')),
        sa.CheckConstraint('seq >= 1', name=op.f('ck_bargain_cuts_seq_positive')),
        primary_key('bargain_cuts'),
        sa.UniqueConstraint('bargain_id', 'helper_id', name='uq_bargain_cuts_bargain_helper'),
        sa.UniqueConstraint('bargain_id', 'seq', name='uq_bargain_cuts_bargain_seq'),
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
