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
from stations.subsidy import evaluate, frozen, programmes, report
from stations.subsidy.periods import parse_period

PERIOD_HELP = "Whole months: 2021, 2021年, 2021-06, 2021年6月, 2021Q1, 2021-01..2021-03 …"


@click.group("subsidy")
def subsidy_group() -> None:
    """Subsidy programmes (data/subsidy/*.toml): reports, what-if, frozen paid lists."""


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
        help=PERIOD_HELP,
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


@subsidy_group.command("freeze")
@click.option("--programme", required=True, help="Programme id (see: stations subsidy programmes).")
@click.option(
    "--period",
    required=True,
    help=PERIOD_HELP,
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(report.FORMATS),
    default="xlsx",
    show_default=True,
    help="The form kept.",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--actor", default="cli", show_default=True, help="Who froze it (kept with it).")
@reported
def subsidy_freeze(programme: str, period: str, fmt: str, lang: str, actor: str) -> None:
    """Keep a report as paid: its bytes, hash, programme file, who and when (append-only)."""
    loaded = programmes.load(programme)
    span = parse_period(period)
    with db.connect(autocommit=True) as conn, gc_paused():
        row, created = frozen.freeze(conn, loaded, span, fmt, lang, actor)
    if not created:
        click.echo(f"the same bytes were kept already as frozen report {row['id']}", err=True)
    click.echo(
        f"{row['id']}\t{row['programme']}\t{row['period_start']}..{row['period_end']}\t"
        f"{row['format']}\t{row['eligible']} eligible\t{row['amount_cny']:,.2f} yuan\t"
        f"sha256 {row['sha256']}"
    )


@subsidy_group.command("frozen")
@click.argument("report_id", type=click.IntRange(min=1), required=False)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With an id: write the kept bytes to FILE ('-' for standard output).",
)
@click.option(
    "--rerun",
    is_flag=True,
    help="With an id: judge the period again now and list what moved, and why.",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@reported
def subsidy_frozen(report_id: int | None, output: Path | None, rerun: bool, lang: str) -> None:
    """List the frozen reports; with an id, download one or re-run its period."""
    with db.connect(autocommit=True) as conn:
        if report_id is None:
            if output or rerun:
                raise InvalidParameter("report_id", "--output and --rerun need a report id")
            for row in frozen.listing(conn):
                click.echo(
                    f"{row['id']}\t{row['programme']}\t{row['period_start']}..{row['period_end']}"
                    f"\t{row['format']}\t{row['eligible']}\t{row['amount_cny']:,.2f}\t"
                    f"{row['frozen_by']}\t{report.beijing(row['frozen_at'])}\t{row['sha256'][:12]}"
                )
            return
        if rerun:
            with gc_paused():
                diff = frozen.rerun(conn, report_id, lang)
            write(output or Path("-"), json.dumps(diff, ensure_ascii=False, indent=1))
            click.echo(
                f"{len(diff['changed'])} stations differ from frozen report {report_id}; "
                f"{diff['history_since']} history entries since it was frozen",
                err=True,
            )
            return
        stored = frozen.fetch(conn, report_id)
    if output is None:
        raise InvalidParameter("output", "give --output FILE to write the kept bytes (or --rerun)")
    write_bytes(output, stored.content)
    click.echo(f"{frozen.file_name(stored.record)}\tsha256 {stored.record['sha256']}", err=True)
