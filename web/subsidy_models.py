"""What the union API (``web.subsidy_api``) takes and answers, as pydantic models.

The class names are the document's component names. ``programme``, ``period`` and the
what-if members are checked by the routes and :mod:`stations.subsidy` (the command line
shares those checks), so here they are only documented.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from stations.subsidy import periods, report
from web import contract, fields

PERIOD = f"Whole months, written as: {periods.FORMS_EN}."
PERIOD_ZH = {"x-zh": f"期间（整月），可写：{periods.FORMS_ZH}"}
PROGRAMME_ZH = {"x-zh": "补助项目编号，例如 taiyuan-upkeep"}


class ReportQuery(contract.Query):
    """The query of GET /subsidy/report."""

    programme: str = Field(description="Programme id.", json_schema_extra=PROGRAMME_ZH)
    period: str = Field(description=PERIOD, json_schema_extra=PERIOD_ZH)
    format: fields.one_of(*report.FORMATS) = Field(
        "json", description="JSON, or CSV/XLSX with Chinese headers for a finance office."
    )
    lang: fields.Lang = Field("zh", description="Language of reasons, notes and errors.")


class WhatIfQuery(contract.Query):
    """The query of POST /subsidy/what-if."""

    format: fields.one_of("json", "xlsx") = Field(
        "json", description="JSON, or XLSX to attach to a memorandum."
    )
    lang: fields.Lang = Field("zh", description="Language of reasons and errors.")


class Programmes(contract.Answer):
    """Every subsidy programme with its rules."""

    programmes: fields.documented(
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name", "amount_cny", "accrual", "period", "criteria"],
                "description": "A programme file as parsed, with its file name and SHA-256.",
            },
        }
    )


_REASON = {
    "type": "object",
    "required": ["criterion", "required", "actual", "passed"],
    "properties": {
        "criterion": {"type": "string"},
        "label": {"type": "string"},
        "required": {"type": "string"},
        "actual": {"type": "string"},
        "passed": {"type": "boolean"},
        "message": {"type": "string", "description": "Why it failed, in words."},
    },
}
_GROUP_TOTALS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "stations", "eligible", "amount_cny"],
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "stations": {"type": "integer"},
            "eligible": {"type": "integer"},
            "amount_cny": {"type": "number"},
        },
    },
}
_TOTALS = {
    "type": "object",
    "required": ["stations", "eligible", "amount_cny"],
    "properties": {
        "stations": {"type": "integer"},
        "eligible": {"type": "integer"},
        "amount_cny": {"type": "number"},
        "cap": {"type": "object"},
        "budget_used_cny": {"type": "number"},
        "by_city": _GROUP_TOTALS,
        "by_district": _GROUP_TOTALS,
    },
}
_STATION_VERDICTS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "code", "name", "eligible", "amount_cny", "reasons"],
        "properties": {
            "id": {"type": "integer"},
            "code": {"type": "string"},
            "name": {"type": "string"},
            "district_code": {"type": "string"},
            "district_name": {"type": "string"},
            "eligible": {"type": "boolean"},
            "amount_cny": {"type": "number"},
            "place": {"type": ["integer", "null"]},
            "facts": {
                "enum": ["history", "current"],
                "description": "history: judged by the facts in force at the period's end; "
                "current: no history reaches back that far, judged as it is now.",
            },
            "reasons": {"type": "array", "items": _REASON},
        },
    },
}


class SubsidyReport(contract.Answer):
    """Every station's verdict, amount and reasons under a programme, with totals."""

    programme: str
    programme_name: str = fields.optional()
    period: str
    programme_sha256: str
    snapshot_at: fields.documented(
        {"type": ["string", "null"], "description": "When the data last changed, Beijing time."}
    )
    facts: fields.documented(
        {
            "type": "object",
            "required": ["as_of", "from_history", "current", "note"],
            "description": "Which facts judged the stations: those in force at `as_of` (the "
            "end of the period, Beijing time) from the history, or the current ones where "
            "no history reaches back that far; `note` says so in words.",
        }
    )
    totals: fields.documented(_TOTALS)
    stations: fields.documented(_STATION_VERDICTS)


class WhatIfRequest(contract.Body):
    """What POST /subsidy/what-if takes."""

    model_config = ConfigDict(
        json_schema_extra={"description": "Give exactly one of overrides or programme_toml."}
    )

    programme: fields.documented({"type": "string", "description": "Programme id.", **PROGRAMME_ZH})
    period: fields.documented({"type": "string", "description": PERIOD, **PERIOD_ZH})
    overrides: fields.documented(
        {
            "type": "object",
            "description": "Dotted keys into the programme file, criteria by id: "
            '{"criteria.floor_area.threshold": 10, "cap.count": 250}.',
        }
    ) = fields.optional()
    programme_toml: fields.documented(
        {"type": "string", "description": "A changed programme file."}
    ) = fields.optional()


