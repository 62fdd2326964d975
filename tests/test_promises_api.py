"""README promises of the HTTP API, planning, tokens and editing, at their own numbers.

Each test pins a number, default or named behaviour the README gives (listing limits,
planning bounds, who may do what, what the served app logs, how editors' writes are
guarded) at the boundary where users meet it: the API through the Flask client, and
the served app (granian) for what is about serving. The other test files check the
behaviour in general; these hold the README's exact figures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import io
import json
import math
import re
import socket
import struct
import time
import zipfile
from collections.abc import Iterator

import pytest
from conftest import app_for
from live_server import HttpClient, serving
from never_sent import NeverSent

from stations import db, tokens
from stations.demo import demo_database
from web.app import create_app
from web.pools import close_pool

PROBLEM = "application/problem+json"
LISTING = "/api/v1/stations"


# --- the listing ---------------------------------------------------------------------


def test_listing_limit_defaults_to_100_and_takes_1_to_1000(client):
    """`limit` 1–1000 (default 100): 1 and 1000 answered, 0 and 1001 refused."""
    default = client.get(LISTING)
    assert default.status_code == 200 and default.get_json()["numberReturned"] == 100
    one = client.get(f"{LISTING}?limit=1")
    assert one.status_code == 200 and one.get_json()["numberReturned"] == 1
    most = client.get(f"{LISTING}?limit=1000")
    assert most.status_code == 200 and most.get_json()["numberReturned"] == 1000
    for refused in ("0", "1001"):
        response = client.get(f"{LISTING}?limit={refused}")
        assert response.status_code == 400 and response.mimetype == PROBLEM
        assert response.get_json()["param"] == "limit" and "1000" in response.get_json()["detail"]


def test_listing_is_in_id_order_across_pages(client):
    """A page of stations in id order; `next` and `prev` walk the same order."""
    first = client.get(f"{LISTING}?limit=50")
    assert first.status_code == 200
    body = first.get_json()
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert "limit=50" in links["self"] and "prev" not in links
    second = client.get(links["next"])
    assert second.status_code == 200
    back = {link["rel"]: link["href"] for link in second.get_json()["links"]}["prev"]
    again = client.get(back)
    assert again.status_code == 200
    ids = [f["id"] for f in body["features"]]
    following = [f["id"] for f in second.get_json()["features"]]
    assert ids == sorted(ids) and following == sorted(following) and ids[-1] < following[0]
    assert [f["id"] for f in again.get_json()["features"]] == ids


def test_lang_gives_chinese_labels_by_default_and_english_on_request(client):
    """`lang` `zh` (default) or `en` for labels."""
    chinese = client.get(f"{LISTING}?amenities=toilet&limit=1")
    english = client.get(f"{LISTING}?amenities=toilet&limit=1&lang=en")
    explicit = client.get(f"{LISTING}?amenities=toilet&limit=1&lang=zh")
    assert chinese.status_code == english.status_code == explicit.status_code == 200

    def toilet(response) -> str:
        amenities = response.get_json()["features"][0]["properties"]["amenities"]
        return next(a["label"] for a in amenities if a["code"] == "toilet")

    vocabulary = client.get("/api/v1/amenities").get_json()["amenities"]
    labels = next(a for a in vocabulary if a["code"] == "toilet")
    assert toilet(chinese) == toilet(explicit) == labels["zh"] != labels["en"]
    assert toilet(english) == labels["en"] and toilet(english).isascii()
    assert all("\u4e00" <= c <= "\u9fff" for c in toilet(chinese))


def test_the_province_district_includes_all_its_counties(client, conn):
    """`district` may name the province; it includes every county."""
    response = client.get(f"{LISTING}?district=140000&limit=1")
    assert response.status_code == 200
    in_shanxi = conn.execute(
        "SELECT count(*) FROM stations WHERE district_code LIKE '14%%'"
    ).fetchone()[0]
    assert response.get_json()["numberMatched"] == in_shanxi > 0


def test_a_parameter_given_twice_is_400_even_when_both_are_valid(client):
    """A parameter given twice is a 400, whatever the values."""
    for query in ("limit=5&limit=5", "lang=en&lang=zh", "district=140105&district=140105"):
        response = client.get(f"{LISTING}?{query}")
        assert response.status_code == 400 and response.mimetype == PROBLEM, query
        assert response.get_json()["param"] == query.split("=")[0]


def test_an_unknown_parameter_and_a_shared_name_say_what_to_give(client):
    """Unknown parameter and `城区` (two districts): 400 that says what to give instead."""
    unknown = client.get(f"{LISTING}?colour=red")
    assert unknown.status_code == 400 and unknown.get_json()["param"] == "colour"
    assert "limit" in unknown.get_json()["detail"]  # names what is accepted
    shared = client.get(f"{LISTING}?district=城区")
    assert shared.status_code == 400 and shared.mimetype == PROBLEM
    assert shared.get_json()["param"] == "district"
    assert "代码" in shared.get_json()["detail"]  # Chinese unless asked otherwise
    english = client.get(f"{LISTING}?district=城区&lang=en")
    assert "code" in english.get_json()["detail"]


def test_open_at_without_offset_is_beijing_time_and_names_state_at(client, conn):
    """`open_at` (no offset = Asia/Shanghai): only active stations open then; `state_at`."""
    local = client.get(f"{LISTING}?open_at=2025-11-19T10:00&limit=1000")
    utc = client.get(f"{LISTING}?open_at=2025-11-19T02:00Z&limit=1000")
    night = client.get(f"{LISTING}?open_at=2025-11-19T03:00&limit=1000")
    assert local.status_code == utc.status_code == night.status_code == 200
    body = local.get_json()
    assert body["state_at"] == "2025-11-19T10:00:00+08:00"
    assert [f["id"] for f in body["features"]] == [f["id"] for f in utc.get_json()["features"]]
    assert body["numberMatched"] > night.get_json()["numberMatched"]
    props = [f["properties"] for f in body["features"]]
    assert all(p["status"] == "active" and p["open"] is True for p in props)
    alone = client.get(f"{LISTING}?open_for_min=30")
    assert alone.status_code == 400 and alone.get_json()["param"] == "open_for_min"
    active = conn.execute("SELECT count(*) FROM stations WHERE status = 'active'").fetchone()[0]
    assert body["numberMatched"] < active


# --- planning ------------------------------------------------------------------------

GAPS = "/api/v1/coverage/gaps"
SUGGEST = "/api/v1/coverage/suggest"
SMALL_BBOX = [112.55, 37.85, 112.57, 37.87]  # about 2 × 2 km of central Taiyuan


def test_radius_defaults_to_1000_and_takes_1_to_50000(client, planner):
    """`radius_m` (default 1000; 1–50,000)."""
    area = {"bbox": SMALL_BBOX}
    default = client.post(GAPS, json=area, headers=planner)
    explicit = client.post(GAPS, json={**area, "radius_m": 1000}, headers=planner)
    other = client.post(GAPS, json={**area, "radius_m": 300}, headers=planner)
    assert default.status_code == explicit.status_code == other.status_code == 200
    assert default.get_json() == explicit.get_json() != other.get_json()
    for radius in (1, 50_000):
        response = client.post(GAPS, json={**area, "radius_m": radius}, headers=planner)
        assert response.status_code == 200, (radius, response.get_json())
    for radius in (0.5, 50_001):
        response = client.post(GAPS, json={**area, "radius_m": radius}, headers=planner)
        assert response.status_code == 400 and response.get_json()["param"] == "radius_m"


def test_at_without_offset_is_beijing_time(client, planner):
    """`at` is ISO 8601; no offset means Beijing time."""
    area = {"district": "140106"}
    local = client.post(GAPS, json={**area, "at": "2025-11-19T22:00"}, headers=planner)
    beijing = client.post(GAPS, json={**area, "at": "2025-11-19T22:00+08:00"}, headers=planner)
    utc = client.post(GAPS, json={**area, "at": "2025-11-19T22:00Z"}, headers=planner)
    assert local.status_code == beijing.status_code == utc.status_code == 200
    assert local.get_json() == beijing.get_json()
    # 22:00 UTC is 06:00 in Beijing: another set of stations is open
    assert local.get_json()["stations_counted"] != utc.get_json()["stations_counted"]


def test_an_area_may_span_25_degrees_and_no_more(client, planner):
    """An area may span at most 25° (a province)."""
    for bbox in ([100.0, 30.0, 125.0, 30.5], [110.0, 20.0, 110.5, 45.0]):
        response = client.post(GAPS, json={"bbox": bbox, "radius_m": 1000}, headers=planner)
        assert response.status_code == 200, (bbox, response.get_json())
    for bbox in ([100.0, 30.0, 125.1, 30.5], [110.0, 20.0, 110.5, 45.1]):
        response = client.post(GAPS, json={"bbox": bbox, "radius_m": 1000}, headers=planner)
        assert response.status_code == 400 and response.get_json()["param"] == "bbox"
        assert "25" in response.get_json()["detail"]


def _circle(vertices: int) -> dict:
    """A convex polygon of ``vertices`` distinct corners around central Taiyuan."""
    ring = [
        [
            112.56 + 0.02 * math.cos(2 * math.pi * i / vertices),
            37.86 + 0.02 * math.sin(2 * math.pi * i / vertices),
        ]
        for i in range(vertices)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def test_a_polygon_may_have_20000_positions_and_no_more(client, planner):
    """A polygon of 20,000 positions (19,999 corners and the closing one) is analysed;
    one of 20,001 is refused naming geometry."""
    most = client.post(GAPS, json={"geometry": _circle(19_999)}, headers=planner)
    assert most.status_code == 200, most.get_json()
    more = client.post(GAPS, json={"geometry": _circle(20_000)}, headers=planner)
    assert more.status_code == 400 and more.get_json()["param"] == "geometry"
    assert "20,000" in more.get_json()["detail"]


def test_suggest_takes_a_count_up_to_1000(client, planner):
    """`count` ≤ 1000; fewer come back when nothing more can be covered."""
    body = {"bbox": SMALL_BBOX, "count": 1000}
    response = client.post(SUGGEST, json=body, headers=planner)
    assert response.status_code == 200, response.get_json()
    sites = response.get_json()["sites"]["features"]
    assert 0 < len(sites) < 1000  # a 2 km square runs out of uncovered demand first
    assert [s["properties"]["rank"] for s in sites] == list(range(1, len(sites) + 1))
    refused = client.post(SUGGEST, json={**body, "count": 1001}, headers=planner)
    assert refused.status_code == 400 and refused.get_json()["param"] == "count"


def _points(lon: float, lat: float, n: int) -> dict:
    point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}}
    return {"type": "FeatureCollection", "features": [point] * n}


def _empty_corner(conn) -> tuple[float, float]:
    """A point of Shanxi with no demand point within 3 km."""
    row = conn.execute(
        """SELECT ST_X(p), ST_Y(p) FROM (
             SELECT ST_PointOnSurface(geom) p FROM districts WHERE code LIKE '14%%'
           ) d
           WHERE NOT EXISTS (SELECT 1 FROM demand_points w
                             WHERE ST_DWithin(w.geom::geography, d.p::geography, 3000))
           LIMIT 1"""
    ).fetchone()
    assert row is not None
    return row


def test_suggest_takes_up_to_100000_candidates(client, planner, conn):
    """`candidates`, a FeatureCollection of up to 100,000 points."""
    lon, lat = _empty_corner(conn)
    area = {"bbox": [lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01], "radius_m": 100, "count": 1}
    most = client.post(
        SUGGEST, json={**area, "candidates": _points(lon, lat, 100_000)}, headers=planner
    )
    assert most.status_code == 200, most.get_json()
    more = client.post(
        SUGGEST, json={**area, "candidates": _points(lon, lat, 100_001)}, headers=planner
    )
    assert more.status_code == 400 and more.get_json()["param"] == "candidates"
    assert "100,000" in more.get_json()["detail"]


def test_suggest_refuses_more_than_20_million_pairs(client, planner, conn):
    """Candidates that would reach more than 20 million (site, worker) pairs: 400."""
    # a point whose 5 km reaches at least 250 workers: 100,000 candidates there reach
    # at least 25 million pairs
    lon, lat, reached = conn.execute(
        """SELECT ST_X(c.geom), ST_Y(c.geom), count(*) FROM stations c
           JOIN demand_points w ON w.geom && ST_Expand(c.geom, 0.07)
             AND ST_DWithin(w.geom::geography, c.geom::geography, 4900)
           GROUP BY c.id ORDER BY count(*) DESC LIMIT 1"""
    ).fetchone()
    assert reached >= 250
    body = {  # demand counts inside the area: the area holds the whole 5 km circle
        "bbox": [lon - 0.08, lat - 0.06, lon + 0.08, lat + 0.06],
        "radius_m": 5000,
        "count": 1,
        "candidates": _points(lon, lat, 100_000),
    }
    response = client.post(SUGGEST, json=body, headers=planner)
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert response.get_json()["param"] == "candidates"
    assert "20,000,000" in response.get_json()["detail"]


# --- tokens and roles ----------------------------------------------------------------


def test_planner_endpoints_need_the_planner_role_and_union_editor_do_not_have_it(
    client, tokens_by_role
):
    """Planner endpoints need `planner`; `union` and `editor` tokens get 403 problem+json
    with no data, on each of the four."""
    bodies = {
        "gaps": {"district": "140106"},
        "hourly": {"district": "140106", "date": "2025-11-19"},
        "suggest": {"district": "140106", "count": 1},
        "access": {"district": "140106"},
    }
    for route, body in bodies.items():
        for role in ("union", "editor"):
            headers = {"Authorization": f"Bearer {tokens_by_role[role]}"}
            response = client.post(f"/api/v1/coverage/{route}", json=body, headers=headers)
            assert response.status_code == 403 and response.mimetype == PROBLEM, (route, role)
            assert set(response.get_json()) == {"type", "title", "status", "detail", "instance"}
        planner = {"Authorization": f"Bearer {tokens_by_role['planner']}"}
        ok = client.post(f"/api/v1/coverage/{route}", json=body, headers=planner)
        assert ok.status_code == 200, route


def test_every_response_carries_nosniff_and_a_referrer_policy(client, planner):
    """Every response (API, page, error, planner) carries both headers."""
    answers = [
        client.get("/api/v1/amenities"),
        client.get("/planner"),
        client.get("/api/v1/stations/999999999"),
        client.get("/healthz"),
        client.post(GAPS, json={"district": "140106"}),
        client.post(GAPS, json={"district": "140106"}, headers=planner),
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 200, 401, 200]
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"]


def _raw(port: int, request: bytes) -> bytes:
    """Send ``request`` by hand (a body announced and never sent); the answer's head."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def test_404_and_405_are_answered_without_waiting_for_the_body(database_url):
    """A call that gets 404 or 405 never waits on its body: a body announced and never
    sent is answered before the body timeout would end it (408)."""
    env = {"DATABASE_URL": database_url, "STATIONS_BODY_TIMEOUT_S": "600"}
    with serving(env) as (url, _log):
        port = int(url.rsplit(":", 1)[1])
        head = b"Content-Type: application/json\r\nContent-Length: 9999\r\nHost: t\r\n\r\n{"
        missing = _raw(port, b"POST /api/v1/nothing-here HTTP/1.1\r\n" + head)
        assert missing.startswith(b"HTTP/1.1 404 "), missing[:200]
        wrong_method = _raw(port, b"PUT /api/v1/amenities HTTP/1.1\r\n" + head)
        assert wrong_method.startswith(b"HTTP/1.1 405 "), wrong_method[:200]
        assert PROBLEM.encode() in missing and PROBLEM.encode() in wrong_method


