"""Station registry: districts, stations, append-only history, demand points.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

History is written by statement-level triggers with transition tables, so every change
is recorded whoever makes it (the app, an import, a person in psql) at the cost of one
INSERT ... SELECT per statement rather than one per row. The acting person is read from
the transaction setting ``stations.actor`` (set by the app), else the database user.
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE districts (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),
    name        text NOT NULL,
    parent_code text REFERENCES districts (code),
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county')),
    geom        geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX districts_geom_idx ON districts USING gist (geom);
CREATE INDEX districts_name_idx ON districts (name);

CREATE TABLE stations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code          text NOT NULL UNIQUE CHECK (code <> ''),
    name          text NOT NULL CHECK (name <> ''),
    address       text,
    district_code text NOT NULL REFERENCES districts (code),
    district_name text NOT NULL,
    geom          geometry(Point, 4326) NOT NULL,
    opening_hours text,
    amenities     text[] NOT NULL DEFAULT '{}',
    floor_area_m2 numeric(9, 1) CHECK (floor_area_m2 > 0),
    host_type     text NOT NULL,
    built_by      text NOT NULL,
    level         text NOT NULL,
    opened_on     date,
    status        text NOT NULL DEFAULT 'active',
    contact       text,
    has_sign      boolean,
    has_rules     boolean,
    has_staff     boolean,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stations_geom_idx ON stations USING gist (geom);
CREATE INDEX stations_district_idx ON stations (district_code);

CREATE TABLE station_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id bigint NOT NULL,
    version    integer NOT NULL,
    action     text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text NOT NULL,
    before     json,
    after      json
);
CREATE INDEX station_history_station_idx ON station_history (station_id, id);

CREATE TABLE demand_points (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL,
    weight        double precision NOT NULL CHECK (weight > 0),
    district_code text REFERENCES districts (code),
    geom          geometry(Point, 4326) NOT NULL
);
CREATE INDEX demand_points_geom_idx ON demand_points USING gist (geom);

-- The record as people see it, position as lon/lat: the shape of history's before/after.
-- Spelled out (to_json(s) would convert the geometry first), inlined by the history
-- triggers below, and json rather than jsonb: history is written far more than searched,
-- and building jsonb made a 100,000-station import 1 s slower.
CREATE FUNCTION station_snapshot(s stations) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT SNAPSHOT(s) $$;

CREATE FUNCTION stations_actor() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('stations.actor', true), ''), session_user::text)
$$;

-- An UPDATE that changes nothing is skipped; a real change bumps version and updated_at.
CREATE FUNCTION stations_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.id := OLD.id;
    NEW.created_at := OLD.created_at;
    NEW.version := OLD.version;
    NEW.updated_at := OLD.updated_at;
    IF NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NULL;
    END IF;
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER stations_before_update BEFORE UPDATE ON stations
    FOR EACH ROW EXECUTE FUNCTION stations_before_update();

CREATE FUNCTION stations_history_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO station_history (station_id, version, action, changed_by, before, after)
    SELECT n.id, n.version, 'create', stations_actor(), NULL, SNAPSHOT(n)
    FROM new_rows n ORDER BY n.id;
    RETURN NULL;
END $$;
CREATE TRIGGER stations_history_insert AFTER INSERT ON stations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stations_history_insert();

CREATE FUNCTION stations_history_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO station_history (station_id, version, action, changed_by, before, after)
    SELECT n.id, n.version, 'update', stations_actor(), SNAPSHOT(o), SNAPSHOT(n)
    FROM new_rows n JOIN old_rows o ON o.id = n.id ORDER BY n.id;
    RETURN NULL;
END $$;
CREATE TRIGGER stations_history_update AFTER UPDATE ON stations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stations_history_update();

CREATE FUNCTION stations_history_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO station_history (station_id, version, action, changed_by, before, after)
    SELECT o.id, o.version + 1, 'delete', stations_actor(), SNAPSHOT(o), NULL
    FROM old_rows o ORDER BY o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER stations_history_delete AFTER DELETE ON stations
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stations_history_delete();

-- TRUNCATE fires no row triggers, so it could empty the registry unrecorded: refuse it.
CREATE FUNCTION stations_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE stations would bypass the history; DELETE instead';
END $$;
CREATE TRIGGER stations_no_truncate BEFORE TRUNCATE ON stations
    FOR EACH STATEMENT EXECUTE FUNCTION stations_no_truncate();

CREATE FUNCTION station_history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'station_history is append-only';
END $$;
CREATE TRIGGER station_history_append_only BEFORE UPDATE OR DELETE ON station_history
    FOR EACH ROW EXECUTE FUNCTION station_history_append_only();
CREATE TRIGGER station_history_no_truncate BEFORE TRUNCATE ON station_history
    FOR EACH STATEMENT EXECUTE FUNCTION station_history_append_only();
"""

DOWNGRADE = """
DROP TABLE IF EXISTS demand_points, station_history, stations, districts CASCADE;
DROP FUNCTION IF EXISTS station_history_append_only, stations_no_truncate, stations_history_delete,
    stations_history_update, stations_history_insert, stations_before_update,
    stations_actor, station_snapshot(stations) CASCADE;
"""


SNAPSHOT = """json_build_object(
        'id', {0}.id, 'code', {0}.code, 'name', {0}.name, 'address', {0}.address,
        'district_code', {0}.district_code, 'district_name', {0}.district_name,
        'lon', ST_X({0}.geom), 'lat', ST_Y({0}.geom), 'opening_hours', {0}.opening_hours,
        'amenities', {0}.amenities, 'floor_area_m2', {0}.floor_area_m2,
        'host_type', {0}.host_type, 'built_by', {0}.built_by, 'level', {0}.level,
        'opened_on', {0}.opened_on, 'status', {0}.status, 'contact', {0}.contact,
        'has_sign', {0}.has_sign, 'has_rules', {0}.has_rules, 'has_staff', {0}.has_staff)"""


def _expand(sql: str) -> str:
    """Write SNAPSHOT(x) out for each row alias x the triggers use."""
    for alias in ("s", "n", "o"):
        sql = sql.replace(f"SNAPSHOT({alias})", SNAPSHOT.format(alias))
    return sql


def upgrade() -> None:
    op.execute(_expand(UPGRADE))


def downgrade() -> None:
    op.execute(DOWNGRADE)
