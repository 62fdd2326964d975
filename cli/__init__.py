"""The ``stations`` command: database, demo data, import/export, planning, tokens, serving.

Every command exits 0 on success and otherwise prints one line saying why on stderr
(non-zero status). Long work shows a progress bar on a terminal. The command line sits
above :mod:`web` and the domain: it calls them, and nothing below imports it.
"""

from __future__ import annotations

import logging

import click

from cli import data, database, holidays, planning, serve, subsidy, tokens


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
def main(verbose: bool) -> None:
    """Rest stations for outdoor workers: registry, API and maps."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for _command in (
    database.db_group,
    data.demo,
    data.import_,
    data.export,
    planning.gaps,
    planning.hourly,
    planning.suggest,
    planning.fewest,
    planning.access_,
    subsidy.subsidy_group,
    holidays.holidays_group,
    tokens.token_group,
    serve.serve,
):
    main.add_command(_command)
