"""Room streams: each publish of a room's video through the ingest, one open at a time.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'room_streams',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('room_id', sa.BigInteger(), nullable=False),
        sa.Column('client_id', sa.String(length=32), nullable=False),
        sa.Column('key_fingerprint', sa.String(length=16), nullable=False),
        sa.Column('address', sa.String(length=64), server_default='', nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(['room_id'], ['rooms.id'], name=op.f('fk_room_streams_room_id_rooms'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_room_streams')),
    )
    op.create_index(op.f('ix_room_streams_room_id'), 'room_streams', ['room_id'])
    op.create_index('uq_room_streams_open', 'room_streams', ['room_id'], unique=True,
                    postgresql_where=sa.text('ended_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_room_streams_open', table_name='room_streams')
    op.drop_index(op.f('ix_room_streams_room_id'), table_name='room_streams')
    op.drop_table('room_streams')
