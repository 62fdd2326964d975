"""``stations token``: create, list and revoke API tokens."""

from __future__ import annotations

import click

from cli.errors import reported
from stations import db, tokens


@click.group("token")
def token_group() -> None:
    """API tokens for the planner, union and editor endpoints."""


@token_group.command("create")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(tokens.ROLES),
    help="A role the token holds; repeat for several.",
)
@click.option("--owner", required=True, help="Who holds it, e.g. 'Taiyuan union planning'.")
@reported
def token_create(roles: tuple[str, ...], owner: str) -> None:
    """Create a token; it is printed once, alone on the last line, and never stored."""
    with db.connect() as conn:
        record, token = tokens.create(conn, roles, owner)
    click.echo(f"token {record.token_id} for {record.owner} ({', '.join(record.roles)}):")
    click.echo(token)


@token_group.command("list")
@reported
def token_list() -> None:
    """Every token: id, owner, roles, created, revoked (never the token itself)."""
    with db.connect() as conn:
        found = tokens.list_tokens(conn)
    click.echo("id\towner\troles\tcreated\trevoked")
    for t in found:
        created = t.created_at.isoformat(timespec="seconds") if t.created_at else ""
        revoked = t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else ""
        click.echo(f"{t.token_id}\t{t.owner}\t{','.join(t.roles)}\t{created}\t{revoked}")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@reported
def token_revoke(token_id: int) -> None:
    """Revoke a token by id: its calls and sessions stop working at once."""
    with db.connect() as conn:
        tokens.revoke(conn, token_id)
    click.echo(f"revoked token {token_id}")
