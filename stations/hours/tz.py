"""The one time zone of station hours: Asia/Shanghai, with no daylight saving since 1991."""

from __future__ import annotations

from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
