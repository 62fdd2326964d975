"""Coverage geometry: the part of an area within a service radius of some station.

Everything is measured on a plane: a Lambert azimuthal equal-area projection centred on
the area (:func:`plane_for`). Areas on it are exact, and within 500 km of the centre (all
of Shanxi) a ground circle of r metres is a circle of r on the plane to within 0.2 %, so
buffers are true metric circles rather than degrees.

Two independent methods:

- :func:`coverage` buffers the stations, unions the circles and takes the area minus the
  union (Shapely/GEOS); the gaps come out as polygons, one per connected component.
- :func:`raster_coverage` lays a grid of cell centres over the area and marks each centre
  within the radius of a station by plain distance arithmetic (numpy), with no buffering
  and no overlay. Tests and the benchmark hold the first to the second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

from geo.crs import transformer

# A 64-gon inscribed in the circle: its area is 0.16 % short of the circle's.
QUAD_SEGS = 16


@dataclass(frozen=True)
class Plane:
    """An equal-area plane centred on an area, and the way there and back."""

    crs: pyproj.CRS

    def forward(self, geom: BaseGeometry) -> BaseGeometry:
        """A WGS-84 (lon/lat) geometry on the plane, in metres."""
        return shapely.transform(
            geom, transformer("EPSG:4326", self.crs).transform, interleaved=False
        )

    def inverse(self, geom: BaseGeometry) -> BaseGeometry:
        """A plane geometry back in WGS-84 lon/lat."""
        return shapely.transform(
            geom, transformer(self.crs, "EPSG:4326").transform, interleaved=False
        )

    def points(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
        """Lon/lat arrays as an (n, 2) array of plane coordinates."""
        x, y = transformer("EPSG:4326", self.crs).transform(
            np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        )
        return np.column_stack([x, y]).reshape(-1, 2)

    def lon_lat(self, xy: ArrayLike) -> NDArray[np.float64]:
        """An (n, 2) array of plane coordinates as (n, 2) lon/lat."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        lon, lat = transformer(self.crs, "EPSG:4326").transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat]).reshape(-1, 2)


def plane_for(area: BaseGeometry) -> Plane:
    """The equal-area plane centred on ``area`` (WGS-84 lon/lat)."""
    centre = area.centroid if not area.is_empty else shapely.Point(0, 0)
    lon, lat = round(centre.x, 4), round(centre.y, 4)  # rounded: transformers are cached
    return Plane(
        pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m")
    )


@dataclass(frozen=True)
class Gap:
    """One connected uncovered piece of the area, on the plane."""

    geometry: BaseGeometry
    area_m2: float
    demand: float
    point: shapely.Point  # a point inside the piece, for labels and "go here"
    part: int = 0  # which of the area's parts (e.g. counties) the piece lies in


@dataclass(frozen=True)
class Coverage:
    """How much of an area (and of its demand) lies within the radius of a station."""

    area_m2: float
    covered_m2: float
    demand_total: float
    demand_covered: float
    gaps: list[Gap] = field(default_factory=list)
    # per demand point given: the part whose gap holds it, -1 when covered or outside
    uncovered_in: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def gap_m2(self) -> float:
        """Area not covered."""
        return self.area_m2 - self.covered_m2

    @property
    def coverage_ratio(self) -> float:
        """Covered share of the area (1 for an empty area: nothing is unserved)."""
        return self.covered_m2 / self.area_m2 if self.area_m2 else 1.0

    @property
    def demand_coverage_ratio(self) -> float:
        """Covered share of the demand weight (1 when there is no demand)."""
        return self.demand_covered / self.demand_total if self.demand_total else 1.0


@dataclass(frozen=True)
class _Circles:
    """What both coverage functions start from: the area, its demand, the circles' union."""

    area: BaseGeometry
    demand_xy: np.ndarray
    weights: np.ndarray
    covered: BaseGeometry
    any_station: bool
    inside: np.ndarray  # which of the demand points given lie in the area


def _circles(
    area: BaseGeometry,
    stations: ArrayLike,
    radius_m: float,
    demand: ArrayLike | None,
    weights: ArrayLike | None,
) -> _Circles:
    area = shapely.make_valid(area) if not area.is_valid else area
    xy = np.asarray(stations, dtype=float).reshape(-1, 2)
    demand_xy = np.asarray(demand if demand is not None else [], dtype=float).reshape(-1, 2)
    w = np.ones(len(demand_xy)) if weights is None else np.asarray(weights, dtype=float)
    inside = shapely.contains_xy(area, demand_xy[:, 0], demand_xy[:, 1]) if len(w) else w > 0
    circles = shapely.buffer(shapely.points(xy), radius_m, quad_segs=QUAD_SEGS)
    covered = shapely.union_all(circles) if len(xy) else shapely.Polygon()
    return _Circles(area, demand_xy[inside], w[inside], covered, bool(len(xy)), inside)


