"""Chinese beside English on the HTTP errors Werkzeug raises (413, 415, 408, 503 ...).

``web.errors`` answers in the language the caller asked for; an exception raised with
an English description carries its Chinese one here.
"""

from __future__ import annotations

from typing import TypeVar

from werkzeug.exceptions import HTTPException

E = TypeVar("E", bound=HTTPException)


def bilingual(exc: E, zh: str) -> E:
    """``exc`` with its description in Chinese attached."""
    exc.description_zh = zh  # type: ignore[attr-defined]
    return exc
