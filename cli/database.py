"""``stations db``: the embedded cluster (up, down, status), the schema, backups."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.errors import reported
from stations import backup, db
from stations.cluster import Cluster
from stations.errors import InvalidParameter, StationsError


@click.group("db")
def db_group() -> None:
    """The database: the embedded cluster and the schema."""


def _embedded_only() -> Cluster:
    if not db.uses_embedded():
        raise StationsError("DATABASE_URL is set: the embedded cluster is not used")
    return Cluster.from_settings()


@db_group.command("up")
@reported
def db_up() -> None:
    """Start the embedded PostGIS (initialising it on first use); a no-op when running."""
    cluster = _embedded_only()
    started = cluster.up()
    db.ensure_database(db.database_url())
    click.echo(f"{'started' if started else 'already running'}: {cluster.root}")


@db_group.command("down")
@reported
def db_down() -> None:
    """Stop the embedded PostGIS; its data stays in var/pg."""
    cluster = _embedded_only()
    click.echo("stopped" if cluster.down() else "not running")


@db_group.command("status")
@reported
def db_status() -> None:
    """Say whether the database is running and which schema revision it has."""
    if db.uses_embedded():
        cluster = Cluster.from_settings()
        state = cluster.status()
        click.echo(f"embedded cluster {cluster.root}: {state}")
        if state != "running":
            sys.exit(3)
    url = db.database_url()
    with db.connect(url):
        pass
    click.echo(f"schema revision: {db.current_revision(url) or 'none (run: stations db migrate)'}")


@db_group.command("migrate")
@reported
def db_migrate() -> None:
    """Create or upgrade the schema to the newest migration."""
    db.migrate()
    click.echo(f"schema at revision {db.current_revision()}")


@db_group.command("dump")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@reported
def db_dump(file: Path) -> None:
    """Back up the whole database to FILE (pg_dump custom format)."""
    backup.dump(file)
    click.echo(f"dumped to {file} ({file.stat().st_size:,} bytes)")


@db_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Confirm: the database's contents are replaced.")
@reported
def db_restore(file: Path, yes: bool) -> None:
    """Replace the database's contents with a backup made by `stations db dump`."""
    if not yes:
        raise InvalidParameter("yes", "restore replaces every station and its history; add --yes")
    backup.restore(file)
    click.echo(f"restored from {file}")
