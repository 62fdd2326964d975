"""Paid lists are kept: a frozen report downloads byte-identical whatever is edited later,
the table refuses change, and a re-run of the period names what moved and why.

The domain cases run in a rolled-back transaction; the served cases go through
``stations serve`` with a union token, as a finance office's script or page would.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading

import psycopg
import pytest
from click.testing import CliRunner
from live_server import HttpClient, serving
from openpyxl import load_workbook

from cli import main
from stations import db
from stations.errors import Conflict
from stations.subsidy import evaluate, frozen, programmes, report
from stations.subsidy.periods import parse_period

YEAR_2021 = parse_period("2021")
REPORTS = "/api/v1/subsidy/reports"


def _freeze(conn, fmt="xlsx", lang="zh"):
    """Freeze in this test's transaction; an edit first gives it a stamp of its own, so no
    report another test kept (committed) has the same bytes."""
    conn.execute(
        "UPDATE stations SET has_sign = has_sign WHERE id = (SELECT max(id) FROM stations)"
    )
    loaded = programmes.load("shanxi-construction")
    record, created = frozen.freeze(conn, loaded, YEAR_2021, fmt, lang, "finance test")
    assert created
    return record


def _paid(row_verdicts) -> set[str]:
    return {code for _id, code, eligible, _amount in row_verdicts if eligible}


def test_a_frozen_report_keeps_its_bytes_hash_rules_and_verdicts(conn):
    record = _freeze(conn)
    stored = frozen.fetch(conn, record["id"])
    assert hashlib.sha256(stored.content).hexdigest() == record["sha256"] == stored.record["sha256"]
    assert record["bytes"] == len(stored.content) and record["frozen_by"] == "finance test"
    assert (record["period_start"], record["period_end"]) == (YEAR_2021.start, YEAR_2021.end)
    book = load_workbook(io.BytesIO(stored.content))
    assert book["拨付清单"]["A1"].value.endswith("拨付清单")
    kept, verdicts = conn.execute(
        "SELECT programme_toml, verdicts FROM subsidy_reports WHERE id = %s", [record["id"]]
    ).fetchone()
    source = programmes.folder() / "shanxi-construction.toml"
    assert bytes(kept) == source.read_bytes()
    assert record["programme_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    report = evaluate.evaluate(conn, programmes.load("shanxi-construction"), YEAR_2021)
    assert _paid(verdicts) == {v.station["code"] for v in report.verdicts if v.eligible}
    assert len(_paid(verdicts)) == record["eligible"] == 200
    assert record["amount_cny"] == 4_000_000
    newest = conn.execute("SELECT max(id) FROM station_history").fetchone()[0]
    assert record["history_through"] == newest


def test_a_second_click_keeps_no_copy_and_a_changed_registry_is_refused(conn):
    record = _freeze(conn, fmt="json")
    loaded = programmes.load("shanxi-construction")
    again, created = frozen.freeze(conn, loaded, YEAR_2021, "json", "zh", "someone else")
    assert not created and again == record  # the same bytes: that report, not a copy
    seen = report.beijing(evaluate.evaluate(conn, loaded, YEAR_2021).snapshot_at)
    conn.execute(
        "UPDATE stations SET name = name || '（改）' WHERE id = (SELECT min(id) FROM stations)"
    )
    with pytest.raises(Conflict) as refused:
        frozen.freeze(conn, loaded, YEAR_2021, "json", "zh", "finance test", seen_snapshot=seen)
    assert "重新核对" in refused.value.message_in("zh")
    newer, created = frozen.freeze(conn, loaded, YEAR_2021, "json", "zh", "finance test")
    assert created and newer["id"] > record["id"]  # new bytes (the JSON's stamp): kept anew


def test_freezing_waits_for_an_edit_in_flight_so_the_rerun_can_name_it(database_url):
    """History ids are drawn before commit: a freeze taken while an edit is open must not
    count that edit's (lower) id as seen. It waits for the edit, which then is seen."""
    loaded = programmes.load("shanxi-construction")
    done: dict[str, dict] = {}

    def freeze() -> None:
        with db.connect(database_url, autocommit=True) as other:
            done["record"] = frozen.freeze(other, loaded, YEAR_2021, "json", "en", "t")[0]

    with db.connect(database_url) as writer:
        writer.execute("UPDATE stations SET name = name WHERE id = (SELECT min(id) FROM stations)")
        pending = writer.execute("SELECT max(id) FROM station_history").fetchone()[0]
        worker = threading.Thread(target=freeze)
        worker.start()
        worker.join(3)
        assert worker.is_alive() and not done  # held back by the open edit
        writer.commit()
    worker.join(120)
    assert done["record"]["history_through"] >= pending