def test_the_served_log_has_one_line_per_request_without_query_or_token(
    database_url, tokens_by_role
):
    """One JSON line per request with the README's fields; no query string, no token,
    no granian access log."""
    token = tokens_by_role["planner"]
    with serving({"DATABASE_URL": database_url}) as (url, log):
        http = HttpClient(url)
        near = http.get("/api/v1/stations/nearest?lat=37.8712&lon=112.5489")
        gaps = http.post(
            "/api/v1/coverage/gaps?secret=q1w2e3",
            json={"district": "140106"},
            headers={"Authorization": f"Bearer {token}"},
        )
        # the planner's query takes only lang: the unknown one is refused, and its value
        # still never reaches the log
        assert near.status_code == 200 and gaps.status_code == 400
    text = "".join(log)
    for secret in ("37.8712", "112.5489", "q1w2e3", token, token[4:]):
        assert secret not in text, secret
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    ours = [x for x in lines if x["route"] != "/api/v1/amenities"]  # the readiness probe
    assert [(x["method"], x["route"], x["status"]) for x in ours] == [
        ("GET", "/api/v1/stations/nearest", 200),
        ("POST", "/api/v1/coverage/gaps", 400),
    ]
    for line in ours:
        assert set(line) == {"time", "method", "route", "status", "duration_ms", "bytes"}
        assert line["bytes"] > 0
    # granian's own access log, which would carry the query, stays off
    assert "GET /api/v1/stations/nearest" not in text


