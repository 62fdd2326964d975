/*
 * The nearest search a phone runs on its own when the signal is gone (the service worker
 * answers /api/v1/stations/nearest with it), over the stations the page loaded last.
 *
 * The rules are the server's (stations/nearest.py, stations/availability.py):
 * geodesic metres on WGS-84, nearest first then by id, within ``within_m``; every
 * amenity asked for; "open" means open or closing soon, "open for the break" means no
 * change to closed or unknown before the break ends; closing soon is a close within
 * ``soonMin`` minutes. No hours parser runs here: each station brings the states of its
 * next hours from the server (``ch``: [[seconds after the answer's time, "o"|"c"|"u"]]),
 * and past them (``aheadS``) its hours count as unknown.
 *
 * Plain ES5, a global like geodesy.js: loaded by the worker with importScripts.
 */
(function (root) {
  "use strict";

  var STATES = { o: "open", c: "closed", u: "unknown" };

  /*
   * A station's availability at ``t`` (ms), from its changes counted from ``base`` (ms):
   * {state, open, next_change (ms or null), next_state, closes_in_min, opens_in_min,
   * open_until (ms or null)}, with the server's rounding (down for closing, up for
   * opening).
   */
  function judge(ch, base, t, soonMin, aheadS) {
    var s = (t - base) / 1000;
    if (!ch || !ch.length || s < 0 || s > aheadS) return unknown();
    var now = ch[0][1];
    var next = null;
    for (var i = 0; i < ch.length; i++) {
      if (ch[i][0] <= s) now = ch[i][1];
      else {
        next = ch[i];
        break;
      }
    }
    var change = next ? base + next[0] * 1000 : null;
    var left = change === null ? null : (change - t) / 60000;
    var state = STATES[now];
    var out = {
      state: state,
      open: state === "open",
      next_change: change,
      next_state: next ? STATES[next[1]] : null,
      closes_in_min: null,
      opens_in_min: null,
      open_until: null,
    };
    if (out.open) {
      out.open_until = change;
      if (left !== null) {
        out.closes_in_min = Math.max(0, Math.floor(left));
        if (left <= soonMin) out.state = "closing_soon";
      }
    } else if (left !== null && out.next_state === "open") {
      out.opens_in_min = Math.max(0, Math.ceil(left));
    }
    return out;
  }

  function unknown() {
    return {
      state: "unknown",
      open: false,
      next_change: null,
      next_state: null,
      closes_in_min: null,
      opens_in_min: null,
      open_until: null,
    };
  }

  /* Open at ``t`` and still open ``openForMin`` minutes later. */
  function usable(availability, t, openForMin) {
    if (!availability.open) return false;
    var until = availability.open_until;
    return until === null || until - t >= openForMin * 60000;
  }

  /*
   * The ``limit`` nearest of ``stations`` to (lon, lat) WGS-84 that hold every amenity
   * index in ``needed`` and are usable at ``t``. Each station: {id, lon, lat (WGS-84),
   * am: [amenity indexes], ch, base}. Returns [{station, metres, availability}].
   */
  function nearest(stations, lon, lat, o) {
    var found = [];
    for (var i = 0; i < stations.length; i++) {
      var st = stations[i];
      if (!holds(st.am, o.needed)) continue;
      var availability = judge(st.ch, st.base, o.t, o.soonMin, o.aheadS);
      if (o.openOnly && !usable(availability, o.t, o.openForMin)) continue;
      var m = root.RestStationsGeo.metres(lon, lat, st.lon, st.lat);
      if (!(m <= o.withinM)) continue;
      found.push({ station: st, metres: m, availability: availability });
    }
    found.sort(function (a, b) {
      return a.metres - b.metres || a.station.id - b.station.id;
    });
    return found.slice(0, o.limit);
  }

  function holds(have, needed) {
    for (var i = 0; i < needed.length; i++) if ((have || []).indexOf(needed[i]) < 0) return false;
    return true;
  }

  root.RestStationsOffline = { judge: judge, usable: usable, nearest: nearest };
})(typeof self !== "undefined" ? self : this);