def coverage(
    area: BaseGeometry,
    stations: ArrayLike,
    radius_m: float,
    demand: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    parts: Sequence[BaseGeometry] | None = None,
) -> Coverage:
    """Coverage of ``area`` by circles of ``radius_m`` around ``stations``, all on a plane.

    ``stations`` and ``demand`` are (n, 2) plane coordinates; ``weights`` the demand
    weights (default 1 each). ``parts``, when given, partition the area (its counties):
    gaps are cut along them, so a night gap the size of a city becomes one piece per
    county, each knowing its part. Gaps are ranked by the demand inside, then by area.
    """
    c = _circles(area, stations, radius_m, demand, weights)
    demand_xy, w = c.demand_xy, c.weights
    demand_gap = np.zeros(len(w), dtype=bool)
    part_of = np.full(len(w), -1, dtype=np.int64)
    gaps = []
    uncovered = c.area.difference(c.covered)
    cuts = [uncovered] if parts is None else [uncovered.intersection(p) for p in parts]
    for index, cut in enumerate(cuts):
        for piece in shapely.get_parts(cut):
            if piece.is_empty or piece.area <= 0 or piece.geom_type != "Polygon":
                continue
            shapely.prepare(piece)
            hit = shapely.contains_xy(piece, demand_xy[:, 0], demand_xy[:, 1]) & ~demand_gap
            demand_gap |= hit
            part_of[hit] = index
            point = piece.point_on_surface()
            gaps.append(Gap(piece, piece.area, float(w[hit].sum()), point, index))
    gaps.sort(key=lambda g: (-g.demand, -g.area_m2))
    gap_m2 = sum(g.area_m2 for g in gaps)
    return Coverage(
        area_m2=c.area.area,
        covered_m2=max(0.0, c.area.area - gap_m2),
        demand_total=float(w.sum()),
        demand_covered=float(w[~demand_gap].sum()),
        gaps=gaps,
        uncovered_in=_scatter(part_of, c.inside),
    )


def _scatter(values: NDArray[np.int64], inside: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Values of the points inside the area, back on all the points given (-1 elsewhere)."""
    out = np.full(len(inside), -1, dtype=np.int64)
    out[inside] = values
    return out


def coverage_ratios(
    area: BaseGeometry,
    stations: ArrayLike,
    radius_m: float,
    demand: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> Coverage:
    """Like :func:`coverage`, totals only (no gap pieces): for profiles over many instants.

    The covered part is measured by the same circles, so the totals equal coverage()'s.
    """
    c = _circles(area, stations, radius_m, demand, weights)
    shapely.prepare(c.covered)
    hit = shapely.intersects_xy(c.covered, c.demand_xy[:, 0], c.demand_xy[:, 1])
    return Coverage(
        area_m2=c.area.area,
        covered_m2=c.area.intersection(c.covered).area if c.any_station else 0.0,
        demand_total=float(c.weights.sum()),
        demand_covered=float(c.weights[hit].sum()),
    )


def raster_coverage(
    area: BaseGeometry, stations: ArrayLike, radius_m: float, cell_m: float
) -> tuple[float, float]:
    """(area, covered area) in m² by counting ``cell_m`` grid cell centres: the check.

    Each station marks the centres within ``radius_m`` in a boolean grid; a centre inside
    the area counts ``cell_m``² as covered or not. No buffer, union or overlay is used.
    """
    xmin, ymin, xmax, ymax = area.bounds
    nx = max(1, math.ceil((xmax - xmin) / cell_m))
    ny = max(1, math.ceil((ymax - ymin) / cell_m))
    xs = xmin + (np.arange(nx) + 0.5) * cell_m
    ys = ymin + (np.arange(ny) + 0.5) * cell_m
    covered = np.zeros((ny, nx), dtype=bool)
    reach = math.ceil(radius_m / cell_m) + 1
    for sx, sy in np.asarray(stations, dtype=float).reshape(-1, 2):
        i0 = int((sx - xmin) / cell_m)
        j0 = int((sy - ymin) / cell_m)
        i_lo, i_hi = max(0, i0 - reach), min(nx, i0 + reach + 1)
        j_lo, j_hi = max(0, j0 - reach), min(ny, j0 + reach + 1)
        if i_lo >= i_hi or j_lo >= j_hi:
            continue
        dx = xs[i_lo:i_hi] - sx
        dy = ys[j_lo:j_hi, None] - sy
        covered[j_lo:j_hi, i_lo:i_hi] |= dx * dx + dy * dy <= radius_m * radius_m
    shapely.prepare(area)
    total = covered_cells = 0
    for j in range(0, ny, 256):  # rows in blocks keep memory flat on province-sized grids
        gx, gy = np.meshgrid(xs, ys[j : j + 256])
        inside = shapely.contains_xy(area, gx, gy)
        total += int(inside.sum())
        covered_cells += int((inside & covered[j : j + 256]).sum())
    return total * cell_m * cell_m, covered_cells * cell_m * cell_m
