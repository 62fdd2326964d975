/*
 * Datums and distances shared by the map page and its service worker (loaded by both:
 * a <script> on the page, importScripts in the worker), so that there is one copy.
 *
 * - WGS-84 <-> GCJ-02 (Amap's streets) and GCJ-02 -> BD-09 (Baidu's), the published
 *   closed-form formulas with the constants of geo/datums.py; GCJ-02 -> WGS-84 iterates
 *   the forward formula (centimetres after a few steps).
 * - Geodesic metres on the WGS-84 ellipsoid (Vincenty's inverse formula), the distance
 *   the server's nearest search uses (PostGIS on geography), so that the phone's own
 *   search, offline, ranks stations the way the server would.
 *
 * Plain ES5: old Android WebViews and WeChat's browser parse it.
 */
(function (root) {
  "use strict";

  var KRASOVSKY_A = 6378245.0;
  var KRASOVSKY_EE = 0.00669342162296594323;
  var X_PI = (Math.PI * 3000.0) / 180.0;

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

  /* [lon, lat] WGS-84 -> [lon, lat] GCJ-02 (unchanged outside China). */
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

  /* [lon, lat] GCJ-02 -> [lon, lat] WGS-84, iterating the forward formula. */
  function gcj02ToWgs84(lon, lat) {
    var x = lon;
    var y = lat;
    for (var i = 0; i < 6; i++) {
      var g = wgs84ToGcj02(x, y);
      x -= g[0] - lon;
      y -= g[1] - lat;
    }
    return [x, y];
  }

  /* [lon, lat] GCJ-02 -> [lon, lat] BD-09. */
  function gcj02ToBd09(lon, lat) {
    var z = Math.sqrt(lon * lon + lat * lat) + 0.00002 * Math.sin(lat * X_PI);
    var theta = Math.atan2(lat, lon) + 0.000003 * Math.cos(lon * X_PI);
    return [z * Math.cos(theta) + 0.0065, z * Math.sin(theta) + 0.006];
  }

  var WGS84_A = 6378137.0;
  var WGS84_F = 1 / 298.257223563;
  var WGS84_B = WGS84_A * (1 - WGS84_F);

  /*
   * Geodesic metres between two WGS-84 points (Vincenty 1975, inverse). Converges to
   * well under a millimetre for any two points a rider is between; NaN only for nearly
   * antipodal points, which no search here meets.
   */
  function metres(lon1, lat1, lon2, lat2) {
    var rad = Math.PI / 180;
    var L = (lon2 - lon1) * rad;
    var U1 = Math.atan((1 - WGS84_F) * Math.tan(lat1 * rad));
    var U2 = Math.atan((1 - WGS84_F) * Math.tan(lat2 * rad));
    var sinU1 = Math.sin(U1);
    var cosU1 = Math.cos(U1);
    var sinU2 = Math.sin(U2);
    var cosU2 = Math.cos(U2);
    var lambda = L;
    var sinSigma, cosSigma, sigma, cosSqAlpha, cos2SigmaM;
    for (var i = 0; i < 200; i++) {
      var sinLambda = Math.sin(lambda);
      var cosLambda = Math.cos(lambda);
      var a = cosU2 * sinLambda;
      var b = cosU1 * sinU2 - sinU1 * cosU2 * cosLambda;
      sinSigma = Math.sqrt(a * a + b * b);
      if (sinSigma === 0) return 0; // the same point
      cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosLambda;
      sigma = Math.atan2(sinSigma, cosSigma);
      var sinAlpha = (cosU1 * cosU2 * sinLambda) / sinSigma;
      cosSqAlpha = 1 - sinAlpha * sinAlpha;
      cos2SigmaM = cosSqAlpha ? cosSigma - (2 * sinU1 * sinU2) / cosSqAlpha : 0; // equator
      var C = (WGS84_F / 16) * cosSqAlpha * (4 + WGS84_F * (4 - 3 * cosSqAlpha));
      var previous = lambda;
      lambda =
        L +
        (1 - C) *
          WGS84_F *
          sinAlpha *
          (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)));
      if (Math.abs(lambda - previous) < 1e-12) break;
    }
    var uSq = (cosSqAlpha * (WGS84_A * WGS84_A - WGS84_B * WGS84_B)) / (WGS84_B * WGS84_B);
    var A = 1 + (uSq / 16384) * (4096 + uSq * (-768 + uSq * (320 - 175 * uSq)));
    var B = (uSq / 1024) * (256 + uSq * (-128 + uSq * (74 - 47 * uSq)));
    var deltaSigma =
      B *
      sinSigma *
      (cos2SigmaM +
        (B / 4) *
          (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM) -
            (B / 6) * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) * (-3 + 4 * cos2SigmaM * cos2SigmaM)));
    return WGS84_B * A * (sigma - deltaSigma);
  }

  root.RestStationsGeo = {
    wgs84ToGcj02: wgs84ToGcj02,
    gcj02ToWgs84: gcj02ToWgs84,
    gcj02ToBd09: gcj02ToBd09,
    metres: metres,
  };
})(typeof self !== "undefined" ? self : this);
