"""The public map as an installable web app that keeps working with a bad signal.

``/sw.js`` is the service worker: a few lines of configuration followed by the
versioned ``static/map/geodesy.js``, ``offline.js`` and ``worker.js`` (see worker.js
for what it keeps and how it answers offline). It is served from the site's root, not
from ``/static/``, because a worker only controls pages at or under its own path; and
``no-cache``, so a release reaches phones on their next visit. ``/manifest.webmanifest``
names the app for "add to home screen", in the rider's language.
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, request, url_for

from stations import vocabulary
from stations.availability import closing_soon_min
from web import params, static_files
from web.map_data import MAX_STATIONS, OFFLINE_AHEAD
from web.pages import TEXT, THEME
from web.vendor_assets import LINKS

offline = Blueprint("offline", __name__)

DATA_FORMAT = 3  # what a kept view holds (3: geometry always WGS-84, ``nav`` to draw on Amap)
KEPT_VIEWS = 40  # view answers kept on the phone (a city's worth of panning)
NETWORK_TIMEOUT_MS = 10_000  # then the phone's copy answers
_TEXT_KEYS = ("offline_title", "offline_no_data")
ICON = "map/icon.svg"
_PAGE_ASSETS = ("leaflet", "markercluster", "locatecontrol", "stations")  # the map's files
_WORKER_FILES = ("map/geodesy.js", "map/offline.js", "map/worker.js")


@offline.get("/sw.js")
def service_worker() -> Response:
    """The service worker: its configuration, then its scripts."""
    params.reject_unknown(request.args, ())
    terms = vocabulary.terms("amenities")
    precache = [
        url_for("static", filename=path)
        for name in _PAGE_ASSETS
        for _, path in (*LINKS[name][0], *LINKS[name][1])
    ]
    config = {
        "version": static_files.version(),
        "dataVersion": _data_version(list(terms)),
        "pages": [f"{request.script_root}/", f"{request.script_root}/map"],
        "staticPrefix": f"{request.script_root}{static_files.url_path()}/",
        "precache": sorted(
            set(precache)
            | {url_for("static", filename=f) for f in _WORKER_FILES}
            | {url_for("offline.manifest", lang=lang) for lang in ("zh", "en")}
            | {url_for("static", filename=ICON)}
        ),
        "manifest": url_for("offline.manifest"),
        "viewApi": url_for("map_data.stations_in_view"),
        "nearestApi": url_for("api.nearest_stations"),
        "amenities": list(terms),
        "labels": {lang: [t.label(lang) for t in terms.values()] for lang in ("zh", "en")},
        "soonMin": closing_soon_min(),
        "aheadS": int(OFFLINE_AHEAD.total_seconds()),
        "maxViews": KEPT_VIEWS,
        "maxStations": MAX_STATIONS,
        "timeoutMs": NETWORK_TIMEOUT_MS,
        "text": {lang: {k: TEXT[lang][k] for k in _TEXT_KEYS} for lang in ("zh", "en")},
    }
    scripts = ", ".join(json.dumps(url_for("static", filename=f)) for f in _WORKER_FILES)
    body = (
        "// the public map's service worker: static/map/worker.js, configured here\n"
        f"self.RS_CONFIG = {json.dumps(config, ensure_ascii=False)};\n"
        f"importScripts({scripts});\n"
    )
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _data_version(amenities: list[str]) -> str:
    """Names the phone's kept stations: their format and the vocabulary ``am`` indexes."""
    digest = hashlib.sha256(json.dumps([DATA_FORMAT, amenities]).encode()).hexdigest()
    return digest[:12]


@offline.get("/manifest.webmanifest")
def manifest() -> Response:
    """What "add to home screen" shows: the name, the colours, the icon, where it opens."""
    params.reject_unknown(request.args, ("lang",))
    lang = params.lang(request.args)
    text = TEXT[lang]
    start = f"{request.script_root}/"
    body = {
        "name": text["title"],
        "short_name": text["heading"],
        "lang": "en" if lang == "en" else "zh-CN",
        "start_url": f"{start}?lang={lang}",
        "scope": start,
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {
                "src": url_for("static", filename=ICON),
                "sizes": "any",
                "type": "image/svg+xml",
                "purpose": "any",
            }
        ],
    }
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
