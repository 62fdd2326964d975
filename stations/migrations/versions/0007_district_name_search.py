"""A trigram index on the station's district name, the third text a search reads.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Migration 0006 indexed names and addresses; a search reads ``district_name`` too, inside
the same ``OR``, and one unindexed branch makes PostgreSQL read every row of a national
registry for every search.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS stations_district_name_trgm_idx"
        " ON stations USING gin (district_name gin_trgm_ops)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS stations_district_name_trgm_idx")
