"""History snapshots built from the row: a new column is recorded with no trigger rewrite.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Migration 0001 spelled each field out in the history triggers (a ``json_build_object``
of 22 names), so every new column meant rewriting four functions. The snapshot is now
the row itself (``to_jsonb``) without its internals (the geometry, version and
timestamps, which history records in its own columns) plus ``lon``/``lat``: the record
as people see it, whatever columns the table has. Key order is jsonb's (by length,
then bytes); readers look keys up by name. ``hstore`` (contrib, like ``intarray`` and
``pg_trgm`` before it) blanks the geometry before the conversion.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INTERNALS = ("geom", "version", "created_at", "updated_at")

UPGRADE = rf"""
CREATE EXTENSION IF NOT EXISTS hstore;

-- the geometry is set to NULL before the row becomes JSON: PostGIS's cast of a geometry
-- to JSON costs ~70 µs a row (7 s of a 100,000-station import), and it is dropped anyway
CREATE OR REPLACE FUNCTION station_snapshot(s stations) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ((to_jsonb(s #= hstore('geom', NULL)) - {"ARRAY['" + "', '".join(INTERNALS) + "']"})
            || jsonb_build_object('lon', ST_X(s.geom), 'lat', ST_Y(s.geom)))::json
$$;

CREATE OR REPLACE FUNCTION stations_history_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO station_history (station_id, version, action, changed_by, before, after)
    SELECT n.id, n.version, 'create', stations_actor(), NULL, station_snapshot(n)
    FROM new_rows n ORDER BY n.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION stations_history_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO station_history (station_id, version, action, changed_by, before, after)
    SELECT n.id, n.version, 'update', stations_actor(), station_snapshot(o), station_snapshot(n)
    FROM new_rows n JOIN old_rows o ON o.id = n.id ORDER BY n.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION stations_history_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO station_history (station_id, version, action, changed_by, before, after)
    SELECT o.id, o.version + 1, 'delete', stations_actor(), station_snapshot(o), NULL
    FROM old_rows o ORDER BY o.id;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    from importlib import import_module

    first = import_module("stations.migrations.versions.0001_registry")
    start = first.UPGRADE.index("CREATE FUNCTION station_snapshot")
    end = first.UPGRADE.index("CREATE FUNCTION stations_actor")
    functions = [
        first.UPGRADE[start:end],
        *(
            first.UPGRADE[first.UPGRADE.index(f"CREATE FUNCTION {name}") :].split(
                "CREATE TRIGGER", 1
            )[0]
            for name in (
                "stations_history_insert",
                "stations_history_update",
                "stations_history_delete",
            )
        ),
    ]
    sql = "\n".join(f.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION") for f in functions)
    op.execute(first._expand(sql))  # hstore stays: another user of it may have come since
