"""The phone's own rules, offline (``static/map/offline.js`` under Node), against references.

The service worker judges "open", "closing soon" and "open for the break" from the
states the map's view answer brings (``ch``), with no hours parser; here, for every
schedule of the demo data, at instants through the 36 hours ahead (and a minute either
side of every change), its answer is compared with opening_hours.js at that instant.
Its distances are compared with pyproj ``Geod``, and its nearest list with a brute force.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from answers import ok
from hours_oracle import SOON_MIN, answers, expected_state, open_for
from pyproj import Geod

from web.map_data import OFFLINE_AHEAD, state_changes

STATIC = Path(__file__).resolve().parents[1] / "web" / "static" / "map"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
PROVINCE_BOX = "110.2,34.5,114.6,40.8"  # every demo station: listed, not counted
# a Monday night, and the evening before National Day's week off (holidays ahead)
BASES = ("2025-11-24T21:50:00+08:00", "2025-09-30T18:05:00+08:00")
BREAK_MIN = 20
_MORE = (
    "Mo-Su 22:00-06:00",
    "Mo-Fr 08:00-12:00,14:00-18:00; PH off",
    "Mo-Su 08:00-20:00; Sa,Su 09:00-17:00",
    'Mo-Fr 09:00-17:00 "call ahead"',
    "24/7; PH off",
    "Mo-Su 07:00-22:00; 2025 Oct 01-07 off",
    "Mo-Fr 08:00-18:00; PH 10:00-16:00",
    "Mo-Su 06:00+",
    "Mo-Fr 07:30-21:45; Sa 09:00-12:00",
)
_GEOD = Geod(ellps="WGS84")

_RUNNER = """
const fs = require("fs");
globalThis.self = globalThis;
for (const f of ["geodesy.js", "offline.js"])
  eval(fs.readFileSync(process.argv[1] + "/" + f, "utf8"));
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const judged = c => {
  const a = RestStationsOffline.judge(c.ch, c.base, c.t, c.soon, c.ahead);
  return Object.assign(a, {usable: RestStationsOffline.usable(a, c.t, c.break || 0)});
};
const out = cases.map(c => c.kind === "judge" ? judged(c)
  : c.kind === "metres" ? RestStationsGeo.metres(...c.args)
  : RestStationsOffline.nearest(c.stations, c.lon, c.lat, c.o).map(h => [h.station.id, h.metres]));
