"""The planner API over HTTP: tokens, roles, sessions, and the same answers as the domain."""

from __future__ import annotations

import json
import math

import pytest

from cli import main
from stations import coverage, db, siting, tokens, zones

PLANNER_ROUTES = [
    ("gaps", {"district": "140106"}),
    ("hourly", {"district": "140106", "date": "2025-11-19"}),
    ("suggest", {"district": "140106", "count": 3}),
    ("fewest", {"district": "140106", "target": 0.9}),
    ("access", {"district": "140100"}),
]


@pytest.mark.parametrize(("route", "body"), PLANNER_ROUTES)
def test_anonymous_calls_get_401_and_no_data(client, route, body):
    response = client.post(f"/api/v1/coverage/{route}", json=body)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json) == {"type", "title", "status", "detail", "instance"}


@pytest.mark.parametrize("role", ["union", "editor"])
def test_other_roles_get_403(client, tokens_by_role, role):
    headers = {"Authorization": f"Bearer {tokens_by_role[role]}"}
    response = client.post("/api/v1/coverage/gaps", json={"district": "140106"}, headers=headers)
    assert response.status_code == 403 and "needs planner" in response.json["detail"]


@pytest.mark.parametrize(
    "header", ["Bearer rst_nonsense", "Bearer ", "Basic dXNlcjpwdw==", "rst_no_scheme"]
)
def test_bad_tokens_get_401(client, header):
    response = client.post(
        "/api/v1/coverage/gaps", json={"district": "140106"}, headers={"Authorization": header}
    )
    assert response.status_code == 401


def test_a_token_with_every_role_works(client, tokens_by_role):
    headers = {"Authorization": f"Bearer {tokens_by_role['all']}"}
    response = client.post("/api/v1/coverage/gaps", json={"district": "140106"}, headers=headers)
    assert response.status_code == 200


def test_gaps_over_http_equal_the_domain_payload(client, planner, conn):
    body = {
        "district": "140106",
        "radius_m": 800,
        "at": "2025-11-19T22:00",
        "amenities": ["toilet"],
    }
    response = client.post("/api/v1/coverage/gaps", json=body, headers=planner)
    assert response.status_code == 200, response.json
    area = coverage.resolve_area(conn, {"district": "140106"})
    from stations import hours

    expected = zones.report_payload(
        coverage.gaps(
            conn,
            area,
            radius_m=800,
            at=hours.parse_instant("2025-11-19T22:00"),
            amenities=["toilet"],
        )
    )
    assert response.json == json.loads(json.dumps(expected))


def test_every_planner_route_answers_its_payload(client, planner):
    answers = {
        route: client.post(f"/api/v1/coverage/{route}", json=body, headers=planner)
        for route, body in PLANNER_ROUTES
    }
    assert all(r.status_code == 200 for r in answers.values()), {
        k: r.json for k, r in answers.items() if r.status_code != 200
    }
    gaps = answers["gaps"].json
    assert {
        "area_km2",
        "covered_km2",
        "gap_km2",
        "coverage_ratio",
        "demand_total",
        "demand_covered",
        "demand_coverage_ratio",
        "stations_counted",
        "gaps",
    } <= set(gaps)
    hours_ = answers["hourly"].json["hours"]
    assert [h["hour"] for h in hours_] == list(range(24))
    assert set(hours_[0]) == {"hour", "coverage_ratio", "demand_coverage_ratio", "stations_open"}
    sites = answers["suggest"].json["sites"]["features"]
    assert len(sites) == 3 and sites[0]["properties"]["rank"] == 1
    assert {"demand_newly_covered", "cumulative_demand_covered"} <= set(sites[0]["properties"])
    districts = answers["access"].json["features"]
    assert len(districts) == 10 and all("score" in d["properties"] for d in districts)


