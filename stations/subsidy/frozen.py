"""Frozen reports: a paid list kept byte for byte, and what a re-run says differently now.

A report re-run for a past period reads that period from the history, so its verdicts
stay the same under ordinary edits; but its bytes do not (the snapshot stamp moves with
every edit), and its verdicts do change when a change is recorded late with an effective
time inside the period, when a station with no history then is edited, or when the
programme file is edited. What was paid is therefore frozen (``subsidy_reports``,
migration 0010, append-only): the bytes served, their SHA-256, the programme file's bytes
and hash, the period, who froze it and when, each station's verdict, and the newest
history entry the report could see. :func:`rerun` judges the same period again by the
frozen programme file and names every station whose verdict or amount moved, with the
history entries recorded since that touch it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stations import registry
from stations.errors import InvalidInput, NotFound
from stations.subsidy import evaluate, programmes, report
from stations.subsidy.evaluate import Said
from stations.subsidy.periods import Period

_COLUMNS = """id, programme, programme_name, programme_sha256, period_start, period_end,
    format, lang, sha256, length(content) AS bytes, snapshot_at, history_through, eligible,
    amount_cny, frozen_by, frozen_at"""


@dataclass(frozen=True)
class Stored:
    """A frozen report as stored: its record (no bytes) and, when asked for, the bytes."""

    record: dict[str, Any]
    content: bytes = b""


def freeze(
    conn: psycopg.Connection,
    loaded: programmes.Loaded,
    period: Period,
    fmt: str,
    lang: str,
    frozen_by: str,
) -> dict[str, Any]:
    """Evaluate, render and keep a report; its record (as :func:`listing` gives it).

    The report, its verdicts and the newest history entry it saw come from one snapshot.
    """
    with evaluate.one_snapshot(conn):
        result = evaluate.evaluate(conn, loaded, period)
        through = conn.execute("SELECT coalesce(max(id), 0) FROM station_history").fetchone()[0]
    content = report.render(result, fmt, lang)
    verdicts = [
        [v.station["id"], v.station["code"], v.eligible, report.fen(v.amount_cny)]
        for v in result.verdicts
    ]
    eligible = [v for v in result.verdicts if v.eligible]
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""INSERT INTO subsidy_reports (programme, programme_name, programme_sha256,
                    programme_toml, period_start, period_end, format, lang, content, sha256,
                    snapshot_at, history_through, verdicts, eligible, amount_cny, frozen_by)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                RETURNING {_COLUMNS}""",
            [
                loaded.programme.id,
                loaded.programme.name,
                loaded.sha256,
                loaded.data,
                result.period.start,
                result.period.end,
                fmt,
                lang,
                content,
                hashlib.sha256(content).hexdigest(),
                result.snapshot_at,
                through,
                json.dumps(verdicts, ensure_ascii=False),
                len(eligible),
                report.fen(sum(v.amount_cny for v in eligible)),
                frozen_by,
            ],
        ).fetchone()


def listing(conn: psycopg.Connection, programme: str | None = None) -> list[dict[str, Any]]:
    """Every frozen report's record, newest first (optionally of one programme)."""
    where = "WHERE programme = %s" if programme else ""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM subsidy_reports {where} ORDER BY id DESC",
            [programme] if programme else [],
        ).fetchall()


def fetch(conn: psycopg.Connection, report_id: int) -> Stored:
    """One frozen report with its bytes; NotFound when there is none with that id."""
    row = _row(conn, report_id, ", content")
    return Stored(row, bytes(row.pop("content")))


def _row(conn: psycopg.Connection, report_id: int, extra: str = "") -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS}{extra} FROM subsidy_reports WHERE id = %s", [report_id]
        ).fetchone()
    if row is None:
        raise NotFound(
            f"no frozen subsidy report has the id {report_id}",
            zh=f"没有编号为 {report_id} 的已封存补助报表",
        )
    return row


def file_name(record: dict[str, Any]) -> str:
    """``shanxi-construction_202101-202112_frozen-3.xlsx``: what it is, and which copy."""
    start, end = record["period_start"], record["period_end"]
    return f"{record['programme']}_{start:%Y%m}-{end:%Y%m}_frozen-{record['id']}.{record['format']}"


_CAUSE_NOTE = Said(
    "本站没有新的历史记录：名次或名额随排在前面的站点变化",
    "no new history for this station: its place moved with the stations before it",
)


def rerun(conn: psycopg.Connection, report_id: int, lang: str = "zh") -> dict[str, Any]:
    """The frozen period judged again now, by the frozen programme file: what moved, and why.

    Each changed station comes with its verdict then and now, its failed reasons now, and
    the history entries recorded after the freeze that touch it.
    """
    record = _row(conn, report_id, ", programme_toml, verdicts")
    loaded = programmes.parse(bytes(record["programme_toml"]), f"frozen report {report_id}")
    period = Period(start=record["period_start"], end=record["period_end"])
    with evaluate.one_snapshot(conn):
        now = evaluate.evaluate(conn, loaded, period)
        since = _history_since(conn, record["history_through"])
    then = {row[0]: row for row in record["verdicts"]}
    current = {v.station["id"]: v for v in now.verdicts}
    changed = []
    for station_id in sorted(set(then) | set(current)):
        before, after = then.get(station_id), current.get(station_id)
        was = {"eligible": before[2], "amount_cny": before[3]} if before else None
        is_ = (
            {"eligible": after.eligible, "amount_cny": report.fen(after.amount_cny)}
            if after
            else None
        )
        if was == is_:
            continue
        entries = since.get(station_id, [])
        changed.append(
            {
                "id": station_id,
                "code": (after.station["code"] if after else before[1]),
                "name": after.station["name"] if after else None,
                "then": was,
                "now": is_,
                "reasons_now": _failed(after, lang) if after else [],
                "history": entries,
                **({} if entries else {"note": getattr(_CAUSE_NOTE, lang)}),
            }
        )
    current_sha = _current_sha(record["programme"])
    eligible = [v for v in now.verdicts if v.eligible]
    return {
        "report": report_id,
        "same": not changed,
        "then": {"eligible": record["eligible"], "amount_cny": record["amount_cny"]},
        "now": {
            "eligible": len(eligible),
            "amount_cny": report.fen(sum(v.amount_cny for v in eligible)),
        },
        "history_since": sum(len(v) for v in since.values()),
        "programme_file_changed": current_sha is not None and current_sha != loaded.sha256,
        "changed": changed,
    }


def _failed(verdict: evaluate.Verdict, lang: str) -> list[str]:
    return [getattr(r.message, lang) for r in verdict.reasons if not r.passed and r.message.zh]


def _history_since(conn: psycopg.Connection, through: int) -> dict[int, list[dict[str, Any]]]:
    """History entries recorded after ``through``, by station, each with what it changed."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT id, station_id, version, action, changed_at, effective_at, changed_by,
                      before, after
               FROM station_history WHERE id > %s ORDER BY id""",
            [through],
        ).fetchall()
    found: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row["station_id"], []).append(
            {
                "history_id": row["id"],
                "version": row["version"],
                "action": row["action"],
                "changed_at": report.beijing(row["changed_at"]),
                "effective_at": report.beijing(row["effective_at"]),
                "changed_by": row["changed_by"],
                "changes": registry.changed_fields(row["before"], row["after"]),
            }
        )
    return found


def _current_sha(programme_id: str) -> str | None:
    """The programme file's hash now; None when the file is gone or no longer reads."""
    try:
        return programmes.load(programme_id).sha256
    except (InvalidInput, NotFound):  # a file gone or broken since does not hide the rerun
        return None
