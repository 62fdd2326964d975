/*
 * The public station map's behaviour: markers, popups, the amenity filter and the
 * "nearest open station" button. web/pages.py renders the Folium map once for every
 * rider and calls RestStations.init(map, cluster, locateControl, config); the stations of
 * the view come from /api/v1/map/stations (web/map_data.py) as the rider pans and every
 * minute, and what the link asks for (lat/lon, at, amenities) is read here.
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
    markers: [], // the markers of the stations in the loaded view
    byId: {}, // feature id -> marker (kept across views)
    cells: null, // layer of count badges, when the view is too wide to list
    loading: null, // the newest view request in flight: {query, done}
    view: null, // the view last shown: {bbox, zoom, cells, total}
    loadTimer: null,
    position: null, // [lat, lon] WGS-84 of the user (from the URL, located, or tapped)
    picking: false, // the next tap on the map sets the position
    allDay: false, // the "24 h" chip: stations open for the next 24 hours
    results: null, // the nearest answer the sheet lists
    searching: null, // the newest search request: older answers are ignored
    positionLayer: null,
    highlighted: null, // the station chosen from the nearest list: on the map itself
    searched: null, // the station chosen from a search: on the map itself too
    kept: false, // the service worker is in charge (and was asked to keep this view)
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

  // datums from geodesy.js, shared with the service worker
  var wgs84ToGcj02 = RestStationsGeo.wgs84ToGcj02;
  var gcj02ToBd09 = RestStationsGeo.gcj02ToBd09;

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
    var said = fmt(state.text.cluster_title, { open: open, total: n });
    var inner = el("span", null, null, String(n));
    inner.title = said;
    inner.setAttribute("aria-label", said);
    // all open: green; none: grey; some: green with how many are open on its shoulder
    if (open && open < n) el("span", "st-open-count", inner, String(open));
    return L.divIcon({
      html: inner,
      className: "st-cluster " + (open ? "st-cluster-open" : "st-cluster-closed"),
      iconSize: [size, size],
    });
  }

  /* A map point (GCJ-02 on Amap tiles) back to WGS-84, iterating the forward formula. */
  function fromDisplay(latlng) {
    if (!state.config.gcj02) return [latlng.lat, latlng.lng];
    var w = RestStationsGeo.gcj02ToWgs84(latlng.lng, latlng.lat);
    return [w[1], w[0]];
  }

  /* [gcj_lon, gcj_lat, bd_lon, bd_lat] of a WGS-84 [lat, lon], as the view's "nav". */
  function navCoords(latlon) {
    var g = wgs84ToGcj02(latlon[1], latlon[0]);
    var b = gcj02ToBd09(g[0], g[1]);
    return [g[0], g[1], b[0], b[1]].map(function (v) {
      return Math.round(v * 1e6) / 1e6;
    });
  }

  /*
   * Riding routes in the rider's map app (Amap's and Baidu's URI APIs: they open the app
   * when it is installed, their mobile web page otherwise). From the rider's position when
   * the page knows it, else the app asks. Coordinates in each app's own datum.
   */
  function amapUrl(st) {
    var q = new URLSearchParams();
    if (state.position) {
      var from = navCoords(state.position);
      q.set("from", from[0] + "," + from[1] + "," + state.text.my_position);
    }
    q.set("to", st.nav[0] + "," + st.nav[1] + "," + st.name);
    q.set("mode", "ride");
    q.set("coordinate", "gaode");
    q.set("callnative", "1");
    q.set("src", "union.reststations");
    return "https://uri.amap.com/navigation?" + q.toString();
  }

  function baiduUrl(st) {
    var q = new URLSearchParams();
    if (state.position) {
      var from = navCoords(state.position);
      q.set("origin", "latlng:" + from[3] + "," + from[2] + "|name:" + state.text.my_position);
    }
    q.set("destination", "latlng:" + st.nav[3] + "," + st.nav[2] + "|name:" + st.name);
    q.set("mode", "riding");
    q.set("coord_type", "bd09ll");
    q.set("output", "html");
    q.set("src", "webapp.union.reststations");
    return "https://api.map.baidu.com/direction?" + q.toString();
  }

  function routeLinks(st, parent) {
    var t = state.text;
    var nav = el("p", "st-nav", parent);
    nav.setAttribute("aria-label", t.navigate);
    [
      [t.route_amap, amapUrl(st), "st-amap"],
      [t.route_baidu, baiduUrl(st), "st-baidu"],
    ].forEach(function (link) {
      var a = el("a", "st-nav-link " + link[2], nav, link[0]);
      a.setAttribute("aria-label", fmt(t.route_to, { route: link[0], name: st.name }));
      a.href = link[1];
      a.target = "_blank";
      a.rel = "noopener";
    });
    return nav;
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
    if (listed(st.id)) {
      // the sheet's list has the rest; a short popup leaves the map room for the rider
      root.className += " st-popup-short";
      return root;
    }
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
    if (state.picking) {
      // where a tap on the map is not possible (a keyboard, a screen reader): "I am here"
      var here = el("button", "st-here", root, t.here);
      here.type = "button";
      here.addEventListener("click", function () {
        hereAt(st);
      });
    }
    routeLinks(st, root);
    return root;
  }

  /* Whether the sheet's list shows this station. */
  function listed(id) {
    if (!state.results) return false;
    return state.results.features.some(function (feature) {
      return featureId(feature) === id;
    });
  }

  function makeMarker(st) {
    var marker = L.marker([st.lat, st.lon], {
      icon: stationIcon(st, false),
      title: st.name,
      alt: st.name,
      riseOnHover: true,
    });
    marker.station = st;
    marker.bindPopup(
      function () {
        // text, never HTML: a name is data an editor or an import typed
        return popupContent(marker.station);
      },
      {
        maxWidth: Math.min(300, window.innerWidth - 130),
        minWidth: 220,
        // Keep the popup clear of the zoom and locate buttons on the left.
        autoPanPaddingTopLeft: [60, 10],
        autoPanPaddingBottomRight: [10, 10],
      }
    );
    return marker;
  }

  /* A station of the view's answer, as the markers and popups use it. */
  function stationOf(feature) {
    var st = {};
    var p = feature.properties;
    for (var key in p) if (Object.prototype.hasOwnProperty.call(p, key)) st[key] = p[key];
    st.id = feature.id;
    // geometry is WGS-84; on Amap's tiles the marker goes where "nav" says (GCJ-02)
    var c = state.config.gcj02 ? p.nav : feature.geometry.coordinates;
    st.lon = c[0];
    st.lat = c[1];
    return st;
  }

  function showStations(features) {
    state.cells.clearLayers();
    var markers = [];
    var changed = [];
    features.forEach(function (feature) {
      var st = stationOf(feature);
      var marker = state.byId[st.id];
      if (marker) {
        var before = marker.station;
        marker.station = st;
        // only what changed: a moved marker is taken out of its cluster and put back
        if (Math.abs(before.lat - st.lat) > 2e-6 || Math.abs(before.lon - st.lon) > 2e-6) {
          marker.setLatLng([st.lat, st.lon]);
        }
        if (before.state !== st.state || before.open !== st.open) {
          marker.setIcon(stationIcon(st, marker === state.highlighted));
          changed.push(marker);
        }
      } else {
        marker = makeMarker(st);
        state.byId[st.id] = marker;
      }
      markers.push(marker);
    });
    [state.highlighted, state.searched].forEach(function (own) {
      if (own && markers.indexOf(own) < 0) markers.push(own); // kept across views
    });
    // markers of views gone by are let go, except the chosen one
    var keep = {};
    markers.forEach(function (m) {
      keep[m.station.id] = true;
    });
    for (var id in state.byId) {
      if (Object.prototype.hasOwnProperty.call(state.byId, id) && !keep[id]) delete state.byId[id];
    }
    state.markers = markers;
    applyFilter();
    var inCluster = changed.filter(function (m) {
      return state.cluster.hasLayer(m);
    });
    if (inCluster.length) state.cluster.refreshClusters(inCluster); // "n of m open" badges
  }

  function showCells(features, total) {
    state.markers = [state.highlighted, state.searched].filter(function (own, i, both) {
      return own && both.indexOf(own) === i;
    });
    applyFilter();
    state.cells.clearLayers();
    features.forEach(function (feature) {
      var c = (state.config.gcj02 && feature.properties.pos) || feature.geometry.coordinates;
      var n = feature.properties.count;
      var size = n < 10 ? 38 : n < 100 ? 44 : 52;
      var badge = L.marker([c[1], c[0]], {
        icon: L.divIcon({
          html: el("span", null, null, String(n)),
          className: "st-cluster st-cell",
          iconSize: [size, size],
        }),
        title: fmt(state.text.cell_title, { total: n }),
      });
      function zoomIn() {
        state.map.setView(badge.getLatLng(), state.map.getZoom() + 2);
      }
      badge.on("click", zoomIn);
      badge.on("keypress", function (e) {
        if (e.originalEvent && e.originalEvent.keyCode === 13) zoomIn();
      });
      state.cells.addLayer(badge);
    });
    var count = document.getElementById("st-count");
    if (count) count.textContent = fmt(state.text.cells_shown, { total: total });
    renderList();
  }

  // --- the view's stations -------------------------------------------------------------

  function round(value) {
    return Math.round(value * 1e5) / 1e5;
  }

  function round6(value) {
    return Math.round(value * 1e6) / 1e6;
  }

  function viewQuery() {
    var b = state.map.getBounds().pad(0.25); // a little around: panning shows no gap
    var clamp = function (v, lo, hi) {
      return Math.min(hi, Math.max(lo, round(v)));
    };
    var box = [
      clamp(b.getWest(), -180, 180),
      clamp(b.getSouth(), -90, 90),
      clamp(b.getEast(), -180, 180),
      clamp(b.getNorth(), -90, 90),
    ];
    var q = new URLSearchParams({ bbox: box.join(","), lang: state.config.lang });
    if (state.config.gcj02) q.set("crs", "gcj02");
    if (state.config.at) q.set("at", state.config.at);
    return q;
  }

  function loadView() {
    var query = viewQuery();
    var box = query.get("bbox").split(",").map(Number);
    if (box[0] >= box[2] || box[1] >= box[3]) return Promise.resolve(); // past the antimeridian
    if (state.loading && state.loading.query === query.toString()) return state.loading.done;
    // an older request still on its way is left to finish and then ignored: cancelling
    // it would only show up as a failed request on a slow network
    var request = { query: query.toString() };
    state.loading = request;
    var zoom = state.map.getZoom();
    var options = { headers: { Accept: "application/geo+json, application/problem+json" } };
    request.done = fetch(state.config.viewApi + "?" + request.query, options)
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.detail || body.title || String(response.status));
          return body;
        });
      })
      .then(function (body) {
        if (state.loading !== request) return; // a newer view is on its way
        state.loading = null;
        showAsOf(body.at, !!state.config.at); // the server's reading of the link's time
        setLoadError("");
        showOffline(body);
        if (body.offline) wordChanges(body);
        if (body.cells) showCells(body.features, body.numberMatched);
        else showStations(body.features);
        state.view = {
          bbox: query.get("bbox").split(",").map(Number),
          zoom: zoom,
          cells: body.cells,
          total: body.numberMatched,
        };
      })
      .catch(function (err) {
        if (state.loading !== request) return;
        state.loading = null;
        setLoadError(fmt(state.text.view_failed, { detail: err.message }));
      });
    return request.done;
  }

  /*
   * Answers the service worker gave from the phone's copy carry "offline" and the copy's
   * age ("data_at"): a banner says so, until an answer comes from the server again.
   */
  function showOffline(body) {
    var node = document.getElementById("st-offline");
    if (!node) return;
    if (!body.offline) {
      node.hidden = true;
      return;
    }
    var t = state.text;
    var minutes = Math.max(0, Math.round((Date.now() - Date.parse(body.data_at)) / 60000));
    // by the hour: a text that changed every minute would be read out every minute
    var age =
      minutes < 60
        ? t.age_now
        : minutes < 48 * 60
        ? fmt(t.age_h, { n: Math.round(minutes / 60) })
        : fmt(t.age_d, { n: Math.round(minutes / 1440) });
    node.textContent = fmt(t.offline_banner, { age: age, time: beijingParts(body.data_at).hhmm });
    node.hidden = false;
  }

  /* Offline view answers bring next_change, not the server's words for it. */
  function wordChanges(body) {
    body.features.forEach(function (feature) {
      var p = feature.properties;
      if (p.change) return;
      p.change = changeText(
        {
          open: p.open,
          next_change: p.next_change,
          closes_in_min: p.closes_in_min,
          opening_hours: p.hours,
          opening_hours_text: p.text,
        },
        body.at
      );
    });
  }

  /* A failed view load has its own line: the status line keeps the "nearest" answer. */
  function setLoadError(message) {
    var node = document.getElementById("st-load-error");
    if (!node || node.textContent === message) return;
    node.textContent = message;
    node.hidden = !message;
  }

  function scheduleLoad() {
    clearTimeout(state.loadTimer);
    state.loadTimer = setTimeout(loadView, 150);
  }

  /* "as of 2025-11-24 10:00 (Beijing time)" for an ISO instant. */
  function showAsOf(iso, fixed) {
    var node = document.getElementById("st-as-of");
    if (!node) return;
    var t = state.text;
    node.textContent = (fixed ? t.fixed_time + " · " : "") + fmt(t.as_of, { time: beijing(iso) });
    node.className = "st-as-of" + (fixed ? " st-fixed" : "");
  }

  function beijing(iso) {
    var text = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : iso + "+08:00";
    var d = new Date(new Date(text).getTime() + 8 * 3600 * 1000);
    function two(n) {
      return (n < 10 ? "0" : "") + n;
    }
    return (
      d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) + " " +
      two(d.getUTCHours()) + ":" + two(d.getUTCMinutes())
    );
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
    var wanted = function (m) {
      return matches(m.station, needed, onlyOpen);
    };
    var visible = state.markers.filter(function (m) {
      // the chosen one and the one searched for: on the map itself
      return m !== state.highlighted && m !== state.searched && wanted(m);
    });
    // only what changed: removing a marker would close its open popup
    var keep = {};
    visible.forEach(function (m) {
      keep[m.station.id] = true;
    });
    var gone = state.cluster.getLayers().filter(function (m) {
      return !keep[m.station.id] || state.byId[m.station.id] !== m;
    });
    if (gone.length) state.cluster.removeLayers(gone);
    var added = visible.filter(function (m) {
      return !state.cluster.hasLayer(m);
    });
    if (added.length) state.cluster.addLayers(added);
    var shown = state.markers.filter(wanted).length;
    var count = document.getElementById("st-count");
    if (count) count.textContent = fmt(state.text.shown, { n: shown, total: state.markers.length });
    renderList();
    var badge = document.getElementById("st-filter-count");
    var active = needed.length + (onlyOpen ? 1 : 0);
    if (badge) {
      badge.hidden = active === 0;
      badge.textContent = String(active);
    }
  }

  // --- the list view: the stations on screen, for screen readers and small eyes ----------

  var LIST_MAX = 50;

  function toggleList(show) {
    var panel = document.getElementById("st-list");
    var toggle = document.getElementById("st-list-toggle");
    panel.hidden = !show;
    toggle.setAttribute("aria-expanded", show ? "true" : "false");
    if (show) {
      toggleFilter(false);
      toggleSearch(false);
      renderList();
      document.getElementById("st-list-title").focus();
    } else if (panel.contains(document.activeElement) || document.activeElement === document.body) {
      toggle.focus();
    }
  }

  /* What the map shows, as a list: the stations in view that pass the filter, nearest
   * first (to the rider, else to the map's centre), each with its state in words. */
  function renderList() {
    var panel = document.getElementById("st-list");
    if (!panel || panel.hidden) return;
    var t = state.text;
    var items = document.getElementById("st-list-items");
    var count = document.getElementById("st-list-count");
    // a keyboard or a screen reader on an entry stays on it when the list is rebuilt
    var focused = items.contains(document.activeElement)
      ? document.activeElement.closest("[data-station-id]")
      : null;
    var focusId = focused && focused.getAttribute("data-station-id");
    items.textContent = "";
    if (state.view && state.view.cells) {
      count.textContent = fmt(t.list_cells, { total: state.view.total });
      return;
    }
    var bounds = state.map.getBounds();
    var needed = selectedAmenities();
    var onlyOpen = openOnly();
    // geodesic metres, WGS-84, as the nearest search measures them
    var from = state.position || fromDisplay(state.map.getCenter());
    var inView = state.markers
      .filter(function (m) {
        return matches(m.station, needed, onlyOpen) && bounds.contains(m.getLatLng());
      })
      .map(function (m) {
        var at = fromDisplay(m.getLatLng());
        return { marker: m, metres: RestStationsGeo.metres(from[1], from[0], at[1], at[0]) };
      })
      .sort(function (a, b) {
        return a.metres - b.metres || a.marker.station.id - b.marker.station.id;
      });
    count.textContent = inView.length ? fmt(t.list_count, { n: inView.length }) : t.list_empty;
    inView.slice(0, LIST_MAX).forEach(function (entry) {
      var st = entry.marker.station;
      var item = el("li", "st-list-item", items);
      item.setAttribute("data-station-id", String(st.id));
      var head = el("h3", "st-list-name", item, st.name);
      head.appendChild(document.createTextNode(" "));
      el("span", "st-list-distance", head, distanceText(entry.metres));
      var said = t[st.state] || (st.open ? t.open : t.closed);
      el("p", "st-state st-is-" + (st.state || ""), item, said + " · " + st.change);
      el("p", "st-hours", item, st.text || st.hours || t.hours_unknown);
      if (st.address) el("p", "st-address", item, st.address);
      var show = el("button", "st-button st-secondary st-list-show", item, t.list_show);
      show.type = "button";
      show.setAttribute("aria-label", t.list_show + "：" + st.name);
      show.addEventListener("click", function () {
        toggleList(false);
        showFound(entry.marker);
      });
    });
    if (inView.length > LIST_MAX) el("li", "st-list-more", items, fmt(t.list_more, { n: inView.length - LIST_MAX }));
    if (focusId) {
      var again = items.querySelector('[data-station-id="' + focusId + '"] .st-list-show');
      if (again) again.focus();
    }
  }

  function toggleFilter(show) {
    var panel = document.getElementById("st-filter");
    var button = document.getElementById("st-filter-toggle");
    panel.hidden = !show;
    button.setAttribute("aria-expanded", show ? "true" : "false");
    if (show) {
      document.getElementById("st-search").hidden = true;
      document.getElementById("st-search-toggle").setAttribute("aria-expanded", "false");
      hideList();
    }
  }

  function hideList() {
    document.getElementById("st-list").hidden = true;
    document.getElementById("st-list-toggle").setAttribute("aria-expanded", "false");
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
      pane: "stPosition",
      interactive: false, // a tap goes through to a station underneath
      radius: 9,
      weight: 3,
      color: "#ffffff",
      fillColor: "#1f6feb",
      fillOpacity: 1,
      className: "st-position",
    }).addTo(state.map);
  }

  /* The phone's error, said in the page's language; the rider may then tap the map. */
  function locateError(code) {
    var t = state.text;
    var said = code === 1 ? t.locate_denied : code === 3 ? t.locate_timeout : t.locate_unavailable;
    startPicking();
    return new Error(said);
  }

  function currentPosition() {
    if (state.position) return Promise.resolve(state.position);
    if (!navigator.geolocation) return Promise.reject(locateError(2));
    setStatus(state.text.locating);
    return new Promise(function (resolve, reject) {
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          state.position = [pos.coords.latitude, pos.coords.longitude];
          showPosition();
          resolve(state.position);
        },
        function (err) {
          reject(locateError(err.code));
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  /* Without a located phone: the next tap on the map says where the rider is. */
  function startPicking() {
    state.picking = true;
    state.map.getContainer().classList.add("st-picking");
  }

  /* A tap (while picking) or a long-press (any time) on the map sets the position. */
  function pickPosition(e) {
    if (e.type === "click" && (!state.picking || state.tapClosesPopup)) return;
    state.picking = false;
    state.map.getContainer().classList.remove("st-picking");
    state.position = fromDisplay(e.latlng);
    showPosition();
    findNearest();
  }

  function distanceText(metres) {
    var t = state.text;
    if (metres < 1000) return fmt(t.metres, { n: Math.round(metres) });
    return fmt(t.km, { n: (metres / 1000).toFixed(1) });
  }

  function breakMinutes() {
    var select = document.getElementById("st-break");
    var minutes = select ? parseInt(select.value, 10) : state.config.breakDefault;
    if (state.allDay) return state.config.allDayMin;
    return isFinite(minutes) ? minutes : state.config.breakDefault;
  }

  function queryNearest(position) {
    var config = state.config;
    var q = new URLSearchParams({
      lat: position[0].toFixed(6),
      lon: position[1].toFixed(6),
      limit: String(config.nearestCount),
      within_m: String(config.withinM),
      lang: config.lang,
    });
    var minutes = breakMinutes();
    if (minutes) q.set("open_for_min", String(minutes));
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

  /* Beijing calendar date and "HH:MM" of an ISO instant. */
  function beijingParts(iso) {
    var text = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : iso + "+08:00";
    var d = new Date(new Date(text).getTime() + 8 * 3600 * 1000);
    function two(n) {
      return (n < 10 ? "0" : "") + n;
    }
    return {
      day: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) / 86400000,
      weekday: (d.getUTCDay() + 6) % 7, // Monday 0, as text.weekdays
      month: d.getUTCMonth() + 1,
      date: d.getUTCDate(),
      hhmm: two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()),
    };
  }

  /*
   * "closes in 12 min", "closes today 22:00", "opens tomorrow 08:00": the nearest answer's
   * next change in words (the view's stations bring the server's own words, "change").
   */
  function changeText(p, atIso) {
    var t = state.text;
    if (!p.next_change) {
      if (!p.opening_hours_text && !p.opening_hours) return t.hours_unknown;
      return p.open ? t.always_open : t.not_opening;
    }
    if (p.open && p.closes_in_min !== null && p.closes_in_min !== undefined && p.closes_in_min < 60) {
      return fmt(t.closes_in, { n: p.closes_in_min });
    }
    var when = beijingParts(p.next_change);
    var days = when.day - beijingParts(atIso).day;
    var prefix;
    if (days === 0) prefix = t.today;
    else if (days === 1) prefix = t.tomorrow;
    else if (days < 7) prefix = t.weekdays[when.weekday];
    else {
      var months = t.months || [];
      prefix = fmt(t.date, { month: when.month, day: when.date, month_name: months[when.month - 1] || "" });
    }
    return fmt(p.open ? t.closes : t.opens, { when: prefix + when.hhmm });
  }

  function featureId(feature) {
    return feature.id !== undefined && feature.id !== null ? feature.id : feature.properties.id;
  }

  /* A station of the nearest answer, in the form the view's stations have. */
  function stationFromAnswer(feature, atIso) {
    var p = feature.properties;
    var c = feature.geometry.coordinates;
    // to the view's precision (6 decimals): when the view brings the same station, it
    // must not look moved (a moved marker's open popup pans the map after it)
    var display = toDisplay([c[1], c[0]]).map(round6);
    return {
      id: featureId(feature),
      name: p.name,
      address: p.address || "",
      hours: p.opening_hours || "",
      text: p.opening_hours_text || "",
      open: p.open,
      state: p.state,
      change: changeText(p, atIso),
      am: (p.amenities || [])
        .map(function (a) {
          return state.amenityIndex[a.code];
        })
        .filter(function (i) {
          return i !== undefined;
        }),
      nav: navCoords([c[1], c[0]]),
      lat: display[0],
      lon: display[1],
    };
  }

  function markerFor(feature, atIso) {
    var st = stationFromAnswer(feature, atIso);
    var marker = state.byId[st.id];
    if (!marker) {
      // Outside the loaded view: drawn from the answer until the view brings it.
      marker = makeMarker(st);
      state.byId[st.id] = marker;
    } else {
      marker.station = st; // the answer is the newer word
    }
    if (state.markers.indexOf(marker) < 0) state.markers.push(marker);
    if (marker !== state.highlighted && !state.cluster.hasLayer(marker)) {
      state.cluster.addLayer(marker);
    }
    return marker;
  }

  /*
   * The chosen station leaves the cluster layer for the map itself while it is chosen:
   * no cluster can hide it, and views loading as the rider pans (which re-cluster the
   * layer) never close its popup. The map then shows it, its popup and the rider.
   */
  function highlight(marker) {
    var previous = state.highlighted;
    if (previous && previous !== marker) {
      previous.setIcon(stationIcon(previous.station, false));
      previous.setZIndexOffset(0);
      previous.closePopup();
      previous.remove();
    }
    if (state.searched === marker) state.searched = null;
    else releaseSearched();
    state.highlighted = marker;
    if (state.cluster.hasLayer(marker)) state.cluster.removeLayer(marker);
    marker.setIcon(stationIcon(marker.station, true));
    marker.setZIndexOffset(1000);
    marker.addTo(state.map);
    applyFilter(); // the previous one back into the clusters
    state.map.invalidateSize({ animate: false }); // the sheet may have grown
    // the popup first, unpanned: its height is room the view keeps free above the station
    marker.getPopup().options.autoPan = false;
    marker.openPopup();
    showWithRider(marker);
    marker.getPopup().options.autoPan = true;
    markChosen(marker.station.id);
    return Promise.resolve(marker);
  }

  /*
   * The closest view that holds the chosen station, its popup above it and the rider's
   * dot clear of the popup (Leaflet's fitBounds would pad every point by the popup's size
   * and show the city for a station 2 km away).
   */
  function showWithRider(marker) {
    var map = state.map;
    var popup = marker.getPopup().getElement();
    var halfWidth = popup ? popup.offsetWidth / 2 + 8 : 24;
    var above = popup ? popup.offsetHeight + 30 : 30;
    var size = map.getSize();
    // the zoom and locate buttons stand above popups along the left edge: kept clear
    var corner = map.getContainer().querySelector(".leaflet-top.leaflet-left");
    var buttons = corner ? corner.getBoundingClientRect().right + 8 : 0;
    var you = toDisplay(state.position);
    var best = null;
    for (var z = map.getMaxZoom(); z >= map.getMinZoom(); z--) {
      var m = map.project(marker.getLatLng(), z);
      var p = map.project(you, z);
      var left = Math.min(p.x - 16, m.x - halfWidth);
      var right = Math.max(p.x + 16, m.x + halfWidth);
      var top = Math.min(p.y - 16, m.y - above);
      var bottom = Math.max(p.y + 16, m.y + 28);
      if (right - left > size.x - buttons - 8 || bottom - top > size.y - 16) continue;
      best = {
        zoom: z,
        centre: L.point((left + right - buttons) / 2, (top + bottom) / 2),
        // zooming out only brings the dot closer: if the closest view that fits hides
        // it under the popup, every view that fits does (the rider is a few metres away)
        hidesRider: Math.abs(p.x - m.x) < halfWidth + 12 && p.y < m.y && p.y > m.y - above - 12,
      };
      break;
    }
    if (!best) {
      map.fitBounds(L.latLngBounds([marker.getLatLng(), you]), { animate: false, padding: [30, 30] });
      return;
    }
    map.setView(map.unproject(best.centre, best.zoom), best.zoom, { animate: false });
    if (best.hidesRider) marker.closePopup(); // the rider first; the list has the rest
  }

  function markChosen(id) {
    var items = document.querySelectorAll("#st-result-list .st-result");
    Array.prototype.forEach.call(items, function (item) {
      var chosen = item.getAttribute("data-station-id") === String(id);
      item.classList.toggle("st-chosen", chosen);
      var pick = item.querySelector(".st-result-pick");
      if (pick) pick.setAttribute("aria-current", chosen ? "true" : "false");
    });
  }

  function resultItem(feature, rank, atIso) {
    var t = state.text;
    var p = feature.properties;
    var st = stationFromAnswer(feature, atIso);
    var item = el("li", "st-result");
    item.setAttribute("data-station-id", String(st.id));
    var pick = el("button", "st-result-pick", item);
    pick.type = "button";
    el("span", "st-rank", pick, String(rank));
    el("span", "st-result-name", pick, st.name);
    el("span", "st-result-distance", pick, distanceText(p.distance_m));
    var said = t[p.state] || (p.open ? t.open : t.closed);
    var badge = el("p", "st-badge-state st-is-" + p.state, item);
    el("strong", null, badge, said);
    badge.appendChild(document.createTextNode(" · " + st.change));
    el("p", "st-result-hours", item, st.text || st.hours || t.hours_unknown);
    if (p.amenities && p.amenities.length) {
      var chips = el("ul", "st-result-amenities", item);
      chips.setAttribute("aria-label", t.amenities);
      p.amenities.forEach(function (a) {
        el("li", null, chips, a.label);
      });
    }
    routeLinks(st, item);
    pick.addEventListener("click", function () {
      highlight(markerFor(feature, atIso));
    });
    return item;
  }

  /* The answer as the sheet's list; hidden when there is nothing to list. */
  function showResults(collection, keepPlace) {
    var section = document.getElementById("st-results");
    var list = document.getElementById("st-result-list");
    var scrolled = list.scrollTop;
    list.textContent = "";
    collection.features.forEach(function (feature, i) {
      list.appendChild(resultItem(feature, i + 1, collection.at));
    });
    list.scrollTop = keepPlace ? scrolled : 0; // a refresh keeps the rider's place
    section.hidden = collection.features.length === 0;
    document.getElementById("st-sheet").classList.toggle("st-listing", !section.hidden);
    state.results = collection;
  }

  function hideResults() {
    document.getElementById("st-results").hidden = true;
    document.getElementById("st-sheet").classList.remove("st-listing");
    state.results = null;
    state.map.invalidateSize({ animate: false });
  }

  function findNearest() {
    var t = state.text;
    var button = document.getElementById("st-nearest");
    var ask = {}; // the newest question wins: a minute's refresh or a tap asked before it loses
    state.asked = ask;
    button.disabled = true;
    return currentPosition()
      .then(function (position) {
        setStatus(t.searching);
        return queryNearest(position).catch(function (err) {
          throw new Error(fmt(t.failed, { detail: err.message }));
        });
      })
      .then(function (collection) {
        if (state.asked !== ask) return null;
        showOffline(collection);
        showPosition();
        showResults(collection);
        var first = collection.features[0];
        if (!first) {
          var km = state.config.withinM / 1000;
          var minutes = breakMinutes();
          setStatus(
            minutes ? fmt(t.none_found_break, { km: km, min: minutes }) : fmt(t.none_found, { km: km }),
            true
          );
          state.map.invalidateSize({ animate: false });
          return null;
        }
        setStatus(
          fmt(t.found_list, {
            n: collection.features.length,
            name: first.properties.name,
            distance: distanceText(first.properties.distance_m),
          })
        );
        return highlight(markerFor(first, collection.at));
      })
      .catch(function (err) {
        setStatus(err.message, true);
      })
      .then(function (result) {
        button.disabled = false;
        return result;
      });
  }

  /* Each minute the list's states move on; the chosen station and the view stay. */
  function refreshResults() {
    if (!state.results || !state.position || state.config.at) return Promise.resolve();
    var ask = state.asked;
    return queryNearest(state.position).then(
      function (collection) {
        if (state.asked !== ask || !state.results) return; // a newer question, or list closed
        var chosen = state.highlighted && state.highlighted.station.id;
        showResults(collection, true);
        collection.features.forEach(function (feature) {
          if (featureId(feature) === chosen) markerFor(feature, collection.at);
        });
        if (chosen !== null) markChosen(chosen);
        if (state.highlighted) state.highlighted.setIcon(stationIcon(state.highlighted.station, true));
      },
      function () {
        // a failed refresh keeps the list: the next minute tries again
      }
    );
  }

  // --- search ------------------------------------------------------------------------

  var SEARCH_MIN_CHARS = 2; // as one types; a Chinese district name is two characters

  function toggleSearch(show, chosen) {
    var panel = document.getElementById("st-search");
    var toggle = document.getElementById("st-search-toggle");
    var hadFocus = panel.contains(document.activeElement);
    panel.hidden = !show;
    toggle.setAttribute("aria-expanded", show ? "true" : "false");
    if (show) {
      toggleFilter(false);
      hideList();
      document.getElementById("st-search-q").focus();
    } else if (hadFocus) {
      // focus never falls to the page's top: to the status that says what happened, or back
      // to the button that opened the panel
      var status = document.getElementById("st-status");
      if (chosen && status && status.textContent) {
        status.setAttribute("tabindex", "-1");
        status.focus();
      } else {
        toggle.focus();
      }
    }
  }

  function setSearchStatus(message, isError) {
    var node = document.getElementById("st-search-status");
    node.textContent = message || "";
    node.className = "st-status" + (isError ? " st-error" : "");
  }

  /* Ask the server (name, address or district; nearest the map's centre first). */
  function runSearch(q) {
    var t = state.text;
    var centre = state.map.getCenter();
    var query = new URLSearchParams({
      q: q,
      near: round(centre.lng) + "," + round(centre.lat),
      lang: state.config.lang,
    });
    if (state.config.gcj02) query.set("crs", "gcj02");
    var request = { q: q };
    state.searching = request;
    return fetch(state.config.searchApi + "?" + query.toString(), {
      headers: { Accept: "application/json, application/problem+json" },
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.detail || body.title || String(response.status));
          return body;
        });
      })
      .then(function (body) {
        if (state.searching !== request) return; // the rider typed on
        showSearchResults(body);
      })
      .catch(function (err) {
        if (state.searching !== request) return;
        setSearchStatus(fmt(t.search_failed, { detail: err.message }), true);
      });
  }

  function showSearchResults(body) {
    var t = state.text;
    var list = document.getElementById("st-search-results");
    list.textContent = "";
    body.districts.forEach(function (d) {
      var item = el("li", "st-search-district", list);
      var button = el("button", "st-search-pick", item, fmt(t.district_result, { name: d.name, n: d.stations }));
      button.type = "button";
      button.setAttribute("data-district", d.code);
      button.addEventListener("click", function () {
        goToDistrict(d);
      });
    });
    body.stations.forEach(function (s) {
      var item = el("li", "st-search-station", list);
      var button = el("button", "st-search-pick", item);
      button.type = "button";
      button.setAttribute("data-station-id", String(s.id));
      el("span", "st-search-name", button, s.name);
      el("span", "st-search-address", button, s.address || s.district.name);
      button.addEventListener("click", function () {
        goToStation(s);
      });
    });
    var none = !body.districts.length && !body.stations.length;
    setSearchStatus(none ? fmt(t.search_none, { q: body.q }) : "", none);
  }

  /* After a search the rider still has to say where they are: the next tap does. */
  function askForPosition() {
    if (state.position) return;
    startPicking();
    setStatus(state.text.pick_prompt);
  }

  function goToDistrict(d) {
    askForPosition();
    toggleSearch(false, true);
    state.map.fitBounds(
      [
        [d.bbox[1], d.bbox[0]],
        [d.bbox[3], d.bbox[2]],
      ],
      { animate: false }
    );
  }

  function goToStation(s) {
    askForPosition();
    toggleSearch(false, true);
    state.map.setView([s.position[1], s.position[0]], 16, { animate: false });
    // the view's answer brings the station with its state; then its popup opens
    return loadView()
      .then(function () {
        var marker = state.byId[s.id];
        if (!marker || !matches(marker.station, selectedAmenities(), openOnly())) return marker;
        return clustered(marker).then(function () {
          return reveal(s.id);
        });
      })
      .then(showFound);
  }

  /*
   * A station asked for by name (search) or from the list view, with its popup: on the
   * map itself while it is the one asked for, as the nearest list's chosen station, so
   * that no cluster swallows it (closing its popup) as views load around it, and the
   * filter does not hide what the rider asked for.
   */
  function showFound(marker) {
    if (!marker) return null;
    if (marker !== state.highlighted) {
      releaseSearched();
      state.searched = marker;
      if (state.cluster.hasLayer(marker)) state.cluster.removeLayer(marker);
      marker.setZIndexOffset(900);
      marker.addTo(state.map);
      applyFilter();
    }
    marker.openPopup();
    return marker;
  }

  /* The station searched for before goes back among the others. */
  function releaseSearched() {
    var previous = state.searched;
    state.searched = null;
    if (!previous || previous === state.highlighted) return;
    previous.setZIndexOffset(0);
    previous.remove();
  }

  /*
   * Once the clusterer holds the marker: it adds a view's markers in chunks, between
   * frames, and a popup opened on a marker it has not reached yet would be closed by it.
   */
  function clustered(marker) {
    return new Promise(function (resolve) {
      var waited = 0;
      (function check() {
        var own = marker === state.highlighted || marker === state.searched;
        if (own || state.cluster.hasLayer(marker) || waited >= 3000) {
          resolve(marker);
          return;
        }
        waited += 50;
        setTimeout(check, 50);
      })();
    });
  }

  /* "I am near this station": a position without a tap on the map (keyboards, readers). */
  function hereAt(st) {
    state.picking = false;
    state.map.getContainer().classList.remove("st-picking");
    state.position = fromDisplay(L.latLng(st.lat, st.lon));
    showPosition();
    return findNearest();
  }

  function wireSearch() {
    var input = document.getElementById("st-search-q");
    var timer = null;
    document.getElementById("st-search-toggle").addEventListener("click", function () {
      toggleSearch(document.getElementById("st-search").hidden);
    });
    document.getElementById("st-search-close").addEventListener("click", function () {
      toggleSearch(false);
    });
    document.getElementById("st-search-form").addEventListener("submit", function (e) {
      e.preventDefault();
      clearTimeout(timer);
      var q = input.value.trim();
      if (q) runSearch(q);
    });
    function typed(e) {
      clearTimeout(timer);
      if (e.isComposing) return; // a Chinese input method is still choosing characters
      var q = input.value.trim();
      if (!q) {
        // an emptied box empties the answers, and an answer still on its way is dropped
        state.searching = null;
        document.getElementById("st-search-results").textContent = "";
        setSearchStatus("");
        return;
      }
      if (q.length < SEARCH_MIN_CHARS) return; // Enter still searches one character
      timer = setTimeout(function () {
        runSearch(q);
      }, 300);
    }
    input.addEventListener("input", typed);
    input.addEventListener("compositionend", typed);
  }

  // --- preferences on this device ----------------------------------------------------

  var PREFS_KEY = "reststations.prefs";

  function loadPrefs() {
    try {
      return JSON.parse(window.localStorage.getItem(PREFS_KEY) || "{}") || {};
    } catch (e) {
      return {}; // storage off (private mode, some in-app browsers): nothing remembered
    }
  }

  function savePrefs() {
    var select = document.getElementById("st-break");
    var prefs = {
      amenities: selectedAmenities(),
      allDay: !!state.allDay,
      breakMin: select ? parseInt(select.value, 10) : state.config.breakDefault,
    };
    try {
      window.localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
    } catch (e) {
      // as above
    }
  }

  /* The chips show the filter's checkboxes (one state, two controls) and the 24 h wish. */
  function syncChips() {
    var needed = selectedAmenities();
    var chips = document.querySelectorAll(".st-chip[data-amenity]");
    Array.prototype.forEach.call(chips, function (chip) {
      var on = needed.indexOf(chip.getAttribute("data-amenity")) >= 0;
      chip.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var allDay = document.getElementById("st-all-day");
    if (allDay) allDay.setAttribute("aria-pressed", state.allDay ? "true" : "false");
  }

  /* What the rider needs changed: remember it, and ask again if a list is showing. */
  function needsChanged() {
    syncChips();
    applyFilter();
    savePrefs();
    if (state.results) findNearest();
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
      setStatus(locateError(err.code).message, true);
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
      needsChanged();
    });
    document.getElementById("st-filter").addEventListener("change", needsChanged);
    var chips = document.querySelectorAll(".st-chip[data-amenity]");
    Array.prototype.forEach.call(chips, function (chip) {
      chip.addEventListener("click", function () {
        var code = chip.getAttribute("data-amenity");
        var box = document.querySelector('#st-filter input[name="amenity"][value="' + code + '"]');
        if (box) box.checked = !box.checked;
        needsChanged();
      });
    });
    document.getElementById("st-all-day").addEventListener("click", function () {
      state.allDay = !state.allDay;
      needsChanged();
    });
    document.getElementById("st-break").addEventListener("change", needsChanged);
    document.getElementById("st-nearest").addEventListener("click", function () {
      findNearest();
    });
    document.getElementById("st-results-hide").addEventListener("click", hideResults);
    document.getElementById("st-list-toggle").addEventListener("click", function () {
      toggleList(document.getElementById("st-list").hidden);
    });
    document.getElementById("st-list-close").addEventListener("click", function () {
      toggleList(false);
    });
    state.map.on("moveend", renderList);
    wireSearch();
    // a long-press (contextmenu on touch screens) sets the position any time; a tap
    // does while the page is asking for it (location refused or unavailable)
    state.map.on("contextmenu", pickPosition);
    state.map.on("click", pickPosition);
    // a tap that closes a popup only closes it: it is not "I am here" (registered before
    // any popup's own preclick handler, so it sees the popup still open)
    state.map.on("popupopen", function () {
      state.popupOpen = true;
    });
    state.map.on("popupclose", function () {
      state.popupOpen = false;
    });
    state.map.on("preclick", function () {
      state.tapClosesPopup = !!state.popupOpen;
    });
  }

  /*
   * What the link asks for: lat/lon, at and amenities (checked by the server already);
   * what the link does not say comes from what the rider chose last on this device.
   */
  function readLink(config) {
    var q = new URLSearchParams(window.location.search);
    // not q.get: URLSearchParams reads the "+" of "+08:00" as a space
    var at = /[?&]at=([^&]*)/.exec(window.location.search);
    config.at = at && at[1] ? decodeURIComponent(at[1]) : null;
    var lat = parseFloat(q.get("lat"));
    var lon = parseFloat(q.get("lon"));
    config.position = isFinite(lat) && isFinite(lon) ? [lat, lon] : null;
    var prefs = loadPrefs();
    var wanted = q.has("amenities")
      ? q.get("amenities").split(",").map(function (code) {
          return code.trim();
        })
      : prefs.amenities || [];
    state.allDay = prefs.allDay === true;
    var select = document.getElementById("st-break");
    if (select && config.breakChoices.indexOf(prefs.breakMin) >= 0) {
      select.value = String(prefs.breakMin);
    }
    var boxes = document.querySelectorAll('#st-filter input[name="amenity"]');
    Array.prototype.forEach.call(boxes, function (box) {
      box.checked = wanted.indexOf(box.value) >= 0;
    });
    syncChips();
    var other = document.getElementById("st-lang");
    if (other) {
      // the link as it came, lang swapped: re-encoding it would turn "+08:00" into " 08:00"
      var search = window.location.search.replace(/^\?/, "");
      var parts = search.split("&").filter(function (part) {
        return part && part.split("=")[0] !== "lang";
      });
      parts.push("lang=" + (config.lang === "en" ? "zh" : "en"));
      other.href = "?" + parts.join("&");
    }
  }

  function init(map, cluster, locate, config) {
    state.config = config;
    state.text = config.text;
    state.map = map;
    state.cluster = cluster;
    state.cells = L.layerGroup().addTo(map);
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
    // the rider's dot above the station markers (600), below popups (700): no cluster
    // badge may hide where the rider is
    map.createPane("stPosition").style.zIndex = 650;
    readLink(config);
    showAsOf(config.at || new Date().toISOString(), !!config.at);
    if (config.position) {
      state.position = config.position;
      map.setView(toDisplay(config.position), config.positionZoom, { animate: false });
      showPosition();
    }
    wireLocateControl(map, locate);
    wireControls();
    keepForOffline(config);
    map.on("moveend", scheduleLoad);
    if (!config.at) {
      // "open now" moves on; a page in the background (WeChat hidden) spends no data
      setInterval(function () {
        if (!document.hidden) refresh();
      }, 60000);
      document.addEventListener("visibilitychange", function () {
        if (!document.hidden) refresh();
      });
    }
    return loadView();
  }

  function refresh() {
    return Promise.all([loadView(), refreshResults()]);
  }

  /*
   * The service worker (see worker.js) keeps the page, its files and the stations of the
   * views shown, for a phone that loses its signal. When it first takes charge of this
   * page, the view on screen is asked for again, through it, so that it is kept too.
   */
  function keepForOffline(config) {
    var workers = navigator.serviceWorker;
    if (!workers || !config.serviceWorker) return;
    var controlled = !!workers.controller;
    state.kept = controlled;
    workers.addEventListener("controllerchange", function () {
      // a new worker (the first, or a release's) keeps this page as it is now: the one it
      // replaced kept the page with that release's files
      if (workers.controller) workers.controller.postMessage({ keepPage: window.location.href });
      if (controlled) return;
      controlled = true;
      // this page came before any worker: its view is asked for again, through it
      state.loading = null;
      loadView();
      state.kept = true;
    });
    workers.register(config.serviceWorker, { scope: config.scope }).catch(function () {
      // no worker (a WebView without them, storage off): the page works online only
    });
  }

  /* Bring a station's marker on screen (zooming or spiderfying its cluster). */
  function reveal(id) {
    var marker = state.byId[id];
    if (!marker || !state.cluster.hasLayer(marker)) return Promise.resolve(marker); // on the map
    return new Promise(function (resolve) {
      state.cluster.zoomToShowLayer(marker, function () {
        resolve(marker);
      });
    });
  }

  window.RestStations = {
    init: init,
    loadView: loadView,
    findNearest: findNearest,
    reveal: reveal,
    wgs84ToGcj02: wgs84ToGcj02,
    gcj02ToBd09: gcj02ToBd09,
    fromDisplay: fromDisplay,
    search: runSearch,
    state: state,
  };
})();
