"""Short videos: a host's upload and its transcode status.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.ddl import created_at, id_column, primary_key, reference, updated_at

revision: str = '0008'
down_revision: str | None = '0007'


def upgrade() -> None:
    op.create_table(
        'short_videos',
        id_column(),
        reference('short_videos', 'host_id', 'users'),
        sa.Column('title', sa.String(length=120), nullable=False),
        sa.Column('status', sa.String(length=12), server_default='uploaded', nullable=False),
        sa.Column('failure_reason', sa.String(length=300), nullable=True),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('content_type', sa.String(length=60), nullable=False),
        sa.Column('duration_ms', sa.BigInteger(), nullable=True),
        sa.Column('width', sa.BigInteger(), nullable=True),
        sa.Column('height', sa.BigInteger(), nullable=True),
        sa.Column('renditions', postgresql.JSONB(astext_type=sa.Text()), server_default='[]',
                  nullable=False),
        sa.Column('attempts', sa.BigInteger(), server_default='0', nullable=False),
        created_at(),
        updated_at(),
        sa.Column('ready_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status in ('uploaded', 'processing', 'ready', 'failed')",
                           name=op.f('ck_short_videos_status')),
        primary_key('short_videos'),
    )
    op.create_index(op.f('ix_short_videos_host_id'), 'short_videos', ['host_id'])
    op.create_index('ix_short_videos_status_created', 'short_videos', ['status', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_short_videos_status_created', table_name='short_videos')
    op.drop_index(op.f('ix_short_videos_host_id'), table_name='short_videos')
    op.drop_table('short_videos')
