"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``, built from the routes.

Every route under ``/api/v1`` declares its operation beside itself (``web.contract``):
the query model, the body model, the answers. This module only walks the app's routes and
writes what they declare, plus what is true of every operation: problem answers, the
security that ``auth.require`` asks for, the rate limits. A route that declares nothing
stops the document from being built, so nothing is served undocumented.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from web.contract import Answer, Ok, Operation, contract_of

PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"
PROBLEM = "application/problem+json"

# what each problem status means, whichever operation answers it
PROBLEMS = {
    400: "A parameter is missing or bad; `param` names it.",
    401: "No token, or an unknown or revoked one (`WWW-Authenticate: Bearer`).",
    403: "The token lacks the role this needs.",
    404: "No such station, collection, feature or programme.",
    409: "A station with this code exists (`detail` names its id).",
    412: "`If-Match` is not the stored version: somebody changed it first; reload.",
    413: "The body is larger than the configured limit (STATIONS_MAX_BODY_MB).",
    415: "The body is not of a media type this accepts.",
    422: "The values fail the registry's checks; `errors` or `rows` says each one.",
    428: "`If-Match` is missing: send the ETag of your last GET (or `*`).",
    429: "Too many calls from this address; retry after `Retry-After` seconds.",
    503: "The database is unreachable; retry after `Retry-After` seconds.",
}
SECURITY = [{"token": []}, {"session": []}]
SECURITY_SCHEMES = {
    "token": {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `stations token create --role ROLE`.",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "stations_session",
        "description": "The signed-in pages' session, from the form at /sign-in "
        "(also shown by /planner and /union).",
    },
}


class Problem(Answer):
    """An error (RFC 9457); ``param`` names the parameter at fault."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    param: str | None = None


class _Schemas(GenerateJsonSchema):
    """pydantic's JSON Schema without made-up field titles and without ``default: null``.

    A null default says only "may be left out", which ``required`` says already.
    """

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: Any) -> Any:
        out = super().default_schema(schema)
        if out.get("default", 0) is None:
            del out["default"]
        return out


def document(app: Flask) -> bytes:
    """The document as served: built once per app (the routes do not change while it runs)."""
    if "openapi" not in app.extensions:
        app.extensions["openapi"] = app.json.dumps(build_spec(app)).encode()
    return app.extensions["openapi"]


def build_spec(app: Flask) -> dict[str, Any]:
    """The whole document (paths relative to the ``/api/v1`` server)."""
    found = list(_operations(app))
    models = {Problem}
    for _, _, _, op in found:
        models |= _models(op)
    named = sorted(models, key=lambda m: m.__name__)
    if len({m.__name__ for m in named}) != len(named):
        raise ValueError(f"two API models share a name: {[m.__name__ for m in named]}")
    _, defs = models_json_schema(
        [(m, "validation") for m in named], ref_template=REF, schema_generator=_Schemas
    )
    paths: dict[str, Any] = {}
    for path, method, view, op in found:
        paths.setdefault(path, {})[method] = _operation(path, view, op)
    ids = [o["operationId"] for ops in paths.values() for o in ops.values()]
    if len(set(ids)) != len(ids):
        raise ValueError(f"two operations share an operationId: {sorted(ids)}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Rest stations for outdoor workers (户外劳动者爱心驿站)",
            "version": "1",
            "description": "Errors are application/problem+json (RFC 9457), in Chinese "
            "unless `lang=en` or `Accept-Language` asks for English. Coordinates are "
            "GeoJSON lon, lat (WGS-84).",
        },
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
    }


def _operations(app: Flask) -> Iterator[tuple[str, str, Any, Operation]]:
    """Each (path, method, view, operation) under the prefix; every one must declare."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(PREFIX):
            continue
        view = app.view_functions[rule.endpoint]
        op = contract_of(view)
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len(PREFIX) :]) or "/"
        if op is None:
            raise LookupError(f"{rule.rule} declares no operation (see web.contract)")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield path, method.lower(), view, op


def _models(op: Operation) -> set[type[BaseModel]]:
    found = {ok.schema for ok in _oks(op) if isinstance(ok.schema, type)}
    return found | ({op.body} if op.body is not None else set())


def _oks(op: Operation) -> Iterator[Ok]:
    for answer in op.answers.values():
        yield from answer if isinstance(answer, Sequence) else (answer,)


def _operation(path: str, view: Any, op: Operation) -> dict[str, Any]:
    roles = getattr(view, "roles", ())
    head, *rest = view.__name__.split("_")
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.operation_id or head + "".join(word.title() for word in rest),
    }
    if op.tags:
        out["tags"] = list(op.tags)
    if roles:
        out["security"] = SECURITY
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": op.path.get(name, {"type": "string"}),
        }
        for name in re.findall(r"{(\w+)}", path)
    ]
    parameters += [
        {
            "name": name,
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": text,
        }
        for name, text in op.headers.items()
    ]
    parameters += _query_parameters(op.query) if op.query is not None else []
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        schema = {"$ref": REF.format(model=op.body.__name__)}
        content = {media: {"schema": schema} for media in op.body_media}
        out["requestBody"] = {"required": True, "content": content}
    elif op.upload is not None:
        out["requestBody"] = {"required": True, "content": dict(op.upload)}
    problems = set(op.problems) | ({401, 403} if roles else set())
    problems |= {429} if op.rate_limited else set()
    problems |= {400} if op.query or op.body or op.path else set()  # what the contract checks
    problems |= {404} if any("enum" in schema for schema in op.path.values()) else set()
    problems |= {415} if op.body else set()
    out["responses"] = {
        **{str(status): _answer(answer) for status, answer in op.answers.items()},
        **{
            str(status): {
                "description": PROBLEMS[status],
                "content": {PROBLEM: {"schema": {"$ref": REF.format(model="Problem")}}},
            }
            for status in sorted(problems)
        },
    }
    return out


def _answer(answer: Ok | Sequence[Ok]) -> dict[str, Any]:
    oks = list(answer) if isinstance(answer, Sequence) else [answer]
    out: dict[str, Any] = {
        "description": oks[0].description,
        "content": {ok.media: {"schema": _schema(ok.schema)} for ok in oks},
    }
    headers = {name: text for ok in oks for name, text in ok.headers.items()}
    if headers:
        out["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return out


def _schema(schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, dict):
        return schema
    return {"$ref": REF.format(model=schema.__name__)}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as parameters; text has no null, so none is offered."""
    schema = model.model_json_schema(schema_generator=_Schemas)
    if "$defs" in schema:
        raise ValueError(f"{model.__name__}: a query parameter must not need definitions")
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        if "anyOf" in prop:
            kept = [s for s in prop.pop("anyOf") if s.get("type") != "null"]
            prop = {**(kept[0] if len(kept) == 1 else {"anyOf": kept}), **prop}
        if prop.get("default", 0) is None or isinstance(prop.get("default"), list):
            del prop["default"]  # "not given"; a list is given as comma text
        param = {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", ()),
            "schema": prop,
        }
        if description:
            param["description"] = description
        out.append(param)
    return out