# --- the planner map -----------------------------------------------------------------


def _cookie(response) -> str:
    return response.headers["Set-Cookie"].split(";", 1)[0]


def test_the_session_cookie_lasts_eight_hours_and_holds_no_token(client, tokens_by_role):
    """HttpOnly, SameSite=Lax, eight hours from signing in; the token is not in it."""
    token = tokens_by_role["planner"]
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signed = client.post("/planner/sign-in", data={"token": token})
    after = dt.datetime.now(dt.UTC)
    assert signed.status_code == 303
    cookie = signed.headers["Set-Cookie"]
    expires = re.search(r"Expires=([^;]+)", cookie)
    assert expires, cookie
    ends = email.utils.parsedate_to_datetime(expires[1])
    assert before + dt.timedelta(hours=8) <= ends <= after + dt.timedelta(hours=8)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert token not in cookie and token[4:] not in cookie


def test_sign_out_refuses_another_site_and_a_copied_cookie_lives_on(app, tokens_by_role):
    """Sign-out refuses a post from another site; signing out clears the browser's cookie,
    while a copy taken earlier stays valid (sessions are not stored server-side)."""
    browser = app.test_client()
    signed = browser.post("/planner/sign-in", data={"token": tokens_by_role["planner"]})
    assert signed.status_code == 303
    copy = _cookie(signed)
    forged = browser.post("/planner/sign-out", headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and forged.mimetype == PROBLEM
    assert browser.post(GAPS, json={"district": "140106"}).status_code == 200  # still in
    out = browser.post("/planner/sign-out", headers={"Origin": "http://localhost"})
    assert out.status_code == 303
    cleared = out.headers["Set-Cookie"]
    assert "Expires=Thu, 01 Jan 1970" in cleared or "Max-Age=0" in cleared
    assert browser.post(GAPS, json={"district": "140106"}).status_code == 401
    thief = app.test_client()
    name, value = copy.split("=", 1)
    thief.set_cookie(name, value)
    taken = thief.post(GAPS, json={"district": "140106"})
    assert taken.status_code == 200


def test_the_planner_map_defaults_to_taiyuan(client, tokens_by_role):
    """The map shows an area given as `?district=`, by default Taiyuan 140100."""
    client.post("/planner/sign-in", data={"token": tokens_by_role["planner"]})
    page = client.get("/planner")
    chosen = client.get("/planner?district=140106")
    assert page.status_code == chosen.status_code == 200

    def config(response) -> dict:
        html = response.get_data(as_text=True)
        block = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
        assert block, html[:500]
        return json.loads(block[1])

    assert config(page)["district"] == "140100" and config(page)["label"].startswith("太原市")
    assert config(chosen)["district"] == "140106"


def _planner_page(client, tokens_by_role, query: str = ""):
    client.post("/planner/sign-in", data={"token": tokens_by_role["planner"]})
    page = client.get(f"/planner{query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    block = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert block, html[:500]
    return html, json.loads(block[1])


def test_the_planner_map_uses_vendored_leaflet_heat_and_no_cdn(client, tokens_by_role):
    """The same vendored Leaflet plus Leaflet.heat, and no CDN: every script and
    stylesheet comes from the app and is served."""
    html, _config = _planner_page(client, tokens_by_role)
    sources = re.findall(r'<script[^>]+src="([^"]+)"', html)
    sheets = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', html)
    assert any("leaflet-heat.js" in s for s in sources), sources
    assert any(s.endswith("leaflet.js") or "leaflet.js?" in s for s in sources), sources
    for link in sources + sheets:
        assert link.startswith("/"), link  # the app's own, no CDN
        served = client.get(link)
        served.close()  # a file response: let go of the file
        assert served.status_code == 200, link


def test_the_planner_map_shows_no_background_with_amap_tiles(client, tokens_by_role, monkeypatch):
    """With STATIONS_MAP_TILES=amap (GCJ-02) the planner map gets no tiles."""
    from web import map_tiles

    map_tiles._tiles.cache_clear()
    monkeypatch.setenv("STATIONS_MAP_TILES", "amap")
    try:
        _html, amap = _planner_page(client, tokens_by_role)
        assert amap["tiles"] == []
        monkeypatch.setenv("STATIONS_MAP_TILES", "osm")
        map_tiles._tiles.cache_clear()
        _html, osm = _planner_page(client, tokens_by_role)
        assert osm["tiles"] and all(t.startswith("http") for t in osm["tiles"])
    finally:
        map_tiles._tiles.cache_clear()


# --- editing -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edit_db(database_url: str) -> Iterator[str]:
    """The demo data in a database of these tests' own: they write."""
    return demo_database("stations_edit_promises_test", database_url)


@pytest.fixture(scope="module")
def edit_app(edit_db: str):
    application = app_for(edit_db)
    yield application
    close_pool(application)


@pytest.fixture(scope="module")
def editor(edit_db: str) -> dict[str, str]:
    with db.connect(edit_db) as conn:
        token = tokens.create(conn, ["editor"], "承诺测试编辑")[1]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def spot(edit_db: str) -> tuple[float, float]:
    """A point well inside 小店区 (140105)."""
    with db.connect(edit_db) as conn:
        return conn.execute(
            "SELECT round(ST_X(p)::numeric, 6)::float, round(ST_Y(p)::numeric, 6)::float "
            "FROM (SELECT ST_PointOnSurface(geom) p FROM districts WHERE code = '140105') d"
        ).fetchone()


_SERIAL = iter(range(1, 10**6))


def _station(spot: tuple[float, float], **changes) -> dict:
    n = next(_SERIAL)
    body = {
        "code": f"PR-{n:04d}",
        "name": f"承诺测试驿站{n}",
        "lon": round(spot[0] + n * 0.001, 6),
        "lat": spot[1],
        "host_type": "community",
        "built_by": "union",
        "level": "district",
        "opening_hours": "Mo-Su 08:00-20:00",
        "amenities": ["drinking_water"],
    }
    body.update(changes)
    return body


def test_if_match_star_overwrites_whatever_is_stored(edit_app, editor, spot):
    """`If-Match: *` overwrites whatever is stored, on purpose (here over a stale tag)."""
    api = edit_app.test_client()
    made = api.post(LISTING, json=_station(spot), headers=editor)
    assert made.status_code == 201
    url = f"{LISTING}/{made.get_json()['id']}"
    first_tag = made.headers["ETag"]
    moved_on = api.patch(url, json={"contact": "0351-1"}, headers={**editor, "If-Match": first_tag})
    assert moved_on.status_code == 200
    stale = api.patch(url, json={"contact": "0351-2"}, headers={**editor, "If-Match": first_tag})
    assert stale.status_code == 412
    star = api.patch(url, json={"contact": "0351-3"}, headers={**editor, "If-Match": "*"})
    assert star.status_code == 200 and star.get_json()["properties"]["contact"] == "0351-3"
    station_id = made.get_json()["id"]
    assert star.headers["ETag"] == f'"{station_id}.3"'
    closed = api.delete(url, headers={**editor, "If-Match": "*"})
    assert closed.status_code == 200 and closed.get_json()["properties"]["status"] == "closed"


def test_no_second_station_of_that_name_within_25_m(edit_app, editor, spot):
    """No second station of that name within 25 m: 23 m refused, 27 m accepted."""
    api = edit_app.test_client()
    first = _station(spot)
    assert api.post(LISTING, json=first, headers=editor).status_code == 201
    metre_lon = 1 / (111_320 * math.cos(math.radians(first["lat"])))
    near = {**first, "code": first["code"] + "N", "lon": round(first["lon"] + 23 * metre_lon, 7)}
    refused = api.post(LISTING, json=near, headers=editor)
    assert refused.status_code == 422 and "already exists" in refused.get_json()["detail"]
    far = {**first, "code": first["code"] + "F", "lon": round(first["lon"] + 27 * metre_lon, 7)}
    assert api.post(LISTING, json=far, headers=editor).status_code == 201


def _feature(row: dict) -> dict:
    properties = {k: v for k, v in row.items() if k not in ("lon", "lat")}
    properties["amenities"] = ";".join(properties["amenities"])
    properties["district_code"] = "140105"  # a file names its district
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
        "properties": properties,
    }


def test_import_takes_a_geojson_body_and_names_value_and_reason_of_bad_rows(
    edit_app, editor, spot, edit_db
):
    """Import takes `application/geo+json` as the body; a bad row is 422 with `row`,
    `field`, `value` and `reason`, and nothing is imported."""
    api = edit_app.test_client()
    rows = [_station(spot) for _ in range(2)]
    collection = {"type": "FeatureCollection", "features": [_feature(r) for r in rows]}
    bad = json.loads(json.dumps(collection))
    bad["features"][1]["properties"]["opening_hours"] = "sometimes"

    def count() -> int:
        with db.connect(edit_db) as conn:
            return conn.execute("SELECT count(*) FROM stations").fetchone()[0]

    before = count()
    refused = api.post(
        f"{LISTING}/import",
        data=json.dumps(bad),
        content_type="application/geo+json",
        headers={**editor, "If-Match": "*"},
    )
    assert refused.status_code == 422 and refused.mimetype == PROBLEM, refused.get_json()
    (problem,) = refused.get_json()["rows"]
    assert problem["field"] == "opening_hours" and problem["value"] == "sometimes"
    assert problem["reason"] and problem["row"] == 2
    assert count() == before
    imported = api.post(
        f"{LISTING}/import",
        data=json.dumps(collection),
        content_type="application/geo+json",
        headers={**editor, "If-Match": "*"},
    )
    assert imported.status_code == 200, imported.get_json()
    assert imported.get_json()["inserted"] == 2 and count() == before + 2


def test_location_and_links_of_a_served_create_use_the_public_url(edit_db, editor, spot):
    """201 with `Location` built from STATIONS_PUBLIC_URL, never from the Host header."""
    env = {"DATABASE_URL": edit_db, "STATIONS_PUBLIC_URL": "https://yizhan.example.cn"}
    with serving(env) as (url, _log):
        http = HttpClient(url)
        made = http.post(LISTING, json=_station(spot), headers={**editor, "Host": "evil.example"})
        assert made.status_code == 201, made.get_json()
        station_id = made.get_json()["id"]
        assert made.headers["Location"] == f"https://yizhan.example.cn/api/v1/stations/{station_id}"
        assert made.headers["ETag"] == f'"{station_id}.1"'


def test_half_the_threads_read_bodies_at_once(database_url):
    """With the default 4 threads, 2 stalled bodies are read (and answered 408); the 3rd
    gets 503 with `Retry-After: 5` at once, without a reader."""
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "BODY_TIMEOUT_S": 0.05})
    bodies = [NeverSent() for _ in range(3)]
    answers = []
    try:
        client = app.test_client()
        for body in bodies:
            answers.append(
                client.post(
                    "/planner/sign-in",
                    input_stream=body,
                    environ_overrides={"CONTENT_LENGTH": "100"},
                    content_type="application/x-www-form-urlencoded",
                    buffered=False,  # a 408's request ends only when its client goes
                )
            )
        assert [a.status_code for a in answers] == [408, 408, 503]
        assert answers[-1].mimetype == PROBLEM and answers[-1].headers["Retry-After"] == "5"
    finally:
        for body in bodies:
            body.gone.set()
        for answer in answers:
            answer.close()
        close_pool(app)


