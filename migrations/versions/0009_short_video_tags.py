"""Short video tags: a product shown in a video from a moment on.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'short_video_tags',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('video_id', sa.BigInteger(), nullable=False),
        sa.Column('product_id', sa.BigInteger(), nullable=False),
        sa.Column('at_ms', sa.BigInteger(), nullable=False),
        sa.CheckConstraint('at_ms >= 0', name=op.f('ck_short_video_tags_at_ms_non_negative')),
        sa.ForeignKeyConstraint(['video_id'], ['short_videos.id'],
                                name=op.f('fk_short_video_tags_video_id_short_videos'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'],
                                name=op.f('fk_short_video_tags_product_id_products')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_short_video_tags')),
    )
    op.create_index('ix_short_video_tags_video_at', 'short_video_tags', ['video_id', 'at_ms'])


def downgrade() -> None:
    op.drop_index('ix_short_video_tags_video_at', table_name='short_video_tags')
    op.drop_table('short_video_tags')
