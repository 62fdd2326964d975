"""Sun times at a station, against an independent almanac (PyEphem, XEphem's C code).

The service computes sunrise and friends with ``astral`` (NOAA's equations); PyEphem
integrates VSOP87 positions, a different method by different authors. They must agree
within two minutes at Taiyuan and at Datong on every day of a year, and the hours of a
station that says ``sunrise-sunset`` must follow its own sky, not a fixed clock.
"""

from __future__ import annotations

import datetime as dt

import ephem
import pytest

from stations import hours
from stations.hours import sun

SH = hours.SHANGHAI
PLACES = {"Taiyuan": (112.5489, 37.8706), "Datong": (113.3001, 40.0768)}
# and China's corners: where Beijing time is far from the sun (sunrise near UTC midnight)
# and where the nights are longest and shortest
CORNERS = {"Kashgar": (75.99, 39.47), "Lhasa": (91.10, 29.65), "Chengdu": (104.07, 30.67)}
CORNERS |= {"Mohe": (122.53, 52.97), "Sanya": (109.50, 18.25)}
# PyEphem's horizon for each event, as opening_hours.js (SunCalc) defines them
HORIZONS = {"sunrise": ("-0:34", False), "sunset": ("-0:34", False)}
HORIZONS |= {"dawn": ("-6", True), "dusk": ("-6", True)}


def almanac(event: str, day: dt.date, lon: float, lat: float) -> dt.datetime:
    """The event on a local day, from PyEphem: the upper limb at -0°34' (the centre at
    -0°50') for sunrise and sunset, the centre at -6° for civil dawn and dusk; no pressure,
    since those angles already hold the standard refraction."""
    observer = ephem.Observer()
    observer.lon, observer.lat = str(lon), str(lat)
    observer.elevation = 0
    observer.pressure = 0  # the horizon angle already holds the refraction
    horizon, centre = HORIZONS[event]
    observer.horizon = horizon
    midnight = dt.datetime.combine(day, dt.time(), SH).astimezone(dt.UTC).replace(tzinfo=None)
    observer.date = ephem.Date(midnight)
    body = ephem.Sun()
    rising = event in ("sunrise", "dawn")
    found = (observer.next_rising if rising else observer.next_setting)(body, use_center=centre)
    return ephem.Date(found).datetime().replace(tzinfo=dt.UTC).astimezone(SH)


@pytest.mark.parametrize("place", [*PLACES, *CORNERS])
def test_sun_times_agree_with_an_independent_almanac_all_year(place: str) -> None:
    lon, lat = {**PLACES, **CORNERS}[place]
    worst = 0.0
    day = dt.date(2026, 1, 1)
    while day.year == 2026:
        for event in ("dawn", "sunrise", "sunset", "dusk"):
            ours = dt.datetime.combine(day, dt.time(), SH) + dt.timedelta(
                minutes=sun.minutes(event, day, lon, lat)
            )
            reference = almanac(event, day, lon, lat)
            # ours is cut to the minute (as opening_hours.js does), so up to 1 min early
            error = (ours - reference).total_seconds() / 60
            worst = max(worst, abs(error))
            assert -2 <= error <= 2, (place, event, day, ours, reference)
        day += dt.timedelta(days=1)
    assert worst > 0.2  # the comparison is real: the two are not the same numbers


def test_a_year_of_taiyuan_spans_hours_not_a_fixed_clock() -> None:
    lon, lat = PLACES["Taiyuan"]
    june = sun.minutes("sunrise", dt.date(2026, 6, 21), lon, lat)
    december = sun.minutes("sunrise", dt.date(2026, 12, 21), lon, lat)
    assert 5 * 60 <= june <= 5 * 60 + 15 and 7 * 60 + 35 <= december <= 7 * 60 + 50
    # Datong is north and east of Taiyuan: earlier summer sunrise, later winter sunset
    d_lon, d_lat = PLACES["Datong"]
    assert sun.minutes("sunrise", dt.date(2026, 6, 21), d_lon, d_lat) < june


def test_station_hours_follow_their_own_sunrise() -> None:
    expr = "sunrise-sunset"
    taiyuan, datong = PLACES["Taiyuan"], PLACES["Datong"]
    winter_0720 = dt.datetime(2026, 12, 21, 7, 20, tzinfo=SH)
    summer_0520 = dt.datetime(2026, 6, 21, 5, 20, tzinfo=SH)
    assert not hours.is_open(expr, winter_0720, taiyuan)  # the sun rises at 07:41
    assert hours.is_open(expr, summer_0520, taiyuan)  # at 05:08
    sunrise = hours.status(expr, winter_0720, taiyuan).next_change
    assert sunrise is not None
    assert abs((sunrise - almanac("sunrise", sunrise.date(), *taiyuan)).total_seconds()) <= 120
    # the same minute, 150 km apart: the stations' own skies decide
    dusk_1720 = dt.datetime(2026, 12, 21, 17, 15, tzinfo=SH)
    assert hours.is_open(expr, dusk_1720, datong) != hours.is_open(expr, dusk_1720, taiyuan) or (
        hours.status(expr, dusk_1720, datong).next_change
        != hours.status(expr, dusk_1720, taiyuan).next_change
    )