def test_six_stalled_sign_in_bodies_do_not_stop_a_served_workers_searches(database_url):
    """Six clients that announce a sign-in body, send none and stay connected: half the
    worker's 4 threads read bodies, so two get 408 and hold their thread until they go,
    the other four get 503 at once, and searches go on. Once they hang up, sign-in
    bodies are read again."""
    env = {"DATABASE_URL": database_url, "STATIONS_BODY_TIMEOUT_S": "1"}
    head = (
        b"POST /planner/sign-in HTTP/1.1\r\nHost: t\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 999\r\n\r\n"
    )
    stalled: list[socket.socket] = []
    with serving(env) as (url, _log):
        port = int(url.rsplit(":", 1)[1])
        try:
            answers = []
            for _ in range(6):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(head + b"token=")
                stalled.append(sock)
                try:
                    answers.append(sock.recv(4096)[:12])
                except TimeoutError:
                    answers.append(b"no answer")
            assert answers == [b"HTTP/1.1 408"] * 2 + [b"HTTP/1.1 503"] * 4
            for _ in range(3):
                search = HttpClient(url).get("/api/v1/stations/nearest?lat=37.87&lon=112.55")
                assert search.status_code == 200
        finally:
            for sock in stalled:
                with contextlib.suppress(OSError):
                    sock.close()
        deadline = time.monotonic() + 30
        while True:  # the held threads come back as the closes reach the worker
            answer = HttpClient(url).post(
                "/planner/sign-in",
                data="token=wrong",
                content_type="application/x-www-form-urlencoded",
            )
            if answer.status_code != 503:
                break
            assert time.monotonic() < deadline, "sign-in bodies are still refused"
            time.sleep(0.1)
        assert answer.status_code == 401, answer.data[:300]  # its body was read: a wrong token
        assert "令牌无效" in answer.data.decode()


