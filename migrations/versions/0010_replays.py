"""Replays: a short video may be a room's replay (one per room).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.ddl import reference

revision: str = '0010'
down_revision: str | None = '0009'


def upgrade() -> None:
    op.add_column('short_videos', reference('short_videos', 'room_id', 'rooms', nullable=True,
                                            ondelete='CASCADE'))
    op.create_index('uq_short_videos_room_replay', 'short_videos', ['room_id'], unique=True,
                    postgresql_where=sa.text('room_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('uq_short_videos_room_replay', table_name='short_videos')
    op.drop_constraint(op.f('fk_short_videos_room_id_rooms'), 'short_videos', type_='foreignkey')
    op.drop_column('short_videos', 'room_id')
