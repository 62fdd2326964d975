"""The public map read as a rider with weak eyes reads it (Chromium, 390×844, zh and en):
every piece of text at least 14 px, and every text's contrast with what is behind it at
least 4.5:1 (WCAG 2.1 AA). Contrast is computed here from the colours the browser
resolved, by the WCAG formula, for the page with its nearest list open."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from browser import assert_clean, screenshot
from map_page import open_map, settled

SQUARE = (37.8644, 112.5637)
DAY = "2025-11-24T10:00:00+08:00"

# every element that shows text of its own, with its size, colour and the colour behind it
_TEXTS = """() => {
  const rgba = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const behind = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length === 4 ? c[3] > 0.5 : c.length === 3) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === 'hidden' || style.display === 'none')
      continue;
    if (el.closest('[hidden], .leaflet-tile-pane, noscript')) continue;
    out.push({
      text: el.textContent.trim().slice(0, 40), cls: el.className && String(el.className),
      size: parseFloat(style.fontSize), color: rgba(style.color).slice(0, 3), bg: behind(el),
    });
  }
  return out;
}"""


def _check(texts: list[dict]) -> None:
    assert len(texts) > 30
    small = [t for t in texts if t["size"] < 14]
    assert not small, small[:5]
    faint = [
        {**t, "ratio": round(_contrast(t["color"], t["bg"]), 2)}
        for t in texts
        if _contrast(t["color"], t["bg"]) < 4.5
    ]
    assert not faint, faint[:5]


def _luminance(rgb) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a, b) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_text_is_14_px_and_4_5_to_1(page, base_url, lang):
    open_map(
        page, base_url, urlencode({"at": DAY, "lat": SQUARE[0], "lon": SQUARE[1], "lang": lang})
    )
    page.click("#st-nearest")
    page.locator("#st-result-list .st-result").first.wait_for()
    settled(page)
    _check(page.evaluate(_TEXTS))
    screenshot(page, f"map-readable-{lang}.png")
    page.click("#st-results-hide")  # the city, clustered
    page.evaluate("RestStations.state.map.setView([37.85, 112.55], 12, {animate: false})")
    settled(page)
    assert page.locator(".st-cluster").count() > 5
    _check(page.evaluate(_TEXTS))
    screenshot(page, f"map-clusters-{lang}.png")
    page.evaluate("RestStations.state.map.setView([37.5, 112.5], 7, {animate: false})")
    settled(page)  # the province: counts per cell
    _check(page.evaluate(_TEXTS))
    page.click("#st-search-toggle")  # the search panel with answers
    page.fill("#st-search-q", "小店")
    page.press("#st-search-q", "Enter")
    page.locator("#st-search-results li").first.wait_for()
    _check(page.evaluate(_TEXTS))
    page.click("#st-filter-toggle")  # the filter panel
    page.locator("#st-filter").wait_for()
    _check(page.evaluate(_TEXTS))
    page.evaluate("RestStations.state.map.setView([37.8644, 112.5637], 14, {animate: false})")
    settled(page)
    page.click("#st-list-toggle")  # the list view
    page.locator("#st-list-items .st-list-item").first.wait_for()
    _check(page.evaluate(_TEXTS))
    assert_clean(page.watch)


NIGHT = "2025-11-24T03:00:00+08:00"

# each cluster's count, the open count on its shoulder (none when all or none are open),
# what a screen reader says, and how many of its stations the API called open
_CLUSTERS = """() => {
  const out = [];
  RestStations.state.map.eachLayer(layer => {
    if (!layer.getAllChildMarkers || !layer._icon) return;
    const kids = layer.getAllChildMarkers();
    const pill = layer._icon.querySelector('.st-open-count');
    out.push({
      total: kids.length, open: kids.filter(m => m.station.open).length,
      shown: Number(layer._icon.querySelector('[aria-label]').firstChild.textContent),
      pill: pill ? Number(pill.textContent) : null,
      said: layer._icon.querySelector('[aria-label]').getAttribute('aria-label'),
    });
  });
  return out;
}"""


def test_a_cluster_says_how_many_of_its_stations_are_open_at_night(page, base_url):
    open_map(page, base_url, urlencode({"at": NIGHT, "lang": "zh"}))
    page.evaluate("RestStations.state.map.setView([37.85, 112.55], 12, {animate: false})")
    settled(page)
    clusters = page.evaluate(_CLUSTERS)
    assert len(clusters) > 5
    some = [c for c in clusters if 0 < c["open"] < c["total"]]
    assert some, clusters  # at 03:00 the 24-hour stations stand among closed ones
    for c in clusters:
        assert c["shown"] == c["total"]
        assert c["pill"] == (c["open"] if 0 < c["open"] < c["total"] else None)
        assert f"{c['open']}" in c["said"] and f"{c['total']}" in c["said"]
    _check(page.evaluate(_TEXTS))
    screenshot(page, "map-clusters-night.png")
    assert_clean(page.watch)