@pytest.mark.parametrize(
    "statement",
    ["UPDATE subsidy_reports SET amount_cny = 0", "DELETE FROM subsidy_reports",
     "TRUNCATE subsidy_reports"],
)  # fmt: skip
def test_the_table_is_append_only(conn, statement):
    _freeze(conn, fmt="json")
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"), conn.transaction():
        conn.execute(statement)


def test_an_ordinary_edit_changes_no_verdict_and_no_kept_byte(conn):
    record = _freeze(conn)
    kept = frozen.fetch(conn, record["id"]).content
    paid = next(code for code in _paid(_verdicts(conn, record["id"])))
    conn.execute("UPDATE stations SET status = 'suspended' WHERE code = %s", [paid])  # today
    rerun = frozen.rerun(conn, record["id"])
    assert rerun["same"] and rerun["changed"] == [] and rerun["history_since"] == 1
    assert rerun["now"] == rerun["then"] == {"eligible": 200, "amount_cny": 4_000_000}
    assert frozen.fetch(conn, record["id"]).content == kept


def _verdicts(conn, report_id):
    return conn.execute(
        "SELECT verdicts FROM subsidy_reports WHERE id = %s", [report_id]
    ).fetchone()[0]


def test_a_late_suspension_is_named_with_the_history_entry_that_caused_it(conn):
    """A suspension from June 2021, recorded today: the station drops out, the next in the
    programme's order takes the freed place, and the re-run says both, and why."""
    record = _freeze(conn)
    loaded = programmes.load("shanxi-construction")
    before = evaluate.evaluate(conn, loaded, YEAR_2021)
    first = min((v for v in before.verdicts if v.eligible), key=lambda v: v.place)
    conn.execute("SELECT set_config('stations.effective_at', '2021-06-01 00:00+08', true)")
    conn.execute("SELECT set_config('stations.actor', 'late report', true)")
    conn.execute("UPDATE stations SET status = 'suspended' WHERE id = %s", [first.station["id"]])
    after = evaluate.evaluate(conn, loaded, YEAR_2021)
    moved = {
        v.station["code"]
        for v, w in zip(before.verdicts, after.verdicts, strict=True)
        if (v.eligible, v.amount_cny) != (w.eligible, w.amount_cny)
    }
    rerun = frozen.rerun(conn, record["id"])
    assert not rerun["same"] and {c["code"] for c in rerun["changed"]} == moved
    assert len(moved) == 2  # the suspended station out, the next one in
    out = next(c for c in rerun["changed"] if c["code"] == first.station["code"])
    assert out["then"] == {"eligible": True, "amount_cny": 20000.0}
    assert out["now"] == {"eligible": False, "amount_cny": 0.0}
    assert any("暂停" in reason for reason in out["reasons_now"]), out["reasons_now"]
    [entry] = out["history"]
    assert entry["history_id"] > record["history_through"] and entry["changed_by"] == "late report"
    assert entry["effective_at"].startswith("2021-06-01T00:00:00")
    assert entry["changes"]["status"] == {"before": "active", "after": "suspended"}
    moved_in = next(c for c in rerun["changed"] if c["code"] != first.station["code"])
    assert moved_in["then"]["eligible"] is False and moved_in["now"]["eligible"] is True
    assert moved_in["history"] == [] and "名次" in moved_in["note"]
    english = frozen.rerun(conn, record["id"], "en")
    assert "place moved" in next(c for c in english["changed"] if not c["history"])["note"]


def test_a_rerun_judges_by_the_frozen_rules_and_says_the_file_changed(conn, tmp_path, monkeypatch):
    record = _freeze(conn, fmt="csv")
    data = tmp_path / "data"
    (data / "subsidy").mkdir(parents=True)
    source = programmes.folder() / "shanxi-construction.toml"
    edited = source.read_text(encoding="utf-8").replace("amount_cny = 20000", "amount_cny = 30000")
    assert edited != source.read_text(encoding="utf-8")
    (data / "subsidy" / "shanxi-construction.toml").write_text(edited, encoding="utf-8")
    monkeypatch.setenv("STATIONS_DATA_DIR", str(data))
    rerun = frozen.rerun(conn, record["id"])
    assert rerun["same"] and rerun["programme_file_changed"]  # judged by the kept rules


# --- served ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(database_url):
    env = {"DATABASE_URL": database_url, "STATIONS_RATE_LIMIT_PLANNER": "off"}
    with serving(env) as (base, _log):
        yield HttpClient(base)


def _as(tokens_by_role, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens_by_role[role]}", "Content-Type": "application/json"}


