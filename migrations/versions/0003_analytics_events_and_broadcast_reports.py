"""analytics events and broadcast reports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:37:49.149052
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.ddl import currency_column, id_column, now_column, primary_key, reference

revision: str = '0003'
down_revision: str | None = '0002'


def upgrade() -> None:
    op.create_table(
        'analytics_events',
        id_column(),
        sa.Column('room_id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('viewer_key', sa.String(length=80), nullable=True),
        sa.Column('user_id', sa.BigInteger(), nullable=True),
        sa.Column('product_id', sa.BigInteger(), nullable=True),
        sa.Column('count', sa.BigInteger(), server_default='1', nullable=False),
        sa.CheckConstraint("kind in ('viewer_joined', 'viewer_left', 'chat', 'likes', 'product_view', 'product_click')", name=op.f('ck_analytics_events_kind')),
        sa.CheckConstraint('count > 0', name=op.f('ck_analytics_events_count_positive')),
        primary_key('analytics_events'),
    )
    op.create_index('ix_analytics_events_room_at', 'analytics_events', ['room_id', 'at'], unique=False)
    op.create_table(
        'broadcast_reports',
        reference('broadcast_reports', 'room_id', 'rooms', ondelete='CASCADE'),
        reference('broadcast_reports', 'host_id', 'users'),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        currency_column(nullable=True),
        sa.Column('gmv_minor', sa.BigInteger(), nullable=False),
        sa.Column('net_gmv_minor', sa.BigInteger(), nullable=False),
        sa.Column('paid_orders', sa.BigInteger(), nullable=False),
        sa.Column('buyers', sa.BigInteger(), nullable=False),
        sa.Column('peak_viewers', sa.BigInteger(), nullable=False),
        sa.Column('unique_viewers', sa.BigInteger(), nullable=False),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('last_order_event_id', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('last_event_id', sa.BigInteger(), server_default='0', nullable=False),
        now_column('built_at'),
        primary_key('broadcast_reports', 'room_id'),
    )
    op.create_index('ix_broadcast_reports_host_started', 'broadcast_reports', ['host_id', 'started_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_broadcast_reports_host_started', table_name='broadcast_reports')
    op.drop_table('broadcast_reports')
    op.drop_index('ix_analytics_events_room_at', table_name='analytics_events')
    op.drop_table('analytics_events')
