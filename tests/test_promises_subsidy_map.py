"""README promises on subsidies, the public map, the layout, the benchmarks and scaling out
that no other test pinned with the README's own numbers.

Each test checks a promise where users meet it: the union API (and, for files read on
each request, ``stations serve`` over a copy of the data folder), the map in Chromium,
the bench scripts' command lines, and the read/primary split of the app. Expected values
come from the README (amounts, limits, messages, versions) or from the data files and
the database themselves, never from the code under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from browser import assert_clean
from conftest import app_for
from hours_oracle import answers, open_for
from live_server import HttpClient, serving
from openpyxl import load_workbook

from web.database import DOWN_KEY
from web.pools import close_pool

ROOT = Path(__file__).resolve().parents[1]
SUBSIDY = ROOT / "data" / "subsidy"
REPORT = "/api/v1/subsidy/report?programme={}&period={}&lang=en"
WHAT_IF = "/api/v1/subsidy/what-if?lang=en"
AT = "2025-11-24T10:00:00+08:00"  # a Monday, a working day
DEAD = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens on port 1


def _union(tokens_by_role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens_by_role['union']}"}


def _toml(programme: str, old: str, new: str) -> str:
    """The shipped file's text with one line changed (it must be there to change)."""
    text = (SUBSIDY / f"{programme}.toml").read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


def _what_if_toml(client, tokens_by_role, text: str):
    body = {"programme": "shanxi-construction", "period": "2021", "programme_toml": text}
    return client.post(WHAT_IF, json=body, headers=_union(tokens_by_role))


# --- Subsidies: the shipped programmes' money -------------------------------------------------


def test_upkeep_pays_200_yuan_a_month_of_operation(client, conn, tokens_by_role):
    """太原市运营补助: 200 yuan per station per month; a whole year open is 2,400."""
    response = client.get(REPORT.format("taiyuan-upkeep", "2025"), headers=_union(tokens_by_role))
    assert response.status_code == 200
    opened = dict(conn.execute("SELECT code, opened_on FROM stations").fetchall())
    eligible = [s for s in response.json["stations"] if s["eligible"]]
    stopped = {  # demo stations that left service on a day (data/demo/history.csv)
        row["code"]: dt.date.fromisoformat(row["effective_on"])
        for row in csv.DictReader((ROOT / "data/demo/history.csv").read_text("utf-8").splitlines())
    }
    all_year = [s for s in eligible if opened[s["code"]] <= dt.date(2025, 1, 1)
                and stopped.get(s["code"], dt.date.max) > dt.date(2025, 12, 1)]  # fmt: skip
    assert all_year and {s["amount_cny"] for s in all_year} == {2400.0}
    part = [s for s in eligible if dt.date(2025, 1, 1) < stopped.get(s["code"], dt.date.max)
            <= dt.date(2025, 12, 1)]  # fmt: skip
    for s in part:  # paid for each month it was active on the 1st
        firsts = [dt.date(2025, m, 1) for m in range(1, 13)]
        assert s["amount_cny"] == 200 * sum(d < stopped[s["code"]] for d in firsts), s
    assert all(s["amount_cny"] % 200 == 0 and 0 < s["amount_cny"] <= 2400 for s in eligible)
    assert all(s["district_code"].startswith("1401") for s in eligible)  # region 140100


def test_enterprise_built_pays_5000_once(client, conn, tokens_by_role):
    response = client.get(REPORT.format("enterprise-built", "2021"), headers=_union(tokens_by_role))
    assert response.status_code == 200
    eligible = [s for s in response.json["stations"] if s["eligible"]]
    built_by = dict(conn.execute("SELECT code, built_by FROM stations").fetchall())
    assert eligible and {s["amount_cny"] for s in eligible} == {5000.0}
    assert {built_by[s["code"]] for s in eligible} == {"enterprise"}
    assert response.json["totals"]["amount_cny"] == 5000 * len(eligible)


