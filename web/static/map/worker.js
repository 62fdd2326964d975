/*
 * The public map's service worker: the page keeps working with a bad signal.
 *
 * - The page and its scripts: the page (and its manifest) from the network when it
 *   answers (kept for later), else the copy kept; the versioned static files from the
 *   copy (they never change at their URL).
 * - The stations of each view the rider looked at are kept (the last ``maxViews``
 *   answers); offline, a view is answered from them and "nearest" runs here, on the
 *   phone, by the server's rules (offline.js), with the data's age in the answer so that
 *   the page can say it.
 * - Map tiles are not touched (the browser's own cache keeps what it keeps).
 *
 * Configured by /sw.js (RS_CONFIG), which loads this file with geodesy.js and offline.js.
 */
/* global RS_CONFIG, RestStationsGeo, RestStationsOffline */
(function () {
  "use strict";

  var C = self.RS_CONFIG;
  var SHELL = "rs-shell-" + C.version;
  // what is kept, named by its format and the amenity vocabulary its indexes point into:
  // a new vocabulary starts a new copy rather than misread the old one
  var DATA = "rs-data-" + C.dataVersion;
  var STORED_AT = "X-Stored-At";

  self.addEventListener("install", function (event) {
    event.waitUntil(
      caches
        .open(SHELL)
        .then(function (cache) {
          return cache.addAll(C.precache);
        })
        .then(function () {
          return self.skipWaiting();
        })
    );
  });

  self.addEventListener("activate", function (event) {
    event.waitUntil(
      caches
        .keys()
        .then(function (names) {
          return Promise.all(
            names
              .filter(function (name) {
                return name.indexOf("rs-") === 0 && name !== SHELL && name !== DATA;
              })
              .map(function (name) {
                return caches.delete(name);
              })
          );
        })
        .then(function () {
          return self.clients.claim();
        })
    );
  });

  /* The page that was open before the worker took charge asks to be kept. */
  self.addEventListener("message", function (event) {
    var href = event.data && event.data.keepPage;
    if (typeof href !== "string") return;
    var url = new URL(href);
    if (url.origin !== self.location.origin || C.pages.indexOf(url.pathname) < 0) return;
    event.waitUntil(
      fetch(url.href, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) return null;
          return caches.open(SHELL).then(function (cache) {
            return cache.put(pageKey(url), response);
          });
        })
        .catch(function () {
          return null; // kept on the next visit instead
        })
    );
  });

  self.addEventListener("fetch", function (event) {
    var request = event.request;
    if (request.method !== "GET") return;
    var url = new URL(request.url);
    if (url.origin !== self.location.origin) return; // tiles: the browser's own cache
    if (request.mode === "navigate" && C.pages.indexOf(url.pathname) >= 0) {
      event.respondWith(networkFirst(request, pageKey(url)));
    } else if (url.pathname === C.manifest) {
      event.respondWith(networkFirst(request, url.origin + url.pathname + "?lang=" + lang(url)));
    } else if (url.pathname.indexOf(C.staticPrefix) === 0) {
      event.respondWith(keptFirst(request));
    } else if (!fromMap(request)) {
      return; // the planner's pages and API clients: the server, always
    } else if (url.pathname === C.viewApi) {
      event.respondWith(view(event, url));
    } else if (url.pathname === C.nearestApi) {
      event.respondWith(nearestAnswer(request, url));
    }
  });

  /* A request the public map made (its stations, its nearest search). */
  function fromMap(request) {
    try {
      return C.pages.indexOf(new URL(request.referrer).pathname) >= 0;
    } catch (e) {
      return false; // no referrer: not the map page
    }
  }

  /*
   * The network, unless it fails, takes longer than C.timeoutMs, or a proxy in front of
   * the server says the server is gone (502, 503, 504): then the phone's copy answers.
   */
  function network(request) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        reject(new Error("timeout"));
      }, C.timeoutMs);
      fetch(request).then(
        function (response) {
          clearTimeout(timer);
          if (response.status >= 502 && response.status <= 504) reject(new Error(String(response.status)));
          else resolve(response);
        },
        function (err) {
          clearTimeout(timer);
          reject(err);
        }
      );
    });
  }

  function lang(url) {
    return url.searchParams.get("lang") === "en" ? "en" : "zh";
  }

  // --- the page and its files ---------------------------------------------------------

  /* One kept page per path and language: the page reads the rest of its link itself. */
  function pageKey(url) {
    return url.origin + url.pathname + "?lang=" + lang(url);
  }

  /* The network's answer (kept under ``key``), else the one kept. */
  function networkFirst(request, key) {
    return network(request).then(
      function (response) {
        if (response.ok) {
          var copy = response.clone();
          caches.open(SHELL).then(function (cache) {
            cache.put(key, copy);
          });
        }
        return response;
      },
      function () {
        return caches.open(SHELL).then(function (cache) {
          return cache.match(key).then(function (kept) {
            return kept || Response.error();
          });
        });
      }
    );
  }

  function keptFirst(request) {
    return caches.match(request).then(function (kept) {
      return (
        kept ||
        fetch(request).then(function (response) {
          if (response.ok) {
            var copy = response.clone();
            caches.open(SHELL).then(function (cache) {
              cache.put(request, copy);
            });
          }
          return response;
        })
      );
    });
  }

  // --- stations kept for offline ------------------------------------------------------

  function view(event, url) {
    var request = event.request;
    return network(request).then(
      function (response) {
        if (response.ok) event.waitUntil(keep(request, response.clone()));
        return response;
      },
      function () {
        return offlineView(url);
      }
    );
  }

  /* A listed view's answer, stamped with when it was kept; the oldest beyond maxViews go. */
  function keep(request, response) {
    return response
      .text()
      .then(function (text) {
        if (text.indexOf('"cells":true') >= 0) return null; // counts: nothing to search
        var headers = new Headers({ "Content-Type": "application/geo+json" });
        headers.set(STORED_AT, String(Date.now()));
        return caches.open(DATA).then(function (cache) {
          return cache.put(request.url, new Response(text, { headers: headers })).then(function () {
            return cache.keys().then(function (keys) {
              // keys come in insertion order: the first are the oldest
              var extra = keys.length - C.maxViews;
              return Promise.all(
                keys.slice(0, Math.max(0, extra)).map(function (key) {
                  return cache.delete(key);
                })
              );
            });
          });
        });
      })
      .catch(function () {
        return null; // a full disk costs the offline copy, never the answer
      });
  }

  /* Every kept station once (the newest copy), WGS-84, with its changes' base instant. */
  function keptStations() {
    return caches.open(DATA).then(function (cache) {
      return cache.keys().then(function (keys) {
        return Promise.all(
          keys.map(function (key) {
            return cache.match(key).then(function (response) {
              return response.json().then(function (body) {
                return { url: new URL(key.url), body: body, at: Number(response.headers.get(STORED_AT)) };
              });
            });
          })
        ).then(function (views) {
          var byId = {};
          views.forEach(function (v) {
            var base = Date.parse(v.body.at);
            v.body.features.forEach(function (f) {
              var old = byId[f.id];
              if (old && old.stored >= v.at) return;
              var wgs = f.geometry.coordinates; // always WGS-84
              byId[f.id] = {
                id: f.id,
                lon: wgs[0],
                lat: wgs[1],
                am: f.properties.am,
                ch: f.properties.ch,
                base: base,
                stored: v.at,
                p: f.properties,
              };
            });
          });
          return Object.keys(byId).map(function (id) {
            return byId[id];
          });
        });
      });
    });
  }

  function instant(url) {
    var at = url.searchParams.get("at");
    var t = at ? Date.parse(/([zZ]|[+-]\d\d:?\d\d)$/.test(at) ? at : at + "+08:00") : Date.now();
    return isFinite(t) ? t : Date.now();
  }

  /* An instant (ms) as the server writes it: Beijing time, "+08:00". */
  function beijingIso(ms) {
    var d = new Date(ms + 8 * 3600 * 1000);
    return d.toISOString().slice(0, 19) + "+08:00";
  }

  function json(body, status) {
    var type = status ? "application/problem+json" : "application/geo+json";
    return new Response(JSON.stringify(body), {
      status: status || 200,
      headers: { "Content-Type": type, "Cache-Control": "no-store" },
    });
  }

  function noData(url) {
    var l = lang(url);
    return json(
      { type: "about:blank", title: C.text[l].offline_title, status: 503, detail: C.text[l].offline_no_data },
      503
    );
  }

  function amenityIndexes(codes) {
    var out = [];
    (codes || "")
      .split(",")
      .filter(Boolean)
      .forEach(function (code) {
        var i = C.amenities.indexOf(code);
        out.push(i >= 0 ? i : -1); // an unknown code: nothing kept can hold it
      });
    return out;
  }

  function number(url, name, fallback) {
    var v = url.searchParams.get(name);
    var n = v === null || v === "" ? fallback : Number(v);
    return isFinite(n) ? n : fallback;
  }

  function nearestAnswer(request, url) {
    return network(request).catch(function () {
      return offlineNearest(url);
    });
  }

  function offlineNearest(url) {
    var crs = url.searchParams.get("crs");
    if (crs && crs !== "wgs84") return Promise.resolve(noData(url)); // the page asks in WGS-84
    return keptStations().then(function (stations) {
      if (!stations.length) return noData(url);
      var t = instant(url);
      var l = lang(url);
      var lon = number(url, "lon", NaN);
      var lat = number(url, "lat", NaN);
      var found = RestStationsOffline.nearest(stations, lon, lat, {
        t: t,
        needed: amenityIndexes(url.searchParams.get("amenities")),
        openOnly: url.searchParams.get("open") !== "false",
        openForMin: number(url, "open_for_min", 0),
        withinM: number(url, "within_m", 5000),
        limit: number(url, "limit", 5),
        soonMin: C.soonMin,
        aheadS: C.aheadS,
      });
      var oldest = Math.min.apply(
        null,
        stations.map(function (s) {
          return s.stored;
        })
      );
      return json({
        type: "FeatureCollection",
        at: beijingIso(t),
        numberReturned: found.length,
        features: found.map(function (hit) {
          return nearestFeature(hit, l);
        }),
        offline: true,
        data_at: beijingIso(oldest),
      });
    });
  }

  function nearestFeature(hit, l) {
    var st = hit.station;
    var a = hit.availability;
    return {
      type: "Feature",
      id: st.id,
      geometry: { type: "Point", coordinates: [st.lon, st.lat] },
      properties: {
        name: st.p.name,
        address: st.p.address,
        opening_hours: st.p.hours,
        opening_hours_text: st.p.text,
        open: a.open,
        state: a.state,
        next_change: a.next_change === null ? null : beijingIso(a.next_change),
        closes_in_min: a.closes_in_min,
        opens_in_min: a.opens_in_min,
        amenities: (st.am || []).map(function (i) {
          return { code: C.amenities[i], label: C.labels[l][i] };
        }),
        distance_m: Math.round(hit.metres * 100) / 100,
      },
    };
  }

  /* The kept stations in the view's box, their states moved on to now (or ``at``). */
  function offlineView(url) {
    return keptStations().then(function (stations) {
      if (!stations.length) return noData(url);
      var t = instant(url);
      var gcj02 = url.searchParams.get("crs") === "gcj02";
      var box = (url.searchParams.get("bbox") || "").split(",").map(Number);
      var features = [];
      stations.forEach(function (st) {
        var shown = gcj02 ? RestStationsGeo.wgs84ToGcj02(st.lon, st.lat) : [st.lon, st.lat];
        if (box.length === 4 && !(shown[0] >= box[0] && shown[0] <= box[2] && shown[1] >= box[1] && shown[1] <= box[3])) {
          return;
        }
        var a = RestStationsOffline.judge(st.ch, st.base, t, C.soonMin, C.aheadS);
        var p = {};
        for (var key in st.p) if (Object.prototype.hasOwnProperty.call(st.p, key)) p[key] = st.p[key];
        p.open = a.open;
        p.state = a.state;
        p.change = ""; // the page words it from next_change, as for a nearest answer
        p.next_change = a.next_change === null ? null : beijingIso(a.next_change);
        p.closes_in_min = a.closes_in_min;
        delete p.ch; // counted from the kept answer's time; this answer is never kept
        features.push({
          type: "Feature",
          id: st.id,
          geometry: { type: "Point", coordinates: [round6(st.lon), round6(st.lat)] },
          properties: p,
        });
      });
      features = features.slice(0, C.maxStations);
      return json({
        type: "FeatureCollection",
        at: beijingIso(t),
        cells: false,
        numberMatched: features.length,
        features: features,
        offline: true,
        data_at: beijingIso(
          Math.min.apply(
            null,
            stations.map(function (s) {
              return s.stored;
            })
          )
        ),
      });
    });
  }

  function round6(v) {
    return Math.round(v * 1e6) / 1e6;
  }
})();
