"""Frozen subsidy reports: the paid lists, kept byte for byte.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

A finance office pays from a report and files it; years later an auditor asks what was
paid and why. A report re-run then reads the same period from the history and gives the
same verdicts, but not the same bytes (the snapshot stamp moves with every edit), and
its verdicts can change when a change is recorded late with an effective time inside the
period. So a report that was paid is frozen: its bytes and their hash, the programme file
it was judged by (bytes and hash), the period, the format and language, the newest
history entry it could see, each station's verdict, who froze it and when. Rows are never
updated or deleted, as the station history's are not.

``IF NOT EXISTS`` / ``OR REPLACE``: restoring a backup made before this migration leaves
the table in place (``pg_restore --clean`` drops only what the backup holds) and then
migrates; the paid lists kept since survive it.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE IF NOT EXISTS subsidy_reports (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    programme        text NOT NULL,
    programme_name   text NOT NULL,
    programme_sha256 text NOT NULL CHECK (programme_sha256 ~ '^[0-9a-f]{64}$'),
    programme_toml   bytea NOT NULL,
    period_start     date NOT NULL,
    period_end       date NOT NULL,
    format           text NOT NULL CHECK (format IN ('json', 'csv', 'xlsx')),
    lang             text NOT NULL CHECK (lang IN ('zh', 'en')),
    content          bytea NOT NULL,
    sha256           text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    snapshot_at      timestamptz,
    history_through  bigint NOT NULL,
    verdicts         json NOT NULL,
    eligible         integer NOT NULL,
    amount_cny       double precision NOT NULL,
    frozen_by        text NOT NULL,
    frozen_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subsidy_reports_period_check CHECK (period_end >= period_start)
);

CREATE OR REPLACE FUNCTION subsidy_reports_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'subsidy_reports is append-only: a frozen report is never changed';
END $$;
CREATE OR REPLACE TRIGGER subsidy_reports_append_only BEFORE UPDATE OR DELETE ON subsidy_reports
    FOR EACH ROW EXECUTE FUNCTION subsidy_reports_append_only();
CREATE OR REPLACE TRIGGER subsidy_reports_no_truncate BEFORE TRUNCATE ON subsidy_reports
    FOR EACH STATEMENT EXECUTE FUNCTION subsidy_reports_append_only();
"""

DOWNGRADE = r"""
DROP TABLE subsidy_reports;
DROP FUNCTION subsidy_reports_append_only();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
