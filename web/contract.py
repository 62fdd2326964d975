"""Each API operation declared once, beside its route: what it takes and what it answers.

``@operation(...)`` on a view records the route's query, body and answer models and
checks every request against them before the view runs: the query string against the
query model (an unknown or repeated parameter refused), the JSON body against the body
model; the view receives the validated models as ``query=`` and ``body=``. The fields
check themselves (``web.fields``) and raise :class:`InvalidParameter` naming the
parameter, in the caller's language, so a 400 reads the same whatever found it.
:func:`web.openapi.build_spec` turns the recorded operations into the OpenAPI document,
so what is documented is what is checked.

Why in-house: flask-openapi3 replaces Flask's blueprints with its own and answers 422 in
its own shape; spectree describes JSON answers only, and we answer GeoJSON, CSV, XLSX and
problem+json. What is needed is pydantic's own validation and ``model_json_schema``, and a
decorator.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, ValidationError

from stations.errors import InvalidParameter, NotFound
from web import params

F = TypeVar("F", bound=Callable[..., Any])
JSON = "application/json"
GEOJSON = "application/geo+json"


class Query(BaseModel):
    """A query string's parameters: anything else is refused (a typo is never ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class Body(BaseModel):
    """A JSON request body's members: anything else is refused."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    """An answer's shape, for the document; clients should ignore members they do not know."""

    model_config = ConfigDict(extra="allow")


@dataclasses.dataclass(frozen=True)
class Ok:
    """A successful answer: its schema (a model, or JSON Schema), media type and headers."""

    schema: type[BaseModel] | dict[str, Any]
    description: str
    media: str = JSON
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)  # name -> meaning


@dataclasses.dataclass(frozen=True)
class Operation:
    """What one route takes and answers; the document is built from these alone."""

    summary: str
    answers: Mapping[int, Ok | Sequence[Ok]]  # several: one per media type
    query: type[Query] | None = None
    body: type[BaseModel] | None = None
    body_media: tuple[str, ...] = (JSON,)
    body_checked: bool = True  # False: documented here, checked by the domain (see edits)
    upload: Mapping[str, Any] | None = None  # request body content that is not JSON
    path: Mapping[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)  # request headers
    problems: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    rate_limited: bool = True
    operation_id: str | None = None  # default: the view's name in camelCase


def operation(
    summary: str, answers: Mapping[int, Ok | Sequence[Ok]], **declared: Any
) -> Callable[[F], F]:
    """Declare a route's contract and check its requests against it (see the module doc)."""
    op = Operation(summary, answers, **declared)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            for name, schema in op.path.items():  # a collection that is not there: 404 first
                if "enum" in schema and kwargs.get(name) not in schema["enum"]:
                    listed = ", ".join(schema["enum"])
                    raise NotFound(
                        f"nothing at {kwargs.get(name)!r}; there are: {listed}",
                        zh=f"没有 {kwargs.get(name)!r}；现有：{listed}",
                    )
            if op.query is not None:
                # the path's values are the context: a parameter may belong to one collection
                kwargs["query"] = validated(op.query, query_args(op.query), context=kwargs)
            if op.body is not None and op.body_checked:
                kwargs["body"] = validated(op.body, params.json_body(None, op.body_media))
            return view(*args, **kwargs)

        checked.contract = op  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


def contract_of(view: Callable[..., Any]) -> Operation | None:
    """The operation declared on ``view`` (through decorators that keep ``__dict__``)."""
    return getattr(view, "contract", None)


def names(model: type[BaseModel]) -> list[str]:
    """The names a caller writes: each field's alias, else its name."""
    return [field.alias or name for name, field in model.model_fields.items()]


def query_args(model: type[Query]) -> dict[str, str]:
    """The query string for ``model``: unknown and repeated names refused, blanks left out.

    A blank value means "not given" (``?at=`` from an emptied form field), as it always has.
    """
    args = request.args
    params.reject_unknown(args, names(model))
    return {name: value for name, value in args.items() if value.strip()}


def validated(
    model: type[BaseModel], values: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> Any:
    """``values`` as ``model``; a refusal names the parameter at fault."""
    try:
        return model.model_validate(values, context=dict(context or {}))
    except ValidationError as exc:
        raise refusal(model, exc) from None


def refusal(model: type[BaseModel], exc: ValidationError) -> InvalidParameter:
    """The first of pydantic's errors as the problem a person can act on.

    The fields' own checks raise :class:`InvalidParameter` directly; what reaches here is
    what pydantic itself finds: a missing member, an unknown one, a value of another type.
    """
    error = exc.errors()[0]
    where = [str(part) for part in error["loc"]]
    name = where[0] if where else "body"
    if error["type"] == "missing":
        what = describe(_properties(model).get(name, {}))
        return InvalidParameter(
            name,
            f"{name} is required" + (f"; {what['en']}" if "en" in what else ""),
            zh=f"请填写{what['zh']}（参数 {name}）" if "zh" in what else f"请填写参数 {name}",
        )
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(sorted(names(model)))
        return InvalidParameter(
            name,
            f"unknown parameter {name!r}; allowed: {allowed}",
            zh=f"不认识的参数 {name!r}；可用：{allowed}",
        )
    at = ".".join(where)
    what = describe(_properties(model).get(name, {}))
    said = f"：应为{what['zh']}" if "zh" in what else "，请按接口说明（/api/v1/openapi.json）填写"
    return InvalidParameter(name, f"{at}: {error['msg']}", zh=f"{at} 的值不可用{said}")


@functools.cache
def _properties(model: type[BaseModel]) -> dict[str, Any]:
    """A model's field schemas, for messages (built once: a bad request is no slower)."""
    return model.model_json_schema().get("properties", {})


def describe(schema: Mapping[str, Any]) -> dict[str, str]:
    """What a value of ``schema`` looks like, in words (for "x is required").

    ``x-zh`` on a field is its description in Chinese, for the Chinese message; without
    one the Chinese message names the parameter only (never English in Chinese).
    """
    if "enum" in schema:
        listed = ", ".join(str(v) for v in schema["enum"])
        return {"en": f"one of {listed}", "zh": f"以下之一：{listed}"}
    kind = schema.get("type")
    if kind in ("integer", "number") and "minimum" in schema and "maximum" in schema:
        lo, hi = schema["minimum"], schema["maximum"]
        en = "a whole number" if kind == "integer" else "a number"
        zh = "整数" if kind == "integer" else "数"
        return {"en": f"{en} from {lo:g} to {hi:g}", "zh": f" {lo:g} 到 {hi:g} 之间的{zh}"}
    out = {"en": schema["description"]} if "description" in schema else {}
    return {**out, "zh": schema["x-zh"]} if "x-zh" in schema else out
