"""How a command fails: one line on stderr saying why, and a non-zero exit status."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
import psycopg

from stations.errors import StationsError


def reported(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into one line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StationsError as exc:
            rows = exc.details.get("rows")
            if rows:
                _print_problems(rows)
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
        except psycopg.errors.UndefinedTable as exc:
            click.echo(
                f"error: the schema is missing ({_first_line(exc)}); run: stations db migrate",
                err=True,
            )
            sys.exit(1)
        except (psycopg.Error, OSError) as exc:
            click.echo(f"error: {_first_line(exc)}", err=True)
            sys.exit(1)

    return wrapper


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _print_problems(rows: list[Any]) -> None:
    """The per-row report: row, field, value, reason — tab-separated, one per line."""
    click.echo("row\tfield\tvalue\treason", err=True)
    for p in rows:
        click.echo(f"{p['row']}\t{p['field']}\t{p['value']}\t{p['reason']}", err=True)
