"""Browser fixtures: the app under `stations serve`, a loopback tile server, and Chromium.

Debian's headless Chromium, driven by Playwright, with only 127.0.0.1 reachable: every
other request is aborted and recorded, as are failed requests and console errors, so a
page that reaches for a CDN or throws fails its test.
"""

from __future__ import annotations

import http.server
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from live_server import serving
from playwright import sync_api as playwright_api

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PHONE = {"width": 390, "height": 844}


def _tile_png() -> bytes:
    """A 256 px light-grey tile with a darker border, so the grid shows in screenshots."""
    size = 256
    edge_row = b"\x00" + b"\xc8" * size  # filter byte, then grey values
    inner_row = b"\x00\xc8" + b"\xec" * (size - 2) + b"\xc8"
    raw = zlib.compress(edge_row + inner_row * (size - 2) + edge_row)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


class QuietServer(http.server.ThreadingHTTPServer):
    """A loopback server that does not print a traceback when a browser hangs up."""

    def handle_error(self, request, client_address) -> None:
        pass  # the browser hung up on a tile or a view it no longer needs


def serve_tiles() -> QuietServer:
    """A loopback tile server answering every tile with the same PNG, serving already."""
    png = _tile_png()

    class Tiles(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args: object) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def tile_url() -> Iterator[str]:
    """The tile server's URL template, for the module's pages."""
    server = serve_tiles()
    yield f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def base_url(database_url: str, tile_url: str) -> Iterator[str]:
    """``stations serve`` on a free loopback port, against the test database."""
    env = {
        "DATABASE_URL": database_url,
        "STATIONS_MAP_TILES": tile_url,
        "STATIONS_MAP_ATTRIBUTION": "test tiles",
    }
    with serving(env) as (url, _log):
        yield url


class Watch:
    """Everything the page asked for, and everything that went wrong."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []

    def request_failed(self, request, tile_url: str) -> None:
        """Record a failed request; Leaflet cancelling a tile on zoom is not a failure."""
        tile_server = tile_url.split("/{z}")[0]
        if request.url.startswith(tile_server) and request.failure == "net::ERR_ABORTED":
            return
        self.failed.append(f"{request.url}: {request.failure}")


@pytest.fixture
def page(base_url: str, tile_url: str, tmp_path: Path):
    """A phone-sized page in a fresh Chromium profile; only 127.0.0.1 is reachable.

    The test's own checks are JavaScript strings evaluated in the page, which the app's
    content security policy rightly forbids ('unsafe-eval'), so this page bypasses the
    policy; ``strict_page`` enforces it, for the test that the pages keep to it.
    """
    yield from phone_page(tile_url, tmp_path, bypass_csp=True)


@pytest.fixture
def strict_page(base_url: str, tile_url: str, tmp_path: Path):
    """Like ``page``, with the content security policy enforced."""
    yield from phone_page(tile_url, tmp_path, bypass_csp=False)


def phone_page(tile_url: str, tmp_path: Path, *, bypass_csp: bool):
    """A phone-sized Chromium page (a generator: the page, then closed); see ``page``."""
    # Fail, never skip: a missing browser must not pass CI unnoticed.
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} missing: apt-get install chromium"
    watch = Watch()
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            bypass_csp=bypass_csp,
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            viewport=PHONE,
            device_scale_factor=1,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )

        def route(route_, request) -> None:
            if urlsplit(request.url).hostname == "127.0.0.1":
                route_.continue_()
            else:
                watch.blocked.append(request.url)
                route_.abort()

        context.route("**/*", route)
        page_ = context.pages[0] if context.pages else context.new_page()
        page_.on("request", lambda r: watch.requests.append(r.url))
        page_.on("requestfailed", lambda r: watch.request_failed(r, tile_url))
        page_.on(
            "response",
            lambda r: r.status >= 400 and watch.failed.append(f"{r.url}: HTTP {r.status}"),
        )
        page_.on("console", lambda m: m.type == "error" and watch.errors.append(m.text))
        page_.on("pageerror", lambda e: watch.errors.append(str(e)))
        page_.watch = watch
        try:
            yield page_
        finally:
            context.close()


def screenshot(page, name: str) -> None:
    """Save a phone-sized screenshot once the map has stopped moving (popup auto-pan)."""
    page.wait_for_function("!document.querySelector('.leaflet-zoom-anim, .leaflet-pan-anim')")
    page.wait_for_timeout(400)  # Leaflet's pan animation is 0.25 s and leaves no class
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def assert_clean(watch: Watch) -> None:
    assert not watch.blocked, f"requests to outside 127.0.0.1: {watch.blocked[:5]}"
    assert not watch.failed, f"failed requests: {watch.failed[:5]}"
    assert not watch.errors, f"console errors: {watch.errors[:5]}"
