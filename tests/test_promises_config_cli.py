"""The README's numbered promises on settings, commands and import files, where users meet them.

Settings are checked on the served app (``stations serve``, granian in front) with only the
setting under test in its environment, so a default is the default a deployment gets; the
commands run as the ``stations`` program; the import rules at their stated numbers, one
step inside and one step outside (a 2,000-character cell, 25 m, 1 km).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from live_server import STATIONS, free_port, serving

from stations import db
from stations.errors import ImportRejected
from stations.importer import import_file
from stations.records import FIELD_NAMES

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024  # granian and Flask count the limit in MiB


class _Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: D102
        return None  # a 303 is the answer under test, not something to follow


def _call(
    url: str, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, Message, bytes]:
    """One request over real HTTP: status, headers, body (redirects not followed)."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.build_opener(_Keep).open(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _sign_in(url: str, token: str) -> tuple[int, Message]:
    status, headers, _body = _call(
        f"{url}/planner/sign-in", FORM, urllib.parse.urlencode({"token": token}).encode()
    )
    return status, headers


def _signed_in(url: str, cookie: str) -> bool:
    """Whether the planner map takes ``cookie`` as a session (else it shows the form)."""
    status, _headers, page = _call(f"{url}/planner?district=140106", {"Cookie": cookie})
    assert status in (200, 401), status
    return status == 200 and b'class="pl-sign-in"' not in page


def _announced(port: int, path: bytes, length: int) -> bytes:
    """The head of the answer to a POST that announces ``length`` bytes and sends none."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (path, length)
        )
        return sock.recv(65536)


@pytest.fixture(scope="module")
def defaults(database_url, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The app served with no setting but the database (and a var folder of its own)."""
    var = tmp_path_factory.mktemp("var-defaults")
    with serving({"DATABASE_URL": database_url, "STATIONS_VAR_DIR": str(var)}) as (url, _log):
        yield url, var


# --- Configuration ---------------------------------------------------------------------


def test_a_listing_takes_limit_1000_and_refuses_1001_by_default(defaults):
    """STATIONS_PAGE_LIMIT_MAX defaults to 1000."""
    url, _var = defaults
    status, headers, body = _call(f"{url}/api/v1/stations?limit=1000")
    assert status == 200 and json.loads(body)["numberReturned"] == 1000
    status, headers, body = _call(f"{url}/api/v1/stations?limit=1001")
    assert (status, headers.get_content_type()) == (400, "application/problem+json")
    assert json.loads(body)["param"] == "limit"


def test_a_listing_limit_follows_the_setting(database_url):
    env = {"DATABASE_URL": database_url, "STATIONS_PAGE_LIMIT_MAX": "20"}
    with serving(env) as (url, _log):
        assert _call(f"{url}/api/v1/stations?limit=20")[0] == 200
        status, headers, _body = _call(f"{url}/api/v1/stations?limit=21")
        assert (status, headers.get_content_type()) == (400, "application/problem+json")


def test_the_default_body_limit_is_50_mb(defaults):
    """STATIONS_MAX_BODY_MB=50: one byte past 50 MB is refused before any is read; 50 MB
    itself passes the size check (and meets the token check: 401)."""
    url, _var = defaults
    port = int(url.rsplit(":", 1)[1])
    at_limit = _announced(port, b"/api/v1/coverage/gaps", 50 * MB)
    assert at_limit.startswith(b"HTTP/1.1 401 "), at_limit[:200]
    past = _announced(port, b"/api/v1/coverage/gaps", 50 * MB + 1)
    assert past.startswith(b"HTTP/1.1 413 ") and b"application/problem+json" in past


def test_the_planner_limit_is_60_a_minute_on_each_route(defaults):
    """STATIONS_RATE_LIMIT_PLANNER=60/minute: the 61st sign-in is refused; sign-out, another
    route, still has its own count."""
    url, _var = defaults
    wrong = urllib.parse.urlencode({"token": "not-a-token"}).encode()
    statuses = [_call(f"{url}/planner/sign-in", FORM, wrong)[0] for _ in range(61)]
    assert statuses == [401] * 60 + [429]
    status, headers, body = _call(f"{url}/planner/sign-in", FORM, wrong)
    assert (status, headers.get_content_type()) == (429, "application/problem+json")
    assert int(headers["Retry-After"]) > 0 and "60" in json.loads(body)["detail"]
    assert _call(f"{url}/planner/sign-out", FORM, b"")[0] == 303


