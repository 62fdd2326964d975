"""Controlled vocabularies (amenities, host types, ...) read from ``data/vocabulary.toml``.

The file is data a union may edit; codes are stable identifiers, labels are for people.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass

from stations import settings
from stations.errors import InvalidInput, UnknownAmenity

KINDS = ("amenities", "host_types", "built_by", "levels", "statuses")


@dataclass(frozen=True)
class Term:
    """One code with its Chinese and English labels."""

    code: str
    zh: str
    en: str

    def label(self, lang: str) -> str:
        """The label in ``lang`` (``zh`` or ``en``)."""
        return self.en if lang == "en" else self.zh


@functools.cache
def vocabulary() -> dict[str, dict[str, Term]]:
    """Every vocabulary, by kind then code, in file order (read once per process)."""
    path = os.path.join(settings.path("STATIONS_DATA_DIR"), "vocabulary.toml")
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    missing = [k for k in KINDS if k not in raw]
    if missing:
        raise InvalidInput(f"{path}: missing sections {', '.join(missing)}")
    return {
        kind: {code: Term(code, v["zh"], v["en"]) for code, v in raw[kind].items()}
        for kind in KINDS
    }


@functools.cache
def lookup(kind: str) -> dict[str, str]:
    """Code, Chinese label and English label -> code, for reading what people type."""
    table: dict[str, str] = {}
    for term in terms(kind).values():
        table.update({term.code: term.code, term.zh: term.code, term.en: term.code})
    return table


def terms(kind: str) -> dict[str, Term]:
    """The terms of one kind (``amenities``, ``host_types``, ``built_by``, ...)."""
    return vocabulary()[kind]


def check_amenities(codes: Iterable[str]) -> list[str]:
    """Validate amenity codes; returns them de-duplicated in vocabulary order."""
    known = terms("amenities")
    wanted = {c.strip() for c in codes if c and c.strip()}
    unknown = sorted(wanted - known.keys())
    if unknown:
        raise UnknownAmenity(
            f"unknown amenity code(s) {', '.join(unknown)}; known: {', '.join(known)}",
            zh=f"不认识的设施代码 {'、'.join(unknown)}；可用：{', '.join(known)}",
            unknown=unknown,
        )
    return [code for code in known if code in wanted]
