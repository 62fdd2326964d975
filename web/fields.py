"""Field types for the API's models: each checks a value and says what it takes.

Every type is a pydantic ``Annotated`` type whose validator is the matching check in
:mod:`web.params` (so a refusal names the parameter and reads the same in every route)
and whose JSON Schema documents exactly that check. Query strings arrive as text; body
members as JSON values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, WithJsonSchema

from stations import vocabulary
from web import params


def _check(parse: Callable[[Any, str], Any], name: str | None = None) -> BeforeValidator:
    """A validator running ``parse(value, name)``; its InvalidParameter passes through.

    pydantic lets any exception other than ValueError and AssertionError through, so the
    check's own problem (with ``param``) reaches the caller unchanged. Put it after the
    ``Field`` constraints in an ``Annotated`` (they then document the plain type).
    """

    def run(value: Any, info: ValidationInfo) -> Any:
        return parse(value, name or str(info.field_name))

    return BeforeValidator(run)


def whole(lo: int, hi: int | Callable[[], int], name: str | None = None) -> Any:
    """A whole number in [lo, hi] (query text); ``hi`` may be read per request (a setting)."""
    if callable(hi):
        most = hi
        return Annotated[
            int, Field(ge=lo), _check(lambda v, n: params.integer({n: v}, n, lo, lo, most()), name)
        ]
    return Annotated[
        int, Field(ge=lo, le=hi), _check(lambda v, n: params.integer({n: v}, n, lo, lo, hi), name)
    ]


def number(lo: float, hi: float) -> Any:
    """A finite number in [lo, hi] (query text)."""
    return Annotated[
        float, Field(ge=lo, le=hi), _check(lambda v, n: params.number({n: v}, n, lo, hi))
    ]


def one_of(*allowed: str, name: str | None = None) -> Any:
    """One of ``allowed``, exactly."""
    return Annotated[
        Literal[allowed],  # type: ignore[valid-type]
        _check(lambda v, n: params.choice({n: v}, n, allowed, allowed[0]), name),
    ]


Flag = Annotated[bool, _check(lambda v, n: params.boolean({n: v}, n, False))]
Lang = Annotated[Literal["zh", "en"], _check(lambda v, n: params.lang({"lang": v}))]
Instant = Annotated[
    dt.datetime,
    _check(lambda v, n: params.instant({n: v}, n)),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Bbox = Annotated[
    tuple[float, float, float, float],
    _check(lambda v, n: params.bbox({n: v}, n)),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[^,]+,[^,]+,[^,]+,[^,]+$",
            "examples": ["112.4,37.7,112.7,38.0"],
        }
    ),
]


Amenities = Annotated[
    list[str],
    _check(lambda v, n: params.amenities({n: v}, n)),
    WithJsonSchema(
        {"type": "string", "examples": [",".join(list(vocabulary.terms("amenities"))[:2])]}
    ),
]


def text(max_len: int) -> Any:
    """Short free text, stripped, no control characters."""
    return Annotated[
        str, Field(max_length=max_len), _check(lambda v, n: params.text({n: v}, n, max_len))
    ]


# --- JSON bodies ---------------------------------------------------------------------


def body_number(lo: float, hi: float) -> Any:
    """A JSON number in [lo, hi]."""
    return Annotated[
        float, Field(ge=lo, le=hi), _check(lambda v, n: params.body_number({n: v}, n, lo, hi))
    ]


BodyInstant = Annotated[
    dt.datetime | None,
    _check(lambda v, n: params.body_instant({n: v}, n)),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
BodyDate = Annotated[
    dt.date,
    _check(lambda v, n: params.body_date({n: v}, n)),
    WithJsonSchema({"type": "string", "format": "date"}),
]
BodyAmenities = Annotated[
    list[str],
    _check(lambda v, n: params.body_amenities({n: v}, n)),
    WithJsonSchema({"type": "array", "items": {"type": "string"}}),
]


def optional(**kwargs: Any) -> Any:
    """A member that may be left out (None: not given; the document shows no default)."""
    return Field(None, **kwargs)


def documented(schema: dict[str, Any]) -> Any:
    """A member the domain checks (it needs the database, or the command line shares it)."""
    return Annotated[Any, WithJsonSchema(schema)]