def test_the_public_limit_is_6000_a_minute(database_url):
    """STATIONS_RATE_LIMIT_PUBLIC=6000/minute, counted per route: 6,000 calls pass, the
    6,001st is refused (all on one kept-alive connection, well inside the minute)."""
    with serving({"DATABASE_URL": database_url}) as (url, _log):
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            statuses = []
            for _ in range(6001):
                connection.request("GET", "/api/v1/openapi.json")
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
        finally:
            connection.close()
    assert statuses[:6000] == [200] * 6000 and statuses[6000] == 429


def test_the_secret_key_file_is_made_once_and_kept_and_cookies_are_not_secure_by_default(
    database_url, tokens_by_role, tmp_path
):
    """STATIONS_SECRET_KEY unset: a random key in STATIONS_VAR_DIR/secret_key, kept across a
    restart (sessions survive it); STATIONS_COOKIE_SECURE false by default, true sets Secure."""
    env = {"DATABASE_URL": database_url, "STATIONS_VAR_DIR": str(tmp_path)}
    assert not (tmp_path / "secret_key").exists()
    with serving(env) as (url, _log):
        key = (tmp_path / "secret_key").read_text().strip()
        status, headers = _sign_in(url, tokens_by_role["planner"])
        assert status == 303
        set_cookie = headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie and "secure" not in set_cookie.lower()
        cookie = set_cookie.split(";", 1)[0]
        assert _signed_in(url, cookie)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    with serving({**env, "STATIONS_COOKIE_SECURE": "true"}) as (url, _log):
        assert (tmp_path / "secret_key").read_text().strip() == key  # not made again
        assert _signed_in(url, cookie)  # signed with the kept key
        status, headers = _sign_in(url, tokens_by_role["planner"])
        assert status == 303 and "; Secure" in headers["Set-Cookie"]


def test_the_secret_key_setting_signs_the_session_cookie(database_url, tokens_by_role, tmp_path):
    """Servers with the same STATIONS_SECRET_KEY (and no shared var folder) share sessions;
    a server with another key does not take them; no key file is made."""
    folders = [tmp_path / name for name in ("a", "b", "c")]
    for folder in folders:
        folder.mkdir()
    same, other = "k" * 40, "o" * 40
    envs = [
        {"DATABASE_URL": database_url, "STATIONS_VAR_DIR": str(folder), "STATIONS_SECRET_KEY": k}
        for folder, k in zip(folders, (same, same, other), strict=True)
    ]
    with serving(envs[0]) as (first, _l1), serving(envs[1]) as (second, _l2):
        with serving(envs[2]) as (third, _l3):
            status, headers = _sign_in(first, tokens_by_role["planner"])
            assert status == 303
            cookie = headers["Set-Cookie"].split(";", 1)[0]
            assert _signed_in(first, cookie) and _signed_in(second, cookie)
            assert not _signed_in(third, cookie)
    assert not [f for f in folders if (f / "secret_key").exists()]


def test_an_unknown_tile_setting_logs_a_warning_and_falls_back_to_osm(database_url):
    env = {"DATABASE_URL": database_url, "STATIONS_MAP_TILES": "googlemaps"}
    with serving(env) as (url, log):
        status, _headers, page = _call(f"{url}/")
        assert status == 200
        assert b"https://tile.openstreetmap.org/{z}/{x}/{y}.png" in page
        assert b"googlemaps" not in page
    warning = r"STATIONS_MAP_TILES='googlemaps' is not osm.*; using osm"
    assert re.search(warning, log[0]), log[0][-2000:]


