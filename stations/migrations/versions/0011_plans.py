"""Planners' saved plans: named sets of proposed sites, every version kept.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

A city union compares plans before it decides, and later has to show what it compared.
A plan is a name, the district and service radius it was made for, where its sites came
from, and the sites. Saving under a name already used adds the plan's next version; rows
are never updated or deleted, so what was compared on a given day can be read again.
``IF NOT EXISTS`` / ``OR REPLACE`` for the same reason as 0010 (a backup restored over).
The sites are JSON ``[[lon, lat], ...]`` rather than a PostGIS MultiPoint: restoring an
older backup drops and recreates the postgis extension, which a table outside the
backup holding a geometry column would block.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE IF NOT EXISTS plans (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner     text NOT NULL,
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    district  text NOT NULL,
    radius_m  double precision NOT NULL,
    source    text NOT NULL CHECK (source IN ('suggest', 'fewest', 'map', 'file')),
    sites     json NOT NULL,
    saved_at  timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION plans_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'plans is append-only: save a new version instead';
END $$;
CREATE OR REPLACE TRIGGER plans_append_only BEFORE UPDATE OR DELETE ON plans
    FOR EACH ROW EXECUTE FUNCTION plans_append_only();
CREATE OR REPLACE TRIGGER plans_no_truncate BEFORE TRUNCATE ON plans
    FOR EACH STATEMENT EXECUTE FUNCTION plans_append_only();
"""

DOWNGRADE = r"""
DROP TABLE plans;
DROP FUNCTION plans_append_only();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
