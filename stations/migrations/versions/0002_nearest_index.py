"""Geography index for nearest-station searches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

KNN on ``geom::geography`` orders by metres on the sphere anywhere in China, where the
geometry index would order by degrees (a degree of longitude is 20 % shorter in Harbin
than in Haikou).
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX stations_geog_idx ON stations USING gist ((geom::geography))")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS stations_geog_idx")
