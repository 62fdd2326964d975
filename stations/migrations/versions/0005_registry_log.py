"""Which stations each generation changed, so a worker's copy can follow edits cheaply.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Migration 0004 tells the workers *that* the registry changed (its generation); to update
an in-memory copy of 200,000 stations after one edit a worker must also know *which*
stations changed, or reload them all. Each transaction's mark row now collects the ids
its history rows name, and the commit-time bump writes them to ``registry_log`` under the
new generation. A worker that holds generation G reads the ids logged after G and
fetches only those stations.

The log keeps the last ``KEEP`` generations (older rows are removed by each bump); a
worker further behind than that rebuilds its copy from the table.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEEP = 10000

UPGRADE = rf"""
ALTER TABLE registry_changes ADD COLUMN IF NOT EXISTS station_ids bigint[] NOT NULL DEFAULT '{{}}';

CREATE TABLE IF NOT EXISTS registry_log (
    generation bigint NOT NULL,
    station_id bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS registry_log_generation_idx ON registry_log (generation);

CREATE OR REPLACE FUNCTION registry_change_mark() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    SELECT array_agg(DISTINCT station_id) INTO ids FROM added;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    IF current_setting('stations.change_marked', true) IS DISTINCT FROM 'yes' THEN
        INSERT INTO registry_changes (station_ids) VALUES (ids);
        PERFORM set_config('stations.change_marked', 'yes', true);
    ELSE
        UPDATE registry_changes SET station_ids = station_ids || ids
        WHERE txid = pg_current_xact_id();
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION registry_generation_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    next bigint;
    ids bigint[];
BEGIN
    UPDATE registry_generation SET generation = generation + 1 RETURNING generation INTO next;
    DELETE FROM registry_changes WHERE txid = NEW.txid RETURNING station_ids INTO ids;
    INSERT INTO registry_log (generation, station_id)
        SELECT DISTINCT next, unnest(ids);
    DELETE FROM registry_log WHERE generation <= next - {KEEP};
    RETURN NULL;
END $$;
"""

DOWNGRADE = r"""
CREATE OR REPLACE FUNCTION registry_change_mark() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('stations.change_marked', true) IS DISTINCT FROM 'yes'
       AND EXISTS (SELECT 1 FROM added) THEN
        INSERT INTO registry_changes DEFAULT VALUES;
        PERFORM set_config('stations.change_marked', 'yes', true);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION registry_generation_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_generation SET generation = generation + 1;
    DELETE FROM registry_changes WHERE txid = NEW.txid;
    RETURN NULL;
END $$;

DROP TABLE registry_log;
ALTER TABLE registry_changes DROP COLUMN station_ids;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
