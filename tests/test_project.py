"""House rules: every setting is documented, the code passes the linter (layers: test_layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stations import settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in settings.SETTINGS if f"`{s.name}`" not in readme]
    assert not missing, f"README.md does not document: {missing}"


def test_the_readmes_defaults_are_the_ones_in_force():
    """The Configuration table's default of each setting is the value used when it is unset.

    Behaviour at the defaults is tested where users meet it (limits, timeouts, workers);
    this pins the ones a test cannot wait for or observe from outside (a 60 s statement
    timeout, the socket's port, the pool size) to what the README says.
    """
    import re

    readme = (ROOT / "README.md").read_text()
    table = {}
    for s in settings.SETTINGS:
        found = re.search(rf"^\| `{re.escape(s.name)}` \| ([^|]*) \|", readme, re.M)
        assert found, s.name
        table[s.name] = found.group(1).strip()
    for s in settings.SETTINGS:
        said = table[s.name]
        if s.default is None:
            assert said == "unset" or s.name in ("STATIONS_PG_BIN", "STATIONS_HOLIDAYS_DIR"), said
        elif said.startswith("`") and said.endswith("`") and said.count("`") == 2:
            assert said.strip("`") == s.default, (s.name, said, s.default)
        else:  # a folder in the project
            assert said == f"`{Path(s.default).name}/` in the project", (s.name, said)
            assert Path(s.default) == ROOT / Path(s.default).name


def test_the_code_passes_the_linter():
    """Ruff with the project's rules, flake8-pytest-style included (no too-broad raises)."""
    import subprocess
    import sys

    ruff = Path(sys.executable).with_name("ruff")
    run = subprocess.run(
        [str(ruff), "check", "--output-format", "concise", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]


def _asserts_nothing(node: ast.FunctionDef) -> bool:
    """A test with no assert, no pytest.raises and no call to an assert_/check helper."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Assert):
            return False
        if isinstance(inner, ast.Call):
            name = getattr(inner.func, "attr", None) or getattr(inner.func, "id", "")
            if name in ("raises", "fail") or name.lstrip("_").startswith(("assert", "check")):
                return False
    return True


def _always_true(test: ast.expr) -> bool:
    """``x or True`` (at any depth of an ``or``): an assertion that cannot fail."""
    return isinstance(test, ast.BoolOp) and any(
        (isinstance(v, ast.Constant) and v.value is True) or _always_true(v) for v in test.values
    )


def _reads_answers_without_a_status(node: ast.FunctionDef, source: str) -> bool:
    """A test that calls an HTTP client but never looks at a status (``status`` or ``ok``):
    a problem+json answer could pass for the data it reads."""
    calls = [
        inner
        for inner in ast.walk(node)
        if isinstance(inner, ast.Call)
        and isinstance(inner.func, ast.Attribute)
        and inner.func.attr in ("get", "post", "put", "patch", "delete")
        and isinstance(inner.func.value, ast.Name)
        and inner.func.value.id in ("client", "http", "api")
    ]
    text = ast.get_source_segment(source, node) or ""
    return bool(calls) and "status" not in text and "ok(" not in text


def test_no_test_that_cannot_fail():
    found = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        source = path.read_text()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert) and _always_true(node.test):
                found.append(f"{path.name}:{node.lineno} asserts something `or True`")
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                if _asserts_nothing(node):
                    found.append(f"{path.name}:{node.lineno} {node.name} asserts nothing")
                if _reads_answers_without_a_status(node, source):
                    found.append(f"{path.name}:{node.lineno} {node.name} never checks a status")
    assert not found, "\n".join(found)


def test_every_setting_reads_its_default_and_names_itself_when_bad(monkeypatch):
    """Each setting's parser takes its own default; a value it cannot read names the setting."""
    for setting in settings.SETTINGS:
        if setting.default is not None:
            setting.parse(setting.default)
    assert isinstance(settings.value("STATIONS_POOL_SIZE"), int)
    monkeypatch.setenv("STATIONS_POOL_SIZE", "five")
    with pytest.raises(ValueError, match="STATIONS_POOL_SIZE='five'"):
        settings.value("STATIONS_POOL_SIZE")
    monkeypatch.setenv("DATABASE_READ_URL", " postgresql://a/x, ,postgresql://b/x ")
    assert settings.value("DATABASE_READ_URL") == ["postgresql://a/x", "postgresql://b/x"]