process.stdout.write(JSON.stringify(out));
"""


def _node(cases: list[dict]) -> list:
    node = shutil.which("node")
    assert node, "node is not installed; ./run test installs it"
    done = subprocess.run(
        [node, "-e", _RUNNER, str(STATIC)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def _ms(instant: dt.datetime) -> int:
    return int(instant.timestamp() * 1000)


def _view(client, at: str) -> dict:
    return ok(
        client.get("/api/v1/map/stations", query_string={"bbox": PROVINCE_BOX, "at": at})
    ).get_json()


@pytest.mark.parametrize("base_iso", BASES)
def test_states_from_the_changes_agree_with_opening_hours_js(client, base_iso):
    base = dt.datetime.fromisoformat(base_iso)
    body = _view(client, base_iso)
    assert body["cells"] is False
    schedules = {}
    for feature in body["features"]:
        p = feature["properties"]
        if p["hours"] and not any(w in p["hours"] for w in ("sun", "dusk", "dawn")):
            schedules.setdefault(p["hours"], p["ch"])
    assert len(schedules) > 15
    for expr in _MORE:  # beyond the demo's: what real stations publish
        schedules.setdefault(expr, state_changes(expr, base, None))
    ahead_s = int(OFFLINE_AHEAD.total_seconds())
    rng = random.Random(7)
    instants_for = {}
    for expr, ch in schedules.items():
        offsets = {rng.randrange(0, ahead_s) for _ in range(12)}
        for change_s, _state in ch[1:]:
            # on every change, on "closing soon" and on "too late for the break", and a
            # minute either side of each
            for edge in (change_s, change_s - SOON_MIN * 60, change_s - BREAK_MIN * 60):
                offsets |= {edge - 60, edge, edge + 60}
        # an hour short of the horizon: a break there may end past what the phone knows
        instants_for[expr] = sorted(
            base + dt.timedelta(seconds=s) for s in offsets if 0 <= s <= ahead_s - 3600
        )
    every = {t for ts in instants_for.values() for t in ts}
    oracle = answers(schedules, every)
    cases, expected = [], []
    for expr, ch in schedules.items():
        for t in instants_for[expr]:
            cases.append(
                {
                    "kind": "judge",
                    "ch": ch,
                    "base": _ms(base),
                    "t": _ms(t),
                    "soon": SOON_MIN,
                    "ahead": ahead_s,
                    "break": BREAK_MIN,
                }
            )
            expected.append((expr, t, oracle[(expr, t)]))
    got = _node(cases)
    wrong = []
    for (expr, t, answer), mine in zip(expected, got, strict=True):
        state = expected_state(answer, t)
        change = answer["next_change"]
        # every change in the window and the first after it come with the view
        known = change is not None and change <= base + 2 * OFFLINE_AHEAD
        want_change = _ms(change) if known else None
        day_long = mine["open"] and (
            mine["open_until"] is None or mine["open_until"] - _ms(t) >= 1440 * 60000
        )
        if (
            mine["state"] != state
            or mine["next_change"] != want_change
            or mine["usable"] != open_for(answer, t, BREAK_MIN)
            or day_long != open_for(answer, t, 1440)  # the "24 h" chip
        ):
            wrong.append((expr, t.isoformat(), mine, state, change))
    assert not wrong, wrong[:5]
    assert len(got) > 500


def test_past_the_horizon_every_station_is_unknown(client):
    body = _view(client, BASES[0])
    base = dt.datetime.fromisoformat(BASES[0])
    ahead_s = int(OFFLINE_AHEAD.total_seconds())
    later = base + OFFLINE_AHEAD + dt.timedelta(minutes=1)
    cases = [
        {
            "kind": "judge",
            "ch": f["properties"]["ch"],
            "base": _ms(base),
            "t": _ms(later),
            "soon": SOON_MIN,
            "ahead": ahead_s,
        }  # fmt: skip
        for f in body["features"]
    ]
    assert {m["state"] for m in _node(cases)} == {"unknown"}


def test_distances_agree_with_geod_and_nearest_with_a_brute_force(client):
    body = _view(client, BASES[0])
    base = dt.datetime.fromisoformat(BASES[0])
    rng = random.Random(11)
    features = body["features"]
    pairs = []
    for _ in range(200):
        a, b = rng.sample(features, 2)
        pairs.append((*a["geometry"]["coordinates"], *b["geometry"]["coordinates"]))
    pairs.append((112.5637, 37.8644, 112.5637, 37.8644))  # the same point
    pairs.append((112.5, 37.8, 113.5, 38.9))  # across the province
    got = _node([{"kind": "metres", "args": list(p)} for p in pairs])
    for p, metres in zip(pairs, got, strict=True):
        assert metres == pytest.approx(_GEOD.inv(*p)[2], abs=1e-3)

    # nearest open for a 20-minute break with water, from ten random points
    # the oracle puts every sunrise in Taiyuan's centre: schedules by the sun left out
    features = [f for f in features if "sun" not in (f["properties"]["hours"] or "")]
    stations = [
        {
            "id": f["id"],
            "lon": f["geometry"]["coordinates"][0],
            "lat": f["geometry"]["coordinates"][1],
            "am": f["properties"]["am"],
            "ch": f["properties"]["ch"],
            "base": _ms(base),
        }  # fmt: skip
        for f in features
    ]
    t = base + dt.timedelta(minutes=4)  # 21:54: some close at 22:00
    oracle = answers({f["properties"]["hours"] for f in features}, [t])
    cases, expected = [], []
    for _ in range(10):
        lon, lat = rng.uniform(112.45, 112.65), rng.uniform(37.75, 37.95)
        o = {"t": _ms(t), "needed": [0], "openOnly": True, "openForMin": BREAK_MIN,
             "withinM": 5000, "limit": 5, "soonMin": SOON_MIN,
             "aheadS": int(OFFLINE_AHEAD.total_seconds())}  # fmt: skip
        cases.append({"kind": "nearest", "stations": stations, "lon": lon, "lat": lat, "o": o})
        brute = []
        for f in features:
            p = f["properties"]
            expr = p["hours"]
            if 0 not in p["am"] or not expr:
                continue
            if not open_for(oracle.get((expr, t)), t, BREAK_MIN):
                continue
            metres = _GEOD.inv(lon, lat, *f["geometry"]["coordinates"])[2]
            if metres <= 5000:
                brute.append((metres, f["id"]))
        expected.append([i for _, i in sorted(brute)[:5]])
    got = _node(cases)
    assert any(expected)
    for want, mine in zip(expected, got, strict=True):
        assert [i for i, _ in mine] == want
