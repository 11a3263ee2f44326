"""Follows, room reminders, notifications, go-live alerts, reviews (social/).

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-07 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.TextClause:
    return sa.text('now()')


def upgrade() -> None:
    op.create_table(
        'follows',
        sa.Column('follower_id', sa.BigInteger(), nullable=False),
        sa.Column('host_id', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint('follower_id <> host_id', name=op.f('ck_follows_not_self')),
        sa.ForeignKeyConstraint(['follower_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_follows_follower_id_users')),
        sa.ForeignKeyConstraint(['host_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_follows_host_id_users')),
        sa.PrimaryKeyConstraint('follower_id', 'host_id', name=op.f('pk_follows')),
    )
    op.create_index('ix_follows_host_follower', 'follows', ['host_id', 'follower_id'])
    op.create_table(
        'room_reminders',
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('room_id', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_room_reminders_user_id_users')),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE',
                                name=op.f('fk_room_reminders_room_id_rooms')),
        sa.PrimaryKeyConstraint('user_id', 'room_id', name=op.f('pk_room_reminders')),
    )
    op.create_index('ix_room_reminders_room_user', 'room_reminders', ['room_id', 'user_id'])
    op.create_table(
        'notifications',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('dedupe_key', sa.String(80), nullable=False),
        sa.Column('title', sa.String(200), nullable=False),
        sa.Column('body', sa.String(300), server_default='', nullable=False),
        sa.Column('url', sa.String(300), server_default='', nullable=False),
        sa.Column('room_id', sa.BigInteger(), nullable=True),
        sa.Column('host_id', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_notifications_user_id_users')),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE',
                                name=op.f('fk_notifications_room_id_rooms')),
        sa.ForeignKeyConstraint(['host_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_notifications_host_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
        sa.UniqueConstraint('user_id', 'dedupe_key', name='uq_notifications_user_dedupe'),
    )
    op.create_index('ix_notifications_user_id_desc', 'notifications', ['user_id', 'id'])
    op.create_index('ix_notifications_unread', 'notifications', ['user_id'],
                    postgresql_where=sa.text('read_at IS NULL'))
    op.create_table(
        'go_live_alerts',
        sa.Column('room_id', sa.BigInteger(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('notified', sa.BigInteger(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], ondelete='CASCADE',
                                name=op.f('fk_go_live_alerts_room_id_rooms')),
        sa.PrimaryKeyConstraint('room_id', name=op.f('pk_go_live_alerts')),
    )
    op.create_table(
        'reviews',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('order_id', sa.BigInteger(), nullable=False),
        sa.Column('buyer_id', sa.BigInteger(), nullable=False),
        sa.Column('host_id', sa.BigInteger(), nullable=False),
        sa.Column('product_id', sa.BigInteger(), nullable=False),
        sa.Column('rating', sa.BigInteger(), nullable=False),
        sa.Column('body', sa.Text(), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column('editable_until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reply', sa.Text(), nullable=True),
        sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('rating between 1 and 5', name=op.f('ck_reviews_rating_range')),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='CASCADE',
                                name=op.f('fk_reviews_order_id_orders')),
        sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_reviews_buyer_id_users')),
        sa.ForeignKeyConstraint(['host_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_reviews_host_id_users')),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'], ondelete='CASCADE',
                                name=op.f('fk_reviews_product_id_products')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews')),
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
