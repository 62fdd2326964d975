"""The OpenAPI document is valid, complete, and true to what the API does."""

from __future__ import annotations

import jsonschema
import pytest
from openapi_spec_validator import validate

from web import api as api_module
from web import planning_api, search_api, subsidy_api

PREFIX = "/api/v1"
VARIABLES = {
    "<station_id>": "{id}",
    "<collection_id>": "{collectionId}",
    "<feature_id>": "{featureId}",
}


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get(f"{PREFIX}/openapi.json").get_json()


def test_document_is_valid_openapi(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_every_route_is_documented(app, spec):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX):
            path = rule.rule[len(PREFIX) :] or "/"  # the OGC landing page
            for flask_name, documented_name in VARIABLES.items():
                path = path.replace(flask_name, documented_name)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert routes == documented


@pytest.mark.parametrize(
    ("path", "accepted"),
    [
        ("/stations", api_module.LIST_PARAMS),
        ("/stations/nearest", api_module.NEAREST_PARAMS),
        ("/subsidy/report", subsidy_api.REPORT_PARAMS),
        ("/search", search_api.PARAMS),
    ],
)
def test_documented_parameters_are_the_accepted_ones(spec, path, accepted):
    documented = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
    assert documented == set(accepted)


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
        ("/stations/{id}", "/stations/1", 200),
        ("/stations/{id}", "/stations/99999999", 404),
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
    ("path", "schema", "accepted"),
    [
        ("/coverage/gaps", "GapsRequest", planning_api.COMMON),
        ("/coverage/hourly", "HourlyRequest", planning_api.HOURLY),
        ("/coverage/suggest", "SuggestRequest", planning_api.SUGGEST),
        ("/coverage/access", "AccessRequest", planning_api.COMMON),
    ],
)
def test_documented_bodies_are_the_accepted_ones(spec, path, schema, accepted):
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith(schema)
    assert set(spec["components"]["schemas"][schema]["properties"]) == set(accepted)


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


def test_what_if_body_is_documented(spec):
    schema = spec["components"]["schemas"]["WhatIfRequest"]
    assert set(schema["properties"]) == set(subsidy_api.WHAT_IF)


@pytest.mark.parametrize(
    ("path", "url", "status"),
    [
        ("/subsidy/report", "/subsidy/report?programme=taiyuan-upkeep&period=2025", 200),
        ("/subsidy/report", "/subsidy/report?programme=taiyuan-upkeep&period=1999", 400),
        ("/subsidy/programmes", "/subsidy/programmes", 200),
        ("/stations/{id}/history", "/stations/1/history", 200),
    ],
)
def test_union_responses_match_the_schemas(app, spec, tokens_by_role, path, url, status):
    headers = {"Authorization": f"Bearer {tokens_by_role['all']}"}
    response = app.test_client().get(PREFIX + url, headers=headers)
    _check(spec, path, response, status)