def test_the_attribution_credits_own_tiles_and_replaces_a_providers(database_url):
    credit = "图源 © 测试测绘院"
    own = "https://tiles.example.cn/{z}/{x}/{y}.png"
    # the page carries the credit JSON-encoded, as Leaflet's attribution option
    shown = json.dumps(credit).encode()
    for tiles, replaced in (
        (own, b'"tiles.example.cn"'),
        ("amap", json.dumps("高德地图")[1:-1].encode()),
    ):
        env = {
            "DATABASE_URL": database_url,
            "STATIONS_MAP_TILES": tiles,
            "STATIONS_MAP_ATTRIBUTION": credit,
        }
        with serving(env) as (url, _log):
            status, _headers, page = _call(f"{url}/")
        assert status == 200 and shown in page, tiles
        assert replaced not in page, tiles


def test_a_statement_past_the_timeout_setting_is_cancelled_and_answered_503(database_url):
    """STATIONS_STATEMENT_TIMEOUT_S on the served app: a listing held up by a lock is
    cancelled after the set seconds and answered 503 problem+json."""
    env = {"DATABASE_URL": database_url, "STATIONS_STATEMENT_TIMEOUT_S": "1"}
    with serving(env) as (url, _log):
        assert _call(f"{url}/api/v1/stations?limit=1")[0] == 200  # the pool is open
        with db.connect(database_url) as locker:
            locker.execute("LOCK TABLE stations IN ACCESS EXCLUSIVE MODE")
            status, headers, body = _call(f"{url}/api/v1/stations?limit=1")
            locker.rollback()
        assert (status, headers.get_content_type()) == (503, "application/problem+json")
        assert json.loads(body)["type"] == "/problems/statement-timeout"
        assert _call(f"{url}/api/v1/stations?limit=1")[0] == 200


def _engines(url: str, count: int) -> list[str]:
    """Which engine answered each of ``count`` nearest searches (Server-Timing)."""
    found = []
    for _ in range(count):
        status, headers, _body = _call(f"{url}/api/v1/stations/nearest?lat=37.87&lon=112.55")
        assert status == 200
        found.append(re.search(r'desc="(\w+)"', headers["Server-Timing"])[1])
    return found


def test_nearest_answers_from_memory_by_default_and_never_with_off(database_url):
    """STATIONS_NEAREST_MAX_AGE_S: by default the worker's memory answers (once its copy is
    built); ``off`` always asks PostgreSQL. The answer's Server-Timing names the engine."""
    with serving({"DATABASE_URL": database_url}) as (url, _log):
        deadline = time.monotonic() + 60
        while _engines(url, 1) != ["memory"]:
            assert time.monotonic() < deadline, "the memory copy never answered"
            time.sleep(0.2)
    with serving({"DATABASE_URL": database_url, "STATIONS_NEAREST_MAX_AGE_S": "off"}) as (url, _):
        assert set(_engines(url, 30)) == {"postgis"}


def test_nearest_with_max_age_0_sees_a_committed_change_at_once(database_url):
    """``0`` checks the registry's generation on every search: no stale answer at all."""
    env = {"DATABASE_URL": database_url, "STATIONS_NEAREST_MAX_AGE_S": "0"}
    near = "/api/v1/stations/nearest?lat=37.87&lon=112.55&open=false&limit=1"
    with serving(env) as (url, _log):
        deadline = time.monotonic() + 60
        while _engines(url, 1) != ["memory"]:
            assert time.monotonic() < deadline, "the memory copy never answered"
            time.sleep(0.2)
        first = json.loads(_call(url + near)[2])["features"][0]
        sid, name = first["id"], first["properties"]["name"]
        with db.connect(database_url, autocommit=True) as writer:
            writer.execute("UPDATE stations SET name = name || '（改）' WHERE id = %s", [sid])
            try:
                status, headers, body = _call(url + near)
            finally:
                writer.execute("UPDATE stations SET name = %s WHERE id = %s", [name, sid])
        assert status == 200 and 'desc="memory"' in headers["Server-Timing"]
        assert json.loads(body)["features"][0]["properties"]["name"] == name + "（改）"


