"""What the plans API (``web.plans_api``) takes and answers, as pydantic models.

``name``, ``sites`` and ``district`` are checked by :mod:`stations.plans`, which the page
shares, so here they are only documented.
"""

from __future__ import annotations

from pydantic import Field

from stations import plan_comparison, plans
from stations.coverage import MAX_RADIUS_M
from stations.schema import PLAN_SOURCES
from web import contract, fields

_SITES = {
    "type": "object",
    "required": ["type", "features"],
    "description": f"FeatureCollection of 1 to {plans.MAX_SITES:,} Points (lon/lat).",
}


class PlanRequest(contract.Body):
    """What POST /plans takes."""

    name: fields.documented(
        {"type": "string", "minLength": 1, "maxLength": plans.MAX_NAME, "x-zh": "方案名称"}
    )
    district: fields.documented(
        {"type": "string", "description": "Admin code or name of the plan's district."}
    )
    radius_m: fields.body_number(1, MAX_RADIUS_M) = Field(1000, description="Service radius.")
    source: fields.one_of(*PLAN_SOURCES) = Field(
        "map", description="Where the sites came from: suggest, fewest, map or file."
    )
    sites: fields.documented(_SITES)


class CompareRequest(contract.Body):
    """What POST /plans/compare takes."""

    plans: fields.documented(
        {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "minItems": 1,
            "maxItems": plan_comparison.MAX_PLANS,
            "description": "Ids of your plan versions; no new station is always compared too.",
        }
    )
    date: fields.BodyDate = Field(description="The day the 24 hours are of, YYYY-MM-DD.")
    district: fields.documented(
        {"type": "string", "description": "Default: the first plan's district."}
    ) = fields.optional()
    radius_m: fields.documented(
        {"type": "number", "minimum": 1, "maximum": MAX_RADIUS_M, "description": "Default: "
         "the first plan's radius."}
    ) = fields.optional()  # fmt: skip
    programme: fields.text(60) = Field(
        plan_comparison.DEFAULT_PROGRAMME,
        description="Programme whose amount per station is the cost.",
    )


_SITE_LIST = {"type": "object", "description": "FeatureCollection of the plan's Points."}


class PlanRecord(contract.Answer):
    """One version of a plan."""

    id: int
    name: str
    version: int
    versions: int
    district: str
    radius_m: float
    source: str
    saved_at: str
    sites_count: int
    sites: fields.documented(_SITE_LIST)


class PlanList(contract.Answer):
    """The newest version of each of your plans, newest first."""

    plans: list[PlanRecord]


class Comparison(contract.Answer):
    """No new station and each plan, measured alike."""

    area: str
    date: str
    radius_m: float
    programme: dict
    assumption: str
    plans: fields.documented(
        {
            "type": "array",
            "description": "First no new station, then each plan: sites_count, cost_cny, "
            "hourly_demand_coverage (24), demand_coverage_ratio, area_coverage_ratio, gini "
            "(of the county 2SFCA scores, demand-weighted), counties (score_before, "
            "score_after) and sites (county, nearest_station, demand_newly_covered).",
        }
    )
