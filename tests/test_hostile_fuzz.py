"""Hostile values in every parameter, body member and header of every operation, as
every role: the served app answers 4xx problem+json, never 5xx.

Schemathesis (``test_api_fuzz.py``) generates values that fit the documented schemas;
the 500s users found came from values that do not: numbers of hundreds of digits,
1e308, NaN, lone surrogates (escaped and as raw bytes), NUL, nesting deeper than any
document, megabyte strings. This test draws those with Hypothesis, one to three at a
time, into otherwise valid requests built from the OpenAPI document itself, so a new
parameter or endpoint is covered without touching this file.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import HttpClient, serving

from stations import db, tokens
from stations.demo import demo_database

BIG = int("9" * 400)
RAW_SURROGATE = "\x00RAW-SURROGATE\x00"  # replaced by the bytes ED A0 80 after encoding
HOSTILE: list[Any] = [
    BIG,
    -BIG,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    "NaN",
    "Infinity",
    "1e400",
    "\ud800",
    RAW_SURROGATE,
    "\x00",
    "a\x00b",
    "",
    " ",
    "x" * 200_000,
    "<script>alert(1)</script>",
    "2025-02-30",
    "24:61",
    "-0",
    None,
    True,
    [],
    {},
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    {"type": "Polygon", "coordinates": [[[1e308, 1], [2, 2], [3, "x"]]]},
    "DEEP",  # replaced by 3,000 nested arrays after encoding
]

# the least a request needs to get past the first check, so hostile members reach the
# code behind it; members not listed come from the document's parameter names
BASE_QUERY = {
    "/stations/nearest": {"lat": "37.87", "lon": "112.55"},
    "/subsidy/report": {"programme": "shanxi-construction", "period": "2024"},
}
_SITE = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.56, 37.86]}}
    ],
}
BASE_BODY = {
    "/coverage/gaps": {"district": "140106"},
    "/coverage/hourly": {"district": "140106", "date": "2025-11-19"},
    "/coverage/suggest": {"district": "140106", "count": 2},
    "/coverage/access": {"district": "140106"},
    "/coverage/fewest": {"district": "140106", "target": 0.9},
    "/coverage/print": {"district": "140106"},
    "/plans": {"name": "方案", "district": "140106", "sites": _SITE},
    "/plans/compare": {"plans": [1], "date": "2025-11-19"},
    "/subsidy/what-if": {"programme": "shanxi-construction", "period": "2024"},
    "/stations": {"code": "FZ-1", "name": "驿站", "lon": 112.55, "lat": 37.87},
    "/stations/{station_id}": {"name": "改名"},
}


@pytest.fixture(scope="module")
def fuzz_target(database_url: str) -> Iterator[tuple[HttpClient, dict[str, Any], list]]:
    url = demo_database("stations_hostile_fuzz", database_url)
    with db.connect(url) as conn:
        every = tokens.create(conn, tokens.ROLES, "fuzz, every role")[1]
        single = [tokens.create(conn, [role], f"fuzz {role}")[1] for role in tokens.ROLES]
    # mostly a caller the operation lets in, so the values reach the code behind the check
    who = [*[every] * (len(single) + 1) * 2, *single, None]
    env = {
        "DATABASE_URL": url,
        "STATIONS_RATE_LIMIT_PUBLIC": "off",
        "STATIONS_RATE_LIMIT_PLANNER": "off",
    }
    with serving(env, workers=2) as (base, log):
        client = HttpClient(base)
        spec = client.get("/api/v1/openapi.json").get_json()
        yield client, spec, who
    assert '"status":5' not in log[0], [
        line for line in log[0].splitlines() if '"status":5' in line
    ][:10]


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "patch", "delete")
    ]


def _body_members(spec: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json") or content.get("application/merge-patch+json") or {}
    schema = schema.get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    members = set(schema.get("properties", {}))
    for part in schema.get("allOf", []) + schema.get("oneOf", []) + schema.get("anyOf", []):
        if "$ref" in part:
            part = spec["components"]["schemas"][part["$ref"].rsplit("/", 1)[1]]
        members |= set(part.get("properties", {}))
    return sorted(members)


def _encode(value: Any) -> str:
    """JSON text of ``value`` with the placeholders made hostile (and NaN allowed)."""
    return json.dumps(value, ensure_ascii=True).replace('"DEEP"', "[" * 3000 + "]" * 3000)


def _text(value: Any) -> str:
    """A value as a query string would carry it (8 KB at most: a URL, not a body)."""
    if isinstance(value, str):
        text = value.replace(RAW_SURROGATE, "\udcff")
    else:
        text = _encode(value) if isinstance(value, list | dict) else str(value)
    return text[:8000]


def _header(value: str) -> str:
    """A header value HTTP can carry at all (the server refuses others before the app)."""
    latin = value.encode("utf-8", "surrogatepass").decode("latin-1")[:1000]
    return latin if all(" " <= c <= "~" for c in latin) else 'W/"x", *'


def _request(draw: st.DrawFn, spec: dict[str, Any], who: list) -> dict[str, Any]:
    """One request: an operation, a role, and one to three hostile values in it."""
    method, path, operation = draw(st.sampled_from(_operations(spec)))
    params = [p for p in operation.get("parameters", []) if "name" in p]
    query = dict(BASE_QUERY.get(path, {}))
    headers: dict[str, str] = {}
    # a valid value for each path parameter, unless a hostile one is drawn for it
    path_values = {
        "station_id": "1",
        "collection_id": "stations",
        "feature_id": "1",
        "report_id": "1",
        "plan_id": "1",
    }
    for param in (
        draw(st.lists(st.sampled_from(params), max_size=3, unique_by=str)) if params else []
    ):
        value = _text(draw(st.sampled_from(HOSTILE)))
        if param["in"] == "query":
            query[param["name"]] = value
        elif param["in"] == "path":
            path_values[param["name"]] = value
        elif param["in"] == "header":
            headers[param["name"]] = _header(value)
    if method in ("PATCH", "DELETE") or path == "/stations/import":
        headers.setdefault("If-Match", "*")
    body: bytes | None = None
    members = _body_members(spec, operation)
    if members:
        document = dict(BASE_BODY.get(path, {}))
        for member in draw(st.lists(st.sampled_from([*members, "unknown_member"]), max_size=3)):
            document[member] = draw(st.sampled_from(HOSTILE))
        body = (
            _encode(document).encode().replace(_encode(RAW_SURROGATE).encode(), b'"\xed\xa0\x80"')
        )
    elif path == "/stations/import":
        body = draw(st.sampled_from([b"code,name\nX,\xed\xa0\x80\n", b"\x00" * 100, b"PK\x03\x04"]))
        headers["Content-Type"] = "text/csv"
    token = draw(st.sampled_from(who))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    url_path = path.format(
        **{
            k: urllib.parse.quote(v.encode("utf-8", "surrogatepass"), safe="")
            for k, v in path_values.items()
        }
    )
    encoded = urllib.parse.urlencode(
        {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}
    )
    return {
        "template": path,
        "method": method,
        "path": f"/api/v1{url_path}" + (f"?{encoded}" if encoded else ""),
        "body": body,
        "headers": headers,
    }


def test_no_hostile_value_gets_a_server_error(fuzz_target):
    client, spec, who = fuzz_target
    seen: set[tuple[str, str]] = set()

    @settings(
        max_examples=1000,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        request = _request(data.draw, spec, who)
        answer = client.open(
            request["method"], request["path"], request["body"], request["headers"]
        )
        seen.add((request["method"], request["template"]))
        assert answer.status_code < 500, (
            request["method"],
            request["path"][:300],
            answer.data[:500],
        )
        if answer.status_code >= 400:
            assert answer.mimetype == "application/problem+json", (
                request["path"][:200],
                answer.data[:300],
            )

    one()
    assert seen == {(m, p) for m, p, _ in _operations(spec)}  # every operation was tried
