"""The OpenAPI document is valid, complete, and true to what the API does."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import jsonschema
import pytest
from openapi_spec_validator import validate

from web.app import create_app
from web.openapi import build_spec

PREFIX = "/api/v1"


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get(f"{PREFIX}/openapi.json").get_json()


def test_document_is_valid_openapi(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_every_api_route_is_in_the_document(app, spec):
    """The document is built from the routes themselves: each one under /api/v1 is in it."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX):
            path = re.sub(r"<(\w+)>", r"{\1}", rule.rule[len(PREFIX) :]) or "/"
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == {(p, m) for p, ops in spec["paths"].items() for m in ops}


def test_a_route_that_declares_nothing_stops_the_document(database_url):
    """A new route without its operation cannot be served undocumented."""
    app = create_app({"DATABASE_URL": database_url})
    app.add_url_rule(f"{PREFIX}/undeclared", "undeclared", lambda: "")
    with app.test_request_context(), pytest.raises(LookupError, match="undeclared"):
        build_spec(app)


def _gets_with_parameters(spec):
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        if op and any(p["in"] == "query" for p in op.get("parameters", ())):
            yield path, op


# a good value of each required query parameter (a new one must be added here)
GOOD = {
    "lat": "37.87",
    "lon": "112.55",
    "bbox": "112.5,37.8,112.6,37.9",
    "q": "小店",
    "programme": "taiyuan-upkeep",
    "period": "2025",
}


def _url(path, op, **extra):
    """``path`` with its path parameters filled with values that exist, and ``extra``."""
    filled = path.replace("{station_id}", "1").replace("{collection_id}", "stations")
    filled = filled.replace("{feature_id}", "1")
    query = op["parameters"]
    required = {
        p["name"]: GOOD[p["name"]] for p in query if p.get("required") and p["in"] == "query"
    }
    return PREFIX + filled + "?" + urlencode({**required, **extra})


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_documented_query_refuses_what_it_does_not_document(app, spec, tokens_by_role, lang):
    """What the document lists is exactly what is checked: an unknown parameter is a 400
    naming it, and so is each required one left out, in the language asked for."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tokens_by_role['all']}", "Accept-Language": lang}
    checked = 0
    for path, op in _gets_with_parameters(spec):
        refused = client.get(_url(path, op, colour="red"), headers=headers)
        assert refused.status_code == 400, (path, refused.get_json())
        body = refused.get_json()
        assert body["param"] == "colour", path
        assert ("不认识的参数" in body["detail"]) == (lang == "zh"), body["detail"]
        for param in op["parameters"]:
            if param.get("required") and param["in"] == "query":
                url = _url(path, op)
                left_out = re.sub(rf"([?&]){param['name']}=[^&]*", r"\1", url)
                missing = client.get(left_out, headers=headers)
                assert missing.status_code == 400 and missing.get_json()["param"] == param["name"]
                assert ("请填写" in missing.get_json()["detail"]) == (lang == "zh")
                checked += 1
    assert checked >= 4  # lat, lon, bbox, q, programme, period


def _check(spec, path, response, status):
    assert response.status_code == status, response.get_json()
    op = spec["paths"][path]["get"]["responses"][str(response.status_code)]
    schema = op["content"][response.mimetype]["schema"]
    # refs point at #/components/schemas/...: validate against a root that carries them
    jsonschema.validate(response.get_json(), {**schema, "components": spec["components"]})


@pytest.mark.parametrize(
    ("path", "url", "status"),
    [
        ("/stations", "/stations?limit=5&lang=en", 200),
        ("/stations", "/stations?open_at=2025-10-02T03:00&limit=3", 200),
        ("/stations", "/stations?limit=nope", 400),
        ("/stations/nearest", "/stations/nearest?lat=37.87&lon=112.55&limit=3", 200),
        ("/stations/nearest", "/stations/nearest?lat=37.87&lon=112.56&crs=bd09&open=false", 200),
        ("/stations/nearest", "/stations/nearest?lat=north&lon=112", 400),
        ("/stations/{station_id}", "/stations/1", 200),
        ("/stations/{station_id}", "/stations/99999999", 404),
        ("/amenities", "/amenities", 200),
        ("/search", "/search?q=%E5%B0%8F%E5%BA%97&near=112.56,37.86&limit=3", 200),
        ("/search", "/search?q=%E5%A4%AA%E5%8E%9F&crs=gcj02", 200),
        ("/search", "/search?q=", 400),
    ],
)
def test_real_responses_match_the_schemas(app, spec, path, url, status):
    response = app.test_client().get(PREFIX + url)
    _check(spec, path, response, status)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/coverage/gaps", {"district": "140106", "at": "2025-11-19T03:00"}, 200),
        ("/coverage/gaps", {"district": "140106", "radius_m": -1}, 400),
        ("/coverage/hourly", {"bbox": [112.5, 37.8, 112.6, 37.9], "date": "2025-11-19"}, 200),
        ("/coverage/suggest", {"district": "140106", "count": 3}, 200),
        ("/coverage/access", {"district": "140100"}, 200),
    ],
)
def test_planner_responses_match_the_schemas(app, spec, planner, path, body, status):
    response = app.test_client().post(PREFIX + path, json=body, headers=planner)
    assert response.status_code == status, response.get_json()
    op = spec["paths"][path]["post"]["responses"][str(response.status_code)]
    schema = op["content"][response.mimetype]["schema"]
    jsonschema.validate(response.get_json(), {**schema, "components": spec["components"]})
    request_schema = spec["components"]["schemas"][
        spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"][
            "$ref"
        ].rsplit("/", 1)[1]
    ]
    if response.status_code == 200:
        jsonschema.validate(body, {**request_schema, "components": spec["components"]})


def test_planner_calls_without_a_token_match_the_401_schema(app, spec):
    response = app.test_client().post(PREFIX + "/coverage/gaps", json={"district": "140106"})
    assert response.status_code == 401
    op = spec["paths"]["/coverage/gaps"]["post"]["responses"]["401"]
    jsonschema.validate(
        response.get_json(),
        op["content"]["application/problem+json"]["schema"] | {"components": spec["components"]},
    )


@pytest.mark.parametrize(
    ("path", "url", "status"),
    [
        ("/subsidy/report", "/subsidy/report?programme=taiyuan-upkeep&period=2025", 200),
        ("/subsidy/report", "/subsidy/report?programme=taiyuan-upkeep&period=1999", 400),
        ("/subsidy/programmes", "/subsidy/programmes", 200),
        ("/stations/{station_id}/history", "/stations/1/history", 200),
    ],
)
def test_union_responses_match_the_schemas(app, spec, tokens_by_role, path, url, status):
    headers = {"Authorization": f"Bearer {tokens_by_role['all']}"}
    response = app.test_client().get(PREFIX + url, headers=headers)
    _check(spec, path, response, status)


def test_a_collection_that_is_not_there_is_a_404_before_any_parameter_is_read(app):
    """The path is checked first: a bad query on a missing collection still says 404."""
    client = app.test_client()
    for url in ("/collections/nope/items?colour=red", "/collections/nope/queryables?f=x"):
        response = client.get(PREFIX + url)
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
    wrong = client.get(PREFIX + "/collections/districts/items?status=x")
    assert wrong.status_code == 400 and wrong.get_json()["param"] == "status"
    assert "districts" in wrong.get_json()["detail"]
