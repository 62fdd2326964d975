"""The editors' API: create, patch, close and import, with ETags, checks and history.

These tests write, so they use a database of their own (the demo data, freshly loaded)
rather than the shared test database other tests count stations in.
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
from conftest import app_for
from live_server import serving
from openpyxl import Workbook

from stations import db, tokens
from stations.demo import demo_database
from stations.records import FIELD_NAMES
from web.pools import close_pool

XIAODIAN, YINGZE = "140105", "140106"
EDITOR = "李华 (小店区总工会)"


@pytest.fixture(scope="module")
def edit_db(database_url: str) -> Iterator[str]:
    return demo_database("stations_edit_test", database_url)


@pytest.fixture(scope="module")
def edit_app(edit_db: str):
    application = app_for(edit_db)
    yield application
    close_pool(application)


@pytest.fixture(scope="module")
def roles(edit_db: str) -> dict[str, dict[str, str]]:
    """Authorization headers per role; the editor's token belongs to ``EDITOR``."""
    with db.connect(edit_db) as conn:
        made = {
            "editor": tokens.create(conn, ["editor"], EDITOR)[1],
            "planner": tokens.create(conn, ["planner"], "a planner")[1],
        }
    return {role: {"Authorization": f"Bearer {t}"} for role, t in made.items()}


@pytest.fixture
def api(edit_app):
    return edit_app.test_client()


@pytest.fixture(scope="module")
def inside(edit_db: str) -> dict[str, tuple[float, float]]:
    """A point well inside 小店区 and one inside 迎泽区."""
    with db.connect(edit_db) as conn:
        rows = conn.execute(
            "SELECT code, ST_X(p), ST_Y(p) FROM (SELECT code, ST_PointOnSurface(geom) p "
            "FROM districts WHERE code IN (%s, %s)) d",
            [XIAODIAN, YINGZE],
        ).fetchall()
    return {code: (round(x, 6), round(y, 6)) for code, x, y in rows}


_SERIAL = iter(range(1, 10**6))


def new_station(inside, **overrides) -> dict:
    lon, lat = inside[XIAODIAN]
    n = next(_SERIAL)
    body = {
        "code": f"ED-{n:04d}",
        "name": f"编辑测试驿站{n}",
        "lon": round(lon + n * 0.0005, 6),
        "lat": lat,
        "opening_hours": "Mo-Su 08:00-20:00",
        "amenities": ["drinking_water", "toilet"],
        "floor_area_m2": 18.5,
        "host_type": "community",
        "built_by": "union",
        "level": "district",
        "has_sign": True,
    }
    body.update(overrides)
    return body


def created(api, roles, inside, **overrides):
    response = api.post(
        "/api/v1/stations", json=new_station(inside, **overrides), headers=roles["editor"]
    )
    assert response.status_code == 201, response.get_json()
    return response


def history(edit_db: str, station_id: int) -> list[tuple[str, str, int]]:
    with db.connect(edit_db) as conn:
        return conn.execute(
            "SELECT action, changed_by, version FROM station_history WHERE station_id = %s "
            "ORDER BY id",
            [station_id],
        ).fetchall()


def with_etag(headers: dict[str, str], etag: str) -> dict[str, str]:
    return {**headers, "If-Match": etag}


# --- create ---------------------------------------------------------------------------


def test_create_returns_the_station_its_location_and_etag(api, roles, inside, edit_db):
    body = new_station(inside)
    response = api.post("/api/v1/stations", json=body, headers=roles["editor"])
    assert response.status_code == 201
    feature = response.get_json()
    assert response.mimetype == "application/geo+json"
    station_id = feature["id"]
    assert response.headers["Location"].endswith(f"/api/v1/stations/{station_id}")
    assert response.headers["ETag"] == f'"{station_id}.1"'
    props = feature["properties"]
    assert props["code"] == body["code"] and props["name"] == body["name"]
    assert props["district"] == {"code": XIAODIAN, "name": "小店区"}  # found from the point
    assert props["floor_area_m2"] == 18.5 and props["has_sign"] is True
    assert props["status"] == "active"
    assert feature["geometry"]["coordinates"] == [body["lon"], body["lat"]]
    got = api.get(f"/api/v1/stations/{station_id}")
    assert got.headers["ETag"] == response.headers["ETag"]
    assert history(edit_db, station_id) == [("create", EDITOR, 1)]


