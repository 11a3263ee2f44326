"""The short video feeds' indexes: ready videos in (ready_at, id) order, everyone's and per
host, for the keyset pages of "For you" and "Following" (live/videos.py, social/feed.py).

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-07 02:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0015'


def upgrade() -> None:
    op.create_index('ix_short_videos_ready_feed', 'short_videos', ['ready_at', 'id'],
                    postgresql_where=sa.text("status = 'ready'"))
    op.create_index('ix_short_videos_host_ready_feed', 'short_videos',
                    ['host_id', 'ready_at', 'id'], postgresql_where=sa.text("status = 'ready'"))


def downgrade() -> None:
    op.drop_index('ix_short_videos_host_ready_feed', table_name='short_videos')
    op.drop_index('ix_short_videos_ready_feed', table_name='short_videos')
