"""Follows, room reminders, notifications, go-live alerts, reviews (social/).

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-07 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.ddl import created_at, id_column, now_column, primary_key, reference, updated_at

revision: str = '0013'
down_revision: str | None = '0010'


def upgrade() -> None:
    op.create_table(
        'follows',
        reference('follows', 'follower_id', 'users', ondelete='CASCADE'),
        reference('follows', 'host_id', 'users', ondelete='CASCADE'),
        created_at(),
        sa.CheckConstraint('follower_id <> host_id', name=op.f('ck_follows_not_self')),
        primary_key('follows', 'follower_id', 'host_id'),
    )
    op.create_index('ix_follows_host_follower', 'follows', ['host_id', 'follower_id'])
    op.create_table(
        'room_reminders',
        reference('room_reminders', 'user_id', 'users', ondelete='CASCADE'),
        reference('room_reminders', 'room_id', 'rooms', ondelete='CASCADE'),
        created_at(),
        primary_key('room_reminders', 'user_id', 'room_id'),
    )
    op.create_index('ix_room_reminders_room_user', 'room_reminders', ['room_id', 'user_id'])
    op.create_table(
        'notifications',
        id_column(),
        reference('notifications', 'user_id', 'users', ondelete='CASCADE'),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('dedupe_key', sa.String(80), nullable=False),
        sa.Column('title', sa.String(200), nullable=False),
        sa.Column('body', sa.String(300), server_default='', nullable=False),
        sa.Column('url', sa.String(300), server_default='', nullable=False),
        reference('notifications', 'room_id', 'rooms', nullable=True, ondelete='CASCADE'),
        reference('notifications', 'host_id', 'users', nullable=True, ondelete='CASCADE'),
        created_at(),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        primary_key('notifications'),
        sa.UniqueConstraint('user_id', 'dedupe_key', name='uq_notifications_user_dedupe'),
    )
    op.create_index('ix_notifications_user_id_desc', 'notifications', ['user_id', 'id'])
    op.create_index('ix_notifications_unread', 'notifications', ['user_id'],
                    postgresql_where=sa.text('read_at IS NULL'))
    op.create_table(
        'go_live_alerts',
        reference('go_live_alerts', 'room_id', 'rooms', ondelete='CASCADE'),
        now_column('started_at'),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('notified', sa.BigInteger(), server_default='0', nullable=False),
        primary_key('go_live_alerts', 'room_id'),
    )
    op.create_table(
        'reviews',
        id_column(),
        reference('reviews', 'order_id', 'orders', ondelete='CASCADE'),
        reference('reviews', 'buyer_id', 'users', ondelete='CASCADE'),
        reference('reviews', 'host_id', 'users', ondelete='CASCADE'),
        reference('reviews', 'product_id', 'products', ondelete='CASCADE'),
        sa.Column('rating', sa.BigInteger(), nullable=False),
        sa.Column('body', sa.Text(), server_default='', nullable=False),
        created_at(),
        updated_at(),
        sa.Column('editable_until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reply', sa.Text(), nullable=True),
        sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('rating between 1 and 5', name=op.f('ck_reviews_rating_range')),
        primary_key('reviews'),
        sa.UniqueConstraint('order_id', name='uq_reviews_order_id'),
    )
    op.create_index('ix_reviews_host_created', 'reviews', ['host_id', 'created_at'])
    op.create_index('ix_reviews_product_created', 'reviews', ['product_id', 'created_at'])


def downgrade() -> None:
    op.drop_table('reviews')
    op.drop_table('go_live_alerts')
    op.drop_table('notifications')
    op.drop_table('room_reminders')
    op.drop_table('follows')
