"""DDL for the Alembic migrations (`migrations/versions/`): the columns and constraints
they create table after table, a bigint `id` and its primary key, a time the database sets
to `now()`, a bigint reference to another table's `id` with its named foreign key, a
currency code.

Each helper makes exactly what the migrations spelled out by hand before it, names included,
and must never change what it makes: an applied migration has to build the same schema
whenever it runs again (a new database, a test run's, a downgrade and upgrade). A new shape
gets a new helper.

Constraint names are core.db's naming convention (`pk_<table>`,
`fk_<table>_<column>_<referred table>`), written out here through `op.f` (which keeps a name
as given) so that what a migration creates never depends on the convention in force when it
runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def id_column() -> sa.Column[int]:
    """`id bigint NOT NULL`: the table's key, declared by `primary_key(table)`."""
    return sa.Column('id', sa.BigInteger(), nullable=False)


def primary_key(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    """The primary key `pk_<table>` on `columns`, `id` when none are named."""
    return sa.PrimaryKeyConstraint(*(columns or ('id',)), name=op.f(f'pk_{table}'))


def now_column(name: str) -> sa.Column[object]:
    """A `timestamptz NOT NULL` the database sets to `now()` when the row is written."""
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text('now()'),
                     nullable=False)


def created_at() -> sa.Column[object]:
    return now_column('created_at')


def updated_at() -> sa.Column[object]:
    """Set to `now()` on insert; the database never moves it on update (the code does)."""
    return now_column('updated_at')


def reference(table: str, column: str, referred_table: str, *, nullable: bool = False,
              ondelete: str | None = None) -> sa.Column[int]:
    """The bigint `column` of `table` referring to `referred_table.id`, through the foreign
    key `fk_<table>_<column>_<referred_table>` (`ondelete`: e.g. 'CASCADE')."""
    foreign_key = sa.ForeignKey(f'{referred_table}.id', ondelete=ondelete,
                                name=op.f(f'fk_{table}_{column}_{referred_table}'))
    return sa.Column(column, sa.BigInteger(), foreign_key, nullable=nullable)


def currency_column(*, nullable: bool = False) -> sa.Column[str]:
    """An ISO 4217 currency code, `varchar(3)`: money is minor units plus this code."""
    return sa.Column('currency', sa.String(length=3), nullable=nullable)