def test_create_takes_a_geojson_point_feature(api, roles, inside):
    body = new_station(inside)
    lon, lat = body.pop("lon"), body.pop("lat")
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}}
    response = api.post(
        "/api/v1/stations",
        data=json.dumps({**feature, "properties": body}),
        content_type="application/geo+json",
        headers=roles["editor"],
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["geometry"]["coordinates"] == [lon, lat]


def test_a_taken_code_is_a_conflict(api, roles, inside):
    first = created(api, roles, inside)
    code = first.get_json()["properties"]["code"]
    again = api.post(
        "/api/v1/stations", json=new_station(inside, code=code), headers=roles["editor"]
    )
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    assert f"id {first.get_json()['id']}" in again.get_json()["detail"]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"name": 5}, "name"),
        ({"lon": "112.5"}, "lon"),
        ({"lon": True}, "lon"),
        ({"floor_area_m2": "20"}, "floor_area_m2"),
        ({"has_sign": "yes"}, "has_sign"),
        ({"amenities": "toilet"}, "amenities"),
        ({"amenities": [1, 2]}, "amenities"),
        ({"amenities": ["toilet;wifi"]}, "amenities"),
        ({"name": None}, "name"),
        ({"colour": "red"}, "colour"),
        ({"version": 3}, "version"),
        ({"district": {"code": XIAODIAN}}, "district"),
        ({"lon": 10**400}, "lon"),
        ({"floor_area_m2": -(10**400)}, "floor_area_m2"),
        ({"status": None}, "status"),
    ],
)
def test_wrong_json_types_are_400_naming_the_field(api, roles, inside, change, param):
    response = api.post(  # the standard encoder: it writes integers of any size
        "/api/v1/stations",
        data=json.dumps(new_station(inside, **change)),
        content_type="application/json",
        headers=roles["editor"],
    )
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["param"] == param


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (
            {"type": "Polygon", "coordinates": [[[112, 37], [113, 37], [113, 38], [112, 37]]]},
            "Point",
        ),
        ({"type": "Point", "coordinates": [112.5]}, "[longitude, latitude]"),
        ({"type": "Point", "coordinates": ["112.5", "37.8"]}, "[longitude, latitude]"),
        ({"type": "Point", "coordinates": [1e400, 37.8]}, "[longitude, latitude]"),
        ("POINT (112.5 37.8)", "Point"),
    ],
)
def test_hostile_geometry_is_refused(api, roles, inside, geometry, message):
    body = new_station(inside)
    del body["lon"], body["lat"]
    feature = {"type": "Feature", "geometry": geometry, "properties": body}
    response = api.post(
        "/api/v1/stations",
        data=json.dumps(feature).replace("Infinity", "1e400"),
        content_type="application/json",
        headers=roles["editor"],
    )
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lon": 10.0, "district_code": XIAODIAN}, "lon"),  # outside China
        ({"lon": 116.4, "lat": 39.9, "district_code": XIAODIAN}, "lon/lat"),  # Beijing
        ({"opening_hours": "Mo-Xx 08:00-20:00"}, "opening_hours"),
        ({"amenities": ["jacuzzi"]}, "amenities"),
        ({"host_type": "palace"}, "host_type"),
        ({"opened_on": "2021-13-01"}, "opened_on"),
        ({"floor_area_m2": -3}, "floor_area_m2"),
        ({"name": "x" * 3000}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"code": "has space"}, "code"),
    ],
)
def test_bad_values_are_422_with_each_field(api, roles, inside, change, field):
    response = api.post(  # as a client would send it
        "/api/v1/stations",
        data=json.dumps(new_station(inside, **change)),
        content_type="application/json",
        headers={**roles["editor"], "Accept-Language": "en-GB,en;q=0.9"},
    )
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert field in [e["field"] for e in problem["errors"]]
    assert "not saved" in problem["detail"]


