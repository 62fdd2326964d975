"""The README's quick start, run as a new user runs it: ``./run serve`` and ``./run``'s help.

``./run test`` is the command that runs this suite (CI runs it on a clean clone), so it is
checked by every run. ``./run serve`` is checked here on a database that does not exist
yet (``DATABASE_URL`` set, so no system package is installed): it must create and migrate
it, load the demo data and serve the README's example request and the public map. The
expected station count comes from the demo file itself.
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from live_server import HttpClient, serving

from stations import db

ROOT = Path(__file__).resolve().parents[1]
DEMO_STATIONS = ROOT / "data" / "demo" / "stations.csv"


def test_run_serve_migrates_loads_the_demo_and_answers_the_readmes_requests(database_url):
    fresh = db.scratch_database("stations_quick_start", database_url)
    db.drop_database(fresh)  # as on a new machine: not even the database exists
    with DEMO_STATIONS.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    in_district = sum(r["district_code"] == "140105" for r in rows)
    assert in_district >= 5, "the README's example needs 5 stations in 140105"
    env = {"DATABASE_URL": fresh, "STATIONS_RATE_LIMIT_PUBLIC": "off"}
    try:
        with serving(env, command=(str(ROOT / "run"), "serve"), start_s=300) as (url, log):
            http = HttpClient(url)
            example = http.get("/api/v1/stations?district=140105&limit=5")
            page = http.get("/")
        assert example.status_code == 200, example.data[:500]
        features = example.get_json()["features"]
        assert len(features) == 5
        assert all(f["properties"]["district_code"] == "140105" for f in features)
        assert page.status_code == 200 and page.mimetype == "text/html"
        with db.connect(fresh) as conn:
            loaded = conn.execute("SELECT count(*) FROM stations").fetchone()[0]
        assert loaded == len(rows), log
    finally:
        db.drop_database(fresh)


def test_run_names_its_commands_when_given_another():
    done = subprocess.run(
        [str(ROOT / "run"), "deploy"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "unknown command 'deploy'" in done.stderr
    assert "./run serve | ./run test | ./run setup" in done.stderr
