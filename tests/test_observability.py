"""Request logs and metrics: one JSON line per request, no query strings or tokens."""

from __future__ import annotations

import json
import logging
import urllib.request

from live_server import serving


def test_each_request_logs_one_json_line_without_query_or_token(client, caplog, planner):
    with caplog.at_level(logging.INFO, logger="stations.access"):
        client.get("/api/v1/stations/nearest?lat=37.87&lon=112.55")
        client.post("/api/v1/coverage/gaps", json={"district": "140106"}, headers=planner)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "stations.access"]
    assert [(x["method"], x["route"], x["status"]) for x in lines] == [
        ("GET", "/api/v1/stations/nearest", 200),
        ("POST", "/api/v1/coverage/gaps", 200),
    ]
    assert all(x["duration_ms"] > 0 for x in lines)
    text = caplog.text
    assert "37.87" not in text and planner["Authorization"].split()[1] not in text


def test_metrics_count_requests_by_route(client):
    client.get("/api/v1/amenities")
    client.get("/api/v1/stations/99999999")
    body = client.get("/metrics").data.decode()
    assert (
        'stations_http_requests_total{method="GET",route="/api/v1/amenities",status="200"}' in body
    )
    assert 'route="/api/v1/stations/<station_id>",status="404"' in body
    assert "stations_http_request_duration_seconds_bucket" in body


def test_served_workers_share_their_metrics_and_log_json(database_url):
    with serving({"DATABASE_URL": database_url}, workers=2) as (url, log):
        for _ in range(6):
            urllib.request.urlopen(f"{url}/api/v1/amenities", timeout=10).read()
        metrics = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith('stations_http_requests_total{method="GET",route="/api/v1/amenities"')
    ]
    # the readiness probes of the test server plus our 6, whichever worker answered
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 6
    access = [json.loads(x) for x in "".join(log).splitlines() if x.startswith("{")]
    assert any(x["route"] == "/api/v1/amenities" for x in access)


def test_two_servers_on_one_var_folder_keep_their_own_metrics(database_url):
    """`stations serve` emptied the metrics folder another running server used."""
    import urllib.request

    env = {"DATABASE_URL": database_url, "STATIONS_RATE_LIMIT_PUBLIC": "off"}
    with serving(env) as (first, _log):
        urllib.request.urlopen(f"{first}/api/v1/amenities", timeout=30).read()
        with serving(env) as (second, _log2):
            urllib.request.urlopen(f"{second}/api/v1/amenities", timeout=30).read()
            with urllib.request.urlopen(f"{first}/metrics", timeout=30) as response:
                text = response.read().decode()
            assert 'route="/api/v1/amenities"' in text  # the first's counts survived
