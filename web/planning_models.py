"""What the planner API (``web.planning_api``) takes and answers, as pydantic models.

The class names are the document's component names. The area members and ``count`` and
``candidates`` are checked by :mod:`stations.coverage` and :mod:`stations.siting`, which
the command line shares, so here they are only documented.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator

from stations import planning_export, print_map, siting
from stations.access import DECAYS
from stations.coverage import MAX_RADIUS_M
from web import contract, fields

_GEOMETRY = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {"type": {"enum": ["Polygon", "MultiPolygon"]}, "coordinates": {}},
    "description": "A GeoJSON Polygon or MultiPolygon in lon/lat.",
}
_FEATURES = {"type": "object", "required": ["type", "features"]}
_DEFAULT_RADIUS_M = 1000
Ratio = Annotated[float, Field(ge=0, le=1)]


class ExportQuery(contract.Query):
    """The query of the planner routes: the answer as JSON, or one layer as a file."""

    format: fields.one_of(*planning_export.FORMATS) = Field(
        "json",
        description="json: the whole answer; geojson or csv (Chinese headers, UTF-8 with "
        "BOM): one layer as a download.",
    )
    lang: fields.Lang = Field("zh", description="Language of errors.")


class GapsExportQuery(ExportQuery):
    """The query of POST /coverage/gaps: which layer a download holds."""

    layer: fields.one_of("zones", "gaps") = Field(
        "zones", description="For geojson/csv: the demand zones or the gap pieces."
    )


class AreaRequest(contract.Body):
    """A planner request body: exactly one area member and the common options."""

    model_config = ConfigDict(
        json_schema_extra={"description": "Give exactly one of district, bbox or geometry."}
    )

    district: fields.documented(
        {"type": "string", "description": "Admin code (140105) or name."}
    ) = fields.optional()
    bbox: fields.documented(
        {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 4,
            "maxItems": 4,
            "description": "[min_lon, min_lat, max_lon, max_lat] in WGS-84 degrees.",
        }
    ) = fields.optional()
    geometry: fields.documented(_GEOMETRY) = fields.optional()
    radius_m: fields.body_number(1, MAX_RADIUS_M) = Field(
        _DEFAULT_RADIUS_M, description="Service radius (for access: the catchment) in metres."
    )
    amenities: fields.BodyAmenities = Field(
        [], description="Amenity codes every counted station must have."
    )

    @field_validator("radius_m", mode="before")
    @classmethod
    def _radius_null_is_default(cls, value: Any) -> Any:
        """``"radius_m": null`` means the default, as it always has."""
        return _DEFAULT_RADIUS_M if value is None else value


class AtRequest(AreaRequest):
    """An area request that may count only the stations open at an instant."""

    at: fields.BodyInstant = fields.optional(
        description="Only stations open then (no offset: Beijing)."
    )


class GapsRequest(AtRequest):
    """What POST /coverage/gaps takes."""


class PrintRequest(GapsRequest):
    """What POST /coverage/print takes: the gaps request, a title and sites to draw."""

    title: fields.text(60) | None = Field(
        None, description="The map's title (default: the area and 户外劳动者驿站覆盖)."
    )
    sites: fields.documented(
        {**_FEATURES, "description": "Proposed sites to draw: a FeatureCollection of Points."}
    ) = fields.optional()


class PrintQuery(contract.Query):
    """The query of POST /coverage/print."""

    format: fields.one_of(*print_map.FORMATS) = Field(
        print_map.FORMATS[0], description="pdf: A4 landscape for print; png: 1754×1240 for slides."
    )
    lang: fields.Lang = Field("zh", description="Language of errors.")


class HourlyRequest(AreaRequest):
    """What POST /coverage/hourly takes."""

    date: fields.BodyDate = Field(
        description="The day, YYYY-MM-DD.", json_schema_extra={"x-zh": "日期，YYYY-MM-DD"}
    )


class SuggestRequest(AtRequest):
    """What POST /coverage/suggest takes."""

    count: fields.documented({"type": "integer", "minimum": 1, "maximum": siting.MAX_COUNT})
    candidates: fields.documented(
        {**_FEATURES, "description": "FeatureCollection of candidate Points."}
    ) = fields.optional()


class FewestRequest(AtRequest):
    """What POST /coverage/fewest takes."""

    target: fields.body_number(siting.MIN_TARGET, 1) = Field(
        1.0,
        description=f"Share of the area's demand to bring within radius_m, {siting.MIN_TARGET:g} "
        "to 1 (0.95 for 95 %). Existing stations that count stay and count.",
        json_schema_extra={"x-zh": "目标覆盖的需求占比（0.95 即 95%）"},
    )
    method: fields.one_of(*siting.METHODS) = Field(
        "auto",
        description="exact: HiGHS integer program (the proven optimum, or its best with the "
        "solver's bound after time_limit_s); greedy: most newly covered first, with a lower "
        f"bound; auto: exact up to {siting.EXACT_PAIRS:,} candidate-worker pairs.",
    )
    time_limit_s: fields.body_number(1, siting.EXACT_TIME_LIMIT_S) = Field(
        siting.EXACT_TIME_LIMIT_S, description="Seconds the exact solver may take."
    )
    candidates: fields.documented(
        {**_FEATURES, "description": "FeatureCollection of candidate Points."}
    ) = fields.optional()


class AccessRequest(AtRequest):
    """What POST /coverage/access takes."""

    decay: fields.one_of(*DECAYS) = Field(
        "none",
        description="none: 2SFCA, every worker in the catchment counts whole; gaussian: the "
        "enhanced 2SFCA, each station-worker pair weighted by (exp(-(d/d0)^2/2) - exp(-1/2)) "
        "/ (1 - exp(-1/2)), 1 at the station and 0 at the catchment's edge.",
        json_schema_extra={"x-zh": "距离衰减：none（不衰减）或 gaussian（高斯衰减）"},
    )


class GapReport(contract.Answer):
    """An area's coverage totals and its uncovered pieces."""

    area: str = fields.optional()
    radius_m: float = fields.optional()
    area_km2: float
    covered_km2: float
    gap_km2: float
    coverage_ratio: Ratio
    demand_total: float
    demand_covered: float
    demand_coverage_ratio: Ratio
    stations_counted: int
    gaps: fields.documented(
        {
            **_FEATURES,
            "description": "Uncovered pieces cut along county lines, most demand first "
            "(pieces without demand last); each feature's properties carry rank, area_km2, "
            "demand, point (lon, lat inside the piece), county_code and county_name (null "
            "outside every county).",
        }
    )
    zones: fields.documented(
        {
            **_FEATURES,
            "description": "Demand zones: the uncovered demand of each county grouped into "
            "discs of the service radius, each what one new station at its centre would "
            "serve, most demand first; their demand adds up to demand_uncovered, which is "
            "demand_total - demand_covered. Properties: rank, demand, points, area_km2, "
            "centre (lon, lat), county_code, county_name and nearest_station (id, name, "
            "distance_m, counted: whether it counts at the hour asked, coordinates) or null.",
        }
    )


