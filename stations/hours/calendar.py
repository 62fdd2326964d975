"""China's public holidays (``PH``) and make-up working days, as the State Council arranges them.

Each year the State Council's notice (国务院办公厅关于YYYY年部分节假日安排的通知) sets the
breaks (放假) and the weekend days that become working days (调休上班). The notice is
published around November, before any package knows it, so the arrangement is data:
``data/holidays/YYYY.toml`` holds one year's notice as it is written (see the README in
that folder). A year with a file uses it and nothing else; a year without one falls back
to ``chinesecalendar`` and, beyond it, to the statutory days of the law from the
``holidays`` package, with no make-up days known.

One rule for every break: each day from its first to its last day off is a public
holiday, the weekend days joined to it included (``与周末连休``). (chinesecalendar
counts the weekend joined to New Year 2024 but not the one joined to Dragon Boat 2024,
although both notices say the same words.)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import chinese_calendar
import holidays as holiday_packages

from stations import settings

LOGGER = logging.getLogger(__name__)
_NUMBER = re.compile(r"国办发明电〔\d{4}〕\d+号")
WARN_FROM = (11, 1)  # from 1 November, next year's missing notice is worth a warning


@dataclass(frozen=True)
class Break:
    """One holiday break of a notice: every day from ``first`` to ``last`` is off."""

    name: str
    name_en: str
    first: dt.date
    last: dt.date
    workdays: tuple[dt.date, ...]
    text: str

    def days(self) -> list[dt.date]:
        """Every day of the break."""
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class Arrangement:
    """One year's notice, as written in ``data/holidays/YYYY.toml``."""

    year: int
    title: str
    number: str
    issued: dt.date | None
    url: str | None
    breaks: tuple[Break, ...]
    path: str


class CalendarFileError(ValueError):
    """A holiday file that cannot be used; the message names the file and the fix."""


def folder() -> Path:
    """The folder of yearly arrangement files."""
    configured = settings.get("STATIONS_HOLIDAYS_DIR")
    return Path(configured or os.path.join(settings.path("STATIONS_DATA_DIR"), "holidays"))


def _date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise CalendarFileError(f"{where} must be a date written as 2027-01-01 (no quotes)")


def read_file(path: Path) -> Arrangement:
    """Read and check one year's file; raise :class:`CalendarFileError` saying what to fix."""
    name = path.name
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CalendarFileError(f"{name}: cannot be read as TOML: {exc}") from None
    year = raw.get("year")
    if year != int(path.stem):
        raise CalendarFileError(f"{name}: year = {year!r} does not match the file name")
    notice = raw.get("notice")
    if not isinstance(notice, dict) or not notice.get("title") or not notice.get("number"):
        raise CalendarFileError(f"{name}: [notice] needs title and number (文号)")
    if not _NUMBER.fullmatch(str(notice["number"])):
        raise CalendarFileError(f"{name}: notice number must look like 国办发明电〔2026〕7号")
    breaks = []
    for i, item in enumerate(raw.get("breaks") or [], start=1):
        where = f"{name}: break {i}"
        if not isinstance(item, dict) or not item.get("name"):
            raise CalendarFileError(f"{where} needs a name")
        first, last = (
            _date(item.get("first"), f"{where} first"),
            _date(item.get("last"), f"{where} last"),
        )
        if last < first:
            raise CalendarFileError(f"{where}: last ({last}) is before first ({first})")
        if not (year - 1 <= first.year <= year and last.year in (year, year + 1)):
            raise CalendarFileError(f"{where}: {first}..{last} is not in {year}")
        workdays = tuple(_date(d, f"{where} workdays") for d in item.get("workdays") or [])
        breaks.append(
            Break(
                str(item["name"]),
                str(item.get("name_en") or ""),
                first,
                last,
                workdays,
                str(item.get("text") or ""),
            )
        )
    if not breaks:
        raise CalendarFileError(f"{name}: lists no [[breaks]]")
    off = [d for b in breaks for d in b.days()]
    if len(off) != len(set(off)):
        raise CalendarFileError(f"{name}: two breaks share a day")
    if clash := sorted({w for b in breaks for w in b.workdays} & set(off)):
        raise CalendarFileError(f"{name}: {clash[0]} is both a day off and a working day")
    issued = notice.get("issued")
    return Arrangement(
        year=year,
        title=str(notice["title"]),
        number=str(notice["number"]),
        issued=_date(issued, f"{name}: notice issued") if issued is not None else None,
        url=str(notice["url"]) if notice.get("url") else None,
        breaks=tuple(breaks),
        path=str(path),
    )