def _state_at(url: str, lon: float, lat: float, at: str) -> tuple[str, int | None]:
    query = urllib.parse.urlencode({"lat": lat, "lon": lon, "at": at, "limit": 1, "open": "false"})
    status, _headers, body = _call(f"{url}/api/v1/stations/nearest?{query}")
    assert status == 200
    props = json.loads(body)["features"][0]["properties"]
    return props["state"], props["closes_in_min"]


def test_closing_soon_is_30_minutes_by_default_and_follows_the_setting(database_url, conn):
    """A station open 07:00-22:00: at 21:30 it closes within 30 minutes (closing_soon), at
    21:29 it does not (open); with STATIONS_CLOSING_SOON_MIN=10 the line moves to 21:50."""
    lon, lat = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' "
        "AND opening_hours = 'Mo-Su 07:00-22:00' ORDER BY id LIMIT 1"
    ).fetchone()
    day = "2025-11-19T21:{}:00+08:00"
    with serving({"DATABASE_URL": database_url}) as (url, _log):
        assert _state_at(url, lon, lat, day.format("30")) == ("closing_soon", 30)
        assert _state_at(url, lon, lat, day.format("29")) == ("open", 31)
    with serving({"DATABASE_URL": database_url, "STATIONS_CLOSING_SOON_MIN": "10"}) as (url, _):
        assert _state_at(url, lon, lat, day.format("50")) == ("closing_soon", 10)
        assert _state_at(url, lon, lat, day.format("49"))[0] == "open"


