"""The registry's generation: a number that every committed change to a station raises.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Workers keep the active stations in memory for the nearest search
(:mod:`stations.snapshot`) and must learn, cheaply and exactly, that the table changed.
``max(station_history.id)`` cannot tell them: ids are drawn when rows are written, not
when transactions commit, so a change that commits after a later-numbered one would go
unseen. Here a one-row table is bumped once per transaction that changes ``stations``,
at commit time (a deferred constraint trigger), under the row's lock: generations are
handed out in commit order, and a reader that sees generation N in a snapshot sees every
change up to N and none after. Bumping at commit, after the writer holds all its row
locks, means the lock cannot take part in a deadlock; it serialises only the last
instant of concurrent commits. A transaction-local setting makes every row after the
first in a transaction a no-op, so a 50,000-row import pays for one update.

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
# ``stations`` (and this trigger with it) but leaves the table and function here, and
# puts the schema back at 0003; upgrading again must then just re-create the trigger.
UPGRADE = r"""
CREATE TABLE IF NOT EXISTS registry_generation (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    generation bigint NOT NULL
);
INSERT INTO registry_generation (generation)
    SELECT coalesce(max(id), 0) FROM station_history
ON CONFLICT (only_row) DO NOTHING;

CREATE OR REPLACE FUNCTION registry_generation_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('stations.generation_bumped', true) IS DISTINCT FROM 'yes' THEN
        UPDATE registry_generation SET generation = generation + 1;
        PERFORM set_config('stations.generation_bumped', 'yes', true);
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS stations_generation ON stations;
CREATE CONSTRAINT TRIGGER stations_generation AFTER INSERT OR UPDATE OR DELETE ON stations
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION registry_generation_bump();
"""

DOWNGRADE = r"""
DROP TRIGGER stations_generation ON stations;
DROP FUNCTION registry_generation_bump();
DROP TABLE registry_generation;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
