"""Alembic environment: online migrations only, against the URL the caller configured.

``target_metadata`` is the declared schema, so ``alembic revision --autogenerate`` drafts
the migration a change to stations/schema.py needs (review it: triggers, functions and
expression indexes are not drafted).
"""

from alembic import context
from sqlalchemy import create_engine, pool

from stations import schema

url = context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        transaction_per_migration=True,
        target_metadata=schema.metadata,
        include_object=schema.compared,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
