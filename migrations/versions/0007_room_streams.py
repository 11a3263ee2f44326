"""Room streams: each publish of a room's video through the ingest, one open at a time.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.ddl import id_column, now_column, primary_key, reference

revision: str = '0007'
down_revision: str | None = '0006'


def upgrade() -> None:
    op.create_table(
        'room_streams',
        id_column(),
        reference('room_streams', 'room_id', 'rooms', ondelete='CASCADE'),
        sa.Column('client_id', sa.String(length=32), nullable=False),
        sa.Column('key_fingerprint', sa.String(length=16), nullable=False),
        sa.Column('address', sa.String(length=64), server_default='', nullable=False),
        now_column('started_at'),
        now_column('last_seen_at'),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(length=20), nullable=True),
        primary_key('room_streams'),
    )
    op.create_index(op.f('ix_room_streams_room_id'), 'room_streams', ['room_id'])
    op.create_index('uq_room_streams_open', 'room_streams', ['room_id'], unique=True,
                    postgresql_where=sa.text('ended_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_room_streams_open', table_name='room_streams')
    op.drop_index(op.f('ix_room_streams_room_id'), table_name='room_streams')
    op.drop_table('room_streams')