@pytest.mark.parametrize("missing", ["code", "name", "lon", "host_type", "level"])
def test_a_new_station_without_a_required_field_is_422(api, roles, inside, missing):
    body = new_station(inside, district_code=XIAODIAN)
    del body[missing]
    response = api.post("/api/v1/stations", json=body, headers=roles["editor"])
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == [missing]


def test_a_bad_lang_is_refused_before_anything_is_written(api, roles, inside, edit_db):
    before = _count(edit_db)
    response = api.post(
        "/api/v1/stations?lang=xx", json=new_station(inside), headers=roles["editor"]
    )
    assert response.status_code == 400 and _count(edit_db) == before


def test_a_station_far_from_every_district_is_refused(api, roles, inside):
    response = api.post(
        "/api/v1/stations", json=new_station(inside, lon=100.0, lat=30.0), headers=roles["editor"]
    )
    assert response.status_code == 422
    assert "no county-level district" in response.get_json()["detail"]


def test_a_second_station_at_the_same_place_is_refused(api, roles, inside):
    first = created(api, roles, inside).get_json()
    lon, lat = first["geometry"]["coordinates"]
    twin = new_station(inside, name=first["properties"]["name"], lon=lon, lat=lat)
    response = api.post("/api/v1/stations", json=twin, headers=roles["editor"])
    assert response.status_code == 422
    assert "already exists" in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{", "application/json", 400),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('{"lon": 1' + "0" * 5000 + "}", "application/json", 400),
        ('{"name": "\\ud800lonely"}', "application/json", 400),
        ("code=X", "application/x-www-form-urlencoded", 415),
        ("{}", "text/plain", 415),
    ],
)
def test_malformed_bodies(api, roles, body, content_type, status):
    response = api.post(
        "/api/v1/stations", data=body, content_type=content_type, headers=roles["editor"]
    )
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_only_editors_may_write(api, roles, inside):
    body = new_station(inside)
    anonymous = api.post("/api/v1/stations", json=body)
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert api.post("/api/v1/stations", json=body, headers=roles["planner"]).status_code == 403
    assert api.patch("/api/v1/stations/1", json={}, headers=roles["planner"]).status_code == 403
    assert api.delete("/api/v1/stations/1", headers=roles["planner"]).status_code == 403
    assert api.post("/api/v1/stations/import", headers=roles["planner"]).status_code == 403


# --- patch and close -----------------------------------------------------------------


def test_patch_needs_if_match_and_refuses_a_stale_one(api, roles, inside, edit_db):
    response = created(api, roles, inside)
    station_id, etag = response.get_json()["id"], response.headers["ETag"]
    url = f"/api/v1/stations/{station_id}"
    missing = api.patch(url, json={"name": "新名字"}, headers=roles["editor"])
    assert missing.status_code == 428
    assert "If-Match" in missing.get_json()["detail"]
    ok = api.patch(url, json={"name": "新名字"}, headers=with_etag(roles["editor"], etag))
    assert ok.status_code == 200
    assert ok.headers["ETag"] == f'"{station_id}.2"'
    assert ok.get_json()["properties"]["name"] == "新名字"
    stale = api.patch(url, json={"name": "旧版本"}, headers=with_etag(roles["editor"], etag))
    assert stale.status_code == 412
    assert stale.get_json()["version"] == 2
    weak = api.patch(
        url, json={"name": "弱"}, headers=with_etag(roles["editor"], f'W/"{station_id}.2"')
    )
    assert weak.status_code == 412  # If-Match compares strongly
    other = api.patch(url, json={"name": "别的"}, headers=with_etag(roles["editor"], '"1.2"'))
    assert other.status_code == 412  # another station's tag
    assert api.get(url).get_json()["properties"]["name"] == "新名字"
    assert history(edit_db, station_id) == [("create", EDITOR, 1), ("update", EDITOR, 2)]


