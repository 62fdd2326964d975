"""API tokens: who may call the planner, union and editor endpoints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Only the SHA-256 of a token is stored. Tokens are 256 random bits, so a fast hash is
enough (a slow password hash protects guessable secrets, which these are not), and one
indexed lookup authenticates a request. Revoking keeps the row, so the history can still
say whose token made a change.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner        text NOT NULL CHECK (length(owner) BETWEEN 1 AND 200),
    roles        text[] NOT NULL
                 CHECK (cardinality(roles) >= 1
                        AND roles <@ ARRAY['planner', 'union', 'editor']::text[]),
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
"""

DOWNGRADE = r"""
DROP TABLE api_tokens;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
