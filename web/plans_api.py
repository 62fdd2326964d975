"""The plans API (v1): a planner saves named sets of proposed sites and compares them.

Every route needs the ``planner`` role; a planner sees only the plans saved under their
own token owner. Saving under a name already used adds a version (nothing is overwritten).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from stations import plan_comparison, plans, siting
from web import auth, links, params
from web.api_models import LangQuery, NoQuery
from web.contract import Ok, operation
from web.plan_models import CompareRequest, Comparison, PlanList, PlanRecord, PlanRequest
from web.pools import get_conn

plans_api = Blueprint("plans", __name__)
PLAN_ID = {"type": "integer", "minimum": 1}


def _owner() -> str:
    who = auth.principal()
    assert who is not None  # auth.require let the call in
    return who.owner


@plans_api.post("/plans", endpoint="save")
@auth.require("planner")
@operation(
    "Save a plan, or its next version (planner)",
    {201: Ok(PlanRecord, "Saved; Location reads it.")},
    query=LangQuery,
    body=PlanRequest,
    problems=(400, 415, 503),
)
def save_plan(body: PlanRequest, query: LangQuery) -> Response:
    """Keep a named set of sites for a district (a version when the name is used)."""
    plan = plans.save(
        get_conn(),
        _owner(),
        name=body.name,
        district=body.district,
        radius_m=body.radius_m,
        source=body.source,
        sites=siting.candidates_from_geojson(body.sites, "sites"),
    )
    response = jsonify(plans.payload(plan))
    response.status_code = 201
    response.headers["Location"] = links.external("plans.plan", plan_id=plan.id)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@plans_api.get("/plans", endpoint="plans")
@auth.require("planner")
@operation(
    "Your plans, newest version of each (planner)",
    {200: Ok(PlanList, "Newest first.")},
    query=NoQuery,
    problems=(400, 503),
)
def list_plans(query: NoQuery) -> Response:
    """The newest version of each plan you saved."""
    found = plans.listing(get_conn(), _owner())
    response = jsonify({"plans": [plans.payload(p) for p in found]})
    response.headers["Cache-Control"] = "private, no-store"
    return response


@plans_api.get("/plans/<plan_id>", endpoint="plan")
@auth.require("planner")
@operation(
    "One plan version (planner)",
    {200: Ok(PlanRecord, "The version and its sites.")},
    query=LangQuery,
    path={"plan_id": PLAN_ID},
    problems=(400, 404, 503),
)
def read_plan(plan_id: str, query: LangQuery) -> Response:
    """A version of one of your plans."""
    number = params.positive_id(plan_id, "plan_id", "a plan's id", "方案编号")
    response = jsonify(plans.payload(plans.fetch(get_conn(), _owner(), number)))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@plans_api.post("/plans/compare", endpoint="compare")
@auth.require("planner")
@operation(
    "No new station and up to three plans, side by side (planner)",
    {200: Ok(Comparison, "Coverage by hour, 2SFCA by county, Gini, cost, each site.")},
    query=LangQuery,
    body=CompareRequest,
    problems=(400, 404, 415, 503),
)
def compare_plans(body: CompareRequest, query: LangQuery) -> Response:
    """Each plan measured the same way as the stations there now."""
    conn, owner = get_conn(), _owner()
    ids = plans.check_ids(body.plans, plan_comparison.MAX_PLANS)
    chosen = [plans.fetch(conn, owner, i) for i in ids]
    first = chosen[0]
    result = plan_comparison.compare(
        conn,
        chosen,
        district=body.district if body.district is not None else first.district,
        radius_m=body.radius_m if body.radius_m is not None else first.radius_m,
        day=body.date,
        programme_id=body.programme,
    )
    response = jsonify(result)
    response.headers["Cache-Control"] = "private, no-store"
    return response