_HOUR = {
    "type": "object",
    "required": ["hour", "coverage_ratio", "demand_coverage_ratio", "stations_open"],
    "properties": {
        "hour": {"type": "integer", "minimum": 0, "maximum": 23},
        "coverage_ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "demand_coverage_ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "stations_open": {"type": "integer"},
    },
}


class HourlyProfile(contract.Answer):
    """An area's coverage at each hour of a day."""

    area: str = fields.optional()
    date: fields.documented({"type": "string", "format": "date"}) = fields.optional()
    hours: fields.documented({"type": "array", "minItems": 24, "maxItems": 24, "items": _HOUR})


class Suggestions(contract.Answer):
    """Sites for new stations, best first, and the demand they cover."""

    area: str = fields.optional()
    radius_m: float = fields.optional()
    requested: int = fields.optional()
    candidates: int = fields.optional()
    demand_total: float
    demand_covered_before: float
    demand_covered_after: float
    sites: fields.documented(
        {
            **_FEATURES,
            "description": "Points best first; properties rank, demand_newly_covered, "
            "cumulative_demand_covered, cumulative_demand_coverage_ratio. Fewer than "
            "asked when nothing more can be covered.",
        }
    )


class FewestSites(contract.Answer):
    """The fewest new sites meeting the target, most newly covered demand first."""

    area: str = fields.optional()
    radius_m: float = fields.optional()
    target: Ratio
    method: fields.one_of("exact", "greedy")
    sites_count: int
    lower_bound: int = Field(description="No fewer new sites can meet the target.")
    proven_optimal: bool = Field(description="sites_count equals lower_bound.")
    solver_seconds: float
    candidates: int = fields.optional()
    demand_total: float
    demand_covered_before: float
    demand_covered_after: float
    demand_coverage_ratio_before: Ratio
    demand_coverage_ratio_after: Ratio
    sites: fields.documented(
        {
            **_FEATURES,
            "description": "Points in the order that adds the most first; properties rank, "
            "demand_newly_covered, cumulative_demand_covered, "
            "cumulative_demand_coverage_ratio.",
        }
    )


class AccessScores(contract.Answer):
    """2SFCA scores per county-level district, as a FeatureCollection."""

    model_config = ConfigDict(
        json_schema_extra={
            "required": ["type", "features"],
            "description": "County-level districts with properties code, name, score (stations "
            "per 1,000 weighted outdoor workers, 2SFCA), demand, demand_with_access_ratio, "
            "stations.",
        }
    )
