"""Short video tags: a product shown in a video from a moment on.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.ddl import id_column, primary_key, reference

revision: str = '0009'
down_revision: str | None = '0008'


def upgrade() -> None:
    op.create_table(
        'short_video_tags',
        id_column(),
        reference('short_video_tags', 'video_id', 'short_videos', ondelete='CASCADE'),
        reference('short_video_tags', 'product_id', 'products'),
        sa.Column('at_ms', sa.BigInteger(), nullable=False),
        sa.CheckConstraint('at_ms >= 0', name=op.f('ck_short_video_tags_at_ms_non_negative')),
        primary_key('short_video_tags'),
    )
    op.create_index('ix_short_video_tags_video_at', 'short_video_tags', ['video_id', 'at_ms'])


def downgrade() -> None:
    op.drop_index('ix_short_video_tags_video_at', table_name='short_video_tags')
    op.drop_table('short_video_tags')
