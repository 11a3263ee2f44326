"""Share links, their visits and the attributions they set; the product's share rate; the
sharers' entries in the commission ledger, with the rules the database can hold.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-07 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.ddl import id_column, now_column, primary_key, reference

revision: str = '0017'
down_revision: str | None = '0011'


def upgrade() -> None:
    op.add_column('products', sa.Column('share_rate_bp', sa.Integer(), nullable=True))
    op.create_check_constraint(op.f('ck_products_share_rate_range'), 'products',
                               'share_rate_bp IS NULL OR (share_rate_bp >= 0 AND '
                               'share_rate_bp <= 10000)')

    op.create_table(
        'share_links',
        id_column(),
        reference('share_links', 'sharer_id', 'users'),
        sa.Column('target_kind', sa.String(length=10), nullable=False),
        sa.Column('target_id', sa.BigInteger(), nullable=False),
        now_column('issued_at'),
        sa.CheckConstraint("target_kind in ('room', 'product', 'group')",
                           name=op.f('ck_share_links_target_kind')),
        sa.UniqueConstraint('sharer_id', 'target_kind', 'target_id',
                            name='uq_share_links_sharer_target'),
        primary_key('share_links'),
    )
    op.create_table(
        'share_visits',
        id_column(),
        reference('share_visits', 'link_id', 'share_links'),
        reference('share_visits', 'visitor_id', 'users', nullable=True),
        now_column('visited_at'),
        primary_key('share_visits'),
    )
    op.create_index('ix_share_visits_link_id', 'share_visits', ['link_id'])
    op.create_table(
        'share_attributions',
        id_column(),
        reference('share_attributions', 'user_id', 'users'),
        reference('share_attributions', 'sharer_id', 'users'),
        reference('share_attributions', 'link_id', 'share_links'),
        now_column('clicked_at'),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        # Nobody is attributed to themselves: their own link's visit sets nothing.
        sa.CheckConstraint('user_id <> sharer_id', name=op.f('ck_share_attributions_not_self')),
        sa.CheckConstraint('expires_at > clicked_at', name=op.f('ck_share_attributions_window')),
        primary_key('share_attributions'),
    )
    op.create_index('ix_share_attributions_user_clicked', 'share_attributions',
                    ['user_id', 'clicked_at'])

    op.add_column('orders', reference('orders', 'share_attribution_id', 'share_attributions',
                                      nullable=True))

    # The ledger: a sharer's entry is a row of the same table, told apart by its party.
    # host_id is the earner: the host for a host's entry, the sharer for a sharer's.
    op.add_column('commission_entries', sa.Column('party', sa.String(length=6), nullable=False,
                                                  server_default='host'))
    op.add_column('commission_entries', sa.Column('level', sa.SmallInteger(), nullable=False,
                                                  server_default='0'))
    op.add_column('commission_entries',
                  reference('commission_entries', 'buyer_id', 'users', nullable=True))
    op.add_column('commission_entries',
                  reference('commission_entries', 'via_id', 'users', nullable=True))
    op.create_check_constraint(op.f('ck_commission_entries_party'), 'commission_entries',
                               "party in ('host', 'sharer')")
    # Depth: a host's entry is level 0; a sharer's is level 1 or 2, never more.
    op.create_check_constraint(op.f('ck_commission_entries_depth'), 'commission_entries',
                               "(party = 'host' AND level = 0) OR "
                               "(party = 'sharer' AND level IN (1, 2))")
    # No commission on one's own purchase: a sharer's entry names the buyer, who is not the
    # earner.
    op.create_check_constraint(op.f('ck_commission_entries_not_own_purchase'),
                               'commission_entries',
                               "party = 'host' OR (buyer_id IS NOT NULL AND buyer_id <> host_id)")
    # No cycle: a level-2 entry names the level-1 sharer it came through, who is neither the
    # earner nor the buyer; other entries name none.
    op.create_check_constraint(op.f('ck_commission_entries_chain'), 'commission_entries',
                               "(level = 2 AND via_id IS NOT NULL AND via_id <> host_id "
                               "AND via_id <> buyer_id) OR (level <> 2 AND via_id IS NULL)")
    op.drop_constraint('uq_commission_entries_order_kind', 'commission_entries', type_='unique')
    op.create_unique_constraint('uq_commission_entries_order_kind', 'commission_entries',
                                ['order_id', 'kind', 'party', 'level'])
    op.create_index('ix_commission_entries_sharer', 'commission_entries',
                    ['host_id', 'created_at'], postgresql_where=sa.text("party = 'sharer'"))


def downgrade() -> None:
    op.drop_index('ix_commission_entries_sharer', table_name='commission_entries')
    op.execute("DELETE FROM commission_entries WHERE party = 'sharer'")
    op.drop_constraint('uq_commission_entries_order_kind', 'commission_entries', type_='unique')
    op.create_unique_constraint('uq_commission_entries_order_kind', 'commission_entries',
                                ['order_id', 'kind'])
    for name in ('chain', 'not_own_purchase', 'depth', 'party'):
        op.drop_constraint(op.f(f'ck_commission_entries_{name}'), 'commission_entries',
                           type_='check')
    for name in ('via_id', 'buyer_id', 'level', 'party'):
        op.drop_column('commission_entries', name)
    op.drop_column('orders', 'share_attribution_id')
    op.drop_index('ix_share_attributions_user_clicked', table_name='share_attributions')
    op.drop_table('share_attributions')
    op.drop_index('ix_share_visits_link_id', table_name='share_visits')
    op.drop_table('share_visits')
    op.drop_table('share_links')
    op.drop_constraint(op.f('ck_products_share_rate_range'), 'products', type_='check')
    op.drop_column('products', 'share_rate_bp')
