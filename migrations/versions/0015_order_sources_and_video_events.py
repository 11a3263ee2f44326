"""Where an order came from (the live room, a replay or a short video), and analytics events
recorded for a short video or a replay (views, watch time, product clicks).

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-07 01:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'

OLD_KINDS = "('viewer_joined', 'viewer_left', 'chat', 'likes', 'product_view', 'product_click')"
NEW_KINDS = ("('viewer_joined', 'viewer_left', 'chat', 'likes', 'product_view', "
             "'product_click', 'video_view', 'video_watch')")


def upgrade() -> None:
    # Every order so far was bought in its live room. A live order's source id may stay
    # empty (it is the order's room), so a writer that knows nothing of sources still works.
    op.add_column('orders', sa.Column('source_kind', sa.String(length=10), nullable=False,
                                      server_default='live'))
    op.add_column('orders', sa.Column('source_id', sa.BigInteger(), nullable=True))
    op.create_check_constraint(op.f('ck_orders_source_kind'), 'orders',
                               "source_kind in ('live', 'replay', 'video')")
    op.create_check_constraint(op.f('ck_orders_source_id_set'), 'orders',
                               "source_kind = 'live' OR source_id IS NOT NULL")
    op.create_index('ix_orders_video_source', 'orders', ['source_id'],
                    postgresql_where=sa.text("source_kind <> 'live'"))

    op.alter_column('analytics_events', 'room_id', nullable=True)
    op.add_column('analytics_events', sa.Column('video_id', sa.BigInteger(), nullable=True))
    op.create_check_constraint(op.f('ck_analytics_events_room_or_video'), 'analytics_events',
                               "(room_id IS NULL) <> (video_id IS NULL)")
    op.drop_constraint(op.f('ck_analytics_events_kind'), 'analytics_events', type_='check')
    op.create_check_constraint(op.f('ck_analytics_events_kind'), 'analytics_events',
                               f"kind in {NEW_KINDS}")
    op.create_index('ix_analytics_events_video_at', 'analytics_events', ['video_id', 'at'],
                    postgresql_where=sa.text('video_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_analytics_events_video_at', table_name='analytics_events')
    op.execute("DELETE FROM analytics_events WHERE video_id IS NOT NULL")
    op.drop_constraint(op.f('ck_analytics_events_kind'), 'analytics_events', type_='check')
    op.create_check_constraint(op.f('ck_analytics_events_kind'), 'analytics_events',
                               f"kind in {OLD_KINDS}")
    op.drop_constraint(op.f('ck_analytics_events_room_or_video'), 'analytics_events',
                       type_='check')
    op.drop_column('analytics_events', 'video_id')
    op.alter_column('analytics_events', 'room_id', nullable=False)

    op.drop_index('ix_orders_video_source', table_name='orders')
    op.drop_constraint(op.f('ck_orders_source_id_set'), 'orders', type_='check')
    op.drop_constraint(op.f('ck_orders_source_kind'), 'orders', type_='check')
    op.drop_column('orders', 'source_id')
    op.drop_column('orders', 'source_kind')
