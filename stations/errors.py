"""One exception hierarchy for the domain; the web layer maps it to problem+json.

Each error carries the HTTP status it stands for, a short machine ``code`` and a message
that is safe to show a person. Extra keyword details (``param``, ``rows`` ...) travel in
``details`` and become extension members of the problem document.
"""

from __future__ import annotations

from typing import Any


class StationsError(Exception):
    """Base of every error the domain raises on purpose."""

    http_status = 500
    code = "internal-error"
    title = "Internal error"

    def __init__(self, message: str, *, zh: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = zh  # the same message in Chinese, where one is written
        self.details = details

    def message_in(self, lang: str) -> str:
        """The message in ``lang`` (``zh`` or ``en``); English where no Chinese is written."""
        return self.message_zh if lang == "zh" and self.message_zh else self.message


class InvalidInput(StationsError):
    """A value a person supplied is malformed or out of range."""

    http_status = 400
    code = "invalid-input"
    title = "Invalid input"


class InvalidParameter(InvalidInput):
    """A request parameter is missing or bad; ``param`` names it."""

    code = "invalid-parameter"
    title = "Invalid parameter"

    def __init__(self, param: str, message: str, **details: Any) -> None:
        super().__init__(message, param=param, **details)
        self.param = param


class InvalidOpeningHours(InvalidInput):
    """An ``opening_hours`` value that is not valid syntax; the message says what to write."""

    code = "invalid-opening-hours"
    title = "Invalid opening hours"


class UnknownAmenity(InvalidInput):
    """An amenity code that is not in the vocabulary."""

    code = "unknown-amenity"
    title = "Unknown amenity"


class ImportRejected(StationsError):
    """A file had bad rows; nothing was imported. ``rows`` lists every problem."""

    http_status = 422
    code = "import-rejected"
    title = "Import rejected"


class NotFound(StationsError):
    """The thing asked for does not exist."""

    http_status = 404
    code = "not-found"
    title = "Not found"


class DatabaseUnavailable(StationsError):
    """PostGIS cannot be reached or is not set up."""

    http_status = 503
    code = "database-unavailable"
    title = "Database unavailable"


class ClusterError(StationsError):
    """The embedded PostgreSQL cluster cannot be started, stopped or found."""

    code = "cluster-error"
    title = "Embedded database error"


class BadSetting(StationsError):
    """An environment setting holds a value the service cannot use."""

    code = "bad-setting"
    title = "Bad setting"


class NotSignedIn(StationsError):
    """No valid token or session came with a call that needs one."""

    http_status = 401
    code = "not-signed-in"
    title = "Sign-in required"


class Forbidden(StationsError):
    """The caller is signed in but lacks the role the call needs."""

    http_status = 403
    code = "forbidden"
    title = "Forbidden"


class StationRejected(StationsError):
    """An edit failed the registry's checks; ``errors`` lists each field and why."""

    http_status = 422
    code = "station-rejected"
    title = "Station rejected"


class Conflict(StationsError):
    """The edit clashes with what is stored (a code already taken)."""

    http_status = 409
    code = "conflict"
    title = "Conflict"


class PreconditionRequired(StationsError):
    """A write came without ``If-Match``: it could overwrite an edit its sender never saw."""

    http_status = 428
    code = "precondition-required"
    title = "Precondition required"


class PreconditionFailed(StationsError):
    """The ``If-Match`` version is not the stored one: somebody else edited it first."""

    http_status = 412
    code = "precondition-failed"
    title = "Precondition failed"