def test_headers_that_never_finish_are_dropped_by_the_served_app(database_url):
    """Headers must arrive within 30 s (granian's header read timeout): a client that
    sends half a request head is not held on to for ever."""
    with serving({"DATABASE_URL": database_url}) as (url, _log):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(b"GET /api/v1/amenities HTTP/1.1\r\nHost: t\r\n")  # no blank line
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                answer = b"still held after 60 s"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def _declaring(part: str, size: int) -> bytes:
    """A small valid XLSX whose zip directory says ``part`` unpacks to ``size`` bytes."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["code", "name"])
    book.active.append(["X-1", "一"])
    data = io.BytesIO()
    book.save(data)
    if part.endswith("sharedStrings.xml"):  # openpyxl wrote the strings inline: add one
        with zipfile.ZipFile(data, "a") as archive:
            archive.writestr(
                part, '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
            )
    raw = bytearray(data.getvalue())
    at = raw.find(b"PK\x01\x02")  # the central directory, which readers go by
    while at != -1:
        name_length = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46 : at + 46 + name_length] == part.encode():
            struct.pack_into("<I", raw, at + 24, size)
            return bytes(raw)
        at = raw.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"no part {part}")


@pytest.mark.parametrize(
    ("part", "limit"),
    [("xl/worksheets/sheet1.xml", 2 * 1024**3), ("xl/sharedStrings.xml", 512 * 1024**2)],
)
def test_no_xlsx_part_may_unpack_past_2_gb_shared_strings_512_mb(
    client, tokens_by_role, part, limit
):
    """A part that says it unpacks past 2 GB (shared strings: 512 MB) is refused before
    it is read; one that says exactly that much is not refused for its size."""
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    headers = {
        "Authorization": f"Bearer {tokens_by_role['editor']}",
        "If-Match": "*",
        "Accept-Language": "en",
    }
    past = client.post(
        "/api/v1/stations/import?dry_run=true",
        data=_declaring(part, limit + 1),
        content_type=xlsx,
        headers=headers,
    )
    assert past.status_code == 422 and past.mimetype == PROBLEM
    assert f"{part} unpacks to {limit + 1:,} bytes" in past.get_json()["detail"]
    at_limit = client.post(
        "/api/v1/stations/import?dry_run=true",
        data=_declaring(part, limit),
        content_type=xlsx,
        headers=headers,
    )
    assert at_limit.status_code == 422  # the forged size makes the part unreadable
    assert "unpacks to" not in at_limit.get_json()["detail"]