def test_construction_gives_200_places_in_order_with_cap_reasons(client, conn, tokens_by_role):
    """20,000 yuan once, 200 places: "funded N of 200", then "all 200 places given";
    every station in the running has its place, 1, 2, 3, ... in the programme's order."""
    response = client.get(
        REPORT.format("shanxi-construction", "2021"), headers=_union(tokens_by_role)
    )
    assert response.status_code == 200
    body = response.json
    stations = body["stations"]
    funded = [s for s in stations if s["eligible"]]
    assert len(funded) == 200 and {s["amount_cny"] for s in funded} == {20000.0}
    running = sorted((s for s in stations if s["place"] is not None), key=lambda s: s["place"])
    assert [s["place"] for s in running] == list(range(1, len(running) + 1))
    assert len(running) > 200  # more stations qualify than there are places
    given, spacing_failures = 0, []  # a station failing the spacing rule never reaches the cap
    for s in running:
        spacing = next(r for r in s["reasons"] if r["criterion"] == "spacing")
        caps = [r for r in s["reasons"] if r["criterion"] == "cap"]
        if not spacing["passed"]:
            assert caps == [] and not s["eligible"]
            spacing_failures.append(spacing)
            continue
        assert len(caps) == 1
        if given < 200:
            given += 1
            assert s["eligible"] and caps[0]["passed"]
            assert caps[0]["actual"] == f"funded {given} of 200"
        else:
            assert not s["eligible"] and not caps[0]["passed"] and s["amount_cny"] == 0
            assert caps[0]["actual"] == "all 200 places given"
    assert given == 200
    # "189 m from existing station CZ-0079": an active station opened before the period
    opened = dict(
        conn.execute("SELECT code, opened_on FROM stations WHERE status = 'active'").fetchall()
    )
    assert any(r["message"].split()[3] == "existing" for r in spacing_failures)
    for reason in spacing_failures:
        metres, code = re.fullmatch(r"(\d+) m from (\S+)", reason["actual"]).groups()
        before = opened.get(code) is not None and opened[code] < dt.date(2021, 1, 1)
        which = "existing" if before else "subsidised"
        assert reason["message"] == f"{metres} m from {which} station {code}", reason
    totals = body["totals"]
    assert totals["cap"]["count"] == 200
    assert totals["budget_used_cny"] == totals["amount_cny"] == 200 * 20000
    assert {"by_city", "by_district"} <= set(totals)


def test_each_reason_has_the_documented_fields(client, tokens_by_role):
    response = client.get(
        REPORT.format("shanxi-construction", "2021"), headers=_union(tokens_by_role)
    )
    assert response.status_code == 200
    fields = {"criterion", "label", "required", "actual", "passed", "message"}
    labels = {c["id"]: c["label"] for c in _criteria("shanxi-construction")}
    for station in response.json["stations"][:100]:
        for reason in station["reasons"]:
            # a passed criterion carries no message (README wording suggestion in map-4.md)
            expected = fields if not reason["passed"] else fields - {"message"}
            assert set(reason) == expected, reason
            if reason["criterion"] in labels:
                assert reason["label"] == labels[reason["criterion"]]
            assert reason["passed"] or reason["message"], reason


def _criteria(programme: str) -> list[dict]:
    with open(SUBSIDY / f"{programme}.toml", "rb") as f:
        return tomllib.load(f)["criteria"]


def test_report_hashes_the_files_bytes_and_repeats_to_the_byte(client, tokens_by_role):
    """programme_sha256 is of the file's bytes; JSON, CSV (BOM, Chinese headers) and XLSX
    (sheets 拨付清单, 评定明细, 汇总, 规则说明) are the same bytes when asked twice."""
    headers = _union(tokens_by_role)
    url = REPORT.format("taiyuan-upkeep", "2025")
    first = {}
    for fmt in ("json", "csv", "xlsx"):
        a = client.get(f"{url}&format={fmt}", headers=headers)
        b = client.get(f"{url}&format={fmt}", headers=headers)
        assert a.status_code == b.status_code == 200
        assert a.data == b.data and len(a.data) > 1000, fmt
        first[fmt] = a.data
    sha = hashlib.sha256((SUBSIDY / "taiyuan-upkeep.toml").read_bytes()).hexdigest()
    assert client.get(url, headers=headers).json["programme_sha256"] == sha
    assert first["csv"].startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    header = next(csv.reader(io.StringIO(first["csv"][3:].decode("utf-8"))))
    assert all(re.search(r"[\u4e00-\u9fff]", h) for h in header), header
    sheets = load_workbook(io.BytesIO(first["xlsx"])).sheetnames
    assert sheets == ["拨付清单", "评定明细", "汇总", "规则说明"]