def test_served_frozen_report_downloads_byte_identical_after_later_edits(
    http, tokens_by_role, database_url
):
    union = _as(tokens_by_role, "union")
    body = json.dumps({"programme": "shanxi-construction", "period": "2021年"}).encode()
    made = http.post(REPORTS, body, headers=union)
    assert made.status_code == 201, made.data
    record = made.get_json()
    twice = http.post(REPORTS, body, headers=union)  # a second click: that report again
    assert twice.status_code == 200 and twice.get_json() == record
    assert made.headers["Location"].endswith(f"{REPORTS}/{record['id']}")
    assert record["format"] == "xlsx" and record["frozen_by"] == "test union"
    assert record["period"] == "2021-01-01..2021-12-31" and record["frozen_at"].endswith("+08:00")
    fresh = http.get(
        "/api/v1/subsidy/report?programme=shanxi-construction&period=2021&format=xlsx",
        headers=union,
    )
    kept = http.get(record["href"], headers=union)
    assert kept.status_code == 200 and kept.data == fresh.data  # the same inputs, the same bytes
    assert hashlib.sha256(kept.data).hexdigest() == record["sha256"]
    assert kept.headers["ETag"] == f'"{record["sha256"]}"'
    digest = base64.b64encode(hashlib.sha256(kept.data).digest()).decode()
    assert kept.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    assert kept.headers["Content-Disposition"].endswith(f'_frozen-{record["id"]}.xlsx"')

    with db.connect(database_url) as conn:  # a later edit, committed, and put back
        code = conn.execute("SELECT code FROM stations ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("UPDATE stations SET name = name || '（更名）' WHERE code = %s", [code])
        conn.commit()
        conn.execute("UPDATE stations SET name = replace(name, '（更名）', '') WHERE code = %s",
                     [code])  # fmt: skip
    later = http.get(
        "/api/v1/subsidy/report?programme=shanxi-construction&period=2021&format=xlsx",
        headers=union,
    )
    assert later.data != kept.data  # the data's stamp moved
    again = http.get(record["href"], headers=union)
    assert again.data == kept.data
    listed = http.get(REPORTS + "?programme=shanxi-construction", headers=union).get_json()
    assert record in listed["reports"]
    rerun = http.get(record["rerun"], headers=union).get_json()
    assert rerun["same"] and rerun["history_since"] >= 2


def test_served_frozen_reports_are_for_the_union_only_and_errors_are_chinese(http, tokens_by_role):
    body = json.dumps({"programme": "shanxi-construction", "period": "2021"}).encode()
    assert http.post(REPORTS, body, headers={"Content-Type": "application/json"}).status_code == 401
    planner = http.post(REPORTS, body, headers=_as(tokens_by_role, "planner"))
    assert planner.status_code == 403
    union = _as(tokens_by_role, "union")
    missing = http.get(REPORTS + "/999999999", headers=union)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert missing.get_json()["detail"] == "没有编号为 999999999 的已封存补助报表"
    bad = http.get(REPORTS + "/abc", headers=union)
    assert bad.status_code == 400 and "正整数" in bad.get_json()["detail"]
    wrong = json.dumps({"programme": "shanxi-construction", "period": "2021年13月"}).encode()
    refused = http.post(REPORTS, wrong, headers=union)
    assert refused.status_code == 400 and "2021年6月" in refused.get_json()["detail"]


# --- the command line ------------------------------------------------------------------------


def test_freeze_and_frozen_on_the_command_line(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)

    def run(*args):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    made = run("subsidy", "freeze", "--programme", "taiyuan-upkeep", "--period", "2025",
               "--format", "csv", "--actor", "财务处")  # fmt: skip
    report_id = int(made.output.split("\t")[0])
    listed = run("subsidy", "frozen").output.splitlines()
    assert any(line.startswith(f"{report_id}\ttaiyuan-upkeep\t2025-01-01..2025-12-31\tcsv")
               and "财务处" in line for line in listed)  # fmt: skip
    out = tmp_path / "kept.csv"
    run("subsidy", "frozen", str(report_id), "--output", str(out))
    assert hashlib.sha256(out.read_bytes()).hexdigest() in made.output
    assert out.read_bytes().decode("utf-8-sig").startswith("序号,")
    rerun = json.loads(run("subsidy", "frozen", str(report_id), "--rerun").stdout)
    assert rerun["report"] == report_id and rerun["same"]
    missing = CliRunner().invoke(main, ["subsidy", "frozen", "999999999", "--output", "-"])
    assert missing.exit_code != 0 and "999999999" in missing.output


@pytest.mark.parametrize("value", ["%00", "a%0Ab", "x" * 101])
def test_a_programme_filter_with_control_characters_is_a_400(client, tokens_by_role, value):
    """A NUL in the filter once reached PostgreSQL and answered 500 (found by the fuzz)."""
    answer = client.get(f"{REPORTS}?programme={value}", headers=_as(tokens_by_role, "union"))
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    assert "programme" in answer.json["detail"]