@pytest.mark.parametrize(
    ("route", "body", "param"),
    [
        ("gaps", {"district": "140106", "radius_m": 0}, "radius_m"),
        ("gaps", {"district": "140106", "radius_m": "1000"}, "radius_m"),
        ("gaps", {"district": "140106", "amenities": ["sauna"]}, "amenities"),
        ("gaps", {"district": "140106", "at": "noon"}, "at"),
        ("gaps", {"district": "140106", "colour": "red"}, "colour"),
        ("gaps", {}, "area"),
        ("hourly", {"district": "140106"}, "date"),
        ("hourly", {"district": "140106", "date": "2025-02-30"}, "date"),
        ("suggest", {"district": "140106"}, "count"),
        ("suggest", {"district": "140106", "count": 1001}, "count"),
        ("suggest", {"district": "140106", "count": 2, "candidates": [1, 2]}, "candidates"),
        ("access", {"bbox": [0, 0, 1, 1]}, "area"),
        ("access", {"district": "140106", "decay": "linear"}, "decay"),
    ],
)
def test_bad_bodies_get_400_naming_the_parameter(client, planner, route, body, param):
    response = client.post(f"/api/v1/coverage/{route}", json=body, headers=planner)
    assert response.status_code == 400 and response.json["param"] == param


def test_bodies_must_be_json_objects(client, planner):
    form = client.post("/api/v1/coverage/gaps", data={"district": "140106"}, headers=planner)
    assert form.status_code == 415 and form.mimetype == "application/problem+json"
    array = client.post("/api/v1/coverage/gaps", json=[1, 2], headers=planner)
    assert array.status_code == 400 and array.json["param"] == "body"


def test_sign_in_gives_a_session_that_revoking_ends(client, database_url):
    with db.connect(database_url) as connection:
        record, token = tokens.create(connection, ["planner"], "session test")
    assert client.get("/planner").status_code == 200  # the sign-in form
    refused = client.post("/planner/sign-in", data={"token": "rst_wrong"})
    assert (
        refused.status_code == 401
        and client.post("/api/v1/coverage/gaps", json={"district": "140106"}).status_code == 401
    )
    signed = client.post("/planner/sign-in", data={"token": token})
    assert signed.status_code == 303 and signed.headers["Location"].endswith("/planner")
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and token not in cookie
    assert client.post("/api/v1/coverage/gaps", json={"district": "140106"}).status_code == 200
    with db.connect(database_url) as connection:
        tokens.revoke(connection, record.token_id)
    assert client.post("/api/v1/coverage/gaps", json={"district": "140106"}).status_code == 401


def test_sign_out_ends_the_session(client, tokens_by_role):
    client.post("/planner/sign-in", data={"token": tokens_by_role["planner"]})
    assert client.post("/api/v1/coverage/gaps", json={"district": "140106"}).status_code == 200
    assert client.post("/planner/sign-out").status_code == 303
    assert client.post("/api/v1/coverage/gaps", json={"district": "140106"}).status_code == 401


def test_tokens_are_stored_hashed(conn, tokens_by_role):
    stored = [bytes(r[0]) for r in conn.execute("SELECT token_sha256 FROM api_tokens")]
    for token in tokens_by_role.values():
        assert token.encode() not in stored and all(token.encode() not in s for s in stored)
    found = tokens.authenticate(conn, tokens_by_role["planner"])
    assert found is not None and found.roles == ("planner",)


@pytest.fixture
def run(database_url, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.setenv("DATABASE_URL", database_url)
    return lambda *args: CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_token_commands_create_list_and_revoke(run, client):
    made = run("token", "create", "--role", "planner", "--role", "union", "--owner", "太原规划")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("rst_")
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        client.post(
            "/api/v1/coverage/gaps", json={"district": "140106"}, headers=headers
        ).status_code
        == 200
    )
    listed = run("token", "list").stdout
    line = next(x for x in listed.splitlines() if "太原规划" in x)
    assert "planner,union" in line and token not in listed
    token_id = line.split("\t")[0]
    assert run("token", "revoke", token_id).exit_code == 0
    assert (
        client.post(
            "/api/v1/coverage/gaps", json={"district": "140106"}, headers=headers
        ).status_code
        == 401
    )
    bad = run("token", "revoke", "999999")
    assert bad.exit_code == 1 and "no token" in bad.stderr
    assert run("token", "create", "--role", "king", "--owner", "x").exit_code == 2