# --- Subsidies: limits on a programme file ---------------------------------------------------


@pytest.mark.parametrize(("metres", "status"), [(50_000, 200), (50_001, 400)])
def test_spacing_is_at_most_50_km(client, tokens_by_role, metres, status):
    text = _toml(
        "shanxi-construction",
        "threshold = [{ from = 2019-01-01, value = 300 }]",
        f"threshold = [{{ from = 2019-01-01, value = {metres} }}]",
    )
    response = _what_if_toml(client, tokens_by_role, text)
    assert response.status_code == status
    if status == 400:
        assert response.mimetype == "application/problem+json"
        assert response.json["detail"] == (
            "programme_toml: criteria.spacing: threshold must be at most 50,000"
        )


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [
        ("2000-01-01", "2100-12-31", 200),
        ("1999-12-31", "2021-12-31", 400),
        ("2021-01-01", "2101-01-01", 400),
    ],
)
def test_programme_dates_lie_within_2000_to_2100(client, tokens_by_role, start, end, status):
    text = _toml(
        "shanxi-construction",
        "period = { start = 2021-01-01, end = 2021-12-31 }",
        f"period = {{ start = {start}, end = {end} }}",
    )
    response = _what_if_toml(client, tokens_by_role, text)
    assert response.status_code == status
    if status == 400:
        assert "programme_toml: period" in response.json["detail"]


@pytest.mark.parametrize(
    ("start", "status"), [("2000-01-01", 200), ("1999-12-31", 400), ("2101-01-01", 400)]
)
def test_dated_thresholds_start_within_2000_to_2100(client, tokens_by_role, start, status):
    """A dated threshold's ``from`` is a date too: held to the same 2000-2100."""
    text = _toml(
        "shanxi-construction",
        "threshold = [{ from = 2019-01-01, value = 12 }]",
        f"threshold = [{{ from = {start}, value = 12 }}]",
    )
    response = _what_if_toml(client, tokens_by_role, text)
    assert response.status_code == status
    if status == 400:
        assert response.mimetype == "application/problem+json"
        assert "2000-01-01" in response.json["detail"], response.json["detail"]


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("amount_cny = 20000", "amount_cny = nan", "amount_cny"),
        ("amount_cny = 20000", "amount_cny = inf", "amount_cny"),
        ("value = 12 }", "value = inf }", "criteria.floor_area"),
        ("count = 200", "count = nan", "cap.count"),
    ],
)
def test_numbers_must_be_finite(client, tokens_by_role, old, new, key):
    response = _what_if_toml(client, tokens_by_role, _toml("shanxi-construction", old, new))
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    detail = response.json["detail"]
    assert detail.startswith(f"programme_toml: {key}") and "finite" in detail, detail


# --- Subsidies: what-if -----------------------------------------------------------------------


