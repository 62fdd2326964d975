"""The registry's generation: a number that every committed change to a station raises.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Workers keep the active stations in memory for the nearest search
(:mod:`stations.snapshot`) and must learn, cheaply and exactly, that the table changed.
``max(station_history.id)`` cannot tell them: ids are drawn when rows are written, not
when transactions commit, so a change that commits after a later-numbered one would go
unseen. Here a one-row table is bumped once per transaction that changes ``stations``,
at commit time, under the row's lock: generations are handed out in commit order, and a
reader that sees generation N in a snapshot sees every change up to N and none after.
Bumping at commit, after the writer holds all its row locks, means the lock cannot take
part in a deadlock; it serialises only the last instant of concurrent commits.

How "at commit, once": a statement trigger on ``station_history`` (every real change to a
station writes history; a statement that changed nothing writes none) leaves one mark
row per transaction in ``registry_changes``, and a deferred constraint trigger on that
row bumps the generation at commit and removes the mark. A row trigger on ``stations``
itself would queue one deferred event per changed row: 2.5 s more for a 100,000-row
import (``bench/import.py``).

The same number is the registry's ETag (``If-Match`` for imports).

Writes made with the user triggers off (``ALTER TABLE stations DISABLE TRIGGER USER``,
``session_replication_role = replica``) do not raise it: follow them with
``UPDATE registry_generation SET generation = generation + 1``.
``stations db restore`` moves it past both the dump's and the replaced registry's.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Idempotent: restoring a backup made before this revision drops and recreates
# ``station_history`` (and its trigger with it) but leaves the tables and functions here,
# and puts the schema back at 0003; upgrading again must then just re-create the trigger.
UPGRADE = r"""
CREATE TABLE IF NOT EXISTS registry_generation (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    generation bigint NOT NULL
);
INSERT INTO registry_generation (generation)
    SELECT coalesce(max(id), 0) FROM station_history
ON CONFLICT (only_row) DO NOTHING;

-- one row per open transaction that changed stations; removed when it commits
CREATE TABLE IF NOT EXISTS registry_changes (
    txid xid8 PRIMARY KEY DEFAULT pg_current_xact_id()
);

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
DROP TRIGGER IF EXISTS station_history_change_mark ON station_history;
CREATE TRIGGER station_history_change_mark AFTER INSERT ON station_history
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION registry_change_mark();

CREATE OR REPLACE FUNCTION registry_generation_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_generation SET generation = generation + 1;
    DELETE FROM registry_changes WHERE txid = NEW.txid;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS registry_generation_at_commit ON registry_changes;
CREATE CONSTRAINT TRIGGER registry_generation_at_commit AFTER INSERT ON registry_changes
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION registry_generation_bump();
"""

DOWNGRADE = r"""
DROP TRIGGER station_history_change_mark ON station_history;
DROP TABLE registry_changes;
DROP FUNCTION registry_change_mark(), registry_generation_bump();
DROP TABLE registry_generation;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