def test_the_enhanced_2sfca_weights_nearer_workers_and_says_so(client, planner, run, tmp_path):
    """Gaussian decay: the same districts and demand, other scores; the answer names the
    method; the command line gives the same table."""
    plain = client.post("/api/v1/coverage/access", json={"district": "140100"}, headers=planner)
    body = {"district": "140100", "decay": "gaussian"}
    decayed = client.post("/api/v1/coverage/access", json=body, headers=planner)
    assert plain.status_code == decayed.status_code == 200
    assert plain.json["decay"] == "none" and decayed.json["decay"] == "gaussian"
    before = {f["properties"]["code"]: f["properties"] for f in plain.json["features"]}
    after = {f["properties"]["code"]: f["properties"] for f in decayed.json["features"]}
    assert before.keys() == after.keys()
    assert all(before[c]["demand"] == after[c]["demand"] for c in before)
    assert any(before[c]["score"] != after[c]["score"] for c in before)
    table = tmp_path / "e2sfca.geojson"
    result = run("access", "--district", "140100", "--decay", "gaussian", "--output", str(table))
    assert result.exit_code == 0
    assert json.loads(table.read_text())["features"] == decayed.json["features"]
    zh = client.post("/api/v1/coverage/access", json={**body, "decay": "x"}, headers=planner)
    assert zh.status_code == 400 and zh.json["detail"].startswith("decay 应为以下之一")


def test_planning_commands_write_their_payloads(run, tmp_path):
    hourly = tmp_path / "hourly.json"
    result = run("hourly", "--district", "140106", "--date", "2025-11-19", "--output", str(hourly))
    assert result.exit_code == 0 and len(json.loads(hourly.read_text())["hours"]) == 24
    assert "lowest" in result.stderr
    sites = tmp_path / "sites.json"
    result = run("suggest", "--district", "140106", "--count", "4", "--output", str(sites))
    assert result.exit_code == 0 and len(json.loads(sites.read_text())["sites"]["features"]) == 4
    table = tmp_path / "access.csv"
    assert run("access", "--district", "140100", "--output", str(table)).exit_code == 0
    assert table.read_text(encoding="utf-8-sig").startswith("县区代码,县区,2SFCA")
    geojson = tmp_path / "access.geojson"
    assert run("access", "--district", "140100", "--output", str(geojson)).exit_code == 0
    assert len(json.loads(geojson.read_text())["features"]) == 10
    bad = run("suggest", "--district", "140106", "--count", "0", "--output", str(sites))
    assert bad.exit_code == 2


def _star(vertices: int) -> dict:
    """A valid star polygon around Taiyuan whose lon/lat edges cross once projected back."""
    ring = []
    for i in range(vertices):
        angle = 2 * math.pi * i / vertices
        radius = 1.5 if i % 2 else 2.0
        ring.append([112.3 + radius * math.cos(angle), 37.7 + radius * math.sin(angle)])
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"district": "\u0000"}, "district"),
        ({"district": True}, "district"),
        ({"bbox": [False, False, True, True]}, "bbox"),
        ({"bbox": [70, 10, 140, 55]}, "bbox"),  # wider than a province
        ({"geometry": _star(20_002)}, "geometry"),  # too many vertices
        (
            {
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [
                        [[[112.5, 37.8], [112.6, 37.8], [112.6, 37.9], [112.5, 37.8]]],
                        [],
                    ],
                }
            },
            "geometry",
        ),
        (
            {
                "geometry": {  # all corners on one line: no area
                    "type": "Polygon",
                    "coordinates": [[[112.5, 37.8], [112.6, 37.9], [112.7, 38.0], [112.5, 37.8]]],
                }
            },
            "geometry",
        ),
        (
            {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[["112.5", 37.8], [112.6, 37.8], [112.6, 37.9], [112.5, 37.8]]],
                }
            },
            "geometry",
        ),
    ],
)
def test_hostile_areas_get_400(client, planner, body, param):
    response = client.post("/api/v1/coverage/gaps", json=body, headers=planner)
    assert response.status_code == 400 and response.json["param"] == param


