"""Find active stations and districts by what a person types.

Part of a station's name, its address or its district ("小店", "五一路", "太原"),
Chinese or Latin, with a typo. Substring matches come first (a name before an address
before a district name), then near misses by ``pg_trgm``'s ``word_similarity`` (queries
of three characters or more); within each, the stations nearest the map's centre first
(geodesic metres). Migrations 0006 and 0007 index the texts, so a national registry is not read
row by row.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

MAX_QUERY_CHARS = 50
MAX_RESULTS = 20
MAX_DISTRICTS = 5
FUZZY_MIN_CHARS = 3  # a trigram needs three characters
# pg_trgm's default (0.6) misses a name typed with a word left out ("小店区总工会服务中心"
# for "小店区总工会职工服务中心爱心驿站" scores 0.55); unrelated names score below 0.3.
SIMILARITY = 0.4
CANDIDATES_PER_RESULT = 4  # measured on the ellipsoid, per result asked for

# Every matching row is classed and given a cheap distance (degrees, longitude scaled by
# the latitude's cosine: the geodesic order for the short distances that matter); only the
# first few per page are measured on the ellipsoid and put in their final order, so a
# word every station holds ("驿站") does not cost a geodesic per station of the registry.
_STATIONS = """
WITH hit AS (
    SELECT s.id, s.code, s.name, s.address, s.district_code, s.district_name, s.geom,
           CASE WHEN s.name ILIKE %(pattern)s THEN 1
                WHEN s.address ILIKE %(pattern)s THEN 2
                WHEN s.district_name ILIKE %(pattern)s THEN 3
                ELSE 4 END AS class,
           greatest(word_similarity(%(q)s, s.name),
                    word_similarity(%(q)s, coalesce(s.address, ''))) AS score
    FROM stations s
    WHERE s.status = 'active'
      AND (s.name ILIKE %(pattern)s OR s.address ILIKE %(pattern)s
           OR s.district_name ILIKE %(pattern)s
           OR (%(fuzzy)s AND (%(q)s <%% s.name OR %(q)s <%% s.address)))
), ranked AS (
    SELECT *, CASE WHEN class = 4 THEN -score ELSE 0 END AS miss,
           CASE WHEN %(lon)s::float8 IS NULL THEN 0
                ELSE ST_Distance(geom::geography,
                                 ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography)
           END AS metres
    FROM (SELECT * FROM hit
          ORDER BY class, CASE WHEN class = 4 THEN -score ELSE 0 END,
                   CASE WHEN %(lon)s::float8 IS NULL THEN 0
                        ELSE ((ST_X(geom) - %(lon)s) * cos(radians(%(lat)s))) ^ 2
                             + (ST_Y(geom) - %(lat)s) ^ 2 END,
                   id
          LIMIT %(candidates)s) first
)
SELECT id, code, name, address, district_code, district_name,
       ST_X(geom) AS lon, ST_Y(geom) AS lat,
       (ARRAY['name', 'address', 'district', 'similar'])[class] AS matched
FROM ranked
ORDER BY class, miss, metres, id
LIMIT %(limit)s
"""

# A district's stations share the first 2 (province), 4 (city) or 6 (county) digits of
# its code (GB/T 2260); compared as a range of six-digit codes (digits sort alike in every
# collation), so the index on district_code serves it.
_DISTRICTS = """
SELECT d.code, d.name, d.level,
       ST_XMin(d.geom) AS min_lon, ST_YMin(d.geom) AS min_lat,
       ST_XMax(d.geom) AS max_lon, ST_YMax(d.geom) AS max_lat,
       (SELECT count(*) FROM stations s
        WHERE s.status = 'active'
          AND s.district_code BETWEEN rpad(p.prefix, 6, '0') AND rpad(p.prefix, 6, '9'))
       AS stations
FROM districts d,
     LATERAL (SELECT left(d.code, CASE d.level WHEN 'province' THEN 2
                                               WHEN 'city' THEN 4 ELSE 6 END) AS prefix) p
WHERE d.name ILIKE %(pattern)s
ORDER BY d.name <> %(q)s, length(d.name), d.code
LIMIT %(districts)s
"""


def like_pattern(q: str) -> str:
    """``%q%`` with LIKE's own characters taken literally."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    conn: psycopg.Connection,
    q: str,
    *,
    near: tuple[float, float] | None = None,
    limit: int = 10,
) -> dict[str, list[dict[str, Any]]]:
    """Districts whose name holds ``q``, and active stations whose texts hold it.

    Or nearly hold it (a typo, a word left out); ``near`` is a WGS-84 (lon, lat) to rank by.
    """
    args = {
        "q": q,
        "pattern": like_pattern(q),
        "fuzzy": len(q) >= FUZZY_MIN_CHARS,
        "lon": near[0] if near else None,
        "lat": near[1] if near else None,
        "limit": limit,
        "candidates": limit * CANDIDATES_PER_RESULT,
        "districts": MAX_DISTRICTS,
    }
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)",
            (str(SIMILARITY),),
        )
        stations = cur.execute(_STATIONS, args).fetchall()
        districts = cur.execute(_DISTRICTS, args).fetchall()
    return {"districts": districts, "stations": stations}
