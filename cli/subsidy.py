"""``stations subsidy``: the programmes, a report, and what-if on changed rules."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.errors import reported
from cli.output import write, write_bytes
from stations import db
from stations.bulk import gc_paused
from stations.errors import InvalidParameter
from stations.subsidy import evaluate, programmes, report
from stations.subsidy.periods import parse_period


@click.group("subsidy")
def subsidy_group() -> None:
    """Subsidy programmes (data/subsidy/*.toml): reports and what-if."""


@subsidy_group.command("programmes")
@reported
def subsidy_programmes() -> None:
    """List the programmes: id, amount, accrual, period, file hash."""
    for loaded in programmes.load_all():
        p = loaded.programme
        click.echo(
            f"{p.id}\t{p.name}\t{p.amount_cny:g} CNY {p.accrual}\t"
            f"{p.period.start}..{p.period.end}\t{loaded.source}\t{loaded.sha256[:12]}"
        )


_PROGRAMME_OPTIONS = (
    click.option(
        "--programme", required=True, help="Programme id (see: stations subsidy programmes)."
    ),
    click.option(
        "--period",
        required=True,
        help="Whole months: 2021, 2021年, 2021-06, 2021年6月, 2021Q1, 2021-01..2021-03 …",
    ),
    click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        required=True,
        help="File to write ('-' for standard output).",
    ),
    click.option(
        "--lang",
        type=click.Choice(["zh", "en"]),
        default="zh",
        show_default=True,
        help="Language of reasons and notes.",
    ),
)


def _programme_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_PROGRAMME_OPTIONS):
        func = option(func)
    return func


@subsidy_group.command("report")
@_programme_options
@click.option("--format", "fmt", type=click.Choice(report.FORMATS), default="json",
              show_default=True)  # fmt: skip
@reported
def subsidy_report(programme: str, period: str, output: Path, lang: str, fmt: str) -> None:
    """Every station's verdict, amount and reasons, with totals by city and district."""
    loaded = programmes.load(programme)
    span = parse_period(period)
    with db.connect(autocommit=True) as conn, gc_paused():
        with evaluate.one_snapshot(conn):
            result = evaluate.evaluate(conn, loaded, span)
        data = report.render(result, fmt, lang)
    write_bytes(output, data)
    body = report.header(result)["totals"]
    click.echo(
        f"{programme} {result.period.start}..{result.period.end}: {body['eligible']} of "
        f"{body['stations']} stations eligible, {body['amount_cny']:,.2f} yuan",
        err=True,
    )


def _override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InvalidParameter("set", f"--set takes KEY=VALUE, got {text!r}")
    try:  # a TOML value: 10, 12.5, "text", ["a", "b"], 2021-01-01
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed


@subsidy_group.command("what-if")
@_programme_options
@click.option(
    "--set", "sets", multiple=True, help="KEY=VALUE, e.g. criteria.floor_area.threshold=10."
)
@click.option(
    "--with",
    "other",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A changed copy of the programme file to compare with.",
)
@reported
def subsidy_what_if(
    programme: str,
    period: str,
    output: Path,
    lang: str,
    sets: tuple[str, ...],
    other: Path | None,
) -> None:
    """What changes if the rules change: newly (in)eligible stations and the budget."""
    loaded = programmes.load(programme)
    if bool(sets) == bool(other):
        raise InvalidParameter("set", "give --set KEY=VALUE (repeatable) or --with FILE")
    changed = (
        programmes.parse(other.read_bytes(), other.name)
        if other
        else programmes.with_overrides(loaded, dict(_override(s) for s in sets))
    )
    span = parse_period(period)
    with db.connect(autocommit=True) as conn, evaluate.one_snapshot(conn):
        diff = report.what_if(
            evaluate.evaluate(conn, loaded, span), evaluate.evaluate(conn, changed, span), lang
        )
    write(output, json.dumps(diff, ensure_ascii=False, indent=1))
    click.echo(
        f"{len(diff['newly_eligible'])} newly eligible, {len(diff['newly_ineligible'])} newly "
        f"ineligible; budget change {diff['budget_change_cny']:+,.2f} yuan",
        err=True,
    )