def test_a_polygon_that_turns_invalid_in_lon_lat_still_answers(client, planner):
    response = client.post("/api/v1/coverage/gaps", json={"geometry": _star(4000)}, headers=planner)
    assert response.status_code == 200
    assert response.json["gap_km2"] > 0 and response.json["gaps"]["features"]


def test_suggest_refuses_work_past_the_pair_budget(client, planner, monkeypatch):
    monkeypatch.setattr(siting, "MAX_PAIRS", 1000)
    body = {"district": "140000", "radius_m": 20000, "count": 5}
    response = client.post("/api/v1/coverage/suggest", json=body, headers=planner)
    assert response.status_code == 400 and response.json["param"] == "radius_m"
    assert "过多" in response.json["detail"]
    english = client.post("/api/v1/coverage/suggest?lang=en", json=body, headers=planner)
    assert english.status_code == 400 and "too many" in english.json["detail"]


def test_counted_stations_are_truly_within_the_radius(client, planner, conn):
    body = {"district": "140106", "radius_m": 1000}
    counted = client.post("/api/v1/coverage/gaps", json=body, headers=planner).json
    geodesic = conn.execute(
        """SELECT count(*) FROM stations s, districts d
           WHERE d.code = '140106' AND s.status = 'active'
             AND ST_DWithin(s.geom::geography, d.geom::geography, 1000)"""
    ).fetchone()[0]
    assert abs(counted["stations_counted"] - geodesic) <= 1  # plane vs spheroid at the edge


def test_another_sites_form_cannot_sign_in(client, tokens_by_role):
    form = {"token": tokens_by_role["planner"]}
    refused = client.post("/planner/sign-in", data=form, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert client.post("/api/v1/coverage/gaps", json={"district": "140106"}).status_code == 401
    same = client.post("/planner/sign-in", data=form, headers={"Origin": "http://localhost"})
    assert same.status_code == 303


def test_a_proxys_basic_auth_header_leaves_the_session_alone(client, tokens_by_role):
    client.post("/planner/sign-in", data={"token": tokens_by_role["planner"]})
    response = client.post(
        "/api/v1/coverage/gaps",
        json={"district": "140106"},
        headers={"Authorization": "Basic dXNlcjpwdw=="},
    )
    assert response.status_code == 200


def test_json_like_media_types_and_broken_json_are_refused(client, planner):
    other = client.post(
        "/api/v1/coverage/gaps",
        data='{"district": "140106"}',
        content_type="application/merge-patch+json",
        headers=planner,
    )
    assert other.status_code == 415
    broken = client.post(
        "/api/v1/coverage/gaps", data="{", content_type="application/json", headers=planner
    )
    assert broken.status_code == 400 and "不是有效的 JSON" in broken.json["detail"]
    english = client.post(
        "/api/v1/coverage/gaps?lang=en", data="{", content_type="application/json", headers=planner
    )
    assert english.status_code == 400 and "not valid JSON" in english.json["detail"]


@pytest.mark.parametrize(
    ("query", "words"),
    [("district=火星", "没有代码或名称为 &#39;火星&#39; 的行政区"),
     ("district=城区", "请写代码"),
     ("date=2025-02-30", "date 应为 YYYY-MM-DD 格式的日期"),
     ("radius_m=999999", "radius_m 应为 1 到 50000 之间的数")],
)  # fmt: skip
def test_a_bad_link_to_the_planner_map_is_a_page_in_words(client, tokens_by_role, query, words):
    """Not a raw problem+json page: the mistake in Chinese (English beneath) and a form
    holding what was typed, to put it right."""
    client.post("/sign-in", data={"token": tokens_by_role["planner"]})
    answer = client.get(f"/planner?{query}")
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    text = answer.get_data(as_text=True)
    assert words in text and 'class="pl-error"' in text
    assert 'name="district"' in text and 'name="radius_m"' in text