def test_bad_hours_are_explained_in_the_editors_language(api, roles, inside):
    body = new_station(inside, opening_hours="周一至周五 8:00-20:00")
    chinese = api.post("/api/v1/stations", json=body, headers=roles["editor"])
    assert chinese.status_code == 422
    problem = chinese.get_json()
    assert problem["detail"].startswith("未保存：opening_hours：营业时间")
    (error,) = problem["errors"]
    assert '可改为："Mo-Fr 08:00-20:00"' in error["reason"] and "reason_zh" not in error
    english = api.post("/api/v1/stations?lang=en", json=body, headers=roles["editor"])
    assert 'write: "Mo-Fr 08:00-20:00"' in english.get_json()["errors"][0]["reason"]
    assert english.get_json()["detail"].startswith("the station was not saved")
    by_header = api.post(
        "/api/v1/stations", json=body, headers={**roles["editor"], "Accept-Language": "en"}
    )
    assert by_header.get_json()["detail"] == english.get_json()["detail"]


def test_saved_hours_come_back_standard_with_notes(api, roles, inside):
    response = created(api, roles, inside, opening_hours="Sa, Su 9:00-12:00")
    props = response.get_json()["properties"]
    assert props["opening_hours"] == "Sa,Su 09:00-12:00"
    assert props["opening_hours_text"] == "周末 09:00–12:00"
    assert [w["code"] for w in response.get_json()["warnings"]] == ["rewritten"]
    url = f"/api/v1/stations/{response.get_json()['id']}?lang=en"
    patched = api.patch(
        url,
        json={"opening_hours": "Mo-Fr 22:00-25:00"},
        headers=with_etag(roles["editor"], response.headers["ETag"]),
    )
    assert patched.status_code == 200
    (warning,) = patched.get_json()["warnings"]
    assert warning["code"] == "past-midnight" and "22:00-01:00" in warning["message"]
    assert "warnings" not in api.get(url).get_json()  # only on the answer to the edit
    again = api.patch(
        url.replace("?lang=en", ""),
        json={"opening_hours": "Sa, Su 09:00-12:00"},
        headers={**with_etag(roles["editor"], patched.headers["ETag"]), "Accept-Language": "en"},
    )
    assert again.get_json()["warnings"][0]["message"].startswith("saved in the standard form")


def test_patch_changes_only_the_given_fields_and_null_clears(api, roles, inside, edit_db):
    response = created(api, roles, inside, address="小店区测试路1号", contact="0351-1")
    before = response.get_json()["properties"]
    url = f"/api/v1/stations/{before['id']}"
    patched = api.patch(
        url,
        data=json.dumps({"address": None, "amenities": ["wifi"], "has_staff": False}),
        content_type="application/merge-patch+json",
        headers=with_etag(roles["editor"], response.headers["ETag"]),
    )
    assert patched.status_code == 200, patched.get_json()
    after = patched.get_json()["properties"]
    assert after["address"] is None and after["has_staff"] is False
    assert [a["code"] for a in after["amenities"]] == ["wifi"]
    unchanged = {k for k in before if before[k] == after[k]}
    assert {"name", "contact", "opening_hours", "floor_area_m2", "code"} <= unchanged
    changes = api.get(f"{url}/history", headers=roles["editor"]).get_json()["history"][-1]
    assert changes["changed_by"] == EDITOR
    assert set(changes["changes"]) == {"address", "amenities", "has_staff"}


