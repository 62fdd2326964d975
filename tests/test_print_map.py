"""The printable planning map, served: PDF text read back by poppler, PNG by its header."""

from __future__ import annotations

import re
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from live_server import HttpClient, serving


@pytest.fixture(scope="module")
def http(database_url):
    env = {"DATABASE_URL": database_url, "STATIONS_RATE_LIMIT_PLANNER": "off"}
    with serving(env) as (base, _log):
        yield HttpClient(base)


def _pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "map.pdf"
    path.write_bytes(data)
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          check=True, text=True)  # fmt: skip
    return done.stdout


def _pdf_page_size(data: bytes, tmp_path) -> str:
    path = tmp_path / "size.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True, text=True)
    return next(line for line in info.stdout.splitlines() if line.startswith("Page size"))


def test_the_pdf_has_title_legend_scale_north_date_and_stamp(http, planner, tmp_path):
    body = {
        "district": "140100",
        "at": "2025-11-19T22:00",
        "title": "太原市夜间驿站缺口",
        "sites": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.56, 37.86]}}
        ]},
    }  # fmt: skip
    answer = http.post("/api/v1/coverage/print?format=pdf", json=body, headers=planner)
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert 'filename="map_140100_2025-11-19T2200.pdf"' in answer.headers["Content-Disposition"]
    text = _pdf_text(answer.data, tmp_path)
    assert re.search(r"北\s*N", text)  # the north arrow's letter
    for words in ("太原市夜间驿站缺口", "2025-11-19 22:00", "图例", "需求区",
                  "公里", "驿站登记库第", "拟建站点 1 个", "服务半径 1,000 米"):  # fmt: skip
        assert words in text, words
    assert "841.92 x 595.2 pts (A4)" in _pdf_page_size(answer.data, tmp_path)  # landscape


def test_the_png_is_a_picture_of_slide_size(http, planner):
    answer = http.post(
        "/api/v1/coverage/print?format=png", json={"district": "140106"}, headers=planner
    )
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    assert answer.data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", answer.data[16:24])
    assert (width, height) == (1754, 1240) and len(answer.data) > 50_000


def test_a_bad_print_request_is_a_problem(http, planner):
    bad = http.post("/api/v1/coverage/print?format=gif", json={"district": "140106"},
                    headers=planner)  # fmt: skip
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    long = http.post("/api/v1/coverage/print", json={"district": "140106", "title": "长" * 61},
                     headers=planner)  # fmt: skip
    assert long.status_code == 400 and long.get_json()["param"] == "title"
    # a list where text belongs once reached .strip() and answered 500 (found by the fuzz)
    listed = http.post("/api/v1/coverage/print", json={"district": "140106", "title": [None]},
                       headers=planner)  # fmt: skip
    assert listed.status_code == 400 and listed.get_json()["param"] == "title"


def test_prints_at_once_each_keep_their_chinese(http, planner, tmp_path):
    """Served with several threads: matplotlib's settings are global, so prints take turns;
    without that a print finishing restored the defaults under another (boxes for 汉字)."""
    titles = [f"并发打印 {i}" for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(
            lambda t: http.post("/api/v1/coverage/print?format=pdf",
                                json={"district": "140106", "title": t}, headers=planner),
            titles,
        ))  # fmt: skip
    for title, answer in zip(titles, answers, strict=True):
        assert answer.status_code == 200
        assert title in _pdf_text(answer.data, tmp_path)