_OBJECTS = {"type": "array", "items": {"type": "object"}}


class WhatIf(contract.Answer):
    """How the report changes under changed rules."""

    eligible_before: int
    eligible_after: int
    amount_before_cny: float = fields.optional()
    amount_after_cny: float = fields.optional()
    budget_change_cny: float
    newly_eligible: fields.documented(_OBJECTS)
    newly_ineligible: fields.documented(_OBJECTS)
    amount_changed: fields.documented(_OBJECTS) = fields.optional()


class History(contract.Answer):
    """Every change to a station, oldest first."""

    id: int
    code: str
    history: fields.documented(
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["version", "action", "changed_at", "changed_by", "changes"],
                "properties": {
                    "version": {"type": "integer"},
                    "action": {"enum": ["create", "update", "delete"]},
                    "changed_at": {"type": "string", "format": "date-time"},
                    "changed_by": {"type": "string"},
                    "changes": {
                        "type": "object",
                        "description": "field -> {before, after}, for fields that changed.",
                    },
                },
            },
        }
    )


class FreezeRequest(contract.Body):
    """What POST /subsidy/reports takes: the report to freeze."""

    programme: fields.documented({"type": "string", "description": "Programme id.", **PROGRAMME_ZH})
    period: fields.documented({"type": "string", "description": PERIOD, **PERIOD_ZH})
    format: fields.one_of(*report.FORMATS) = Field(
        "xlsx", description="The form kept: the XLSX a finance office files, by default."
    )
    lang: fields.Lang = Field("zh", description="Language of the report's reasons and notes.")


class FrozenListQuery(contract.Query):
    """The query of GET /subsidy/reports."""

    programme: fields.text(100) | None = Field(
        None, description="Only this programme's reports.", json_schema_extra=PROGRAMME_ZH
    )
    lang: fields.Lang = Field("zh", description="Language of errors.")


_FROZEN_PROPERTIES = {
    "id": {"type": "integer"},
    "programme": {"type": "string"},
    "programme_name": {"type": "string"},
    "programme_sha256": {"type": "string", "description": "Of the programme file judged by."},
    "period": {"type": "string", "description": "First and last day, START..END."},
    "format": {"enum": list(report.FORMATS)},
    "lang": {"enum": ["zh", "en"]},
    "sha256": {"type": "string", "description": "Of the kept bytes, as downloaded."},
    "bytes": {"type": "integer"},
    "snapshot_at": {"type": ["string", "null"], "description": "The data's stamp, Beijing."},
    "history_through": {"type": "integer", "description": "Newest history entry it saw."},
    "eligible": {"type": "integer"},
    "amount_cny": {"type": "number"},
    "frozen_by": {"type": "string", "description": "The token's owner."},
    "frozen_at": {"type": "string", "format": "date-time"},
    "href": {"type": "string", "description": "Downloads the kept bytes."},
    "rerun": {"type": "string", "description": "What a re-run of the period says now."},
}
_FROZEN = {"type": "object", "required": list(_FROZEN_PROPERTIES), "properties": _FROZEN_PROPERTIES}


class FrozenReport(contract.Answer):
    """A frozen report's record: what was kept, by whom and when."""

    model_config = ConfigDict(json_schema_extra=_FROZEN)


class FrozenReports(contract.Answer):
    """Every frozen report, newest first."""

    reports: fields.documented({"type": "array", "items": _FROZEN})


_VERDICT = {
    "type": ["object", "null"],
    "properties": {"eligible": {"type": "boolean"}, "amount_cny": {"type": "number"}},
}


class Rerun(contract.Answer):
    """A frozen period judged again now, by the frozen programme file."""

    report: int
    same: bool
    then: fields.documented(_VERDICT)
    now: fields.documented(_VERDICT)
    history_since: int
    programme_file_changed: bool
    changed: fields.documented(
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "code", "then", "now", "reasons_now", "history"],
                "properties": {
                    "id": {"type": "integer"},
                    "code": {"type": "string"},
                    "name": {"type": ["string", "null"]},
                    "then": _VERDICT,
                    "now": _VERDICT,
                    "reasons_now": {"type": "array", "items": {"type": "string"}},
                    "history": {
                        "type": "array",
                        "description": "History entries recorded after the freeze that "
                        "touch this station: what caused the change.",
                        "items": {"type": "object"},
                    },
                    "note": {"type": "string"},
                },
            },
        }
    )
