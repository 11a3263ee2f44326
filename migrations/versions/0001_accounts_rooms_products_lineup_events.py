"""accounts rooms products lineup events

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:31:42.782014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.ddl import created_at, currency_column, id_column, primary_key, reference, updated_at

revision: str = '0001'
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        'users',
        id_column(),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('display_name', sa.String(length=40), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=10), nullable=False),
        sa.Column('token_version', sa.BigInteger(), server_default='1', nullable=False),
        created_at(),
        sa.CheckConstraint("role in ('viewer', 'host', 'ops')", name=op.f('ck_users_role')),
        primary_key('users'),
        sa.UniqueConstraint('email', name=op.f('uq_users_email')),
    )
    op.create_table(
        'products',
        id_column(),
        reference('products', 'host_id', 'users'),
        sa.Column('title', sa.String(length=120), nullable=False),
        sa.Column('description', sa.Text(), server_default='', nullable=False),
        sa.Column('image_url', sa.String(length=500), nullable=True),
        sa.Column('price_minor', sa.BigInteger(), nullable=False),
        currency_column(),
        sa.Column('stock', sa.BigInteger(), nullable=False),
        created_at(),
        updated_at(),
        sa.CheckConstraint('char_length(currency) = 3', name=op.f('ck_products_currency_code')),
        sa.CheckConstraint('price_minor >= 0', name=op.f('ck_products_price_non_negative')),
        sa.CheckConstraint('stock >= 0', name=op.f('ck_products_stock_non_negative')),
        primary_key('products'),
    )
    op.create_index(op.f('ix_products_host_id'), 'products', ['host_id'], unique=False)
    op.create_table(
        'rooms',
        id_column(),
        reference('rooms', 'host_id', 'users'),
        sa.Column('title', sa.String(length=120), nullable=False),
        sa.Column('scheduled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('status', sa.String(length=10), server_default='scheduled', nullable=False),
        sa.Column('playback_url', sa.String(length=500), nullable=True),
        sa.Column('stream_key', sa.String(length=64), nullable=False),
        reference('rooms', 'pinned_product_id', 'products', nullable=True),
        sa.Column('slow_mode_seconds', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        created_at(),
        sa.CheckConstraint("status in ('scheduled', 'live', 'ended')", name=op.f('ck_rooms_status')),
        primary_key('rooms'),
        sa.UniqueConstraint('stream_key', name=op.f('uq_rooms_stream_key')),
    )
    op.create_index(op.f('ix_rooms_host_id'), 'rooms', ['host_id'], unique=False)
    op.create_table(
        'lineup_items',
        id_column(),
        reference('lineup_items', 'room_id', 'rooms', ondelete='CASCADE'),
        reference('lineup_items', 'product_id', 'products'),
        sa.Column('position', sa.BigInteger(), nullable=False),
        primary_key('lineup_items'),
        sa.UniqueConstraint('room_id', 'product_id', name='uq_lineup_items_room_product'),
    )
    op.create_index('ix_lineup_items_room_position', 'lineup_items', ['room_id', 'position'], unique=False)
    op.create_table(
        'room_events',
        id_column(),
        reference('room_events', 'room_id', 'rooms', ondelete='CASCADE'),
        sa.Column('type', sa.String(length=40), nullable=False),
        reference('room_events', 'actor_id', 'users', nullable=True),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        created_at(),
        primary_key('room_events'),
    )
    op.create_index('ix_room_events_room_created', 'room_events', ['room_id', 'created_at'], unique=False)
    op.create_table(
        'room_mutes',
        id_column(),
        reference('room_mutes', 'room_id', 'rooms', ondelete='CASCADE'),
        reference('room_mutes', 'user_id', 'users'),
        reference('room_mutes', 'muted_by', 'users'),
        sa.Column('until_epoch_s', sa.BigInteger(), nullable=True),
        created_at(),
        primary_key('room_mutes'),
        sa.UniqueConstraint('room_id', 'user_id', name='uq_room_mutes_room_user'),
    )


def downgrade() -> None:
    op.drop_table('room_mutes')
    op.drop_index('ix_room_events_room_created', table_name='room_events')
    op.drop_table('room_events')
    op.drop_index('ix_lineup_items_room_position', table_name='lineup_items')
    op.drop_table('lineup_items')
    op.drop_index(op.f('ix_rooms_host_id'), table_name='rooms')
    op.drop_table('rooms')
    op.drop_index(op.f('ix_products_host_id'), table_name='products')
    op.drop_table('products')
    op.drop_table('users')
