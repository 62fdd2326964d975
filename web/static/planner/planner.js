/* The planner map: layers for an area's coverage, with an hour slider.
 *
 * The page carries the county outlines with all-day 2SFCA scores, the stations with a
 * 24-bit mask of the hours they are open on the chosen date, and the demand points. The
 * gaps and demand zones at the chosen hour, the 2SFCA scores at that hour, siting
 * suggestions and the fewest sites for a target come from the planner API (same-origin
 * fetch with the session cookie). The legend lists what is drawn, and only that.
 * Written in ES2015 like the public map's script.
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("pl-data").textContent);
  var state = {hour: 12, gapRequests: 0, gapsShown: null, summary: null, sites: 0,
               suggestion: null, fewest: null, error: null, zones: 0, accessAt: null,
               accessRequests: 0, legend: [], downloads: 0, plans: null, saved: null,
               comparison: null, shownSites: [], shownSource: null, placed: []};
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
  function num(x) { return Math.round(x).toLocaleString("zh-CN"); }
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

  // --- downloads: what is on screen, asked again as a file --------------------------
  // the request behind each layer shown (the all-day 2SFCA until an hour is asked for)
  var asked = {access: {url: cfg.api.access, body: {district: cfg.district,
                                                    radius_m: cfg.radiusM}}};
  function download(layer, format) {
    if (layer === "map") {  // the map as printed: this hour, and the sites shown
      asked.map = {url: cfg.api.print, body: {district: cfg.district, radius_m: cfg.radiusM,
                                              at: cfg.date + "T" + hh(state.hour)}};
      if (state.shownSites.length) {
        asked.map.body.sites = {type: "FeatureCollection", features: state.shownSites.map(
          function (c) { return {type: "Feature", geometry: {type: "Point", coordinates: c},
                                 properties: {}}; })};
      }
    }
    var last = asked[layer];
    if (!last) return;
    var url = last.url + "?format=" + format + (last.url === cfg.api.gaps ? "&layer=" + layer : "");
    fetch(url, {method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json"}, body: JSON.stringify(last.body)})
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(function (p) { throw new Error(p.detail); });
        }
        var named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
        return response.blob().then(function (blob) {
          var link = document.createElement("a");
          link.href = URL.createObjectURL(blob);
          link.download = named ? named[1] : layer + "." + format;
          document.body.appendChild(link);
          link.click();
          link.remove();
          setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
          state.downloads += 1;
        });
      }).catch(showError);
  }
  document.getElementById("pl-export").addEventListener("click", function (event) {
    var button = event.target.closest("button[data-layer]");
    if (button) download(button.dataset.layer, button.dataset.format);
  });

  // --- 2SFCA choropleth and outlines ----------------------------------------------
  // low access is the concern: darkest red for none, pale for the best served
  var NONE = "#7f0000", NO_DEMAND = "#bdbdbd";
  var SHADES = ["#d7301f", "#fc8d59", "#fdd49e", "#f7f7f7"];
  var classes = null;
  function classify(features) {
    // quartile breaks, kept only where they differ: one district, or equal scores, gives
    // one class rather than three labels that say the same
    var scores = features.map(function (f) { return f.properties.score; })
      .filter(function (s) { return s > 0; }).sort(function (a, b) { return a - b; });
    var breaks = [];
    [0.25, 0.5, 0.75, 1].forEach(function (q) {
      if (!scores.length) return;
      var b = scores[Math.ceil(q * (scores.length - 1))];
      if (!breaks.length || b > breaks[breaks.length - 1]) breaks.push(b);
    });
    var digits = 2;
    while (digits < 5 && breaks.some(function (b, i) {
      return i && b.toFixed(digits) === breaks[i - 1].toFixed(digits);
    })) digits += 1;
    var out = breaks.map(function (b, i) {
      var lo = i ? breaks[i - 1] : scores[0];
      var label = i === 0 && lo === b ? b.toFixed(digits) :
        (i ? "> " + lo.toFixed(digits) + " – " : lo.toFixed(digits) + " – ") + b.toFixed(digits);
      var shade = SHADES[breaks.length === 1 ? 2 : Math.round(i * 3 / (breaks.length - 1))];
      return {upTo: b, colour: shade, label: label};
    });
    return out;
  }
  function scoreColour(s) {
    if (s === null) return NO_DEMAND;
    if (!(s > 0)) return NONE;
    for (var i = 0; i < classes.length; i++) if (s <= classes[i].upTo) return classes[i].colour;
    return classes[classes.length - 1].colour;
  }
  function districtPopup(f) {
    var p = f.properties;
    var score = p.score === null ? "无需求 no demand" :
      p.score.toFixed(3) + " 站/千人 (stations per 1,000 workers)";
    return "<b>" + esc(p.name) + "</b> " + esc(p.code) + "<br>2SFCA: " + score +
      "<br>需求 demand " + num(p.demand) + " 人" +
      "<br>驿站 stations " + p.stations;
  }
  var outlines = L.geoJSON(cfg.access, {
    style: {color: "#333", weight: 1.5, fill: false}, interactive: false
  });
  var choropleth = L.geoJSON(null, {
    style: function (f) {
      return {fillColor: scoreColour(f.properties.score), fillOpacity: 0.65, color: "#555",
              weight: 0.8};
    },
    onEachFeature: function (f, layer) { layer.bindPopup(districtPopup(f)); }
  });
  function showAccess(collection, at) {
    classes = classify(collection.features);
    choropleth.clearLayers();
    choropleth.addData(collection);
    state.accessAt = at;
    state.access = collection;
    if (LEGENDS) renderLegend();
  }
  function loadAccess() {
    // recomputed with only the stations open at the slider's hour, when it is shown
    if (!map.hasLayer(choropleth)) return;
    var hour = state.hour, decay = document.getElementById("pl-decay").checked;
    state.accessRequests += 1;
    var body = {district: cfg.district, radius_m: cfg.radiusM,
                at: cfg.date + "T" + hh(hour), decay: decay ? "gaussian" : "none"};
    post(cfg.api.access, body)
      .then(function (data) {
        asked.access = {url: cfg.api.access, body: body};
        if (hour !== state.hour) return;
        showAccess(data, hh(hour) + (decay ? " 高斯衰减" : ""));
      }).catch(showError);
  }
  showAccess(cfg.access, null);

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

  // --- gaps and demand zones at the hour, from the API --------------------------------
  var GAP = "#b2182b", ZONE = "#762a83";
  var gapLayer = L.geoJSON(null, {
    style: function (f) {
      var demand = f.properties.demand;
      if (!(demand > 0)) {  // nobody works there: outlined, not shaded
        return {color: GAP, weight: 0.6, dashArray: "3 3", fillOpacity: 0};
      }
      var share = state.maxGapDemand ? demand / state.maxGapDemand : 0;
      return {color: GAP, weight: 0.6, fillColor: GAP, fillOpacity: 0.08 + 0.45 * Math.sqrt(share)};
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      layer.bindPopup("缺口 gap #" + p.rank + " · " + esc(p.county_name || "区划外") +
                      "<br>" + p.area_km2.toFixed(2) + " km²<br>需求 demand " + num(p.demand) + " 人");
    }
  });
  function nearestText(p) {
    var n = p.nearest_station;
    if (!n) return "附近无驿站";
    return "最近驿站 " + esc(n.name) + " " + num(n.distance_m) + " m" +
      (n.counted ? "" : "（" + hh(state.hour) + " 未开放）");
  }
  var zoneLayer = L.geoJSON(null, {
    style: function (f) {
      var share = state.maxZoneDemand ? f.properties.demand / state.maxZoneDemand : 0;
      return {color: ZONE, weight: 1, fillColor: ZONE, fillOpacity: 0.1 + 0.5 * Math.sqrt(share)};
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      layer.bindPopup("<b>需求区 zone #" + p.rank + "</b> · " + esc(p.county_name || "区划外") +
                      "<br>未覆盖需求 " + num(p.demand) + " 人，" + p.area_km2.toFixed(2) + " km²" +
                      "<br>" + nearestText(p));
    }
  });
  var zoneLabels = L.layerGroup();
  function showZones(zones) {
    zoneLayer.clearLayers();
    zoneLabels.clearLayers();
    state.maxZoneDemand = zones.features.length ? zones.features[0].properties.demand : 0;
    zoneLayer.addData(zones);
    var items = zones.features.slice(0, 8).map(function (f) {
      var p = f.properties, c = p.centre;
      L.marker([c[1], c[0]], {
        icon: L.divIcon({className: "pl-zone-rank", html: String(p.rank), iconSize: [20, 20]}),
        interactive: false
      }).addTo(zoneLabels);
      return '<li><button type="button" data-lon="' + c[0] + '" data-lat="' + c[1] + '">' +
        "<b>#" + p.rank + " " + esc(p.county_name || "区划外") + "</b> " + num(p.demand) +
        " 人<br><small>" + nearestText(p) + "</small></button></li>";
    });
    state.zones = zones.features.length;
    document.getElementById("pl-zones").innerHTML = zones.features.length ?
      "<div class=\"pl-zones-title\">需求区 " + hh(state.hour) + "（共 " +
        zones.features.length + " 个，按未覆盖需求排序）</div><ol>" + items.join("") + "</ol>" :
      "<div class=\"pl-zones-title\">" + hh(state.hour) + " 无未覆盖需求</div>";
  }
  document.getElementById("pl-zones").addEventListener("click", function (event) {
    var button = event.target.closest("button[data-lon]");
    if (!button) return;
    map.setView([parseFloat(button.dataset.lat), parseFloat(button.dataset.lon)], 14);
  });
  function loadGaps() {
    var hour = state.hour;
    state.gapRequests += 1;
    document.getElementById("pl-summary-body").textContent = hh(hour) + " …";
    var body = {district: cfg.district, radius_m: cfg.radiusM,
                at: cfg.date + "T" + hh(hour)};
    post(cfg.api.gaps, body).then(function (data) {
      if (hour !== state.hour) return;  // the slider moved on
      asked.gaps = asked.zones = {url: cfg.api.gaps, body: body};
      state.maxGapDemand = data.gaps.features.reduce(function (m, f) {
        return Math.max(m, f.properties.demand);
      }, 0);
      gapLayer.clearLayers();
      gapLayer.addData(data.gaps);
      showZones(data.zones);
      state.gapsShown = hour;
      state.summary = data;
      var withDemand = data.gaps.features.filter(function (f) { return f.properties.demand > 0; });
      document.getElementById("pl-summary-body").innerHTML =
        cfg.date + " " + hh(hour) + "<br>开放驿站 open stations: " + data.stations_counted +
        "<br>面积覆盖 area covered: " + pct(data.coverage_ratio) +
        "<br>需求覆盖 demand covered: " + pct(data.demand_coverage_ratio) +
        "<br>未覆盖需求 unserved: " + num(data.demand_total - data.demand_covered) + " 人" +
        "<br>缺口 gaps: " + withDemand.length + " 块有需求 / " + data.gaps.features.length +
        " (" + data.gap_km2.toFixed(1) + " km²)";
      renderLegend();
    }).catch(showError);
  }

  // --- suggested sites and the fewest sites ------------------------------------------
  var siteLayer = L.layerGroup();
  function showSites(features, kind, url, body) {
    asked.sites = {url: url, body: body};
    state.shownSites = features.map(function (f) { return f.geometry.coordinates; });
    state.shownSource = url === cfg.api.fewest ? "fewest" : "suggest";
    document.querySelector("#pl-save button").disabled = false;
    document.querySelectorAll("#pl-export button[data-layer=sites]").forEach(function (b) {
      b.disabled = false;
    });
    siteLayer.clearLayers();
    features.forEach(function (f) {
      var c = f.geometry.coordinates, p = f.properties;
      L.marker([c[1], c[0]], {
        icon: L.divIcon({className: "pl-site", html: String(p.rank), iconSize: [22, 22]}),
        title: "#" + p.rank
      }).bindPopup(kind + " #" + p.rank + "<br>新覆盖需求 newly covered " +
                   num(p.demand_newly_covered) + " 人<br>累计 cumulative " +
                   pct(p.cumulative_demand_coverage_ratio)).addTo(siteLayer);
    });
    state.sites = features.length;
    if (!map.hasLayer(siteLayer)) siteLayer.addTo(map);
    renderLegend();
  }
  function atHour(body) {
    // ticked: only stations open at the slider's hour count as existing (延时/错峰 service)
    if (document.getElementById("pl-at-hour").checked) body.at = cfg.date + "T" + hh(state.hour);
    return body;
  }
  document.getElementById("pl-suggest").addEventListener("submit", function (event) {
    event.preventDefault();
    var count = parseInt(document.getElementById("pl-count").value, 10);
    var body = atHour({district: cfg.district, radius_m: cfg.radiusM, count: count});
    post(cfg.api.suggest, body)
      .then(function (data) {
        state.suggestion = data;
        state.siteKind = "suggest";
        showSites(data.sites.features, "建议 suggested", cfg.api.suggest, body);
      }).catch(showError);
  });
  document.getElementById("pl-fewest").addEventListener("click", function () {
    var target = parseFloat(document.getElementById("pl-target").value);
    var body = atHour({district: cfg.district, radius_m: cfg.radiusM, target: target});
    document.getElementById("pl-fewest-result").textContent = "计算中 …";
    post(cfg.api.fewest, body).then(function (data) {
      state.fewest = data;
      state.siteKind = "fewest";
      showSites(data.sites.features, "最少站点 fewest", cfg.api.fewest, body);
      var sure = data.proven_optimal ? "已证明最少" :
        "至少需 " + data.lower_bound + " 个（差 " + (data.sites_count - data.lower_bound) + "）";
      document.getElementById("pl-fewest-result").innerHTML =
        "需新建 <b>" + data.sites_count + "</b> 个站点，需求覆盖 " +
        pct(data.demand_coverage_ratio_before) + " → " + pct(data.demand_coverage_ratio_after) +
        "<br><small>" + sure + "（" + (data.method === "exact" ? "精确求解" : "贪心 + 下界") +
        "，" + data.solver_seconds.toFixed(2) + " 秒" + (body.at ? "，按 " + hh(state.hour) : "") +
        "）</small>";
    }).catch(function (err) {
      document.getElementById("pl-fewest-result").innerHTML =
        '<span class="pl-error">' + esc(err.message || err) + "</span>";
    });
  });

  // --- sites placed by hand: click the map to add one, click a site to take it away ---
  var placing = false;
  function drawPlaced() {
    siteLayer.clearLayers();
    state.placed.forEach(function (c, i) {
      L.marker([c[1], c[0]], {
        icon: L.divIcon({className: "pl-site", html: String(i + 1), iconSize: [22, 22]}),
        title: "点击移除 click to remove"
      }).on("click", function () { state.placed.splice(i, 1); drawPlaced(); }).addTo(siteLayer);
    });
    state.sites = state.placed.length;
    state.siteKind = "map";
    state.shownSites = state.placed.slice();
    state.shownSource = "map";
    document.querySelector("#pl-save button").disabled = !state.placed.length;
    // the site downloads ask the API again: placed sites are not an answer it can give
    // (save them as a plan instead), so a file of the last suggestion is not offered
    asked.sites = null;
    document.querySelectorAll("#pl-export button[data-layer=sites]").forEach(function (b) {
      b.disabled = true;
    });
    if (!map.hasLayer(siteLayer)) siteLayer.addTo(map);
    renderLegend();
  }
  document.getElementById("pl-place").addEventListener("click", function () {
    placing = !placing;
    this.setAttribute("aria-pressed", String(placing));
    this.classList.toggle("pl-on", placing);
    document.getElementById("pl-map").classList.toggle("pl-placing", placing);
    if (placing) { state.placed = []; drawPlaced(); }
  });
  map.on("click", function (event) {
    if (!placing) return;
    state.placed.push([Math.round(event.latlng.lng * 1e6) / 1e6,
                       Math.round(event.latlng.lat * 1e6) / 1e6]);
    drawPlaced();
  });

  // --- plans: saved per planner, compared with no new station ------------------------
  var PLAN_COLOURS = ["#888", "#2166ac", "#d6604d", "#1b7837"];
  function listPlans() {
    fetch(cfg.api.plans, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        state.plans = data.plans;
        var rows = data.plans.map(function (p) {
          return '<label><input type="checkbox" value="' + p.id + '"> ' + esc(p.name) +
            " <small>(" + p.sites_count + " 站，v" + p.version + "，" + esc(p.district) +
            ")</small></label>";
        });
        document.getElementById("pl-plans").innerHTML = rows.length ?
          '<div class="pl-legend-title">我的方案 My plans（最多选 3 个）</div>' + rows.join("") +
          '<button type="button" id="pl-compare-button">比较 Compare</button>' : "";
      }).catch(showError);
  }
  document.getElementById("pl-save").addEventListener("submit", function (event) {
    event.preventDefault();
    var body = {name: document.getElementById("pl-plan-name").value, district: cfg.district,
                radius_m: cfg.radiusM, source: state.shownSource,
                sites: {type: "FeatureCollection", features: state.shownSites.map(function (c) {
                  return {type: "Feature", geometry: {type: "Point", coordinates: c},
                          properties: {}};
                })}};
    post(cfg.api.plans, body).then(function (plan) {
      state.saved = plan;
      document.getElementById("pl-fewest-result").textContent =
        "已保存方案「" + plan.name + "」第 " + plan.version + " 版，" + plan.sites_count + " 个站点";
      listPlans();
    }).catch(showError);
  });
  function chart(plans) {
    // demand coverage at each hour, one line per plan: 24 points on a 0–100 % axis
    var W = 520, H = 200, L = 40, B = 24, T = 10, R = 24;
    var svg = ['<svg viewBox="0 0 ' + W + " " + H + '" class="pl-chart" role="img" ' +
               'aria-label="24 小时需求覆盖率">'];
    function x(h) { return L + h * (W - L - R) / 23; }
    function y(v) { return T + (1 - v) * (H - T - B); }
    [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
      svg.push('<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y(v) + '" y2="' + y(v) +
               '" class="pl-grid"/><text x="' + (L - 4) + '" y="' + (y(v) + 4) +
               '" text-anchor="end">' + Math.round(v * 100) + "%</text>");
    });
    [0, 6, 12, 18, 23].forEach(function (h) {
      svg.push('<text x="' + x(h) + '" y="' + (H - 6) + '" text-anchor="middle">' + hh(h) +
               "</text>");
    });
    plans.forEach(function (p, i) {
      var pts = p.hourly_demand_coverage.map(function (v, h) {
        return x(h).toFixed(1) + "," + y(v).toFixed(1);
      });
      svg.push('<polyline class="pl-line" data-plan="' + i + '" fill="none" stroke-width="2" ' +
               'stroke="' + PLAN_COLOURS[i] + '" points="' + pts.join(" ") + '"/>');
    });
    svg.push("</svg>");
    return svg.join("");
  }
  function showComparison(result) {
    var plans = result.plans;
    var head = "<tr><th>方案 Plan</th>" + plans.map(function (p, i) {
      return '<th><i class="pl-swatch" style="background:' + PLAN_COLOURS[i] + '"></i>' +
        esc(p.name) + (p.version ? " v" + p.version : "") + "</th>";
    }).join("") + "</tr>";
    function row(label, cell) {
      return "<tr><th>" + label + "</th>" + plans.map(function (p) {
        return "<td>" + cell(p) + "</td>";
      }).join("") + "</tr>";
    }
    var counties = plans[0].counties.map(function (c, k) {
      return row("2SFCA " + esc(c.name), function (p) {
        var after = p.counties[k].score_after;
        return after === null ? "—" : after.toFixed(2);
      });
    });
    var worst = function (p) { return Math.min.apply(null, p.hourly_demand_coverage); };
    var worstHour = result.worst_hour;
    document.getElementById("pl-compare").innerHTML =
      '<button type="button" class="pl-close" id="pl-compare-close">关闭 ✕</button>' +
      "<h2>方案比较 " + esc(result.area) + " · " + esc(result.date) + " · 半径 " +
      num(result.radius_m) + " m</h2>" + chart(plans) +
      '<table class="pl-compare-table">' + head +
      row("新建站点", function (p) { return p.sites_count; }) +
      row("费用（元）", function (p) { return num(p.cost_cny); }) +
      row("全天需求覆盖", function (p) { return pct(p.demand_coverage_ratio); }) +
      row("最低时段覆盖", function (p) { return pct(worst(p)); }) +
      row("面积覆盖", function (p) { return pct(p.area_coverage_ratio); }) +
      row("县区可达性基尼系数", function (p) { return p.gini.toFixed(3); }) +
      counties.join("") + "</table>" + plans.slice(1).map(function (p, i) {
        // each proposed site: where it is, the station it is near, what it adds
        var rows = p.sites.map(function (site) {
          var near = site.nearest_station;
          return "<li>#" + site.rank + " " + esc(site.county_name || "区划外") +
            (near ? " · 距 " + esc(near.name) + " " + num(near.distance_m) + " m" : "") +
            " · 全天新覆盖 " + num(site.demand_newly_covered) + " 人 · " + hh(worstHour) +
            " 新覆盖 " + num(site.demand_newly_covered_at_worst_hour) + " 人</li>";
        });
        return '<details class="pl-plan-sites"><summary><i class="pl-swatch" style="background:' +
          PLAN_COLOURS[i + 1] + '"></i>' + esc(p.name) + "：" + p.sites_count +
          " 个站点</summary><ol>" + rows.join("") + "</ol></details>";
      }).join("") +
      "<p class=\"pl-note\">费用按「" + esc(result.programme.name) + "」每站 " +
      num(result.programme.amount_cny) + " 元计；新站按全天开放计。</p>";
    document.getElementById("pl-compare").hidden = false;
    state.comparison = result;
  }
  document.getElementById("pl-plans").addEventListener("click", function (event) {
    if (event.target.id !== "pl-compare-button") return;
    var ids = Array.prototype.map.call(
      document.querySelectorAll("#pl-plans input:checked"),
      function (box) { return parseInt(box.value, 10); });
    if (!ids.length) { showError(new Error("请先勾选要比较的方案（最多 3 个）")); return; }
    post(cfg.api.compare, {plans: ids, date: cfg.date, district: cfg.district,
                           radius_m: cfg.radiusM})
      .then(showComparison).catch(showError);
  });
  document.getElementById("pl-compare").addEventListener("click", function (event) {
    if (event.target.id === "pl-compare-close") {
      document.getElementById("pl-compare").hidden = true;
    }
  });
  listPlans();

  // --- layers, legend, hour slider ---------------------------------------------------
  var maxWeight = cfg.demand.reduce(function (m, d) { return Math.max(m, d[2]); }, 1);
  var heat = L.heatLayer(cfg.demand, {radius: 20, blur: 15, max: maxWeight});
  var overlays = {
    "区划 Districts": outlines,
    "可达性 2SFCA access": choropleth,
    "需求热力 Demand": heat,
    "覆盖圈 Coverage": circleLayer,
    "缺口 Gaps": gapLayer,
    "需求区 Zones": zoneLayer,
    "驿站 Stations": stationLayer,
    "建议选址 Suggested sites": siteLayer
  };
  [outlines, heat, circleLayer, gapLayer, zoneLayer, zoneLabels, stationLayer, siteLayer]
    .forEach(function (layer) { layer.addTo(map); });
  L.control.layers(null, overlays, {collapsed: false}).addTo(map);
  L.control.scale({imperial: false}).addTo(map);
  map.fitBounds(outlines.getBounds());

  function swatch(style, text) {
    return '<div class="pl-key"><i style="' + style + '"></i>' + text + "</div>";
  }
  var LEGENDS = [
    [choropleth, "2SFCA", function () {
      var title = "可达性 2SFCA（站/千人）· " +
        (state.accessAt ? esc(state.accessAt) + " 开放驿站" : "全天 all day");
      var rows = [swatch("background:" + NONE, "0 无可达驿站")];
      classes.forEach(function (c) { rows.push(swatch("background:" + c.colour, c.label)); });
      rows.push(swatch("background:" + NO_DEMAND, "无需求 no demand"));
      return [title, rows.join("")];
    }],
    [heat, "heat", function () {
      return ["需求热力 Demand", '<div class="pl-key"><i class="pl-heat"></i>0 – ' +
        num(maxWeight) + " 人/点</div>"];
    }],
    [circleLayer, "circles", function () {
      return ["覆盖圈 Coverage", swatch("background:rgba(26,152,80,.25);border-color:#1a9850;" +
        "border-radius:50%", hh(state.hour) + " 开放驿站周围 " + num(cfg.radiusM) + " m")];
    }],
    [gapLayer, "gaps", function () {
      return ["缺口 Gaps · " + hh(state.hour), swatch("background:linear-gradient(90deg," +
        "rgba(178,24,43,.15),rgba(178,24,43,.6))", "按县区切分，颜色越深需求越多（最多 " +
        num(state.maxGapDemand || 0) + " 人）") +
        swatch("border:1px dashed " + GAP + ";background:none", "无需求的缺口（不着色）")];
    }],
    [zoneLayer, "zones", function () {
      return ["需求区 Zones · " + hh(state.hour), swatch("background:linear-gradient(90deg," +
        "rgba(118,42,131,.2),rgba(118,42,131,.6))", "一个新站（半径 " + num(cfg.radiusM) +
        " m）可服务的未覆盖需求，编号按需求排序（最多 " + num(state.maxZoneDemand || 0) + " 人）")];
    }],
    [stationLayer, "stations", function () {
      return ["驿站 Stations · " + hh(state.hour),
        swatch("background:#1a9850;border-radius:50%", "开放 open") +
        swatch("background:#888;border-radius:50%", "关闭 closed")];
    }],
    [siteLayer, "sites", function () {
      if (!state.sites) return null;
      var titles = {fewest: "最少站点方案 Fewest sites", map: "手动放置 Placed on map"};
      return [titles[state.siteKind] || "建议选址 Suggested",
        '<div class="pl-key"><span class="pl-site-key">1</span>编号 = 新增覆盖从多到少</div>'];
    }]
  ];
  function renderLegend() {
    var shown = [], html = [];
    LEGENDS.forEach(function (entry) {
      if (!map.hasLayer(entry[0])) return;
      var body = entry[2]();
      if (!body) return;
      shown.push(entry[1]);
      html.push('<div class="pl-legend-title">' + body[0] + "</div>" + body[1]);
    });
    if (shown.indexOf("gaps") >= 0 || shown.indexOf("zones") >= 0 || shown.indexOf("heat") >= 0) {
      html.push('<p class="pl-note">需求 = 估计的户外劳动者人数（每个需求点按该处人数加权）。' +
                "Demand is weighted outdoor workers: each point weighs the workers there.</p>");
    }
    state.legend = shown;
    document.getElementById("pl-legend").innerHTML = html.join("");
  }
  map.on("overlayadd", function (event) {
    if (event.layer === zoneLayer) zoneLabels.addTo(map);
    if (event.layer === choropleth) loadAccess();
    renderLegend();
  });
  map.on("overlayremove", function (event) {
    if (event.layer === zoneLayer) map.removeLayer(zoneLabels);
    renderLegend();
  });
  document.getElementById("pl-decay").addEventListener("change", function () {
    if (!map.hasLayer(choropleth)) choropleth.addTo(map);  // asking for it means showing it
    loadAccess();
    renderLegend();
  });

  var slider = document.getElementById("pl-hour");
  var pending = null;
  function setHour(hour) {
    state.hour = hour;
    document.getElementById("pl-hour-label").textContent = hh(hour);
    drawStations();
    renderLegend();
    clearTimeout(pending);
    pending = setTimeout(function () { loadGaps(); loadAccess(); }, 150);  // once, at the end
  }
  slider.addEventListener("input", function () { setHour(parseInt(slider.value, 10)); });
  setHour(parseInt(slider.value, 10));

  window.Planner = {map: map, state: state, overlays: overlays, setHour: setHour};
})();
