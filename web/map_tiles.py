"""The public map's background tiles, chosen by settings.

Tiles are the one thing the page may load from outside (they are images, not code).
Amap's tiles are drawn in GCJ-02, so with them the station markers are shifted to match.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import folium

from stations import settings

LOGGER = logging.getLogger(__name__)

_OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
_AMAP = (
    "https://webrd0{{s}}.is.autonavi.com/appmaptile?lang={lang}&size=1&scale=1&style=8"
    "&x={{x}}&y={{y}}&z={{z}}"
)


@dataclass(frozen=True)
class Tiles:
    """The background map: tile URL templates (base first, then label overlays)."""

    urls: tuple[str, ...]
    attribution: str = ""
    subdomains: str = "abc"
    max_zoom: int = 18
    gcj02: bool = False  # the tiles are drawn in GCJ-02: shift the markers to match

    def layers(self) -> list[folium.TileLayer]:
        """Folium tile layers for :attr:`urls`."""
        return [
            folium.TileLayer(
                tiles=url,
                attr=self.attribution,
                subdomains=self.subdomains,
                max_zoom=self.max_zoom,
                name=f"tiles{i}",
                overlay=i > 0,
                control=False,
            )
            for i, url in enumerate(self.urls)
        ]


def tiles_from_settings(lang: str) -> Tiles:
    """Tiles chosen by ``STATIONS_MAP_TILES`` (and ``STATIONS_TIANDITU_KEY``)."""
    return _tiles(
        (settings.get("STATIONS_MAP_TILES") or "osm").strip(),
        settings.get("STATIONS_TIANDITU_KEY") or "",
        settings.get("STATIONS_MAP_ATTRIBUTION") or "",
        lang,
    )


@functools.lru_cache(maxsize=16)
def _tiles(choice: str, tianditu_key: str, attribution: str, lang: str) -> Tiles:
    """Resolve the setting once per value; a bad value logs a warning and falls back to OSM.

    Falling back keeps the public map up (with the default background) when the tile
    setting is wrong, rather than answering every courier with an error.
    """
    if choice == "osm":
        return Tiles(
            ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",), _OSM_ATTRIBUTION, max_zoom=19
        )
    if choice == "tianditu":
        if not tianditu_key:
            LOGGER.warning("STATIONS_MAP_TILES=tianditu needs STATIONS_TIANDITU_KEY; using osm")
            return _tiles("osm", "", "", lang)
        labels = "eva" if lang == "en" else "cva"
        return Tiles(
            tuple(_TIANDITU.format(layer=layer, key=tianditu_key) for layer in ("vec", labels)),
            attribution or "&copy; 天地图 Tianditu",
            subdomains="01234567",
        )
    if choice == "amap":
        return Tiles(
            (_AMAP.format(lang="en" if lang == "en" else "zh_cn"),),
            attribution or "&copy; 高德地图 AutoNavi",
            subdomains="1234",
            gcj02=True,
        )
    if choice == "none":
        return Tiles(())
    if "{z}" in choice and "{x}" in choice and "{y}" in choice:
        return Tiles((choice,), attribution or (urlsplit(choice).hostname or "map tiles"))
    LOGGER.warning(
        "STATIONS_MAP_TILES=%r is not osm, tianditu, amap, none or a {z}/{x}/{y} URL; using osm",
        choice,
    )
    return _tiles("osm", "", "", lang)
