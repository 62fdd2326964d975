/* The planner map: layers for an area's coverage, with an hour slider.
 *
 * The page carries the county outlines with 2SFCA scores, the stations with a 24-bit
 * mask of the hours they are open on the chosen date, and the demand points. Gaps at
 * the chosen hour and siting suggestions come from the planner API (same-origin fetch
 * with the session cookie). Written in ES2015 like the public map's script.
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("pl-data").textContent);
  var state = {hour: 12, gapRequests: 0, gapsShown: null, summary: null, sites: 0,
               suggestion: null, error: null};
  var map = L.map("pl-map");  // SVG: each station is an element the page can find
  cfg.tiles.forEach(function (url) {
    L.tileLayer(url, {attribution: cfg.attribution, subdomains: cfg.subdomains,
                      maxZoom: cfg.maxZoom}).addTo(map);
  });

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function hh(h) { return (h < 10 ? "0" : "") + h + ":00"; }

  // --- 2SFCA choropleth and outlines ----------------------------------------------
  var scores = cfg.access.features.map(function (f) { return f.properties.score; })
    .filter(function (s) { return s > 0; }).sort(function (a, b) { return a - b; });
  var breaks = [0.25, 0.5, 0.75].map(function (q) {
    return scores.length ? scores[Math.floor(q * (scores.length - 1))] : 0;
  });
  var palette = ["#f7f7f7", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000"].reverse();
  // low access is the concern: darkest red for no access, pale for the best served
  var NO_DEMAND = "#bdbdbd";  // no workers counted here: neither well nor badly served
  function scoreColour(s) {
    if (s === null) return NO_DEMAND;
    if (!(s > 0)) return palette[0];
    if (s <= breaks[0]) return palette[1];
    if (s <= breaks[1]) return palette[2];
    if (s <= breaks[2]) return palette[3];
    return palette[4];
  }
  function districtPopup(f) {
    var p = f.properties;
    var score = p.score === null ? "无需求 no demand" :
      p.score.toFixed(3) + " 站/千人 (stations per 1,000 workers)";
    return "<b>" + esc(p.name) + "</b> " + esc(p.code) + "<br>2SFCA: " + score +
      "<br>需求 demand " + p.demand.toLocaleString() +
      "<br>驿站 stations " + p.stations;
  }
  var outlines = L.geoJSON(cfg.access, {
    style: {color: "#333", weight: 1.5, fill: false}, interactive: false
  });
  var choropleth = L.geoJSON(cfg.access, {
    style: function (f) {
      return {fillColor: scoreColour(f.properties.score), fillOpacity: 0.65, color: "#555",
              weight: 0.8};
    },
    onEachFeature: function (f, layer) { layer.bindPopup(districtPopup(f)); }
  });

  // --- stations and their coverage circles at the hour -------------------------------
  var stationLayer = L.layerGroup();
  var circleLayer = L.layerGroup();
  function isOpen(st, hour) { return (st[5] >> hour) & 1; }
  function drawStations() {
    stationLayer.clearLayers();
    circleLayer.clearLayers();
    cfg.stations.forEach(function (st) {
      var open = isOpen(st, state.hour);
      var latlng = [st[3], st[2]];
      L.circleMarker(latlng, {
        radius: 4, weight: 1, color: "#fff", fillOpacity: 1,
        fillColor: open ? "#1a9850" : "#888", className: open ? "pl-open" : "pl-closed"
      }).bindPopup("<b>" + esc(st[1]) + "</b><br>" + esc(st[4] || "未公布开放时间 hours not published") +
                   "<br>" + hh(state.hour) + (open ? " 开放 open" : " 关闭 closed"))
        .addTo(stationLayer);
      if (open) {
        L.circle(latlng, {radius: cfg.radiusM, weight: 0.5, color: "#1a9850",
                          fillOpacity: 0.12, interactive: false}).addTo(circleLayer);
      }
    });
  }

  // --- gaps at the hour, from the API ---------------------------------------------
  var gapLayer = L.geoJSON(null, {
    style: function (f) {
      var share = state.maxGapDemand ? f.properties.demand / state.maxGapDemand : 0;
      return {color: "#b2182b", weight: 0.6, fillColor: "#b2182b",
              fillOpacity: 0.08 + 0.55 * Math.sqrt(share)};
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      layer.bindPopup("缺口 gap #" + p.rank + "<br>" + p.area_km2.toFixed(2) + " km²<br>需求 demand " +
                      p.demand.toLocaleString());
    }
  });
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.detail || response.statusText);
        return data;
      });
    });
  }
  function showError(err) {
    state.error = String(err.message || err);
    document.getElementById("pl-summary-body").innerHTML =
      '<span class="pl-error">' + esc(state.error) + "</span>";
  }
  function loadGaps() {
    var hour = state.hour;
    state.gapRequests += 1;
    document.getElementById("pl-summary-body").textContent = hh(hour) + " …";
    var body = {district: cfg.district, radius_m: cfg.radiusM,
                at: cfg.date + "T" + hh(hour)};
    post(cfg.api.gaps, body).then(function (data) {
      if (hour !== state.hour) return;  // the slider moved on
      state.maxGapDemand = data.gaps.features.reduce(function (m, f) {
        return Math.max(m, f.properties.demand);
      }, 0);
      gapLayer.clearLayers();
      gapLayer.addData(data.gaps);
      state.gapsShown = hour;
      state.summary = data;
      document.getElementById("pl-summary-body").innerHTML =
        cfg.date + " " + hh(hour) + "<br>开放驿站 open stations: " + data.stations_counted +
        "<br>面积覆盖 area covered: " + pct(data.coverage_ratio) +
        "<br>需求覆盖 demand covered: " + pct(data.demand_coverage_ratio) +
        "<br>缺口 gaps: " + data.gaps.features.length + " (" + data.gap_km2.toFixed(1) + " km²)";
    }).catch(showError);
  }

  // --- suggested sites -------------------------------------------------------------
  var siteLayer = L.layerGroup();
  document.getElementById("pl-suggest").addEventListener("submit", function (event) {
    event.preventDefault();
    var count = parseInt(document.getElementById("pl-count").value, 10);
    var body = {district: cfg.district, radius_m: cfg.radiusM, count: count};
    // ticked: only stations open at the slider's hour count as existing (延时/错峰 service)
    if (document.getElementById("pl-at-hour").checked) body.at = cfg.date + "T" + hh(state.hour);
    post(cfg.api.suggest, body)
      .then(function (data) {
        siteLayer.clearLayers();
        data.sites.features.forEach(function (f) {
          var c = f.geometry.coordinates, p = f.properties;
          L.marker([c[1], c[0]], {
            icon: L.divIcon({className: "pl-site", html: String(p.rank), iconSize: [22, 22]}),
            title: "#" + p.rank
          }).bindPopup("建议 #" + p.rank + "<br>新覆盖需求 newly covered " +
                       p.demand_newly_covered.toLocaleString() + "<br>累计 cumulative " +
                       pct(p.cumulative_demand_coverage_ratio)).addTo(siteLayer);
        });
        state.sites = data.sites.features.length;
        state.suggestion = data;
        if (!map.hasLayer(siteLayer)) siteLayer.addTo(map);
      }).catch(showError);
  });

  // --- layers, legend, hour slider ---------------------------------------------------
  var heat = L.heatLayer(cfg.demand, {
    radius: 20, blur: 15,
    max: cfg.demand.reduce(function (m, d) { return Math.max(m, d[2]); }, 1)
  });
  var overlays = {
    "区划 Districts": outlines,
    "可达性 2SFCA access": choropleth,
    "需求热力 Demand": heat,
    "覆盖圈 Coverage": circleLayer,
    "缺口 Gaps": gapLayer,
    "驿站 Stations": stationLayer,
    "建议选址 Suggested sites": siteLayer
  };
  [outlines, heat, circleLayer, gapLayer, stationLayer, siteLayer].forEach(function (layer) {
    layer.addTo(map);
  });
  L.control.layers(null, overlays, {collapsed: false}).addTo(map);
  map.fitBounds(outlines.getBounds());

  var legend = ['<div class="pl-legend-title">2SFCA 站/千人</div>'];
  var labels = ["0", "≤ " + breaks[0].toFixed(2), "≤ " + breaks[1].toFixed(2),
                "≤ " + breaks[2].toFixed(2), "> " + breaks[2].toFixed(2)];
  labels.forEach(function (text, i) {
    legend.push('<div><i style="background:' + palette[i] + '"></i>' + text + "</div>");
  });
  legend.push('<div><i style="background:' + NO_DEMAND + '"></i>无需求 no demand</div>');
  document.getElementById("pl-legend").innerHTML = legend.join("");

  var slider = document.getElementById("pl-hour");
  var pending = null;
  function setHour(hour) {
    state.hour = hour;
    document.getElementById("pl-hour-label").textContent = hh(hour);
    drawStations();
    clearTimeout(pending);
    pending = setTimeout(loadGaps, 150);  // dragging the slider asks once, at the end
  }
  slider.addEventListener("input", function () { setHour(parseInt(slider.value, 10)); });
  setHour(parseInt(slider.value, 10));

  window.Planner = {map: map, state: state, overlays: overlays, setHour: setHour};
})();
