"""``stations holidays``: which years follow a State Council holiday notice."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click

from cli.errors import reported
from stations import hours
from stations.hours import calendar as holiday_calendar


@click.group("holidays")
def holidays_group() -> None:
    """China's holiday arrangements (PH): which years follow a State Council notice."""


@holidays_group.command("status")
@click.option("--today", "today_text", help="Judge as of this date (YYYY-MM-DD); default today.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@reported
def holidays_status(today_text: str | None, as_json: bool) -> None:
    """List the years covered by a notice file; warn when next year's is missing."""
    today = hours.parse_date(today_text, "today") if today_text else dt.date.today()
    loaded = holiday_calendar.scan()
    coverage = holiday_calendar.coverage(today, loaded)
    if as_json:
        click.echo(json.dumps(coverage.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"holiday arrangements in {holiday_calendar.folder()}:")
        for year, item in sorted(loaded.arrangements.items()):
            workdays = sum(len(b.workdays) for b in item.breaks)
            issued = f"issued {item.issued}" if item.issued else "issue date not given"
            click.echo(
                f"  {year}  {item.number}  {issued}  {len(item.breaks)} breaks, "
                f"{workdays} make-up working days"
            )
        for warning in coverage.warnings:
            click.echo(f"warning: {warning}")
        for problem in coverage.problems:
            click.echo(f"error: {problem}")
    if coverage.problems:
        sys.exit(1)