@contextlib.contextmanager
def _serve_plain(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """``stations serve --port P`` with nothing else on its command line; its log so far."""
    proc = subprocess.Popen(
        [STATIONS, "serve", "--port", str(free_port())],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)
        proc.stdout.close()


def test_serve_starts_2_workers_of_4_threads_by_default(database_url):
    """STATIONS_WORKERS=2 and STATIONS_THREADS=4 when neither is set."""
    with _serve_plain({"DATABASE_URL": database_url}) as (proc, lines):
        deadline = time.monotonic() + 30
        while sum("Started worker-" in line for line in list(lines)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    assert "with 2 worker(s)" in "".join(lines)
    assert argv[argv.index(b"--workers") + 1] == b"2"
    assert argv[argv.index(b"--blocking-threads") + 1] == b"4"


# --- Command line ----------------------------------------------------------------------


def _stations(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [STATIONS, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_holidays_status_json_warns_from_1_november_and_exits_1_on_a_broken_file(tmp_path):
    """The shipped notices end with 2026: 2027's missing is a warning from 2026-11-01 on."""
    october = _stations("holidays", "status", "--today", "2026-10-31", "--json")
    november = _stations("holidays", "status", "--today", "2026-11-01", "--json")
    assert (october.returncode, november.returncode) == (0, 0)
    assert json.loads(october.stdout)["warnings"] == []
    warned = json.loads(november.stdout)
    assert warned["problems"] == [] and any("2027" in w for w in warned["warnings"])
    folder = tmp_path / "holidays"
    folder.mkdir()
    for year in (2024, 2025, 2026):
        name = f"{year}.toml"
        (folder / name).write_bytes((ROOT / "data" / "holidays" / name).read_bytes())
    (folder / "2027.toml").write_text('year = 2027\n[notice]\ntitle = "x"\n', encoding="utf-8")
    broken = _stations(
        "holidays",
        "status",
        "--today",
        "2026-11-01",
        "--json",
        env={"STATIONS_HOLIDAYS_DIR": str(folder)},
    )
    assert broken.returncode == 1
    assert any("2027.toml" in p for p in json.loads(broken.stdout)["problems"])


@pytest.fixture
def cli_env(database_url) -> dict[str, str]:
    return {"DATABASE_URL": database_url}


def test_gaps_takes_the_area_from_a_geometry_file(cli_env, tmp_path):
    """``--geometry FILE``: a rectangle as GeoJSON gives what the same ``--bbox`` gives."""
    w, s, e, n = 112.50, 37.80, 112.60, 37.88
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    shape = tmp_path / "area.geojson"
    shape.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    by_file, by_box = tmp_path / "file.json", tmp_path / "box.json"
    made = _stations("gaps", "--geometry", str(shape), "--output", str(by_file), env=cli_env)
    assert made.returncode == 0, made.stderr
    box = f"{w},{s},{e},{n}"
    assert _stations("gaps", "--bbox", box, "--output", str(by_box), env=cli_env).returncode == 0
    got, want = (json.loads(p.read_text(encoding="utf-8")) for p in (by_file, by_box))
    assert got["stations_counted"] == want["stations_counted"] > 0
    assert got["area_km2"] == pytest.approx(want["area_km2"], rel=1e-6)
    assert 0 < got["coverage_ratio"] < 1


def test_suggest_picks_only_from_the_candidates_file(cli_env, tmp_path):
    # points in uncovered parts of 迎泽区, each with demand a new station would cover
    candidates = [
        (112.7503, 37.8922),
        (112.6035, 37.8303),
        (112.6269, 37.8546),
        (112.6901, 37.8725),
    ]
    path = tmp_path / "candidates.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Point", "coordinates": list(c)},
                    }  # fmt: skip
                    for c in candidates
                ],
            }
        )
    )
    out = tmp_path / "sites.json"
    made = _stations(
        "suggest", "--district", "140106", "--count", "2", "--candidates", str(path),
        "--output", str(out), env=cli_env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    body = json.loads(out.read_text(encoding="utf-8"))
    sites = [tuple(f["geometry"]["coordinates"]) for f in body["sites"]["features"]]
    assert len(sites) == 2 and body["candidates"] == 4
    for lon, lat in sites:
        assert any(abs(lon - x) < 1e-5 and abs(lat - y) < 1e-5 for x, y in candidates)
    gains = [f["properties"]["demand_newly_covered"] for f in body["sites"]["features"]]
    assert gains == sorted(gains, reverse=True)  # best first


def test_what_if_with_a_changed_programme_file(cli_env, tmp_path):
    """``--with FILE`` compares with a changed copy of the programme: the same answer as the
    same change made with ``--set``."""
    original = (ROOT / "data" / "subsidy" / "shanxi-construction.toml").read_text("utf-8")
    assert "value = 12 }" in original
    changed = tmp_path / "changed.toml"
    changed.write_text(original.replace("value = 12 }", "value = 6 }"), encoding="utf-8")
    base = ("subsidy", "what-if", "--programme", "shanxi-construction", "--period", "2021")
    by_file, by_set = tmp_path / "with.json", tmp_path / "set.json"
    made = _stations(*base, "--with", str(changed), "--output", str(by_file), env=cli_env)
    assert made.returncode == 0, made.stderr
    set_ = ("--set", "criteria.floor_area.threshold=6", "--output", str(by_set))
    assert _stations(*base, *set_, env=cli_env).returncode == 0
    got, want = (json.loads(p.read_text(encoding="utf-8")) for p in (by_file, by_set))
    assert got["newly_eligible"] and got["newly_eligible"] == want["newly_eligible"]
    assert got["budget_change_cny"] == want["budget_change_cny"]
    both = _stations(*base, "--with", str(changed), *set_, env=cli_env)
    assert both.returncode == 1 and len(both.stderr.strip().splitlines()) == 1


def test_hourly_names_the_worst_hour_on_stderr(cli_env, tmp_path):
    out = tmp_path / "hourly.json"
    made = _stations(
        "hourly", "--district", "140106", "--date", "2025-11-19", "--output", str(out),
        env=cli_env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    hours_ = json.loads(out.read_text(encoding="utf-8"))["hours"]
    assert [h["hour"] for h in hours_] == list(range(24))
    worst = min(hours_, key=lambda h: (h["demand_coverage_ratio"], h["hour"]))
    assert f"({worst['hour']:02d}:00," in made.stderr
    assert f"{worst['demand_coverage_ratio']:.1%}" in made.stderr


def test_access_csv_lists_the_worst_served_district_first(cli_env, tmp_path):
    out = tmp_path / "access.csv"
    made = _stations("access", "--district", "140100", "--output", str(out), env=cli_env)
    assert made.returncode == 0, made.stderr
    with out.open(newline="", encoding="utf-8-sig") as fh:  # Excel's BOM, then 中文 headers
        rows = list(csv.DictReader(fh))
    scores = [float(r["2SFCA（站/千人）"]) for r in rows]
    assert len(rows) == 10 and scores == sorted(scores) and scores[0] < scores[-1]


def test_subsidy_programmes_lists_id_name_amount_accrual_period_and_file_hash(cli_env):
    listed = _stations("subsidy", "programmes", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    files = sorted((ROOT / "data" / "subsidy").glob("*.toml"))
    assert sorted(row[0] for row in rows) == sorted(f.stem for f in files)
    by_id = {row[0]: row for row in rows}
    construction = by_id["shanxi-construction"]
    assert construction[1] == "山西省户外劳动者服务站点建设补助"
    assert construction[2] == "20000 CNY once"
    assert construction[3] == "2021-01-01..2021-12-31"
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest.startswith(by_id[path.stem][-1]) and len(by_id[path.stem][-1]) >= 12


def test_token_create_prints_it_once_alone_and_stores_only_its_sha256(cli_env, database_url):
    owner = f"承诺测试-{secrets.token_hex(4)}"  # this run's own: the database outlives a test
    made = _stations("token", "create", "--role", "editor", "--owner", owner, env=cli_env)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.strip().splitlines()
    token = lines[-1]
    assert token.strip() == token and " " not in token and len(token) >= 32
    assert made.stdout.count(token) == 1
    with db.connect(database_url) as conn:
        stored = [
            bytes(row[0])
            for row in conn.execute("SELECT token_sha256 FROM api_tokens WHERE owner = %s", [owner])
        ]
        columns = conn.execute(
            "SELECT string_agg(column_name, ',') FROM information_schema.columns "
            "WHERE table_name = 'api_tokens'"
        ).fetchone()[0]
        dumped = conn.execute("SELECT api_tokens::text FROM api_tokens").fetchall()
    assert stored == [hashlib.sha256(token.encode()).digest()]
    assert "token_sha256" in columns and not [r for r in dumped if token in r[0]]
    listed = _stations("token", "list", env=cli_env)
    assert listed.returncode == 0 and owner in listed.stdout and token not in listed.stdout


def test_import_records_the_actor_in_the_history(cli_env, database_url, tmp_path):
    """``stations import FILE --actor NAME``: the change lands in the history under NAME."""
    with db.connect(database_url) as conn:
        code, name = conn.execute(
            "SELECT code, name FROM stations WHERE status = 'active' ORDER BY id LIMIT 1"
        ).fetchone()
    out = tmp_path / "all.csv"
    assert _stations("export", "--format", "csv", "--output", str(out), env=cli_env).returncode == 0
    with out.open(newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.DictReader(fh) if r["code"] == code]
    headers = [h for h in rows[0] if h in FIELD_NAMES]
    row = {h: rows[0][h] for h in headers}
    row["name"] = name + "（承诺）"
    path = tmp_path / "one.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=headers)
        writer.writeheader()
        writer.writerow(row)
    try:
        done = _stations("import", str(path), "--actor", "承诺审计员", env=cli_env)
        assert done.returncode == 0, done.stderr
        with db.connect(database_url) as conn:
            who = conn.execute(
                "SELECT h.changed_by, h.after->>'name' FROM station_history h "
                "JOIN stations s ON s.id = h.station_id WHERE s.code = %s ORDER BY h.id DESC "
                "LIMIT 1",
                [code],
            ).fetchone()
        assert who == ("承诺审计员", name + "（承诺）")
    finally:
        row["name"] = name
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=headers)
            writer.writeheader()
            writer.writerow(row)
        assert _stations("import", str(path), env=cli_env).returncode == 0


# --- Import files ----------------------------------------------------------------------

XIAODIAN = "140105"  # 小店区, Taiyuan


@pytest.fixture
def inside(conn) -> tuple[float, float]:
    return conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts "
        "WHERE code = %s) d",
        [XIAODIAN],
    ).fetchone()


def _row(lon: float, lat: float, **overrides: str) -> dict[str, str]:
    row = {
        "code": "P-0001",
        "name": "承诺驿站",
        "address": "山西省太原市小店区承诺路1号",
        "district_code": XIAODIAN,
        "district_name": "",
        "lon": f"{lon:.7f}",
        "lat": f"{lat:.7f}",
        "opening_hours": "Mo-Fr 08:00-20:00; PH off",
        "amenities": "drinking_water;toilet",
        "floor_area_m2": "20",
        "host_type": "community",
        "built_by": "union",
        "level": "district",
        "opened_on": "2021-05-01",
        "status": "active",
        "contact": "",
        "has_sign": "true",
        "has_rules": "true",
        "has_staff": "false",
    }
    row.update(overrides)
    return row


def _csv(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELD_NAMES)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _problems(conn, path: Path) -> list[dict]:
    with pytest.raises(ImportRejected) as info:
        import_file(conn, path, actor="t", dry_run=True)
    return info.value.details["rows"]


def _moved(conn, lon: float, lat: float, metres: float, azimuth_deg: float) -> tuple[float, float]:
    """The point ``metres`` from lon/lat along the azimuth (PostGIS on the ellipsoid)."""
    return conn.execute(
        "SELECT ST_X(p::geometry), ST_Y(p::geometry) FROM (SELECT ST_Project("
        "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s, radians(%s)) p) q",
        [lon, lat, metres, azimuth_deg],
    ).fetchone()


def test_cells_of_2000_characters_pass_and_2001_are_refused(conn, tmp_path, inside):
    ok = _row(*inside, address="长" * 2000)
    assert import_file(conn, _csv(tmp_path / "ok.csv", [ok]), actor="t", dry_run=True).inserted
    long = _row(*inside, address="长" * 2001)
    assert [(p["row"], p["field"]) for p in _problems(conn, _csv(tmp_path / "x.csv", [long]))] == [
        (2, "address")
    ]
    bell = _row(*inside, address="铃\x07声")
    assert [p["field"] for p in _problems(conn, _csv(tmp_path / "b.csv", [bell]))] == ["address"]


def test_a_gb18030_csv_with_english_headers_and_a_bom_utf8_one_both_import(conn, tmp_path, inside):
    row = _row(*inside, name="承诺驿站（国标）")
    gbk = _csv(tmp_path / "gbk.csv", [row], encoding="gb18030")
    assert import_file(conn, gbk, actor="t", dry_run=True).inserted == 1
    bom = _csv(tmp_path / "bom.csv", [row], encoding="utf-8-sig")
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    assert import_file(conn, bom, actor="t", dry_run=True).inserted == 1


def test_amenity_separators_and_chinese_booleans(conn, tmp_path, inside):
    rows = [
        _row(
            *_moved(conn, *inside, 100 * i, 0),
            code=f"P-{i}",
            name=f"承诺{i}号",
            amenities=sep.join(["drinking_water", "toilet", "wifi"]),
            has_staff="否",
            has_rules="是",
        )  # fmt: skip
        for i, sep in enumerate((";", ",", "、", "|"), start=1)
    ]
    assert import_file(conn, _csv(tmp_path / "seps.csv", rows), actor="t").inserted == 4
    stored = conn.execute(
        "SELECT amenities, has_staff, has_rules FROM stations WHERE code LIKE 'P-_' ORDER BY code"
    ).fetchall()
    assert stored == [(["drinking_water", "toilet", "wifi"], False, True)] * 4


def test_a_csv_without_a_final_line_break_imports_nothing(conn, tmp_path, inside):
    path = _csv(tmp_path / "cut.csv", [_row(*inside)])
    path.write_bytes(path.read_bytes().rstrip(b"\r\n"))
    with pytest.raises(ImportRejected, match="line break"):
        import_file(conn, path, actor="t")
    quoted = tmp_path / "quoted.csv"
    text = _csv(tmp_path / "q.csv", [_row(*inside, address="半截")]).read_text("utf-8")
    quoted.write_text(text.replace(",半截,", ',"半截\n'), encoding="utf-8")
    with pytest.raises(ImportRejected):
        import_file(conn, quoted, actor="t")
    assert conn.execute("SELECT count(*) FROM stations WHERE code = 'P-0001'").fetchone()[0] == 0


def test_a_point_within_1_km_of_its_district_passes_and_beyond_is_refused(conn, tmp_path):
    """Measured from the district's easternmost vertex, due east: 960 m in, 1,040 m out."""
    lon, lat = conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_DumpPoints(geom)).geom p FROM districts "
        "WHERE code = %s) q ORDER BY ST_X(p) DESC LIMIT 1",
        [XIAODIAN],
    ).fetchone()
    near, far = _moved(conn, lon, lat, 960, 90), _moved(conn, lon, lat, 1040, 90)
    distances = conn.execute(
        "SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography),"
        " ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) "
        "FROM districts WHERE code = %s",
        [*near, *far, XIAODIAN],
    ).fetchone()
    assert 900 < distances[0] <= 1000 < distances[1] < 1100  # the test's own premise
    accepted = import_file(
        conn, _csv(tmp_path / "near.csv", [_row(*near)]), actor="t", dry_run=True
    )
    assert accepted.inserted == 1
    problems = _problems(conn, _csv(tmp_path / "far.csv", [_row(*far)]))
    assert [(p["field"], "outside district 140105" in p["reason"]) for p in problems] == [
        ("lon/lat", True)
    ]


