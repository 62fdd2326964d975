"""Sun times at a station: dawn, sunrise, sunset and dusk for its own position and date.

``sunrise-sunset`` at a station in Datong is not the same clock time as in Yuncheng, and
it moves by two and a half hours over a Shanxi year; fixed stand-ins (07:00 / 19:00)
would call a station open in the dark. Times come from ``astral`` (NOAA's solar
equations): sunrise and sunset when the sun's upper limb touches the horizon with
standard refraction (-0.833°), dawn and dusk at civil twilight (-6°), as
opening_hours.js (SunCalc) defines them. They are cut to the whole minute, as the
reference evaluator does, so both agree minute by minute.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from astral import Observer
from astral import sun as _sun

from stations.hours.tz import SHANGHAI

# opening_hours.js's stand-ins, used only where no position is known (and to decide,
# before any position is known, whether a span like "sunset-02:00" runs past midnight)
DEFAULT_MINUTES = {"dawn": 5 * 60 + 30, "sunrise": 6 * 60, "sunset": 18 * 60, "dusk": 18 * 60 + 30}

_EVENTS = {
    "dawn": lambda o, d: _sun.dawn(o, d, tzinfo=SHANGHAI),
    "sunrise": lambda o, d: _sun.sunrise(o, d, tzinfo=SHANGHAI),
    "sunset": lambda o, d: _sun.sunset(o, d, tzinfo=SHANGHAI),
    "dusk": lambda o, d: _sun.dusk(o, d, tzinfo=SHANGHAI),
}


@lru_cache(maxsize=65536)
def minutes(event: str, day: dt.date, lon: float, lat: float) -> int:
    """Minutes after local midnight (Asia/Shanghai) of ``event`` on ``day`` at (lon, lat).

    Where the event does not happen that day (polar day or night, not in China) the
    reference evaluator's stand-in is used.
    """
    try:
        when = _EVENTS[event](Observer(latitude=lat, longitude=lon), day)
    except ValueError:
        return DEFAULT_MINUTES[event]
    local = when.astimezone(SHANGHAI)
    offset_days = (local.date() - day).days
    return offset_days * 24 * 60 + local.hour * 60 + local.minute
