"""Rate limits: 429 problem+json with Retry-After past the limit, and off when asked."""

from __future__ import annotations

import urllib.request

import pytest

from web.app import create_app
from web.pools import close_pool
from web.ratelimit import limiter


@pytest.fixture
def limited(database_url):
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "RATE_LIMIT_PUBLIC": "3/minute",
            "RATE_LIMIT_PLANNER": "2/minute",
        }
    )
    limiter.reset()  # counts live in the process-wide limiter
    yield app
    close_pool(app)
    limiter.reset()


def test_public_calls_past_the_limit_get_429(limited):
    client = limited.test_client()
    codes = [client.get("/api/v1/amenities").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get("/api/v1/amenities")
    assert refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code == 200  # probes are never limited


def test_the_maps_view_requests_count_against_the_public_limit(limited):
    client = limited.test_client()
    view = "/api/v1/map/stations?bbox=112.5,37.8,112.6,37.9"
    assert [client.get(view).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_planner_calls_have_their_own_tighter_limit(limited, planner):
    client = limited.test_client()
    body = {"district": "140106"}
    codes = [
        client.post("/api/v1/coverage/gaps", json=body, headers=planner).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    assert client.get("/api/v1/amenities").status_code == 200


def test_off_means_no_limit(database_url):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "RATE_LIMIT_PUBLIC": "off"})
    limiter.reset()
    try:
        client = app.test_client()
        assert {client.get("/api/v1/amenities").status_code for _ in range(30)} == {200}
    finally:
        close_pool(app)


def test_behind_a_proxy_each_client_has_its_own_count_and_sign_in_works(database_url):
    """Served as deployed behind one TLS-terminating proxy (STATIONS_TRUSTED_PROXIES=1)."""
    import urllib.error
    import urllib.parse

    from live_server import serving

    env = {
        "DATABASE_URL": database_url,
        "STATIONS_TRUSTED_PROXIES": "1",
        "STATIONS_RATE_LIMIT_PUBLIC": "3/minute",
        "STATIONS_RATE_LIMIT_PLANNER": "50/minute",
    }

    def status(url: str, headers: dict, data: bytes | None = None) -> int:
        request = urllib.request.Request(url, data=data, headers=headers)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    with serving(env) as (url, _log):
        amenities = f"{url}/api/v1/amenities"
        courier_a = {"X-Forwarded-For": "10.1.1.1"}
        courier_b = {"X-Forwarded-For": "10.2.2.2"}
        assert [status(amenities, courier_a) for _ in range(4)] == [200, 200, 200, 429]
        assert status(amenities, courier_b) == 200  # another courier, another count
        form = urllib.parse.urlencode({"token": "not-a-token"}).encode()
        tls = {
            "X-Forwarded-For": "10.3.3.3",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "stations.example.cn",
            "Origin": "https://stations.example.cn",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        # the form was checked as sent from its own site (401: a bad token, not 403)
        assert status(f"{url}/planner/sign-in", tls, form) == 401
        other_site = {**tls, "Origin": "https://evil.example"}
        assert status(f"{url}/planner/sign-in", other_site, form) == 403


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: D102
        return None


def test_served_probes_are_never_limited_and_forged_addresses_count_for_nothing(database_url):
    """As served: /healthz, /readyz and /metrics answer past any limit; with no trusted
    proxy (the default), X-Forwarded-For is the client's own word and is ignored."""
    import urllib.error

    from live_server import serving

    env = {
        "DATABASE_URL": database_url,
        "STATIONS_RATE_LIMIT_PUBLIC": "2/minute",
        "STATIONS_RATE_LIMIT_PLANNER": "2/minute",
    }

    def status(url: str, headers: dict | None = None) -> int:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    with serving(env) as (url, _log):
        for probe in ("/healthz", "/readyz", "/metrics"):
            assert {status(url + probe) for _ in range(8)} == {200}, probe
        listing = f"{url}/api/v1/stations?limit=1"
        forged = [status(listing, {"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(1, 4)]
        assert forged == [200, 200, 429]  # three "addresses", one socket, one count
        assert status(url + "/readyz") == 200
