"""Sun times at a station: dawn, sunrise, sunset and dusk for its own position and date.

``sunrise-sunset`` at a station in Datong is not the same clock time as in Yuncheng, and
it moves by two and a half hours over a Shanxi year; fixed stand-ins (07:00 / 19:00)
would call a station open in the dark. Times follow NOAA's solar equations, through
``astral``'s functions: sunrise and sunset when the sun's upper limb touches the horizon
with standard refraction, dawn and dusk at civil twilight (-6°), as opening_hours.js
(SunCalc) defines them. They are cut to the whole minute, as the reference evaluator
does, so both agree minute by minute.

astral's own ``sunrise(date)`` looks for the event within the UTC day around noon at
Greenwich, so in western China (where sunrise comes near 08:00 Beijing time, i.e. UTC
midnight) it skips one day a year and reports it missing. The same equations are solved
here within the Beijing-time day instead, which holds every sunrise and sunset in China.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from math import degrees

from astral.julian import julianday, julianday_to_juliancentury
from astral.sun import (
    SUN_APPARENT_RADIUS,
    SunDirection,
    eq_of_time,
    hour_angle,
    refraction_at_zenith,
    sun_declination,
)

# opening_hours.js's stand-ins, used only where no position is known (and to decide,
# before any position is known, whether a span like "sunset-02:00" runs past midnight)
DEFAULT_MINUTES = {"dawn": 5 * 60 + 30, "sunrise": 6 * 60, "sunset": 18 * 60, "dusk": 18 * 60 + 30}

_ZENITH = {
    "dawn": (96.0, SunDirection.RISING),
    "sunrise": (90.0 + SUN_APPARENT_RADIUS, SunDirection.RISING),
    "sunset": (90.0 + SUN_APPARENT_RADIUS, SunDirection.SETTING),
    "dusk": (96.0, SunDirection.SETTING),
}
_BEIJING_MIN = 8 * 60  # Beijing time is UTC+8 all year


@lru_cache(maxsize=65536)
def minutes(event: str, day: dt.date, lon: float, lat: float) -> int:
    """Minutes after local midnight (Asia/Shanghai) of ``event`` on ``day`` at (lon, lat).

    Where the event does not happen that day (polar day or night, not in China) the
    reference evaluator's stand-in is used.
    """
    zenith, direction = _ZENITH[event]
    zenith += refraction_at_zenith(zenith)
    midnight_utc = julianday(day)  # 00:00 UTC of the date, as a Julian day
    local = 12 * 60.0  # first guess: noon, Beijing time
    try:
        for _ in range(2):  # as astral: once for the day, once more at the event itself
            jc = julianday_to_juliancentury(midnight_utc + (local - _BEIJING_MIN) / 1440)
            angle = hour_angle(lat, sun_declination(jc), zenith, direction)
            local = 720.0 + (-lon - degrees(angle)) * 4.0 - eq_of_time(jc) + _BEIJING_MIN
    except ValueError:  # the sun does not reach that angle on this day
        return DEFAULT_MINUTES[event]
    return int(local // 1)
