"""One sign-in for every signed-in page: a token for a session cookie, then the right page.

Each page checks its own role (``/planner``: planner, ``/union``: union). The form carries
the page it was opened from, and signing in lands there when the token holds that page's
role, else on the page its role opens: a union officer who types her token on
``/planner`` lands on ``/union``, never on a refusal with a cookie that quietly works
elsewhere. ``/planner/sign-in`` and ``/planner/sign-out`` are the same views under the
addresses the planner's form has always posted to.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, Response, redirect, render_template, request, url_for

from stations import tokens
from web import auth

signed_in = Blueprint("signed_in", __name__)
# role: its pages, the first the one it lands on; a sign-in may return to any of them
PAGES = {"union": ("union.union_page", "union.union_what_if"), "planner": ("planner.planner_map",)}
NAMES = {"union": "补助评定 Subsidies", "planner": "覆盖规划 Coverage planning"}


def private_html(html: str, status: int = 200) -> Response:
    """A signed-in page: never cached by a browser or a proxy, in Chinese."""
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Language"] = "zh-CN"
    return response


def form(message: str = "", status: int = 200, next_url: str | None = None) -> Response:
    """The sign-in form; ``next_url`` (default: the page asked for) is where it lands."""
    if next_url is None:
        query = urlencode(list(request.args.items(multi=True)))
        next_url = request.script_root + request.path + (f"?{query}" if query else "")
    return private_html(
        render_template("signed_in/sign_in.html", message=message, next=_own_page(next_url)),
        status,
    )


def refuse(who: tokens.Principal, role: str) -> Response:
    """A signed-in caller without the page's role: the form, with the pages it can open."""
    can = [f"{NAMES[r]} {url_for(PAGES[r][0])}" for r in PAGES if who.has(r)]
    elsewhere = f"；可打开 you can open: {'、'.join(can)}" if can else ""
    return form(f"{who.owner} 的令牌没有 {role} 角色 (the token lacks the {role} role){elsewhere}",
                403)  # fmt: skip


def _own_page(target: str) -> str:
    """``target`` when it is one of the signed-in pages (with its query), else ''."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path not in _roles_by_path():
        return ""  # no open redirect: only our own pages
    query = urlencode(parse_qsl(parts.query)[:12])
    return parts.path + (f"?{query}" if query else "")


def _roles_by_path() -> dict[str, str]:
    return {url_for(endpoint): role for role, pages in PAGES.items() for endpoint in pages}


def _landing(who: tokens.Principal, wanted: str) -> str | None:
    """The page to land on: the one asked for if the token may open it, else its own."""
    role = _roles_by_path().get(urlsplit(wanted).path) if wanted else None
    if role is not None and who.has(role):
        return wanted
    return next((url_for(pages[0]) for r, pages in PAGES.items() if who.has(r)), None)


@signed_in.get("/sign-in")
def sign_in_form() -> Response:
    """The form on its own (``?next=/union``)."""
    return form(next_url=request.args.get("next", ""))


@signed_in.post("/sign-in")
@signed_in.post("/planner/sign-in", endpoint="planner_sign_in")
def sign_in() -> Response:
    """Exchange a token for a session cookie; the form again (401) when it is not valid."""
    auth.same_origin_form()
    token = (request.form.get("token") or "").strip()
    wanted = _own_page(request.form.get("next") or "")
    if not wanted and request.form.get("view"):  # the planner's form before the shared one
        wanted = _own_page(url_for("planner.planner_map") + "?" + request.form["view"][:500])
    who = auth.sign_in(token)
    if who is None:
        return form("令牌无效或已撤销 (the token is unknown or revoked)", 401, wanted)
    landing = _landing(who, wanted)
    if landing is None:
        auth.sign_out()
        return form(
            f"{who.owner} 的令牌没有可用网页的角色，请用 API (the token has no page: "
            f"{', '.join(who.roles)}; use the API)",
            403,
            wanted,
        )
    return redirect(landing, code=303)


@signed_in.post("/sign-out")
@signed_in.post("/planner/sign-out", endpoint="planner_sign_out")
def sign_out() -> Response:
    """End the session; back to the form."""
    auth.same_origin_form()
    auth.sign_out()
    return redirect(url_for("signed_in.sign_in_form"), code=303)
