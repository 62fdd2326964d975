"""Response checks that pin the status first, so a problem+json never passes for data."""

from __future__ import annotations

from typing import Any


def ok(response: Any, status: int = 200) -> Any:
    """``response`` (Flask's or ``live_server.Answer``) after checking its status."""
    assert response.status_code == status, (response.status_code, response.data[:500])
    return response
