"""Backups of the database: ``pg_dump`` to one file and ``pg_restore`` back, whole.

The file is PostgreSQL's custom format (compressed, restorable table by table with the
stock tools too). It holds the schema, the stations, their history, the districts, the
demand layer and the API tokens (hashes only). A restore replaces what is there in a
single transaction: it lands whole or not at all. The client tools are the newest
installed PostgreSQL's, which can read from and write to any older server.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from stations import db, registry
from stations.cluster import find_bin_dir
from stations.errors import InvalidInput, StationsError


class BackupError(StationsError):
    """pg_dump or pg_restore failed; the message is its own last line."""

    code = "backup-error"
    title = "Backup failed"


def _tool(name: str) -> str:
    return str(find_bin_dir() / name)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise BackupError(f"{Path(argv[0]).name} failed: {lines[-1] if lines else done.returncode}")


def dump(path: Path, url: str | None = None) -> None:
    """Write the whole database to ``path`` (written beside it first, then moved)."""
    partial = path.with_name(path.name + ".partial")
    try:
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
              "--file", str(partial), "--dbname", db.libpq_url(url)])  # fmt: skip
        partial.replace(path)  # a failed dump never leaves a file that looks complete
    finally:
        partial.unlink(missing_ok=True)


def restore(path: Path, url: str | None = None) -> None:
    """Replace the database's contents with the backup at ``path``, in one transaction."""
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    with path.open("rb") as fh:
        if fh.read(5) != b"PGDMP":
            raise InvalidInput(f"{path} is not a backup made by `stations db dump`")
    before = _generation(url)
    _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", "--exit-on-error", "--dbname", db.libpq_url(url),
          str(path)])  # fmt: skip
    db.migrate(url)  # a backup from an older release comes back at this code's schema
    # The restored generation is the dump's, possibly one the registry already had with
    # other contents since: move it past both, so no worker's in-memory copy and no ETag
    # can take the restored registry for the one they knew.
    with db.connect(url) as conn:
        conn.execute(
            "UPDATE registry_generation SET generation = greatest(generation, %s) + 1",
            [before],
        )


def _generation(url: str | None) -> int:
    """The registry's generation, or 0 before there is one (an empty database)."""
    with db.connect(url) as conn:
        found = conn.execute("SELECT to_regclass('registry_generation') IS NOT NULL").fetchone()
        return registry.version(conn) if found[0] else 0
