"""Responses are serialised by orjson: UTF-8 text, key order kept, stored types handled."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest

from web.json_provider import dumps_bytes


def test_chinese_stays_readable_and_keys_keep_their_order():
    body = dumps_bytes({"type": "Feature", "id": 7, "name": "迎泽驿站"})
    assert body == '{"type":"Feature","id":7,"name":"迎泽驿站"}'.encode()


def test_stored_types_become_json():
    when = dt.datetime(2025, 10, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    body = orjson.loads(dumps_bytes({"area": Decimal("12.5"), "at": when, "s": {"b", "a"}}))
    assert body == {"area": 12.5, "at": "2025-10-01T08:30:00+08:00", "s": ["a", "b"]}


def test_unknown_types_are_refused_not_stringified():
    with pytest.raises(TypeError, match="object"):
        dumps_bytes({"x": object()})


def test_api_answers_in_utf8(client):
    response = client.get("/api/v1/amenities")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "饮用水".encode() in response.data  # not \\u escaped
