"""When a change took effect, beside when the register recorded it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``changed_at`` stays what it always was: the moment the register wrote the entry, which
nobody can set. ``effective_at`` is for changes recorded after the fact — a register
migrated from an earlier system, a suspension reported a week late — and is NULL when the
change took effect as it was recorded. A writer sets it for one transaction with
``set_config('stations.effective_at', '2023-04-01 00:00+08', true)``. Reports for past
periods (the subsidy's "facts as they were") order the history by
``coalesce(effective_at, changed_at)``. No existing row is rewritten: the history is
append-only.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE station_history ADD COLUMN effective_at timestamptz;

CREATE OR REPLACE FUNCTION stations_effective_at() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('stations.effective_at', true), '')::timestamptz
$$;

CREATE OR REPLACE FUNCTION stations_history_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO station_history (station_id, version, action, changed_by, effective_at,
                                 before, after)
    SELECT n.id, n.version, 'create', stations_actor(), stations_effective_at(), NULL,
           station_snapshot(n)
    FROM new_rows n ORDER BY n.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION stations_history_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO station_history (station_id, version, action, changed_by, effective_at,
                                 before, after)
    SELECT n.id, n.version, 'update', stations_actor(), stations_effective_at(),
           station_snapshot(o), station_snapshot(n)
    FROM new_rows n JOIN old_rows o ON o.id = n.id ORDER BY n.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION stations_history_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO station_history (station_id, version, action, changed_by, effective_at,
                                 before, after)
    SELECT o.id, o.version + 1, 'delete', stations_actor(), stations_effective_at(),
           station_snapshot(o), NULL
    FROM old_rows o ORDER BY o.id;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    from importlib import import_module

    previous = import_module("stations.migrations.versions.0008_history_from_row")
    start = previous.UPGRADE.index("CREATE OR REPLACE FUNCTION stations_history_insert")
    op.execute(previous.UPGRADE[start:])
    op.execute("DROP FUNCTION stations_effective_at()")
    op.execute("ALTER TABLE station_history DROP COLUMN effective_at")