def test_what_if_amount_and_cap_overrides_and_a_whole_file(client, tokens_by_role):
    """amount_cny and cap.count as dotted overrides, and a whole changed file."""
    headers = _union(tokens_by_role)
    base = {"programme": "shanxi-construction", "period": "2021"}
    more = client.post(WHAT_IF, json={**base, "overrides": {"amount_cny": 25000}}, headers=headers)
    assert more.status_code == 200
    diff = more.json
    assert diff["eligible_before"] == diff["eligible_after"] == 200
    assert diff["newly_eligible"] == diff["newly_ineligible"] == []
    assert diff["budget_change_cny"] == 200 * 5000
    fewer = client.post(WHAT_IF, json={**base, "overrides": {"cap.count": 150}}, headers=headers)
    assert fewer.status_code == 200
    diff = fewer.json
    assert (diff["eligible_before"], diff["eligible_after"]) == (200, 150)
    assert diff["newly_eligible"] == [] and len(diff["newly_ineligible"]) == 50
    for lost in diff["newly_ineligible"]:  # with what they failed: the cap
        assert lost["now_failing"] == [
            "not funded: all 150 places given (in order: gap_demand desc, opened_on asc, code asc)"
        ]
    assert diff["budget_change_cny"] == -50 * 20000
    text = _toml("shanxi-construction", "amount_cny = 20000", "amount_cny = 30000")
    whole = _what_if_toml(client, tokens_by_role, text)
    assert whole.status_code == 200
    assert whole.json["budget_change_cny"] == 200 * 10000
    assert whole.json["newly_eligible"] == whole.json["newly_ineligible"] == []


# --- Subsidies: files are read on each request (served) --------------------------------------


def test_an_edited_programme_file_applies_at_once(database_url, tokens_by_role, tmp_path):
    """Served from a copy of the data folder: an officer's edit changes the next report
    without a restart, and a bad edit is refused with the file, the key and the problem,
    worded as in the README."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    upkeep = data / "subsidy" / "taiyuan-upkeep.toml"
    env = {
        "DATABASE_URL": database_url,
        "STATIONS_DATA_DIR": str(data),
        "STATIONS_RATE_LIMIT_PUBLIC": "off",
        "STATIONS_RATE_LIMIT_PLANNER": "off",
    }
    headers = _union(tokens_by_role)
    url = REPORT.format("taiyuan-upkeep", "2025")
    with serving(env) as (base, _log):
        http = HttpClient(base)
        before = http.get(url, headers=headers)
        assert before.status_code == 200
        paid = {s["code"]: s["amount_cny"] for s in before.get_json()["stations"] if s["eligible"]}
        assert paid and 2400.0 in paid.values()

        upkeep.write_text(
            upkeep.read_text(encoding="utf-8").replace("amount_cny = 200", "amount_cny = 300"),
            encoding="utf-8",
        )
        after = http.get(url, headers=headers)
        assert after.status_code == 200
        body = after.get_json()
        assert body["programme_sha256"] == hashlib.sha256(upkeep.read_bytes()).hexdigest()
        now = {s["code"]: s["amount_cny"] for s in body["stations"] if s["eligible"]}
        assert now == {code: amount * 1.5 for code, amount in paid.items()}

        upkeep.write_text(
            upkeep.read_text(encoding="utf-8").replace('"toilet"]', '"toilet", "sauna"]'),
            encoding="utf-8",
        )
        refused = http.get(url, headers=headers)
        assert refused.status_code == 400
        assert refused.mimetype == "application/problem+json"
        assert refused.get_json()["detail"] == (
            "taiyuan-upkeep.toml: criteria.facilities: unknown amenities: sauna"
        )


def test_gap_radius_defaults_to_1000_m(database_url, tokens_by_role, tmp_path):
    """A cap ordered by gap_demand without ``gap_radius_m`` counts workers within 1000 m:
    every station's place is the one an explicit 1000 gives, not 900's nor 1100's."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    text = (SUBSIDY / "shanxi-construction.toml").read_text(encoding="utf-8")
    assert "gap_radius_m = 1000\n" in text
    radii = {"default": "", "r900": "900", "r1000": "1000", "r1100": "1100"}
    for name, metres in radii.items():
        line = f"gap_radius_m = {metres}\n" if metres else ""
        variant = text.replace("gap_radius_m = 1000\n", line).replace(
            'id = "shanxi-construction"', f'id = "gap-{name}"'
        )
        (data / "subsidy" / f"gap-{name}.toml").write_text(variant, encoding="utf-8")
    env = {
        "DATABASE_URL": database_url,
        "STATIONS_DATA_DIR": str(data),
        "STATIONS_RATE_LIMIT_PUBLIC": "off",
        "STATIONS_RATE_LIMIT_PLANNER": "off",
    }
    places = {}
    with serving(env) as (base, _log):
        http = HttpClient(base)
        for name in ("default", "r900", "r1000", "r1100"):
            answer = http.get(REPORT.format(f"gap-{name}", "2021"), headers=_union(tokens_by_role))
            assert answer.status_code == 200
            places[name] = {s["code"]: s["place"] for s in answer.get_json()["stations"]}
    assert places["default"] == places["r1000"]
    assert places["r900"] != places["r1000"] and places["r1100"] != places["r1000"]


