"""Trigram indexes for finding stations and districts by what a person types.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

A rider whose phone will not say where they are searches for a station's name, a street
or a district ("小店", "五一路"). ``pg_trgm`` (a trusted contrib extension, shipped with
PostgreSQL) indexes every three-character run of those texts, so ``ILIKE '%五一路%'`` and
the typo-tolerant ``word_similarity`` use an index instead of reading every row of a
national registry. With a ``C.UTF-8`` (or any UTF-8) character type, Chinese characters
count as word characters for it.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS stations_name_trgm_idx ON stations USING gin (name gin_trgm_ops);
CREATE INDEX IF NOT EXISTS stations_address_trgm_idx
    ON stations USING gin (address gin_trgm_ops);
CREATE INDEX IF NOT EXISTS districts_name_trgm_idx ON districts USING gin (name gin_trgm_ops);
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS stations_name_trgm_idx;
DROP INDEX IF EXISTS stations_address_trgm_idx;
DROP INDEX IF EXISTS districts_name_trgm_idx;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
