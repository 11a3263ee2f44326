"""Engagement: red envelope rains and their envelopes, the wallet ledger, lucky draws.

Triggers keep what the fairness rests on from changing: a wallet entry is never updated or
deleted; an envelope's amount never changes and its grabber is set once; a rain's seed, pool
and window never change; a draw's seed and terms never change, and a drawn draw never changes
at all (docs/engagement.md).

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-07 01:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.ddl import created_at, currency_column, id_column, now_column, primary_key, reference

revision: str = '0014'
down_revision: str | None = '0013'


def upgrade() -> None:
    op.create_table(
        'draws',
        id_column(),
        reference('draws', 'room_id', 'rooms', ondelete='CASCADE'),
        reference('draws', 'host_id', 'users'),
        sa.Column('prize', sa.String(length=200), nullable=False),
        sa.Column('winner_count', sa.BigInteger(), nullable=False),
        sa.Column('rule', sa.String(length=10), nullable=False),
        sa.Column('keyword', sa.String(length=40), nullable=True),
        sa.Column('seed', sa.LargeBinary(), nullable=False),
        sa.Column('seed_hash', sa.String(length=64), nullable=False),
        sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=10), server_default='open', nullable=False),
        sa.Column('entrants', postgresql.ARRAY(sa.BigInteger()), nullable=True),
        sa.Column('winners', postgresql.ARRAY(sa.BigInteger()), nullable=True),
        sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=True),
        created_at(),
        sa.CheckConstraint("(rule = 'keyword') = (keyword IS NOT NULL)", name=op.f('ck_draws_keyword_rule')),
        sa.CheckConstraint("(status = 'open' and entrants IS NULL and winners IS NULL and drawn_at IS NULL) or (status = 'drawn' and entrants IS NOT NULL and winners IS NOT NULL and drawn_at IS NOT NULL)", name=op.f('ck_draws_drawn_when')),
        sa.CheckConstraint("rule in ('in_room', 'keyword')", name=op.f('ck_draws_rule')),
        sa.CheckConstraint("seed_hash = encode(sha256(seed), 'hex')", name=op.f('ck_draws_seed_committed')),
        sa.CheckConstraint("status in ('open', 'drawn')", name=op.f('ck_draws_status')),
        sa.CheckConstraint('winner_count > 0', name=op.f('ck_draws_winners_positive')),
        primary_key('draws'),
    )
    op.create_index('ix_draws_open_closes_at', 'draws', ['closes_at'], unique=False, postgresql_where=sa.text("status = 'open'"))
    op.create_index('ix_draws_room_id', 'draws', ['room_id'], unique=False)
    op.create_table(
        'envelope_rains',
        id_column(),
        reference('envelope_rains', 'room_id', 'rooms', ondelete='CASCADE'),
        reference('envelope_rains', 'host_id', 'users'),
        sa.Column('total_minor', sa.BigInteger(), nullable=False),
        currency_column(),
        sa.Column('envelope_count', sa.BigInteger(), nullable=False),
        sa.Column('min_minor', sa.BigInteger(), nullable=False),
        sa.Column('seed', sa.LargeBinary(), nullable=False),
        sa.Column('seed_hash', sa.String(length=64), nullable=False),
        sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=10), server_default='dropped', nullable=False),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        created_at(),
        sa.CheckConstraint("(status = 'dropped') = (settled_at IS NULL)", name=op.f('ck_envelope_rains_settled_when')),
        sa.CheckConstraint("seed_hash = encode(sha256(seed), 'hex')", name=op.f('ck_envelope_rains_seed_committed')),
        sa.CheckConstraint("status in ('dropped', 'settled')", name=op.f('ck_envelope_rains_status')),
        sa.CheckConstraint('closes_at > opens_at', name=op.f('ck_envelope_rains_window')),
        sa.CheckConstraint('envelope_count > 0', name=op.f('ck_envelope_rains_count_positive')),
        sa.CheckConstraint('min_minor > 0', name=op.f('ck_envelope_rains_min_positive')),
        sa.CheckConstraint('total_minor >= envelope_count * min_minor', name=op.f('ck_envelope_rains_total_splits')),
        primary_key('envelope_rains'),
    )
    op.create_index('ix_envelope_rains_dropped_closes_at', 'envelope_rains', ['closes_at'], unique=False, postgresql_where=sa.text("status = 'dropped'"))
    op.create_index('ix_envelope_rains_room_id', 'envelope_rains', ['room_id'], unique=False)
    op.create_table(
        'draw_entries',
        id_column(),
        reference('draw_entries', 'draw_id', 'draws', ondelete='CASCADE'),
        reference('draw_entries', 'user_id', 'users'),
        now_column('entered_at'),
        primary_key('draw_entries'),
        sa.UniqueConstraint('draw_id', 'user_id', name='uq_draw_entries_draw_user'),
    )
    op.create_table(
        'envelopes',
        id_column(),
        reference('envelopes', 'rain_id', 'envelope_rains', ondelete='CASCADE'),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        reference('envelopes', 'user_id', 'users', nullable=True),
        sa.Column('grabbed_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('(user_id IS NULL) = (grabbed_at IS NULL)', name=op.f('ck_envelopes_grabbed_when')),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_envelopes_amount_positive')),
        sa.CheckConstraint('seq > 0', name=op.f('ck_envelopes_seq_positive')),
        primary_key('envelopes'),
        sa.UniqueConstraint('rain_id', 'seq', name='uq_envelopes_rain_seq'),
    )
    op.create_index('uq_envelopes_rain_user', 'envelopes', ['rain_id', 'user_id'], unique=True, postgresql_where=sa.text('user_id IS NOT NULL'))
    op.create_table(
        'wallet_entries',
        id_column(),
        reference('wallet_entries', 'user_id', 'users'),
        currency_column(),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        reference('wallet_entries', 'rain_id', 'envelope_rains'),
        sa.Column('envelope_seq', sa.BigInteger(), nullable=True),
        created_at(),
        sa.CheckConstraint("(kind = 'envelope' and amount_minor > 0 and envelope_seq IS NOT NULL) or (kind = 'rain_funded' and amount_minor < 0 and envelope_seq IS NULL) or (kind = 'rain_returned' and amount_minor >= 0 and envelope_seq IS NULL)", name=op.f('ck_wallet_entries_amount_sign')),
        sa.CheckConstraint("kind in ('envelope', 'rain_funded', 'rain_returned')", name=op.f('ck_wallet_entries_kind')),
        primary_key('wallet_entries'),
    )
    op.create_index('ix_wallet_entries_user_currency', 'wallet_entries', ['user_id', 'currency'], unique=False)
    op.create_index('uq_wallet_entries_envelope', 'wallet_entries', ['rain_id', 'envelope_seq'], unique=True, postgresql_where=sa.text("kind = 'envelope'"))
    op.create_index('uq_wallet_entries_rain_kind', 'wallet_entries', ['rain_id', 'kind'], unique=True, postgresql_where=sa.text("kind <> 'envelope'"))
    for statement in TRIGGERS:
        op.execute(statement)


TRIGGERS = [
    """
    CREATE FUNCTION wallet_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'wallet entries are never changed or removed' USING ERRCODE = 'P0001';
    END $$
    """,
    """
    CREATE TRIGGER wallet_entries_append_only BEFORE UPDATE OR DELETE ON wallet_entries
    FOR EACH ROW EXECUTE FUNCTION wallet_entries_append_only()
    """,
    """
    CREATE FUNCTION envelopes_grabbed_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.rain_id <> OLD.rain_id OR NEW.seq <> OLD.seq
           OR NEW.amount_minor <> OLD.amount_minor OR OLD.user_id IS NOT NULL THEN
            RAISE EXCEPTION 'an envelope is grabbed once and never changed' USING ERRCODE = 'P0001';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER envelopes_grabbed_once BEFORE UPDATE ON envelopes
    FOR EACH ROW EXECUTE FUNCTION envelopes_grabbed_once()
    """,
    """
    CREATE FUNCTION envelope_rains_committed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.seed <> OLD.seed OR NEW.seed_hash <> OLD.seed_hash
           OR NEW.total_minor <> OLD.total_minor OR NEW.envelope_count <> OLD.envelope_count
           OR NEW.min_minor <> OLD.min_minor OR NEW.currency <> OLD.currency
           OR NEW.opens_at <> OLD.opens_at OR NEW.closes_at <> OLD.closes_at
           OR OLD.status = 'settled' THEN
            RAISE EXCEPTION 'a rain is fixed once dropped' USING ERRCODE = 'P0001';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER envelope_rains_committed BEFORE UPDATE ON envelope_rains
    FOR EACH ROW EXECUTE FUNCTION envelope_rains_committed()
    """,
    """
    CREATE FUNCTION draws_committed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.seed <> OLD.seed OR NEW.seed_hash <> OLD.seed_hash OR NEW.prize <> OLD.prize
           OR NEW.winner_count <> OLD.winner_count OR NEW.rule <> OLD.rule
           OR NEW.keyword IS DISTINCT FROM OLD.keyword OR NEW.closes_at <> OLD.closes_at
           OR OLD.status = 'drawn' THEN
            RAISE EXCEPTION 'a draw cannot be altered once its seed is committed'
                USING ERRCODE = 'P0001';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER draws_committed BEFORE UPDATE ON draws
    FOR EACH ROW EXECUTE FUNCTION draws_committed()
    """,
]


def downgrade() -> None:
    for name, table in (("draws_committed", "draws"),
                        ("envelope_rains_committed", "envelope_rains"),
                        ("envelopes_grabbed_once", "envelopes"),
                        ("wallet_entries_append_only", "wallet_entries")):
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_index('uq_wallet_entries_rain_kind', table_name='wallet_entries', postgresql_where=sa.text("kind <> 'envelope'"))
    op.drop_index('uq_wallet_entries_envelope', table_name='wallet_entries', postgresql_where=sa.text("kind = 'envelope'"))
    op.drop_index('ix_wallet_entries_user_currency', table_name='wallet_entries')
    op.drop_table('wallet_entries')
    op.drop_index('uq_envelopes_rain_user', table_name='envelopes', postgresql_where=sa.text('user_id IS NOT NULL'))
    op.drop_table('envelopes')
    op.drop_table('draw_entries')
    op.drop_index('ix_envelope_rains_room_id', table_name='envelope_rains')
    op.drop_index('ix_envelope_rains_dropped_closes_at', table_name='envelope_rains', postgresql_where=sa.text("status = 'dropped'"))
    op.drop_table('envelope_rains')
    op.drop_index('ix_draws_room_id', table_name='draws')
    op.drop_index('ix_draws_open_closes_at', table_name='draws', postgresql_where=sa.text("status = 'open'"))
    op.drop_table('draws')
