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

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stations import registry
from stations.errors import Conflict, InvalidInput, NotFound
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
    *,
    seen_snapshot: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Evaluate, render and keep a report: its record, and whether it is new.

    The same bytes as the newest report kept for the programme, period, format and
    language (a second click) give that report back rather than a copy. With
    ``seen_snapshot`` (the ``snapshot_at`` the person looked at), a registry changed since
    is refused, so what is kept is what was checked.
    """
    with _writers_held(conn):
        result = evaluate.evaluate(conn, loaded, period)
        if seen_snapshot is not None and seen_snapshot != report.beijing(result.snapshot_at):
            raise Conflict(
                "the registry changed after you looked at the report: check it again, then freeze",
                zh="您查看报表之后驿站信息有更新：请重新核对评定结果后再封存",
            )
        through = conn.execute("SELECT coalesce(max(id), 0) FROM station_history").fetchone()[0]
        content = report.render(result, fmt, lang)
        sha = hashlib.sha256(content).hexdigest()
        with conn.cursor(row_factory=dict_row) as cur:
            same = cur.execute(
                f"""SELECT {_COLUMNS} FROM subsidy_reports
                    WHERE programme = %s AND period_start = %s AND period_end = %s
                      AND format = %s AND lang = %s
                    ORDER BY id DESC LIMIT 1""",
                [loaded.programme.id, result.period.start, result.period.end, fmt, lang],
            ).fetchone()
            if same is not None and same["sha256"] == sha:
                return same, False
            verdicts = [
                [v.station["id"], v.station["code"], v.eligible, report.fen(v.amount_cny)]
                for v in result.verdicts
            ]
            totals = report.paid(result)
            row = cur.execute(
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
                    sha,
                    result.snapshot_at,
                    through,
                    json.dumps(verdicts, ensure_ascii=False),
                    totals["eligible"],
                    totals["amount_cny"],
                    frozen_by,
                ],
            ).fetchone()
    return row, True


@contextlib.contextmanager
def _writers_held(conn: psycopg.Connection) -> Iterator[None]:
    """One transaction in which no history entry is being written, nor can be.

    History ids are drawn when rows are written, not when they commit: an import still
    open below an edit that committed would leave an id under the newest one seen that
    the report did not see. SHARE mode waits for every writer of ``station_history`` to
    finish and holds new ones back until the report is kept (edits wait, they do not
    fail), so ``max(id)`` is exactly what the report saw. The snapshot is taken after the
    lock, at the first query.
    """
    try:
        if conn.autocommit:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                conn.execute("SET LOCAL lock_timeout = '30s'")
                conn.execute("LOCK TABLE station_history IN SHARE MODE")
                yield
        else:  # the caller's transaction (tests): the lock lasts as long as it does
            conn.execute("LOCK TABLE station_history IN SHARE MODE")
            yield
    except psycopg.errors.LockNotAvailable:
        raise Conflict(
            "the registry is being edited (an import may be running): freeze again in a minute",
            zh="驿站名册正在更新（可能有导入在进行），请稍后再封存",
        ) from None


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
    then = {row[0]: row for row in record["verdicts"]}
    moved: list[tuple[int, Any, Any, dict | None, dict | None]] = []
    with evaluate.one_snapshot(conn):
        now = evaluate.evaluate(conn, loaded, period)
        current = {v.station["id"]: v for v in now.verdicts}
        for station_id in sorted(set(then) | set(current)):
            before, after = then.get(station_id), current.get(station_id)
            was = {"eligible": before[2], "amount_cny": before[3]} if before else None
            is_ = (
                {"eligible": after.eligible, "amount_cny": report.fen(after.amount_cny)}
                if after
                else None
            )
            if was != is_:
                moved.append((station_id, before, after, was, is_))
        through = record["history_through"]
        since = _history_since(conn, through, [m[0] for m in moved])
        recorded = conn.execute(
            "SELECT count(*) FROM station_history WHERE id > %s", [through]
        ).fetchone()[0]
    changed = []
    for station_id, before, after, was, is_ in moved:
        entries = since.get(station_id, [])
        changed.append(
            {
                "id": station_id,
                "code": (after.station["code"] if after else before[1]),
                "name": after.station["name"] if after else None,
                "then": was,
                "now": is_,
                "reasons_now": report.failing(after, lang) if after else [],
                "history": entries,
                **({} if entries else {"note": getattr(_CAUSE_NOTE, lang)}),
            }
        )
    current_sha = _current_sha(record["programme"])
    return {
        "report": report_id,
        "same": not changed,
        "then": {"eligible": record["eligible"], "amount_cny": record["amount_cny"]},
        "now": report.paid(now),
        "history_since": recorded,
        "programme_file_changed": current_sha is not None and current_sha != loaded.sha256,
        "changed": changed,
    }


def _history_since(
    conn: psycopg.Connection, through: int, station_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """The stations' history entries recorded after ``through``, each with what it changed."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT id, station_id, version, action, changed_at, effective_at, changed_by,
                      before, after
               FROM station_history WHERE id > %s AND station_id = ANY(%s) ORDER BY id""",
            [through, station_ids],
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
