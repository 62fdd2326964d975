"""No 500 from any input: hostile bodies and parameters get 4xx problem+json.

Each case was a 500 once (numbers of hundreds of digits, nesting deeper than any real
document, NUL and lone surrogates, money past what a float holds) or is its close kin.
"""

from __future__ import annotations

import json

import pytest
from live_server import HttpClient, serving

BIG = "1" + "0" * 400  # an integer no float holds
DEEP = "[" * 600 + "]" * 600
SQUARE = [[[112.5, 37.8], [112.6, 37.8], [112.6, 37.9], [112.5, 37.9], [112.5, 37.8]]]
ANALYSES = ["gaps", "hourly", "suggest", "access"]
BASE = {"district": "140106", "date": "2025-11-19", "count": 3}


@pytest.fixture(scope="module")
def served(database_url):
    """The app as users meet it (granian), limits off: the cases come faster than a person."""
    env = {
        "DATABASE_URL": database_url,
        "STATIONS_RATE_LIMIT_PUBLIC": "off",
        "STATIONS_RATE_LIMIT_PLANNER": "off",
    }
    with serving(env, workers=2) as (base, log):
        yield HttpClient(base)
    assert '"status":500' not in log[0]


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
def test_planner_analyses(served, planner, analysis, case, body):
    response = served.post(
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
def test_nearest_parameters(served, query):
    response = served.get(f"/api/v1/stations/nearest?{query}")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "query", [f"bbox={BIG},37,113,38", f"limit={BIG}", "district=%00", f"open_at={BIG}"]
)
def test_listing_parameters(served, query):
    response = served.get(f"/api/v1/stations?{query}")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("code", ["A\x00B", "\ud800x", "x" * 5000])
def test_station_codes_no_database_can_hold(served, tokens_by_role, code):
    editor = {"Authorization": f"Bearer {tokens_by_role['editor']}"}
    body = {"code": code, "name": "站", "lon": 112.5, "lat": 37.8}
    body |= {"host_type": "community", "built_by": "union", "level": "district"}
    response = served.post(
        "/api/v1/stations", data=json.dumps(body), content_type="application/json",
        headers=editor,
    )  # fmt: skip
    assert response.status_code in (400, 422), response.get_json()


@pytest.mark.parametrize(
    "overrides", [{"amount_cny": 1e306}, {"cap.budget_cny": 1e308}, {"cap.count": int(BIG)}]
)
def test_money_past_what_a_float_holds(served, tokens_by_role, overrides):
    union = {"Authorization": f"Bearer {tokens_by_role['union']}"}
    body = {"programme": "shanxi-construction", "period": "2021", "overrides": overrides}
    response = served.post("/api/v1/subsidy/what-if", json=body, headers=union)
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
def test_a_star_polygon_is_refused_with_where_it_crosses(served, planner, points):
    """It cost 19 s of CPU at 151 points and 12 GB at 5,001 when repaired."""
    response = served.post(
        "/api/v1/coverage/gaps", json={"geometry": _star(points)}, headers=planner
    )
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["param"] == "geometry" and "Self-intersection" in problem["reason"]
    assert "Fix Geometries" in problem["detail"]


def _workbook(tmp_path) -> bytes:
    from openpyxl import Workbook

    from stations.records import FIELD_NAMES

    book = Workbook()
    book.active.append(list(FIELD_NAMES))
    book.active.append(["H-1", "驿站", *[""] * (len(FIELD_NAMES) - 2)])
    path = tmp_path / "ok.xlsx"
    book.save(path)
    return path.read_bytes()


def _rewritten(data: bytes, change) -> bytes:
    """The workbook with each part's XML passed through ``change(name, xml)``."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, change(item.filename, zin.read(item.filename)))
    return out.getvalue()


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>"
)
XXE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _with_doctype(doctype: bytes, entity: bytes):
    def change(name: str, xml: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return xml
        body = xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml
        body = body.replace(b"<v>", b"<v>" + entity, 1) if b"<v>" in body else body
        body = body.replace(b"<t>", b"<t>" + entity, 1)
        return doctype + body

    return change


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("billion laughs", _with_doctype(LAUGHS, b"&lol9;")),
        ("external entity", _with_doctype(XXE, b"&xxe;")),
    ],
)
def test_xml_entities_in_a_sheet_are_refused(served, tokens_by_role, tmp_path, case, change):
    """openpyxl expands entities unless defusedxml is installed; it now is, and required."""
    editor = {"Authorization": f"Bearer {tokens_by_role['editor']}", "If-Match": "*"}
    data = _rewritten(_workbook(tmp_path), change)
    response = served.post(
        "/api/v1/stations/import?dry_run=true",
        data=data,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=editor,
    )
    assert response.status_code == 422, (case, response.get_json())
    assert response.mimetype == "application/problem+json"
    assert "root:" not in json.dumps(response.get_json())  # /etc/passwd never read


def test_a_zip_bomb_is_refused_before_it_is_unpacked(served, tokens_by_role, tmp_path):
    """600 MB of shared strings in a 600 KB upload: openpyxl would hold them all in memory."""
    import io
    import zipfile

    source = _workbook(tmp_path)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(source)) as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item.filename))
        with zout.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            block = b"<si><t>" + b"A" * 1_000_000 + b"</t></si>"
            for _ in range(600):
                part.write(block)
    editor = {"Authorization": f"Bearer {tokens_by_role['editor']}", "If-Match": "*"}
    response = served.post(
        "/api/v1/stations/import?dry_run=true",
        data=out.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={**editor, "Accept-Language": "en"},
    )
    assert response.status_code == 422 and len(out.getvalue()) < 5_000_000
    assert "sharedStrings.xml unpacks to" in response.get_json()["detail"]