def test_the_same_name_within_25_m_is_a_duplicate_and_beyond_is_a_new_station(conn, tmp_path):
    code, name, lon, lat, district = conn.execute(
        "SELECT code, name, ST_X(geom), ST_Y(geom), district_code FROM stations "
        "WHERE status = 'active' ORDER BY id LIMIT 1"
    ).fetchone()
    twin = {"name": name, "district_code": district, "code": "P-TWIN"}
    near, far = _moved(conn, lon, lat, 24, 0), _moved(conn, lon, lat, 26, 0)
    problems = _problems(conn, _csv(tmp_path / "near.csv", [_row(*near, **twin)]))
    assert [p["field"] for p in problems] == ["name"] and code in problems[0]["reason"]
    ok = import_file(
        conn, _csv(tmp_path / "far.csv", [_row(*far, **twin)]), actor="t", dry_run=True
    )
    assert ok.inserted == 1
    # two new rows of one file, likewise
    a = _row(*_moved(conn, lon, lat, 300, 90), code="P-A", name="承诺双站", district_code=district)
    b_near = _row(*_moved(conn, lon, lat, 300 + 24, 90), code="P-B", name="承诺双站",
                  district_code=district)  # fmt: skip
    problems = _problems(conn, _csv(tmp_path / "rows.csv", [a, b_near]))
    assert [(p["row"], p["field"]) for p in problems] == [(3, "name")]
    b_far = {**b_near, **dict(zip(("lon", "lat"), (f"{v:.7f}" for v in _moved(
        conn, lon, lat, 300 + 26, 90)), strict=True))}  # fmt: skip
    both = import_file(conn, _csv(tmp_path / "rows2.csv", [a, b_far]), actor="t", dry_run=True)
    assert both.inserted == 2


def test_status_is_active_when_the_cell_is_empty_and_kept_when_given(conn, tmp_path, inside):
    """The ``status`` column is optional: empty means ``active``; the others are kept."""
    rows = [
        _row(*inside, status=""),
        _row(inside[0] + 0.01, inside[1], code="P-0002", name="承诺二站", status="suspended"),
    ]
    import_file(conn, _csv(tmp_path / "status.csv", rows), actor="t")
    stored = dict(
        conn.execute("SELECT code, status FROM stations WHERE code IN ('P-0001', 'P-0002')")
    )
    assert stored == {"P-0001": "active", "P-0002": "suspended"}