@dataclass(frozen=True)
class Loaded:
    """Every usable arrangement by year, and the files that could not be used."""

    arrangements: dict[int, Arrangement]
    problems: tuple[str, ...]


def scan(directory: Path | None = None) -> Loaded:
    """Read every ``YYYY.toml`` in the folder (fresh; for status and checks)."""
    directory = directory or folder()
    found: dict[int, Arrangement] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        if not re.fullmatch(r"\d{4}", path.stem):
            problems.append(f"{path.name}: not a year file (name it like 2027.toml)")
            continue
        try:
            found[int(path.stem)] = read_file(path)
        except CalendarFileError as exc:
            problems.append(str(exc))
    return Loaded(found, tuple(problems))


@cache
def loaded() -> Loaded:
    """The arrangements this process uses, read once (a new file needs a restart)."""
    result = scan()
    for problem in result.problems:
        LOGGER.error("holiday file not used: %s", problem)
    return result


def reload() -> None:
    """Forget what was read, so the next question reads the folder again."""
    loaded.cache_clear()
    _year.cache_clear()


@lru_cache(maxsize=512)
def _year(year: int) -> tuple[frozenset[dt.date], frozenset[dt.date], str]:
    """Holidays and make-up working days of one calendar year, and where they come from."""
    arrangements = loaded().arrangements
    from_files_off = {
        d for a in arrangements.values() for b in a.breaks for d in b.days() if d.year == year
    }
    from_files_work = {
        d for a in arrangements.values() for b in a.breaks for d in b.workdays if d.year == year
    }
    if year in arrangements:
        return frozenset(from_files_off), frozenset(from_files_work), "notice"
    try:
        chinese_calendar.get_holiday_detail(dt.date(year, 1, 1))
    except (NotImplementedError, ValueError):
        # Statutory days per the law (incl. "observed" ones); arrangements unknown.
        statutory = set(holiday_packages.China(years=year)) if 1 <= year <= 9999 else set()
        return frozenset(statutory | from_files_off), frozenset(from_files_work), "law"
    off: set[dt.date] = set(from_files_off)
    work: set[dt.date] = set(from_files_work)
    day = dt.date(year, 1, 1)
    while day.year == year:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        if name is not None:  # plain weekends are (True, None): not a named holiday
            (off if on_holiday else work).add(day)
        day += dt.timedelta(days=1)
    return frozenset(off), frozenset(work), "chinesecalendar"


def is_public_holiday(day: dt.date) -> bool:
    """Whether ``day`` is a public holiday, i.e. what ``PH`` matches."""
    return day in _year(day.year)[0]


def is_makeup_workday(day: dt.date) -> bool:
    """Whether ``day`` is a make-up working day (调休上班日); False where unknown."""
    return day in _year(day.year)[1]


def source(year: int) -> str:
    """Where a year's holidays come from: ``notice``, ``chinesecalendar`` or ``law``."""
    return _year(year)[2]


@dataclass(frozen=True)
class Coverage:
    """Which years follow an official notice, and what needs an officer's attention."""

    notice_years: tuple[int, ...]
    warnings: tuple[str, ...]
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """For ``/readyz`` and ``stations holidays status --json``."""
        return {
            "notice_years": list(self.notice_years),
            "warnings": list(self.warnings),
            "problems": list(self.problems),
        }


def coverage(today: dt.date, result: Loaded | None = None) -> Coverage:
    """Years covered by a notice; from 1 November on, a missing next year is a warning."""
    result = result or loaded()
    years = tuple(sorted(result.arrangements))
    warnings = []
    following = today.year + 1
    if (today.month, today.day) >= WARN_FROM and following not in result.arrangements:
        fallback = (
            "chinesecalendar"
            if source(following) == "chinesecalendar"
            else "the statutory days of the law, without make-up working days"
        )
        warnings.append(
            f"no holiday arrangement for {following} yet: when the State Council publishes "
            f"its notice, add {folder() / f'{following}.toml'} (see data/holidays/README.md); "
            f"until then PH in {following} follows {fallback}"
        )
    if today.year not in result.arrangements:
        warnings.append(f"no holiday arrangement for the current year {today.year}")
    return Coverage(years, tuple(warnings), result.problems)


_LOGGED: set[str] = set()


def log_attention(today: dt.date) -> Coverage:
    """The coverage, with each warning and problem logged once per process."""
    result = coverage(today)
    for message in (*result.warnings, *result.problems):
        if message not in _LOGGED:
            _LOGGED.add(message)
            LOGGER.warning("holiday calendar: %s", message)
    return result