# --- The public map ---------------------------------------------------------------------------


def test_vendored_versions_are_the_readmes(client):
    """Leaflet 1.9.4, Leaflet.markercluster 1.5.3, Leaflet.locatecontrol 0.86.0."""
    readme = (ROOT / "web" / "static" / "vendor" / "README.md").read_text(encoding="utf-8")
    for name, version in (
        ("leaflet", "1.9.4"),
        ("leaflet.markercluster", "1.5.3"),
        ("leaflet.locatecontrol", "0.86.0"),
    ):
        assert re.search(
            rf"^\| \[{re.escape(name)}\]\([^)]*\) \| {re.escape(version)} \|", readme, re.M
        ), name
    served = client.get("/static/vendor/leaflet/leaflet.js")
    assert served.status_code == 200
    assert b"Leaflet 1.9.4," in served.data[:200]
    served.close()


def test_page_scripts_avoid_syntax_old_webviews_cannot_parse(client):
    """Optional chaining (``?.``) and ``??`` are a syntax error in the Android WebViews of
    cheap phones and in-app browsers such as WeChat's: no script the page loads uses them."""
    page = client.get("/?lang=zh")
    assert page.status_code == 200
    scripts = re.findall(r'<script src="([^"]+)"', page.get_data(as_text=True))
    assert any(s.endswith("stations.js") for s in scripts), scripts
    for src in scripts:
        served = client.get(src)
        assert served.status_code == 200, src
        assert not re.search(r"\?\.(?!\d)|\?\?", served.get_data(as_text=True)), src
        served.close()


