"""API tokens with roles: created on the command line, checked on every signed-in call.

A token is shown once, when it is created; the database keeps only its SHA-256 (see
migration 0003 for why a fast hash is right here). Roles are ``planner`` (coverage
planning), ``union`` (subsidies) and ``editor`` (station edits); a token holds one or more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from stations.errors import InvalidParameter, NotFound

ROLES = ("planner", "union", "editor")
PREFIX = "rst_"  # recognisable in a leaked file or a secret scanner


@dataclass(frozen=True)
class Principal:
    """Who a token speaks for."""

    token_id: int
    owner: str
    roles: tuple[str, ...]
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    def has(self, role: str) -> bool:
        """Whether the token holds ``role``."""
        return role in self.roles


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def create(conn: psycopg.Connection, roles: Iterable[str], owner: str) -> tuple[Principal, str]:
    """A new token for ``owner`` with ``roles``: its record and the token itself."""
    roles = tuple(dict.fromkeys(roles))
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise InvalidParameter(
            "role", f"role must be one or more of {', '.join(ROLES)}; got {', '.join(unknown)}"
        )
    owner = owner.strip()
    if not 1 <= len(owner) <= 200 or any(ord(c) < 32 for c in owner):
        raise InvalidParameter("owner", "owner must be 1 to 200 characters, one line")
    token = PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        """INSERT INTO api_tokens (owner, roles, token_sha256) VALUES (%s, %s, %s)
           RETURNING id, created_at""",
        [owner, list(roles), _digest(token)],
    ).fetchone()
    assert row is not None
    return Principal(row[0], owner, roles, row[1]), token


def authenticate(conn: psycopg.Connection, token: str) -> Principal | None:
    """The holder of ``token``, or None when it is unknown or revoked."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = conn.execute(
        """SELECT id, owner, roles FROM api_tokens
           WHERE token_sha256 = %s AND revoked_at IS NULL""",
        [_digest(token)],
    ).fetchone()
    return Principal(row[0], row[1], tuple(row[2])) if row else None


def by_id(conn: psycopg.Connection, token_id: int) -> Principal | None:
    """The holder of a live token by its id (a signed-in session keeps only the id)."""
    row = conn.execute(
        "SELECT id, owner, roles FROM api_tokens WHERE id = %s AND revoked_at IS NULL",
        [token_id],
    ).fetchone()
    return Principal(row[0], row[1], tuple(row[2])) if row else None


def list_tokens(conn: psycopg.Connection) -> list[Principal]:
    """Every token ever created, revoked ones included, oldest first."""
    rows = conn.execute(
        "SELECT id, owner, roles, created_at, revoked_at FROM api_tokens ORDER BY id"
    ).fetchall()
    return [Principal(r[0], r[1], tuple(r[2]), r[3], r[4]) for r in rows]


def revoke(conn: psycopg.Connection, token_id: int) -> None:
    """Revoke a token at once: its calls and its signed-in sessions stop working."""
    row = conn.execute(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING id",
        [token_id],
    ).fetchone()
    if row is None:
        raise NotFound(f"no token has the id {token_id}")