def test_a_patch_that_changes_nothing_keeps_the_version(api, roles, inside, edit_db):
    response = created(api, roles, inside)
    feature = response.get_json()
    same = api.patch(
        f"/api/v1/stations/{feature['id']}",
        json={"name": feature["properties"]["name"]},
        headers=with_etag(roles["editor"], response.headers["ETag"]),
    )
    assert same.status_code == 200
    assert same.headers["ETag"] == response.headers["ETag"]
    assert len(history(edit_db, feature["id"])) == 1


def test_moving_a_station_moves_its_district(api, roles, inside):
    response = created(api, roles, inside)
    lon, lat = inside[YINGZE]
    moved = api.patch(
        f"/api/v1/stations/{response.get_json()['id']}",
        json={"lon": lon, "lat": lat},
        headers=with_etag(roles["editor"], response.headers["ETag"]),
    )
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["properties"]["district"]["code"] == YINGZE
    # naming a district that does not hold the point is refused
    wrong = api.patch(
        f"/api/v1/stations/{response.get_json()['id']}",
        json={"district_code": XIAODIAN},
        headers=with_etag(roles["editor"], moved.headers["ETag"]),
    )
    assert wrong.status_code == 422
    assert "outside district" in wrong.get_json()["detail"]


def test_code_cannot_change_and_unknown_stations_are_404(api, roles, inside):
    response = created(api, roles, inside)
    url = f"/api/v1/stations/{response.get_json()['id']}"
    renamed = api.patch(url, json={"code": "OTHER-1"}, headers=with_etag(roles["editor"], "*"))
    assert renamed.status_code == 400 and renamed.get_json()["param"] == "code"
    gone = api.patch("/api/v1/stations/999999999", json={}, headers=with_etag(roles["editor"], "*"))
    assert gone.status_code == 404
    bad = api.patch("/api/v1/stations/abc", json={}, headers=with_etag(roles["editor"], "*"))
    assert bad.status_code == 400


def test_delete_closes_the_station_and_keeps_its_history(api, roles, inside, edit_db):
    response = created(api, roles, inside)
    station_id = response.get_json()["id"]
    url = f"/api/v1/stations/{station_id}"
    assert api.delete(url, headers=roles["editor"]).status_code == 428
    closed = api.delete(url, headers=with_etag(roles["editor"], response.headers["ETag"]))
    assert closed.status_code == 200
    assert closed.get_json()["properties"]["status"] == "closed"
    assert closed.get_json()["properties"]["open"] is False
    assert api.get(url).get_json()["properties"]["status"] == "closed"
    lon, lat = response.get_json()["geometry"]["coordinates"]
    near = api.get(f"/api/v1/stations/nearest?lon={lon}&lat={lat}&open=false&limit=50&within_m=50")
    assert station_id not in [f["id"] for f in near.get_json()["features"]]
    assert history(edit_db, station_id) == [("create", EDITOR, 1), ("update", EDITOR, 2)]


# --- two editors at once ---------------------------------------------------------------


