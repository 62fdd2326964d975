"""Where the database is and how to reach it: one URL, connections, migrations.

``DATABASE_URL`` wins; without it everything uses the embedded cluster
(:mod:`stations.cluster`). The domain talks to PostGIS through psycopg 3 (COPY, server
cursors); SQLAlchemy is used by Alembic only. The web app pools its own connections.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from stations import settings
from stations.cluster import Cluster
from stations.errors import DatabaseUnavailable

LOGGER = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Session settings for connections that answer requests (libpq ``options``). Requests
# run a few short prepared statements many times: a generic plan keeps the index walk
# the search is written for (a custom plan for a rare filter can pick a bitmap scan and a
# sort, 100x slower), and JIT compiling a 1 ms query costs 30 ms. No statement may run
# longer than STATIONS_STATEMENT_TIMEOUT_S (read when this module loads): a runaway query
# must not hold a worker, a connection and its locks for ever.
SERVING_OPTIONS = (
    "-c plan_cache_mode=force_generic_plan -c jit=off "
    f"-c statement_timeout={settings.value('STATIONS_STATEMENT_TIMEOUT_S') * 1000}"
)


def database_url(dbname: str | None = None) -> str:
    """The SQLAlchemy URL to use, normalised to the psycopg 3 driver."""
    configured = settings.get("DATABASE_URL")
    if configured:
        url = make_url(configured)
        if url.drivername in ("postgresql", "postgres", "postgis"):
            url = url.set(drivername="postgresql+psycopg")
        if dbname:
            url = url.set(database=dbname)
        return url.render_as_string(hide_password=False)
    return Cluster.from_settings().url(dbname or settings.get("STATIONS_DB_NAME") or "stations")


def uses_embedded() -> bool:
    """True when no ``DATABASE_URL`` is set, so the embedded cluster is ours to manage."""
    return not settings.get("DATABASE_URL")


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when missing (needs CREATEDB on the server)."""
    name = _ident(make_url(url).database or "")
    with _admin(url) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            LOGGER.info("created database %s", name)


def scratch_database(name: str, url: str | None = None) -> str:
    """The URL of database ``name`` beside ``url``'s, dropped and migrated afresh (empty).

    For tests and benchmarks, which must never touch the database people use.
    """
    target = make_url(url or database_url()).set(database=name)
    scratch = target.render_as_string(hide_password=False)
    drop_database(scratch)
    migrate(scratch)
    return scratch


def drop_database(url: str) -> None:
    """Drop the database named in ``url`` if it exists (tests use a throwaway one)."""
    name = _ident(make_url(url).database or "")
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(url: str) -> psycopg.Connection:
    """An autocommit connection to the server's ``postgres`` database."""
    admin = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    return connect(admin, autocommit=True)


def alembic_config(url: str):  # noqa: ANN201 - alembic's Config, imported lazily
    """An Alembic config pointing at our migrations and ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (creating the database first when needed)."""
    from alembic import command

    url = url or database_url()
    ensure_database(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Take the schema back to ``revision`` (``base`` removes it)."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def current_revision(url: str | None = None) -> str | None:
    """The schema revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    engine = sa.create_engine(url or database_url(), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _ident(name: str) -> str:
    if not name or '"' in name or "\x00" in name:
        raise ValueError(f"unusable database name {name!r}")
    return name


def _unreachable(url: str, exc: Exception) -> str:
    where = make_url(url).render_as_string(hide_password=True)
    hint = " (start it with: stations db up)" if uses_embedded() else ""
    return f"cannot reach the database at {where}{hint}: {str(exc).strip().splitlines()[0]}"


def libpq_url(url: str | None = None) -> str:
    """The URL as libpq (psycopg) reads it: without SQLAlchemy's ``+driver`` part."""
    url = url or database_url()
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


def connect(url: str | None = None, **kwargs: object) -> psycopg.Connection:
    """A new psycopg connection to the configured database, with a clear error if down."""
    try:
        return psycopg.connect(libpq_url(url), connect_timeout=5, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(_unreachable(url or database_url(), exc)) from exc