def _active(conn) -> list[dict]:
    rows = conn.execute(
        """SELECT id, name, address, opening_hours, amenities, ST_X(geom), ST_Y(geom)
           FROM stations WHERE status = 'active' ORDER BY id"""
    ).fetchall()
    keys = ("id", "name", "address", "opening_hours", "amenities", "lon", "lat")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _marker_style(page, station: dict) -> dict:
    """The marker's colours, with the map at the station (the page loads what it shows)."""
    page.evaluate(
        "([lat, lon]) => RestStations.state.map.setView([lat, lon], 16, {animate: false})",
        [station["lat"], station["lon"]],
    )
    page.wait_for_function(
        "id => RestStations.state.view && !RestStations.state.loading && "
        "RestStations.state.view.zoom === RestStations.state.map.getZoom() && "
        "RestStations.state.cluster.hasLayer(RestStations.state.byId[id])",
        arg=station["id"],
    )
    page.evaluate("id => RestStations.reveal(id)", station["id"])
    marker = page.locator(f'.st-marker [data-station-id="{station["id"]}"]').first
    marker.wait_for()
    return marker.evaluate(
        "e => { const s = getComputedStyle(e);"
        " return {bg: s.backgroundColor, border: s.borderTopColor}; }"
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_markers_are_green_open_grey_closed_and_popups_say_it_all(page, base_url, conn, lang):
    """Green when open now, grey when closed; the popup gives the address, the hours, the
    next change and the amenities, in Chinese or (``?lang=en``) English."""
    with open(ROOT / "data" / "vocabulary.toml", "rb") as f:
        labels = tomllib.load(f)["amenities"]
    stations = _active(conn)
    at = dt.datetime.fromisoformat(AT)
    exprs = sorted({s["opening_hours"] for s in stations if s["opening_hours"]})
    oracle = answers(exprs, [at])

    def is_open(s):
        return bool(s["opening_hours"]) and open_for(oracle[(s["opening_hours"], at)], at, 0)

    def closes_soon(s):  # open now but shut within the hour: drawn amber, not green
        return not open_for(oracle[(s["opening_hours"], at)], at, 60)

    opened = next(
        s for s in stations if is_open(s) and not closes_soon(s) and s["address"] and s["amenities"]
    )
    closed = next(s for s in stations if s["opening_hours"] and not is_open(s))
    query = f"at={AT}&lat={opened['lat']}&lon={opened['lon']}" + (
        "&lang=en" if lang == "en" else ""
    )
    page.goto(f"{base_url}/map?{query}", wait_until="load")

    grey, green = _marker_style(page, closed), _marker_style(page, opened)
    assert _hue(green["bg"]) == "green", green
    assert _hue(grey["border"]) == "grey" and _hue(grey["bg"]) != "green", grey

    page.evaluate("id => RestStations.reveal(id)", opened["id"])
    page.locator(f'.st-marker [data-station-id="{opened["id"]}"]').first.click()
    popup = page.locator(f'.leaflet-popup .st-popup[data-station-id="{opened["id"]}"]')
    popup.wait_for()
    assert popup.locator(".st-address").inner_text() == opened["address"]
    assert popup.locator(".st-hours").inner_text().strip()
    state = popup.locator(".st-state").inner_text()
    assert re.search(r"\d\d:\d\d", state), state  # when the state next changes
    shown = popup.locator(".st-amenities li").all_inner_texts()
    assert shown == [labels[c][lang] for c in labels if c in opened["amenities"]]
    assert ("开放中" in state) is (lang == "zh") and ("Open" in state) is (lang == "en")
    assert_clean(page.watch)


def _hue(css: str) -> str:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    if g > r + 40 and g > b + 40:
        return "green"
    if max(r, g, b) - min(r, g, b) < 16 and 60 <= r <= 200:
        return "grey"
    return css


# --- Benchmarks: the scripts take the options the README gives ------------------------------


@pytest.mark.parametrize(
    ("script", "options"),
    [
        ("import.py", []),
        ("nearest.py", ["--sizes"]),
        ("coverage.py", ["--repeat", "--no-exact"]),
        ("subsidy.py", ["--stations"]),
        ("outage.py", ["--rounds", "--down-s"]),
        ("load.py", ["--rates", "--seconds", "--threads", "--setup"]),
    ],
)
def test_bench_scripts_take_the_documented_options(script, options):
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for option in options:
        assert option in run.stdout, (script, option)
    if script == "load.py":
        assert "national" in run.stdout


# --- Scaling out: which reads go to a replica -----------------------------------------------


def test_only_anonymous_reads_go_to_a_replica_and_a_dead_one_rests_5_s(
    database_url, tokens_by_role, monkeypatch
):
    """A read URL where nothing listens: a signed-in read, a subsidy report and a write
    never try it (they stay on the primary); an anonymous read and the map try it, fall
    back to the primary and leave it alone for 5 s."""
    monkeypatch.setenv("DATABASE_READ_URL", DEAD)
    app = app_for(database_url)
    client = app.test_client()
    down = app.extensions[DOWN_KEY]
    editor = {"Authorization": f"Bearer {tokens_by_role['editor']}"}
    try:
        station = client.get("/api/v1/stations/1", headers=editor)
        assert station.status_code == 200
        programmes = client.get("/api/v1/subsidy/programmes", headers=_union(tokens_by_role))
        assert programmes.status_code == 200
        report = client.get(
            REPORT.format("taiyuan-upkeep", "2025-01"), headers=_union(tokens_by_role)
        )
        assert report.status_code == 200
        assert DEAD not in down  # the primary answered every one of these

        before = time.monotonic()
        public = client.get("/api/v1/map/stations?bbox=112.4,37.7,112.7,38.0")
        assert public.status_code == 200  # the map's stations, answered by the primary
        marked = down[DEAD]
        assert before + 4.9 <= marked <= time.monotonic() + 5.0
        for path in ("/api/v1/stations/1", "/api/v1/stations?limit=1"):
            assert client.get(path).status_code == 200
        assert down[DEAD] == marked  # not tried again within the 5 s
    finally:
        close_pool(app)
