"""One stock pool per variant: a product's stock moves into its default variant, and a flash
sale remembers the variant its units came from (docs/decisions/0021).

Until now a product's `stock` was what flash sales took from and its variants' stock what sold
at the regular price, two allotments the host set apart. Now the variants' stock is the only
stock: each product's `stock` is added to its default variant (`{}` options; created where
missing, inactive when the product has active sizes or colours, so that regular buyers are
not shown an option-less variant, while a sale naming the product alone can still take those
units), every sale points at its product's default variant (its unsold units go back there),
and `products.stock` is dropped (live reads the sum of the active variants' stock).

Redis counters of the variants whose stock changed are stale afterwards: `livesell migrate`
(and `livesell run`) rebuilds every variant's counters from PostgreSQL once this migration
has been applied (`REBUILDS_REDIS` below, core/migrate.py).

Revision ID: 0024
Revises: 0020
Create Date: 2026-12-07 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.ddl import reference

revision: str = '0024'
down_revision: str | None = '0023'
# What core.migrate's caller rebuilds from PostgreSQL after applying this migration.
REBUILDS_REDIS = ("variants",)


def upgrade() -> None:
    op.add_column('sales', reference('sales', 'variant_id', 'product_variants', nullable=True))
    op.execute("""
        INSERT INTO product_variants (product_id, host_id, options, label, stock, active,
                                      position)
        SELECT p.id, p.host_id, '{}'::jsonb, '', 0,
               NOT EXISTS (SELECT 1 FROM product_variants o WHERE o.product_id = p.id
                           AND o.options <> '{}'::jsonb AND o.active), 0
        FROM products p
        WHERE NOT EXISTS (SELECT 1 FROM product_variants d WHERE d.product_id = p.id
                          AND d.options = '{}'::jsonb)
    """)
    op.execute("""
        UPDATE product_variants v SET stock = v.stock + p.stock
        FROM products p WHERE v.product_id = p.id AND v.options = '{}'::jsonb AND p.stock > 0
    """)
    op.execute("""
        UPDATE sales s SET variant_id = v.id
        FROM product_variants v WHERE v.product_id = s.product_id AND v.options = '{}'::jsonb
    """)
    op.drop_column('products', 'stock')


def downgrade() -> None:
    # The units stay with the variants (they sell at the regular price); a product's own
    # stock starts again at 0.
    op.add_column('products', sa.Column('stock', sa.BigInteger(), server_default='0',
                                        nullable=False))
    op.create_check_constraint(op.f('ck_products_stock_non_negative'), 'products', 'stock >= 0')
    op.drop_constraint(op.f('fk_sales_variant_id_product_variants'), 'sales',
                       type_='foreignkey')
    op.drop_column('sales', 'variant_id')
