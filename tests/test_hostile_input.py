"""No 500 from any input: hostile bodies and parameters get 4xx problem+json.

Each case was a 500 once (numbers of hundreds of digits, nesting deeper than any real
document, NUL and lone surrogates, money past what a float holds) or is its close kin.
"""

from __future__ import annotations

import json

import pytest

BIG = "1" + "0" * 400  # an integer no float holds
DEEP = "[" * 600 + "]" * 600
SQUARE = [[[112.5, 37.8], [112.6, 37.8], [112.6, 37.9], [112.5, 37.9], [112.5, 37.8]]]
ANALYSES = ["gaps", "hourly", "suggest", "access"]
BASE = {"district": "140106", "date": "2025-11-19", "count": 3}


def _bodies() -> list[tuple[str, bytes]]:
    bodies = [
        ("radius of 400 digits", json.dumps({**BASE, "radius_m": "X"}).replace('"X"', BIG)),
        (
            "bbox of 400 digits",
            json.dumps({**BASE, "bbox": ["X", 37, 113, 38]}).replace('"X"', BIG),
        ),  # fmt: skip
        ("nested 600 deep", '{"geometry": {"type": "Polygon", "coordinates": ' + DEEP + "}}"),
        ("radius 1e308", json.dumps({**BASE, "radius_m": 1e308})),
        ("escaped lone surrogate", '{"district": "\\ud800"}'),
        ("raw surrogate bytes", b'{"district": "\xed\xa0\x80"}'),
        ("at of 400 digits", json.dumps({**BASE, "at": BIG})),
        (
            "polygon with NaN",
            '{"geometry": {"type": "Polygon", "coordinates": '
            "[[[NaN, 37], [113, 37], [113, 38], [NaN, 37]]]}}",
        ),  # fmt: skip
        ("NUL in a name", json.dumps({**BASE, "district": "城\u0000区"})),
    ]
    return [(name, body if isinstance(body, bytes) else body.encode()) for name, body in bodies]


@pytest.mark.parametrize("analysis", ANALYSES)
@pytest.mark.parametrize(("case", "body"), _bodies())
def test_planner_analyses(client, planner, analysis, case, body):
    response = client.post(
        f"/api/v1/coverage/{analysis}", data=body, content_type="application/json",
        headers=planner,
    )  # fmt: skip
    assert 400 <= response.status_code < 500, (case, response.get_json())
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        f"lat={BIG}&lon=112",
        f"lat=37&lon=112&within_m={BIG}",
        f"lat=37&lon=112&limit={BIG}",
        f"lat=37&lon=112&open_for_min={BIG}",
        "lat=37&lon=112&at=%00",
        "lat=37&lon=112&amenities=%ED%A0%80",
    ],
)
def test_nearest_parameters(client, query):
    response = client.get(f"/api/v1/stations/nearest?{query}")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "query", [f"bbox={BIG},37,113,38", f"limit={BIG}", "district=%00", f"open_at={BIG}"]
)
def test_listing_parameters(client, query):
    response = client.get(f"/api/v1/stations?{query}")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("code", ["A\x00B", "\ud800x", "x" * 5000])
def test_station_codes_no_database_can_hold(client, tokens_by_role, code):
    editor = {"Authorization": f"Bearer {tokens_by_role['editor']}"}
    body = {"code": code, "name": "站", "lon": 112.5, "lat": 37.8}
    body |= {"host_type": "community", "built_by": "union", "level": "district"}
    response = client.post(
        "/api/v1/stations", data=json.dumps(body), content_type="application/json",
        headers=editor,
    )  # fmt: skip
    assert response.status_code in (400, 422), response.get_json()


@pytest.mark.parametrize(
    "overrides", [{"amount_cny": 1e306}, {"cap.budget_cny": 1e308}, {"cap.count": int(BIG)}]
)
def test_money_past_what_a_float_holds(client, tokens_by_role, overrides):
    union = {"Authorization": f"Bearer {tokens_by_role['union']}"}
    body = {"programme": "shanxi-construction", "period": "2021", "overrides": overrides}
    response = client.post("/api/v1/subsidy/what-if", json=body, headers=union)
    assert response.status_code in (400, 422), response.get_json()
    assert response.mimetype == "application/problem+json"


def _star(points: int) -> dict:
    """A self-intersecting star around Taiyuan: every edge crosses many others."""
    import math

    ring = [
        [112.55 + 0.1 * math.cos(4 * math.pi * i / points),
         37.87 + 0.1 * math.sin(4 * math.pi * i / points)]
        for i in range(points)
    ]  # fmt: skip
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


@pytest.mark.parametrize("points", [151, 5001])
def test_a_star_polygon_is_refused_with_where_it_crosses(client, planner, points):
    """It cost 19 s of CPU at 151 points and 12 GB at 5,001 when repaired."""
    response = client.post(
        "/api/v1/coverage/gaps", json={"geometry": _star(points)}, headers=planner
    )
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["param"] == "geometry" and "Self-intersection" in problem["reason"]
    assert "Fix Geometries" in problem["detail"]
