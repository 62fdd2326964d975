"""Who is calling: an API token (``Authorization: Bearer …``) or a signed-in session.

Scripts send the token on each call. The planner map's sign-in form exchanges a token
for Flask's signed session cookie, which holds only the token's id, so revoking the token
ends the session on its next request. The cookie is HttpOnly and SameSite=Lax, and the
JSON endpoints accept only ``application/json`` bodies, which a cross-site form cannot
send: together they keep another site from calling the API with a planner's cookie.
"""

from __future__ import annotations

import functools
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, Request, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from stations import settings, tokens
from stations.errors import Forbidden, NotSignedIn
from web import links
from web.pools import get_conn

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "token_id"


class _CookieFirstSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, skipping the signer when there is no cookie.

    Nearly every public call comes without one, and building the signer alone cost a
    tenth of a nearest search.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Session cookie settings and the signing key."""
    app.session_interface = _CookieFirstSessions()
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.get("STATIONS_SECRET_KEY") or _key_file()
    app.config.update(
        SESSION_COOKIE_NAME="stations_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.value("STATIONS_COOKIE_SECURE"),
        PERMANENT_SESSION_LIFETIME=8 * 3600,  # a working day from signing in
        SESSION_REFRESH_EACH_REQUEST=False,  # ...not sliding while the page stays open
    )


def _key_file() -> str:
    """A random key kept in the var folder, made on first use; shared by the workers.

    Written to a private temporary file and linked into place, so a worker starting at
    the same moment sees either no key file or a complete one, and all share one key.
    """
    path = Path(settings.path("STATIONS_VAR_DIR")) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
            os.link(tmp, path)
        except FileExistsError:  # another worker linked its key first: use that one
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def principal() -> tokens.Principal | None:
    """The caller, from the bearer token or else the session; None when anonymous."""
    if "principal" in g:
        return g.principal
    found = None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    # other schemes (a proxy's Basic auth) are not ours: fall through to the session
    if scheme.lower() == "bearer":
        if not token.strip():
            raise NotSignedIn("the Authorization header must be: Bearer <token>")
        found = tokens.authenticate(get_conn(), token.strip())
        if found is None:
            raise NotSignedIn("the token is unknown or revoked; ask for a new one")
    elif isinstance(session.get(SESSION_KEY), int):
        found = tokens.by_id(get_conn(), session[SESSION_KEY])
        if found is None:
            session.clear()
    g.principal = found
    return found


def require(*roles: str) -> Callable[[F], F]:
    """Let only callers holding one of ``roles`` through: 401 when anonymous, else 403."""
    wanted = " or ".join(roles)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who = principal()
            if who is None:
                raise NotSignedIn(
                    f"this needs a token with the {wanted} role: send Authorization: Bearer "
                    "<token> (made with `stations token create`)"
                )
            if not any(who.has(role) for role in roles):
                raise Forbidden(
                    f"the token of {who.owner} has the role(s) {', '.join(who.roles)}; "
                    f"this needs {wanted}"
                )
            return view(*args, **kwargs)

        wrapper.roles = roles  # type: ignore[attr-defined]  # the document's security
        return wrapper  # type: ignore[return-value]

    return decorate


def same_origin_form() -> None:
    """Refuse a form post sent from another site (login CSRF).

    Browsers send ``Origin`` with a post, and ``Sec-Fetch-Site`` where they know it; with
    the session cookie's SameSite=Lax, a post from another site carries no session.
    """
    origin = request.headers.get("Origin")
    cross = request.headers.get("Sec-Fetch-Site") == "cross-site"
    if cross or (origin is not None and origin.rstrip("/") not in links.own_origins()):
        raise Forbidden("this form can only be sent from this site's own pages")


def sign_in(token: str) -> tokens.Principal | None:
    """Start a session for ``token``; None (and no session) when it is not valid."""
    session.clear()
    found = tokens.authenticate(get_conn(), token.strip())
    if found is not None:
        session[SESSION_KEY] = found.token_id
        session.permanent = True
    return found


def sign_out() -> None:
    """End the session."""
    session.clear()
