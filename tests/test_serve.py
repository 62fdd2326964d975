"""``stations serve`` runs granian; the API answers over a real socket."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from live_server import serving


def _get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get_content_type(), json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), json.load(e)


def test_serve_answers_over_http(database_url):
    with serving({"DATABASE_URL": database_url}, workers=2) as (url, log):
        base = f"{url}/api/v1"
        status, kind, body = _get(f"{base}/stations?limit=3&district=140105")
        assert (status, kind) == (200, "application/geo+json")
        assert body["numberReturned"] == 3
        assert all(f["properties"]["district_code"] == "140105" for f in body["features"])
        status, kind, body = _get(f"{base}/stations?limit=zero")
        assert (status, kind, body["param"]) == (400, "application/problem+json", "limit")
    assert "Started worker-2" in log[0]
