/*
 * The public station map's behaviour: markers, popups, the amenity filter and the
 * "nearest open station" button. web/pages.py renders the Folium map and calls
 * RestStations.init(map, cluster, locateControl, config) with the station data inline.
 *
 * Written in ES2015 without optional chaining so that older Android WebViews (cheap
 * phones, in-app browsers) still run it; no library besides the vendored Leaflet plugins.
 */
(function () {
  "use strict";

  var state = {
    config: null,
    text: null,
    map: null,
    cluster: null,
    amenityLabels: [], // labels in vocabulary order; a station's "am" indexes into it
    amenityIndex: {}, // amenity code -> index
    markers: [], // every station marker, in data order
    byId: {}, // feature id -> marker
    position: null, // [lat, lon] WGS-84 of the user (fixed from the URL or located)
    positionLayer: null,
    highlighted: null,
  };

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function el(tag, className, parent, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  /*
   * WGS-84 -> GCJ-02, the published closed-form formula (same constants as geo/datums.py).
   * Only used on Amap tiles, which are drawn in GCJ-02, to put the phone's WGS-84
   * position on the right street; station positions arrive already converted.
   */
  var KRASOVSKY_A = 6378245.0;
  var KRASOVSKY_EE = 0.00669342162296594323;

  function outOfChina(lon, lat) {
    return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }

  function transformLat(x, y) {
    var pi = Math.PI;
    var ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    ret += ((20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0) / 3.0;
    ret += ((20.0 * Math.sin(y * pi) + 40.0 * Math.sin((y / 3.0) * pi)) * 2.0) / 3.0;
    ret += ((160.0 * Math.sin((y / 12.0) * pi) + 320.0 * Math.sin((y * pi) / 30.0)) * 2.0) / 3.0;
    return ret;
  }

  function transformLon(x, y) {
    var pi = Math.PI;
    var ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    ret += ((20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0) / 3.0;
    ret += ((20.0 * Math.sin(x * pi) + 40.0 * Math.sin((x / 3.0) * pi)) * 2.0) / 3.0;
    ret += ((150.0 * Math.sin((x / 12.0) * pi) + 300.0 * Math.sin((x / 30.0) * pi)) * 2.0) / 3.0;
    return ret;
  }

  function wgs84ToGcj02(lon, lat) {
    if (outOfChina(lon, lat)) return [lon, lat];
    var dlat = transformLat(lon - 105.0, lat - 35.0);
    var dlon = transformLon(lon - 105.0, lat - 35.0);
    var radlat = (lat / 180.0) * Math.PI;
    var magic = 1 - KRASOVSKY_EE * Math.sin(radlat) * Math.sin(radlat);
    var sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / (((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sqrtmagic)) * Math.PI);
    dlon = (dlon * 180.0) / ((KRASOVSKY_A / sqrtmagic) * Math.cos(radlat) * Math.PI);
    return [lon + dlon, lat + dlat];
  }

  /* A WGS-84 [lat, lon] as drawn on this map's tiles. */
  function toDisplay(latlon) {
    if (!state.config.gcj02) return latlon;
    var g = wgs84ToGcj02(latlon[1], latlon[0]);
    return [g[1], g[0]];
  }

  // --- markers and popups ------------------------------------------------------------

  // open (green), closing soon (amber), closed (grey ring), unknown or suspended (dashed)
  var STATE_CLASS = {
    open: "st-open",
    closing_soon: "st-soon",
    closed: "st-closed",
    unknown: "st-unknown",
    suspended: "st-unknown",
  };

  function stateClass(st) {
    return STATE_CLASS[st.state] || (st.open ? "st-open" : "st-closed");
  }

  function stationIcon(st, highlighted) {
    var size = highlighted ? 40 : 30;
    return L.divIcon({
      className: "st-marker " + stateClass(st) + (highlighted ? " st-highlight" : ""),
      html: '<span data-station-id="' + Number(st.id) + '"></span>',
      iconSize: [size, size],
      popupAnchor: [0, -size / 2],
    });
  }

  function clusterIcon(cluster) {
    var children = cluster.getAllChildMarkers();
    var open = 0;
    for (var i = 0; i < children.length; i++) if (children[i].station.open) open++;
    var n = children.length;
    var size = n < 10 ? 38 : n < 100 ? 44 : 52;
    var inner = el("span", null, null, String(n));
    inner.title = fmt(state.text.cluster_title, { open: open, total: n });
    return L.divIcon({
      html: inner,
      className: "st-cluster " + (open ? "st-cluster-open" : "st-cluster-closed"),
      iconSize: [size, size],
    });
  }

  function amapUrl(st) {
    var q = new URLSearchParams({
      position: st.nav[0] + "," + st.nav[1],
      name: st.name,
      coordinate: "gaode",
      callnative: "1",
    });
    return "https://uri.amap.com/marker?" + q.toString();
  }

  function baiduUrl(st) {
    var q = new URLSearchParams({
      location: st.nav[3] + "," + st.nav[2],
      title: st.name,
      content: st.address,
      coord_type: "bd09ll",
      output: "html",
      src: "webapp.union.reststations",
    });
    return "https://api.map.baidu.com/marker?" + q.toString();
  }

  function popupContent(st) {
    var t = state.text;
    var labels = state.amenityLabels;
    var root = el("div", "st-popup");
    root.setAttribute("data-station-id", String(st.id));
    el("h2", "st-name", root, st.name);
    var said = t[st.state] || (st.open ? t.open : t.closed);
    el(
      "p",
      "st-state " + (st.open ? "st-is-open" : "st-is-closed") + " st-is-" + (st.state || ""),
      root,
      said + " · " + st.change
    );
    if (st.address) el("p", "st-address", root, st.address);
    var hoursLine = el("p", "st-hours", root);
    el("strong", null, hoursLine, t.hours + " ");
    hoursLine.appendChild(document.createTextNode(st.text || st.hours || t.hours_unknown));
    if (st.am.length) {
      var list = el("ul", "st-amenities", root);
      list.setAttribute("aria-label", t.amenities);
      st.am.forEach(function (i) {
        el("li", null, list, labels[i]);
      });
    }
    var nav = el("p", "st-nav", root);
    nav.setAttribute("aria-label", t.navigate);
    [
      [t.amap, amapUrl(st), "st-amap"],
      [t.baidu, baiduUrl(st), "st-baidu"],
    ].forEach(function (link) {
      var a = el("a", "st-nav-link " + link[2], nav, link[0]);
      a.href = link[1];
      a.target = "_blank";
      a.rel = "noopener";
    });
    return root;
  }

  function buildMarkers(stations) {
    stations.forEach(function (st) {
      var marker = L.marker([st.lat, st.lon], {
        icon: stationIcon(st, false),
        title: st.name,
        alt: st.name,
        riseOnHover: true,
      });
      marker.station = st;
      marker.bindPopup(
        function () {
          return popupContent(st);
        },
        {
          maxWidth: Math.min(300, window.innerWidth - 110),
          minWidth: 220,
          // Keep the popup clear of the zoom and locate buttons on the left.
          autoPanPaddingTopLeft: [60, 10],
          autoPanPaddingBottomRight: [10, 10],
        }
      );
      state.markers.push(marker);
      state.byId[st.id] = marker;
    });
  }

  // --- filter ------------------------------------------------------------------------

  function selectedAmenities() {
    var boxes = document.querySelectorAll('#st-filter input[name="amenity"]:checked');
    return Array.prototype.map.call(boxes, function (box) {
      return box.value;
    });
  }

  function openOnly() {
    var box = document.getElementById("st-open-only");
    return !!(box && box.checked);
  }

  /* needed: amenity codes; st.am holds indexes into config.amenities. */
  function matches(st, needed, onlyOpen) {
    if (onlyOpen && !st.open) return false;
    for (var i = 0; i < needed.length; i++) {
      if (st.am.indexOf(state.amenityIndex[needed[i]]) < 0) return false;
    }
    return true;
  }

  function applyFilter() {
    var needed = selectedAmenities();
    var onlyOpen = openOnly();
    var visible = state.markers.filter(function (m) {
      return matches(m.station, needed, onlyOpen);
    });
    state.cluster.clearLayers();
    state.cluster.addLayers(visible);
    var count = document.getElementById("st-count");
    if (count) count.textContent = fmt(state.text.shown, { n: visible.length, total: state.markers.length });
    var badge = document.getElementById("st-filter-count");
    var active = needed.length + (onlyOpen ? 1 : 0);
    if (badge) {
      badge.hidden = active === 0;
      badge.textContent = String(active);
    }
  }

  function toggleFilter(show) {
    var panel = document.getElementById("st-filter");
    var button = document.getElementById("st-filter-toggle");
    panel.hidden = !show;
    button.setAttribute("aria-expanded", show ? "true" : "false");
  }

  // --- position and nearest ----------------------------------------------------------

  function setStatus(message, isError) {
    var node = document.getElementById("st-status");
    if (!node) return;
    node.textContent = message || "";
    node.className = "st-status" + (isError ? " st-error" : "");
  }

  function showPosition() {
    if (!state.position) return;
    if (state.positionLayer) state.positionLayer.remove();
    state.positionLayer = L.circleMarker(toDisplay(state.position), {
      radius: 9,
      weight: 3,
      color: "#ffffff",
      fillColor: "#1f6feb",
      fillOpacity: 1,
      className: "st-position",
    })
      .bindTooltip(state.text.you_are_here)
      .addTo(state.map);
  }

  function currentPosition() {
    if (state.position) return Promise.resolve(state.position);
    if (!navigator.geolocation) {
      return Promise.reject(new Error(fmt(state.text.locate_failed, { detail: "—" })));
    }
    setStatus(state.text.locating);
    return new Promise(function (resolve, reject) {
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          state.position = [pos.coords.latitude, pos.coords.longitude];
          showPosition();
          resolve(state.position);
        },
        function (err) {
          reject(new Error(fmt(state.text.locate_failed, { detail: err.message })));
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  function distanceText(metres) {
    var t = state.text;
    if (metres < 1000) return fmt(t.metres, { n: Math.round(metres) });
    return fmt(t.km, { n: (metres / 1000).toFixed(1) });
  }

  function queryNearest(position) {
    var config = state.config;
    var q = new URLSearchParams({
      lat: position[0].toFixed(6),
      lon: position[1].toFixed(6),
      limit: "1",
      within_m: String(config.withinM),
      lang: config.lang,
    });
    if (config.at) q.set("at", config.at);
    var needed = selectedAmenities();
    if (needed.length) q.set("amenities", needed.join(","));
    return fetch(config.api + "?" + q.toString(), {
      headers: { Accept: "application/geo+json, application/problem+json" },
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.detail || body.title || String(response.status));
        return body;
      });
    });
  }

  function markerFor(feature) {
    var id = feature.id !== undefined && feature.id !== null ? feature.id : feature.properties.id;
    var marker = state.byId[id];
    if (!marker) {
      // A station added since the page was rendered: draw it from the answer.
      var p = feature.properties;
      var c = feature.geometry.coordinates;
      var display = toDisplay([c[1], c[0]]);
      marker = L.marker(display, {
        icon: stationIcon({ id: id, open: p.open, state: p.state }, false),
        title: p.name,
      });
      marker.station = { id: id, open: p.open, state: p.state, am: [] };
      // text, never HTML: a name is data an editor or an import typed
      marker.bindPopup(el("div", "st-popup", null, p.name));
      state.byId[id] = marker;
    }
    if (!state.cluster.hasLayer(marker)) state.cluster.addLayer(marker);
    return marker;
  }

  function highlight(marker) {
    var previous = state.highlighted;
    if (previous && previous !== marker) {
      previous.setIcon(stationIcon(previous.station, false));
      previous.setZIndexOffset(0);
    }
    marker.setIcon(stationIcon(marker.station, true));
    marker.setZIndexOffset(1000);
    state.highlighted = marker;
    var bounds = L.latLngBounds([marker.getLatLng(), toDisplay(state.position)]);
    state.map.fitBounds(bounds, {
      animate: false,
      maxZoom: 17,
      padding: [40, 40],
    });
    return new Promise(function (resolve) {
      state.cluster.zoomToShowLayer(marker, function () {
        marker.openPopup();
        resolve(marker);
      });
    });
  }

  function findNearest() {
    var t = state.text;
    var button = document.getElementById("st-nearest");
    button.disabled = true;
    return currentPosition()
      .then(function (position) {
        setStatus(t.searching);
        return queryNearest(position).catch(function (err) {
          throw new Error(fmt(t.failed, { detail: err.message }));
        });
      })
      .then(function (collection) {
        var feature = collection.features[0];
        showPosition();
        if (!feature) {
          setStatus(fmt(t.none_found, { km: state.config.withinM / 1000 }), true);
          return null;
        }
        setStatus(
          fmt(t.found, {
            name: feature.properties.name,
            distance: distanceText(feature.properties.distance_m),
          })
        );
        return highlight(markerFor(feature));
      })
      .catch(function (err) {
        setStatus(err.message, true);
      })
      .then(function (result) {
        button.disabled = false;
        return result;
      });
  }

  // --- wiring ------------------------------------------------------------------------

  function wireLocateControl(map, locate) {
    // Runs before the control's own handler (it registers on activation), so on GCJ-02
    // tiles the control draws the shifted position; the WGS-84 one is kept for the API.
    map.on("locationfound", function (e) {
      state.position = [e.latlng.lat, e.latlng.lng];
      if (state.config.gcj02) {
        var shifted = toDisplay(state.position);
        var dLat = shifted[0] - e.latlng.lat;
        var dLng = shifted[1] - e.latlng.lng;
        e.latlng = L.latLng(shifted);
        if (e.bounds) {
          var sw = e.bounds.getSouthWest();
          var ne = e.bounds.getNorthEast();
          e.bounds = L.latLngBounds([sw.lat + dLat, sw.lng + dLng], [ne.lat + dLat, ne.lng + dLng]);
        }
      }
    });
    locate.options.onLocationError = function (err) {
      setStatus(fmt(state.text.locate_failed, { detail: err.message }), true);
    };
  }

  function wireControls() {
    document.getElementById("st-filter-toggle").addEventListener("click", function () {
      toggleFilter(document.getElementById("st-filter").hidden);
    });
    document.getElementById("st-filter-done").addEventListener("click", function () {
      toggleFilter(false);
    });
    document.getElementById("st-filter-clear").addEventListener("click", function () {
      var boxes = document.querySelectorAll("#st-filter input[type=checkbox]");
      Array.prototype.forEach.call(boxes, function (box) {
        box.checked = false;
      });
      applyFilter();
    });
    document.getElementById("st-filter").addEventListener("change", applyFilter);
    document.getElementById("st-nearest").addEventListener("click", function () {
      findNearest();
    });
  }

  function init(map, cluster, locate, config) {
    state.config = config;
    state.text = config.text;
    state.map = map;
    state.cluster = cluster;
    state.amenityLabels = config.amenities.map(function (pair) {
      return pair[1];
    });
    state.amenityIndex = {};
    config.amenities.forEach(function (pair, i) {
      state.amenityIndex[pair[0]] = i;
    });
    // Leaflet's default prefix carries a national flag; a union's public page keeps
    // the credit without it. Metric scale only: nobody here reads miles.
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    L.control.scale({ imperial: false }).addTo(map);
    cluster.options.iconCreateFunction = clusterIcon;
    buildMarkers(config.stations);
    if (config.position) {
      state.position = config.position;
      showPosition();
    }
    wireLocateControl(map, locate);
    wireControls();
    applyFilter();
  }

  /* Bring a station's marker on screen (zooming or spiderfying its cluster). */
  function reveal(id) {
    var marker = state.byId[id];
    return new Promise(function (resolve) {
      state.cluster.zoomToShowLayer(marker, function () {
        resolve(marker);
      });
    });
  }

  window.RestStations = {
    init: init,
    findNearest: findNearest,
    reveal: reveal,
    wgs84ToGcj02: wgs84ToGcj02,
    state: state,
  };
})();
