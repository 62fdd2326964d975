"""The planner map at ``/planner``: sign in with a token, then see an area's coverage.

The page is a Leaflet application served with the vendored assets (no CDN). The server
puts in the page what does not change with the hour: the county outlines with their
2SFCA scores (choropleth), the stations with their open hours for the chosen date, and
the demand points (heat map). ``static/planner/planner.js`` then asks the planner API
for the gaps at the hour chosen on the slider and for siting suggestions, with the
session cookie. Query parameters: ``district`` (code or name, default Taiyuan 140100),
``date`` (YYYY-MM-DD, default today in Beijing), ``radius_m`` (default 1000).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from flask import Blueprint, Response, render_template, request, url_for

from stations import access, coverage, hours
from stations.coverage import MAX_RADIUS_M
from stations.errors import InvalidInput
from web import auth, params, sign_in_pages, vendor_assets
from web.map_tiles import tiles_from_settings
from web.pages import json_for_script
from web.pools import get_conn

planner = Blueprint("planner", __name__)
DEFAULT_DISTRICT = "140100"  # Taiyuan


@planner.get("/planner")
def planner_map() -> Response:
    """The map for a signed-in planner; the sign-in form for anyone else."""
    who = auth.principal()
    if who is None:
        return sign_in_pages.form()
    if not who.has("planner"):
        return sign_in_pages.refuse(who, "planner")
    args = request.args
    try:
        district = params.text(args, "district") or DEFAULT_DISTRICT
        raw_date = params.text(args, "date")
        today = dt.datetime.now(hours.SHANGHAI).date()
        day = hours.parse_date(raw_date, "date") if raw_date else today
        radius = params.number(args, "radius_m", 1, MAX_RADIUS_M, default=1000)
        conn = get_conn()
        area = coverage.resolve_area(conn, {"district": district})
    except InvalidInput as exc:  # a link typed or edited by hand: say so on a page
        html = render_template("planner/error.html", who=who, message=exc.message_in("zh"),
                               english=exc.message, args=args)  # fmt: skip
        return sign_in_pages.private_html(html, exc.http_status)
    layer = coverage.load(conn, area, reach_m=radius)
    scores = access.payload(access.by_district(conn, area, catchment_m=radius), radius)
    tiles = tiles_from_settings("zh")
    config = {
        "district": district,
        "label": area.label,
        "date": day.isoformat(),
        "radiusM": radius,
        "api": {
            "gaps": url_for("planning.gaps"),
            "suggest": url_for("planning.suggest"),
            "fewest": url_for("planning.fewest"),
            "access": url_for("planning.access_scores"),
            "plans": url_for("plans.plans"),
            "compare": url_for("plans.compare"),
            "print": url_for("planning.print_map"),
        },
        # planning overlays are WGS-84; GCJ-02 (Amap) tiles would put them 500 m off
        "tiles": [] if tiles.gcj02 else list(tiles.urls),
        "attribution": tiles.attribution,
        "subdomains": tiles.subdomains,
        "maxZoom": tiles.max_zoom,
        "access": scores,
        "stations": _stations(layer, day),
        "demand": _demand(layer),
    }
    districts = conn.execute("SELECT code, name, level FROM districts ORDER BY code").fetchall()
    html = render_template(
        "planner/map.html",
        who=who,
        config=json_for_script(config),
        districts=districts,
        district=district,
        day=day.isoformat(),
        radius=radius,
        label=area.label,
        assets=_assets(),
    )
    return sign_in_pages.private_html(html)


def _stations(layer: coverage.Layer, day: dt.date) -> list[list[Any]]:
    """``[id, name, lon, lat, hours, open-hours bit mask]`` per station."""
    lon_lat = layer.plane.lon_lat(layer.stations_xy)
    bits = layer.open_by_hour(day) @ (1 << np.arange(24))
    return [
        [sid, name, round(float(p[0]), 6), round(float(p[1]), 6), expr or "", int(mask)]
        for sid, name, p, expr, mask in zip(
            layer.station_ids, layer.station_names, lon_lat, layer.opening_hours, bits, strict=True
        )
    ]


def _demand(layer: coverage.Layer) -> list[list[float]]:
    """``[lat, lon, weight]`` per demand point, as Leaflet.heat takes them."""
    lon_lat = layer.plane.lon_lat(layer.demand_xy)
    return [
        [round(float(p[1]), 5), round(float(p[0]), 5), float(w)]
        for p, w in zip(lon_lat, layer.weights, strict=True)
    ]


def _assets() -> dict[str, list[str]]:
    """The vendored Leaflet and heat plugin, then the page's own script and style."""
    links = [vendor_assets.LINKS[name] for name in ("leaflet", "heat", "planner")]
    return {
        kind: [url_for("static", filename=path) for link in links for _n, path in link[i]]
        for i, kind in enumerate(("js", "css"))
    }