def _send(url: str, method: str, body: dict, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={**headers, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_concurrent_patches_with_one_etag_exactly_one_wins(api, roles, inside, edit_db):
    """Two workers get PATCHes with the same ETag while the row is locked; one lands."""
    response = created(api, roles, inside)
    station_id, etag = response.get_json()["id"], response.headers["ETag"]
    with serving({"DATABASE_URL": edit_db}, workers=2) as (base, _log):
        url = f"{base}/api/v1/stations/{station_id}"
        statuses: dict[str, int] = {}
        with psycopg.connect(db.libpq_url(edit_db)) as holder:
            # hold the row so both requests are inside their transactions at once
            holder.execute("SELECT 1 FROM stations WHERE id = %s FOR UPDATE", [station_id])
            threads = [
                threading.Thread(
                    target=lambda n=name: statuses.__setitem__(
                        n, _send(url, "PATCH", {"name": n}, with_etag(roles["editor"], etag))
                    )
                )
                for name in ("甲编辑的名字", "乙编辑的名字")
            ]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 20
            while _waiting_on_locks(edit_db) < 2:
                assert time.monotonic() < deadline, "the PATCHes never reached the lock"
                time.sleep(0.05)
            holder.commit()
        for thread in threads:
            thread.join(30)
    assert sorted(statuses.values()) == [200, 412]
    winner = next(name for name, status in statuses.items() if status == 200)
    assert api.get(f"/api/v1/stations/{station_id}").get_json()["properties"]["name"] == winner
    assert history(edit_db, station_id) == [("create", EDITOR, 1), ("update", EDITOR, 2)]


def _waiting_on_locks(url: str) -> int:
    with psycopg.connect(db.libpq_url(url), autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).fetchone()[0]


# --- import ----------------------------------------------------------------------------


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    out.write(",".join(FIELD_NAMES) + "\n")
    for row in rows:
        out.write(",".join(str(row.get(f, "")) for f in FIELD_NAMES) + "\n")
    return out.getvalue()


def _rows(inside, n: int, prefix: str) -> list[dict]:
    lon, lat = inside[YINGZE]
    return [
        {
            "code": f"{prefix}-{i}",
            "name": f"{prefix}导入驿站{i}",
            "district_code": YINGZE,
            "lon": round(lon + i * 0.0004, 6),
            "lat": lat,
            "host_type": "community",
            "built_by": "union",
            "level": "district",
            "amenities": "drinking_water;toilet",
        }
        for i in range(n)
    ]


def _registry_etag(api) -> str:
    return api.get("/api/v1/stations?limit=1").headers["ETag"]


def _count(edit_db: str) -> int:
    with db.connect(edit_db) as conn:
        return conn.execute("SELECT count(*) FROM stations").fetchone()[0]


def test_import_a_csv_body(api, roles, inside, edit_db):
    etag = _registry_etag(api)
    before = _count(edit_db)
    response = api.post(
        "/api/v1/stations/import",
        data=_csv(_rows(inside, 3, "IMPA")),
        content_type="text/csv",
        headers=with_etag(roles["editor"], etag),
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "file": "upload.csv",
        "rows": 3,
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
        "dry_run": False,
    }
    assert _count(edit_db) == before + 3
    assert response.headers["ETag"] == _registry_etag(api) != etag
    with db.connect(edit_db) as conn:
        actors = conn.execute(
            "SELECT DISTINCT h.changed_by FROM station_history h JOIN stations s "
            "ON s.id = h.station_id WHERE s.code LIKE 'IMPA-%'"
        ).fetchall()
    assert actors == [(EDITOR,)]


def test_an_import_with_one_bad_row_changes_nothing(api, roles, inside, edit_db):
    rows = _rows(inside, 4, "IMPB")
    rows[2]["lat"] = "0"
    rows[3]["opening_hours"] = "sometimes"
    etag = _registry_etag(api)
    before = _count(edit_db)
    response = api.post(
        "/api/v1/stations/import",
        data={"file": (io.BytesIO(_csv(rows).encode()), "驿站 新增.csv")},
        content_type="multipart/form-data",
        headers=with_etag(roles["editor"], etag),
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert {(p["row"], p["field"]) for p in problem["rows"]} == {
        (4, "lat"),
        (5, "opening_hours"),
    }
    assert "nothing was imported" in problem["detail"]
    assert _count(edit_db) == before and _registry_etag(api) == etag


def test_import_xlsx_dry_run_and_preconditions(api, roles, inside, edit_db):
    book = Workbook()
    sheet = book.active
    sheet.append(list(FIELD_NAMES))
    for row in _rows(inside, 2, "IMPC"):
        sheet.append([row.get(f, "") for f in FIELD_NAMES])
    data = io.BytesIO()
    book.save(data)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    url = "/api/v1/stations/import"
    before = _count(edit_db)
    assert (
        api.post(url, data=data.getvalue(), content_type=xlsx, headers=roles["editor"]).status_code
        == 428
    )
    stale = api.post(
        url,
        data=data.getvalue(),
        content_type=xlsx,
        headers=with_etag(roles["editor"], '"registry.1"'),
    )
    assert stale.status_code == 412
    dry = api.post(
        f"{url}?dry_run=true",
        data=data.getvalue(),
        content_type=xlsx,
        headers=with_etag(roles["editor"], "*"),
    )
    assert dry.status_code == 200 and dry.get_json()["inserted"] == 2
    assert dry.get_json()["dry_run"] is True and _count(edit_db) == before
    real = api.post(
        url, data=data.getvalue(), content_type=xlsx, headers=with_etag(roles["editor"], "*")
    )
    assert real.get_json()["inserted"] == 2 and _count(edit_db) == before + 2
    odd = api.post(
        url, data=b"x", content_type="image/png", headers=with_etag(roles["editor"], "*")
    )
    assert odd.status_code == 415
    junk = api.post(
        url, data=b"PK\x03\x04junk", content_type=xlsx, headers=with_etag(roles["editor"], "*")
    )
    assert junk.status_code == 422


def _upload(url: str, data: bytes, content_type: str, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=data, method="POST", headers={**headers, "Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _sheet_claiming_every_cell(rows: list[dict]) -> bytes:
    """An XLSX of ``rows`` whose <dimension> says A1:XFD1048576 (once 20 minutes of CPU)."""
    import re
    import zipfile

    book = Workbook()
    book.active.append(list(FIELD_NAMES))
    for row in rows:
        book.active.append([row.get(f, "") for f in FIELD_NAMES])
    plain, bomb = io.BytesIO(), io.BytesIO()
    book.save(plain)
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(
                    rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', data
                )
            zout.writestr(item, data)
    return bomb.getvalue()


def test_files_are_read_and_checked_before_the_table_is_locked(roles, inside, edit_db):
    """An editor holds a row (as a PATCH does): broken files are refused at once, without
    waiting for the lock; a good file is read first and only then waits for the editor."""
    truncated = _csv(_rows(inside, 40, "IMPT"))[:-37].encode()  # cut inside the last row
    wrong = _rows(inside, 3, "IMPW")
    wrong[1]["opening_hours"] = "sometimes"
    good = _rows(inside, 2, "IMPL")
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    before = _count(edit_db)
    with serving({"DATABASE_URL": edit_db}, workers=2) as (base, _log):
        url = f"{base}/api/v1/stations/import"
        headers = with_etag(roles["editor"], "*")
        landed: list[tuple[int, dict]] = []
        with psycopg.connect(db.libpq_url(edit_db)) as holder:
            holder.execute("SELECT 1 FROM stations ORDER BY id LIMIT 1 FOR UPDATE")
            for body, rows in ((truncated, {41}), (_csv(wrong).encode(), {3})):
                started = time.monotonic()
                status, problem = _upload(url, body, "text/csv", headers)
                assert status == 422, problem
                assert {r["row"] for r in problem["rows"]} == rows
                assert time.monotonic() - started < 10, "a refused file waited for the lock"
            assert _waiting_on_locks(edit_db) == 0
            thread = threading.Thread(
                target=lambda: landed.append(
                    _upload(url, _sheet_claiming_every_cell(good), xlsx, headers)
                )
            )
            thread.start()
            deadline = time.monotonic() + 30
            while _waiting_on_locks(edit_db) < 1:  # read and checked, now at the lock
                assert time.monotonic() < deadline, "the sheet never reached the lock"
                assert not landed, f"the import did not wait for the editor: {landed}"
                time.sleep(0.05)
            assert _count(edit_db) == before
            holder.commit()
        thread.join(60)
    assert landed and landed[0][0] == 200 and landed[0][1]["inserted"] == 2, landed
    assert _count(edit_db) == before + 2
