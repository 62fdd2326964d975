"""Planners' plans: named sets of proposed sites, saved with every version kept.

A plan comes from the suggestions, from the fewest-sites answer, from sites placed on
the map or from a file; the planner names it and saves it. Saving under a name already
used adds the next version (the ``plans`` table is append-only), so a comparison shown
to the city union can be read again later. Each planner sees only the plans saved under
their own token owner. Comparing is :mod:`stations.plan_comparison`'s.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import shapely
from psycopg.rows import dict_row
from psycopg.types.json import Json

from stations import coverage
from stations.errors import InvalidParameter, NotFound
from stations.schema import PLAN_SOURCES

MAX_SITES = 1000
MAX_NAME = 100


@dataclass(frozen=True)
class Plan:
    """One version of a plan."""

    id: int
    owner: str
    name: str
    version: int
    versions: int
    district: str
    radius_m: float
    source: str
    sites: list[tuple[float, float]]  # lon/lat
    saved_at: dt.datetime


def check_name(value: Any) -> str:
    """A plan name: 1 to 100 characters of text, no control characters."""
    text = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(text) <= MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidParameter(
            "name",
            f"name must be 1 to {MAX_NAME} characters without control characters",
            zh=f"方案名称须为 1 到 {MAX_NAME} 个字符，且不含控制字符",
        )
    return text


def check_ids(value: Any, most: int) -> list[int]:
    """1 to ``most`` plan ids, positive whole numbers."""
    ok = isinstance(value, list) and 1 <= len(value) <= most
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    if not ok:
        raise InvalidParameter(
            "plans",
            f"plans must list 1 to {most} plan ids",
            zh=f"plans 须列出 1 到 {most} 个方案编号",
        )
    return list(value)


def check_sites(value: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """1 to 1,000 lon/lat sites."""
    sites = [(float(x), float(y)) for x, y in value]
    if not 1 <= len(sites) <= MAX_SITES:
        raise InvalidParameter(
            "sites",
            f"a plan holds 1 to {MAX_SITES:,} sites, not {len(sites):,}",
            zh=f"一个方案须有 1 到 {MAX_SITES:,} 个站点，收到 {len(sites):,} 个",
        )
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in sites):
        raise InvalidParameter("sites", "site coordinates must be finite lon/lat")
    return sites


def save(
    conn: psycopg.Connection,
    owner: str,
    *,
    name: Any,
    district: str,
    radius_m: float,
    source: str,
    sites: Sequence[tuple[float, float]],
) -> Plan:
    """Save a plan (the next version when ``owner`` has one of that name) and return it."""
    name = check_name(name)
    sites = check_sites(sites)
    radius_m = coverage.check_radius(radius_m)
    if source not in PLAN_SOURCES:
        raise InvalidParameter("source", f"source must be one of {', '.join(PLAN_SOURCES)}")
    area = coverage.resolve_area(conn, {"district": district})
    code = area.label.rsplit("(", 1)[-1].rstrip(")")
    outside = [i for i, p in enumerate(sites) if not area.geometry.covers(shapely.Point(p))]
    if outside:
        raise InvalidParameter(
            "sites",
            f"{len(outside)} site(s) lie outside {area.label} (first: site {outside[0] + 1})",
            zh=f"有 {len(outside)} 个站点在 {area.label} 之外（第一个：第 {outside[0] + 1} 个）",
        )
    (plan_id,) = conn.execute(
        """INSERT INTO plans (owner, name, district, radius_m, source, sites)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        [owner, name, code, radius_m, source, Json([[x, y] for x, y in sites])],
    ).fetchone()
    return fetch(conn, owner, plan_id)


_SELECT = """
    SELECT id, owner, name, district, radius_m, source, saved_at,
           sites,
           row_number() OVER (PARTITION BY owner, name ORDER BY id) AS version,
           count(*) OVER (PARTITION BY owner, name) AS versions
    FROM plans WHERE owner = %s
"""


def _plan(row: dict[str, Any]) -> Plan:
    return Plan(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        version=int(row["version"]),
        versions=int(row["versions"]),
        district=row["district"],
        radius_m=row["radius_m"],
        source=row["source"],
        sites=[(float(x), float(y)) for x, y in row["sites"]],
        saved_at=row["saved_at"],
    )


def listing(conn: psycopg.Connection, owner: str) -> list[Plan]:
    """The newest version of each of ``owner``'s plans, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT * FROM ({_SELECT}) v WHERE version = versions ORDER BY id DESC", [owner]
        ).fetchall()
    return [_plan(r) for r in rows]


def fetch(conn: psycopg.Connection, owner: str, plan_id: int) -> Plan:
    """One of ``owner``'s plan versions by id; another planner's is not found."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT * FROM ({_SELECT}) v WHERE id = %s", [owner, plan_id]).fetchone()
    if row is None:
        raise NotFound(f"no plan {plan_id} of yours", zh=f"没有您保存的方案 {plan_id}")
    return _plan(row)


def payload(plan: Plan) -> dict[str, Any]:
    """A plan as the API gives it: its record and its sites as GeoJSON points."""
    return {
        "id": plan.id,
        "name": plan.name,
        "version": plan.version,
        "versions": plan.versions,
        "district": plan.district,
        "radius_m": plan.radius_m,
        "source": plan.source,
        "saved_at": plan.saved_at.isoformat(),
        "sites_count": len(plan.sites),
        "sites": {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
                    "properties": {"rank": i},
                }
                for i, (x, y) in enumerate(plan.sites, start=1)
            ],
        },
    }
