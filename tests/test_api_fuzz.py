"""Schemathesis against the served OpenAPI document, anonymous and signed in with every
role: no 5xx, and every response matches its documented status, media type, headers and
schema. A smaller run than the one in the release note (50 examples per operation for
each role separately); it writes, so the server gets a database of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from live_server import serving

from stations import db, tokens
from stations.demo import demo_database

ST = str(Path(sys.executable).with_name("st"))
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


def test_every_operation_keeps_its_contract(database_url, tmp_path):
    url = demo_database("stations_fuzz_test", database_url)
    with db.connect(url) as conn:
        token = tokens.create(conn, tokens.ROLES, "schemathesis")[1]
    env = {"DATABASE_URL": url, "STATIONS_RATE_LIMIT_PUBLIC": "off"}
    with serving({**env, "STATIONS_RATE_LIMIT_PLANNER": "off"}, workers=2) as (base, log):
        for headers in ([], ["-H", f"Authorization: Bearer {token}"]):
            run = subprocess.run(
                [ST, "run", f"{base}/api/v1/openapi.json", "--url", f"{base}/api/v1"]
                + headers
                + ["--checks", CHECKS, "-n", "8", "--request-timeout", "30"]
                + ["--generation-deterministic", "--report-dir", str(tmp_path)],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
            assert "passed" in run.stdout
    assert '"status":5' not in log[0]
