"""A process killed in the middle of a 50,000-row import leaves the table as it was."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import shapely

from stations import db
from stations.records import FIELD_NAMES

STATIONS = str(Path(sys.executable).with_name("stations"))
ROWS = 50_000


def _write_rows(conn, path: Path) -> None:
    """50,000 valid new stations inside Taiyuan's urban counties."""
    rng = np.random.default_rng(7)
    counties = conn.execute(
        "SELECT code, name, ST_AsBinary(geom) FROM districts WHERE code IN "
        "('140105', '140106', '140107', '140108', '140109', '140110') ORDER BY code"
    ).fetchall()
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELD_NAMES)
        writer.writeheader()
        n = 0
        per = ROWS // len(counties) + 1
        for code, name, wkb in counties:
            geom = shapely.from_wkb(wkb)
            shapely.prepare(geom)
            x0, y0, x1, y1 = geom.bounds
            xs, ys = rng.uniform(x0, x1, per * 6), rng.uniform(y0, y1, per * 6)
            inside = shapely.contains_xy(geom, xs, ys)
            for lon, lat in list(zip(xs[inside], ys[inside], strict=True))[:per]:
                n += 1
                if n > ROWS:
                    return
                writer.writerow(
                    {
                        "code": f"KILL-{n:06d}", "name": f"{name}中断测试{n}",
                        "district_code": code, "district_name": name,
                        "lon": f"{lon:.6f}", "lat": f"{lat:.6f}",
                        "opening_hours": "Mo-Su 08:00-20:00",
                        "amenities": "drinking_water;toilet", "host_type": "community",
                        "built_by": "union", "level": "district", "status": "active",
                    }
                )  # fmt: skip


def _digest(conn) -> tuple:
    return conn.execute(
        """SELECT count(*), coalesce(sum(version), 0), max(updated_at),
                  (SELECT count(*) FROM station_history),
                  (SELECT count(*) FROM stations WHERE code LIKE 'KILL-%')
           FROM stations"""
    ).fetchone()


def test_a_killed_import_leaves_nothing(database_url, tmp_path):
    path = tmp_path / "big.csv"
    with db.connect(database_url) as conn:
        _write_rows(conn, path)
        before = _digest(conn)
    proc = subprocess.Popen(
        [STATIONS, "import", str(path), "--actor", "kill test"],
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # wait until the import is writing to the database, then kill it without warning
        with db.connect(database_url, autocommit=True) as watch:
            deadline = time.monotonic() + 120
            while True:
                writing = watch.execute(
                    """SELECT count(*) FROM pg_stat_activity
                       WHERE datname = current_database() AND pid <> pg_backend_pid()
                         AND state = 'active'
                         AND (query ILIKE 'COPY%%' OR query ILIKE 'INSERT%%')"""
                ).fetchone()[0]
                if writing or proc.poll() is not None:
                    break
                assert time.monotonic() < deadline, "the import never reached the database"
                time.sleep(0.02)
        assert proc.poll() is None, "the import finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with db.connect(database_url) as conn:
        deadline = time.monotonic() + 30  # the server notices the dead client and rolls back
        while (
            conn.execute(
                """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
               AND pid <> pg_backend_pid() AND query ILIKE '%%import_rows%%'"""
            ).fetchone()[0]
            and time.monotonic() < deadline
        ):
            conn.rollback()
            time.sleep(0.1)
        after = _digest(conn)
    assert proc.returncode == -signal.SIGKILL
    assert after == before and after[4] == 0
