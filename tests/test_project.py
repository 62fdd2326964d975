"""House rules: imports point web -> stations -> geo; every setting is documented."""

from __future__ import annotations

import ast
from pathlib import Path

from stations import settings

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
    return found


def test_imports_point_downwards():
    assert not {i for i in _imports("stations") if i[1] in ("flask", "web", "werkzeug")}
    assert not {i for i in _imports("geo") if i[1] in ("flask", "web", "werkzeug", "stations")}


def test_every_setting_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in settings.SETTINGS if f"`{s.name}`" not in readme]
    assert not missing, f"README.md does not document: {missing}"
