"""The migrations build exactly the schema declared in stations/schema.py.

Alembic's autogenerate comparison reads the migrated test database back (tables,
columns, types, nullability, server defaults, keys, unique constraints and indexes) and
lists every difference from the declared metadata; there must be none.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Text, create_engine

from stations import schema


def differences(url: str, metadata=schema.metadata) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": schema.compared,
                },
            )
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_migrations_build_the_declared_schema(database_url):
    assert differences(database_url) == []


def test_the_comparison_sees_a_column_the_migrations_lack(database_url):
    """A column declared but never migrated is a difference (the test can fail)."""
    schema.stations.append_column(Column("shade_m2", Text))
    try:
        found = differences(database_url)
    finally:
        schema.stations._columns.remove(schema.stations.c.shade_m2)
    assert [d[0] for d in found] == ["add_column"] and found[0][3].name == "shade_m2"
