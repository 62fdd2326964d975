"""The public map at ``/`` and ``/map``: the courier's page.

A courier opens this on a phone, often inside WeChat, on a weak network. The page is one
HTML document that Folium renders once per language, tile setting and URL prefix and
that is then served from memory (a view costs no rendering and no query but one cached
extent), plus the vendored Leaflet files from ``/static/vendor`` (see
:mod:`web.vendor_assets`): no CDN. Its script, ``static/map/stations.js``, asks
``/api/v1/map/stations`` (:mod:`web.map_data`) for the stations of the view it shows, as
the rider pans and every minute, so the page is the same size for the demo data and a
national registry; popups, the amenity filter and "nearest open station" live there too.

Query parameters (checked here, applied by the script; unknown ones are ignored: WeChat
appends its own to shared links): ``lang`` (zh | en), ``at`` (ISO 8601, the instant to
colour for; default now), ``lat``/``lon`` (a fixed WGS-84 position for "nearest", instead
of asking the phone) and ``amenities`` (comma list, preselects the filter).
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import folium
import psycopg
from branca.element import Element
from flask import Blueprint, Response, current_app, render_template, request, url_for
from folium.elements import JSCSSMixin
from folium.map import FitBounds
from folium.plugins import LocateControl, MarkerCluster
from folium.template import Template
from markupsafe import Markup, escape

from geo import datums
from stations import registry, vocabulary
from web import params, security, vendor_assets
from web.compressed import compressed
from web.database import get_read_conn
from web.map_tiles import Tiles, tiles_from_settings

LOGGER = logging.getLogger(__name__)
pages = Blueprint("pages", __name__)
TEXT: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "templates" / "map" / "text.json").read_text(encoding="utf-8")
)

# Shanxi, for an empty database; otherwise the map fits the stations.
_DEFAULT_CENTRE = (37.87, 112.55)  # lat, lon
_POSITION_ZOOM = 15
# Search radius of the "nearest open station" button: the API's maximum, because in the
# countryside the nearest open station is often more than the API's default 5 km away.
NEAREST_WITHIN_M = 50000
# The sheet's list: how many, and the break the rider needs a station to stay open for.
NEAREST_COUNT = 5
BREAK_CHOICES_MIN = (0, 10, 20, 30, 60)
BREAK_DEFAULT_MIN = 20
ALL_DAY_MIN = 24 * 60  # the "24 h" chip: open for the next 24 hours
# One-tap chips for what riders ask for most (short labels in text.json "chips").
THEME = "#137a3f"  # the page's green: buttons, the phone's title bar, the app icon
QUICK_AMENITIES = ("drinking_water", "food_heating", "phone_charging", "ebike_charging", "toilet")


@pages.get("/")
@pages.get("/map")
def station_map() -> Response:
    """The map page; see the module docstring for the query parameters.

    They are checked here (a bad one is a 400 in the rider's language) but applied by the
    page's script, so the document is the same for every rider: rendered once per
    language, tile setting and URL prefix, then served from memory.
    """
    args = request.args
    lang = params.lang(args)
    params.instant(args, "at")
    _position(args)
    params.amenities(args)
    tiles = tiles_from_settings(lang)
    security.allow_inline_scripts()  # Folium writes the map as inline script
    return _html_response(_shell(lang, tiles), lang)


_EXTENT_TTL_S = 600.0


def _shell(lang: str, tiles: Tiles) -> str:
    """The page for ``lang`` and ``tiles``, rendered once per stations' extent.

    Folium takes ~0.1 s; the extent changes rarely (it is re-read every ten minutes).
    """
    shells = current_app.extensions.setdefault("map_shells", {})
    key = (lang, tiles, request.script_root)
    extent = _service_extent()
    cached = shells.get(key)
    if cached is None or cached[0] != extent:
        cached = shells[key] = (extent, render_map(lang=lang, tiles=tiles, extent=extent))
    return cached[1]


def _service_extent() -> tuple[float, ...] | None:
    """The active stations' bounding box (lon/lat), re-read every ten minutes.

    While the database cannot say, the last one known is kept: the page needs no query.
    """
    now = time.monotonic()
    cached = current_app.extensions.get("map_extent")
    if cached is not None and now - cached[0] < _EXTENT_TTL_S:
        return cached[1]
    try:
        extent = registry.extent(get_read_conn())
    except psycopg.Error:
        if cached is None:
            raise
        LOGGER.warning("map extent not re-read (database unavailable); the last one is kept")
        return cached[1]
    current_app.extensions["map_extent"] = (now, extent)
    return extent


def _html_response(html: str, lang: str) -> Response:
    """The page, gzipped; it holds no station and no time: caches may keep it 5 minutes."""
    response = compressed(html.encode("utf-8"), "text/html", max_age_s=300)
    response.headers["Content-Language"] = "en" if lang == "en" else "zh-CN"
    return response


def _position(args: Any) -> tuple[float, float] | None:
    """``lat`` and ``lon`` together (WGS-84 degrees), or neither."""
    if not args.get("lat") and not args.get("lon"):
        return None
    return params.number(args, "lat", -90, 90), params.number(args, "lon", -180, 180)


def render_map(*, lang: str, tiles: Tiles, extent: tuple[float, ...] | None) -> str:
    """The whole HTML document, without stations: the script asks for those by view."""
    text = TEXT[lang]
    figure_map = _base_map(extent, tiles)
    figure = figure_map.get_root()
    figure.title = text["title"]
    cluster = _Cluster(
        control=False,
        options={"showCoverageOnHover": False, "maxClusterRadius": 50, "chunkedLoading": True},
    ).add_to(figure_map)
    locate = _Locate(
        position="topleft",
        strings={
            "title": text["locate_title"],
            "popup": text["locate_popup"],
            "outsideMapBoundsMsg": text["outside"],
        },
        flyTo=False,
        showCompass=False,
        locateOptions={"enableHighAccuracy": True, "maxZoom": 16},
    ).add_to(figure_map)
    _StationLayer(cluster, locate).add_to(figure_map)
    amenities = [[t.code, t.label(lang)] for t in vocabulary.terms("amenities").values()]
    config = {
        "lang": lang,
        "gcj02": tiles.gcj02,
        "api": url_for("api.nearest_stations"),
        "viewApi": url_for("map_data.stations_in_view"),
        "searchApi": url_for("search_api.find"),
        "serviceWorker": url_for("offline.service_worker"),
        "scope": f"{request.script_root}/",
        "withinM": NEAREST_WITHIN_M,
        "nearestCount": NEAREST_COUNT,
        "allDayMin": ALL_DAY_MIN,
        "breakDefault": BREAK_DEFAULT_MIN,
        "breakChoices": list(BREAK_CHOICES_MIN),
        "positionZoom": _POSITION_ZOOM,
        "amenities": amenities,
        "text": text,
    }
    controls = render_template(
        "map/controls.html",
        t=text,
        lang=lang,
        amenities=amenities,
        quick_amenities=QUICK_AMENITIES,
        break_choices=BREAK_CHOICES_MIN,
        break_default=BREAK_DEFAULT_MIN,
        config=json_for_script(config),
    )
    figure.html.add_child(_Raw(controls), name="station_controls")
    manifest = url_for("offline.manifest", lang=lang)
    figure.header.add_child(
        _Raw(
            f'<link rel="manifest" href="{escape(manifest)}">'
            f'<meta name="theme-color" content="{THEME}">'
        ),
        name="web_app",
    )
    html = figure.render()
    # Folium's viewport forbids page zoom; a rider with weak eyes must be able to zoom
    html = _VIEWPORT.sub(
        '<meta name="viewport" content="width=device-width, initial-scale=1">', html
    )
    return html.replace("<html>", f'<html lang="{"en" if lang == "en" else "zh-CN"}">', 1)


_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>')


def _base_map(extent: tuple[float, ...] | None, tiles: Tiles) -> folium.Map:
    """The Folium map with its tiles, fitted to the stations' extent.

    The script moves it to the rider's position when the link gives one.
    """
    figure_map = _PageMap(location=_DEFAULT_CENTRE, zoom_start=8, tiles=None)
    # On the map itself, not only on the tile layer: the clusterer needs it, and with
    # STATIONS_MAP_TILES=none there is no tile layer.
    figure_map.options["max_zoom"] = tiles.max_zoom
    if extent is not None:
        # Before the tiles, so that no tile is fetched for the provisional view.
        x0, y0, x1, y1 = extent
        if tiles.gcj02:
            x0, y0 = (float(v) for v in datums.wgs84_to_gcj02(x0, y0))
            x1, y1 = (float(v) for v in datums.wgs84_to_gcj02(x1, y1))
        fit = FitBounds([[y0, x0], [y1, x1]])
        # at once, not animated: a zoom animation still running when the script moves the
        # map to the link's position would end by putting the map back here
        fit.options["animate"] = False
        figure_map.add_child(fit)
    for layer in tiles.layers():
        layer.add_to(figure_map)
    return figure_map


def json_for_script(value: Any) -> Markup:
    """JSON safe inside ``<script>``; UTF-8 kept, so Chinese text costs 3 bytes, not 6."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return Markup(text)


class _Vendored:
    """Mixin for Folium elements: link the files in ``vendor_assets.LINKS[_assets]``.

    Set per render, because ``url_for`` knows the app's URL prefix only in a request.
    """

    _assets = ""

    def render(self, **kwargs: Any) -> None:
        """Replace Folium's CDN links with this app's static files, then render."""
        js, css = vendor_assets.LINKS[self._assets]
        self.default_js = [(name, url_for("static", filename=path)) for name, path in js]
        self.default_css = [(name, url_for("static", filename=path)) for name, path in css]
        super().render(**kwargs)  # type: ignore[misc]


class _PageMap(_Vendored, folium.Map):
    """``folium.Map`` with the vendored Leaflet and nothing else.

    Folium's defaults also pull in jQuery, Bootstrap, awesome-markers and Font Awesome
    from foreign CDNs; the page uses none of them, so they are dropped.
    """

    _assets = "leaflet"


class _Cluster(_Vendored, MarkerCluster):
    _assets = "markercluster"


class _Locate(_Vendored, LocateControl):
    _assets = "locatecontrol"


class _Raw(Element):
    """HTML inserted as is.

    A plain branca ``Element(html)`` compiles its text as a Jinja template, so station
    names containing ``{{`` would be evaluated on the server (and 400 kB of data would
    be parsed as a template on every request).
    """

    def __init__(self, html: str):
        super().__init__()
        self._html = html

    def render(self, **kwargs: Any) -> str:
        """The HTML, untouched."""
        return self._html


class _StationLayer(_Vendored, JSCSSMixin, folium.MacroElement):
    """Starts ``static/map/stations.js``, which builds the markers from the page's data.

    Folium's own ``Marker`` objects would emit ~1.5 kB of JavaScript per station and give
    the page no handle on them by station id; one JSON document and one script are
    several times smaller and let the filter and "nearest" find a marker by feature id.
    The data sits in ``<script type="application/json" id="st-data">`` (see
    ``templates/map/controls.html``), not in this macro: branca compiles a macro's output
    as a Jinja template, which station text must never go through.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            RestStations.init({{ this._parent.get_name() }}, {{ this.cluster.get_name() }},
                {{ this.locate.get_name() }},
                JSON.parse(document.getElementById("st-data").textContent));
        {% endmacro %}
        """
    )

    _assets = "stations"

    def __init__(self, cluster: MarkerCluster, locate: LocateControl):
        super().__init__()
        self._name = "StationLayer"
        self.cluster = cluster
        self.locate = locate
