"""What the public map costs: the server, the wire and the rider's phone, beside the old page.

At the demo size and with 200,000 more stations (a national registry), in one run:

- **server CPU per page view**: ``GET /`` (gzip) a few hundred times against ``stations
  serve`` (one worker), the CPU the server's processes used, per view;
- **bytes over the wire** for a first visit and a repeat visit of a phone (Chromium,
  390×844, a fresh profile, then the same page opened again): every byte the server
  sends, counted by a proxy between them; map tiles come from elsewhere and are left out;
- **the stations of a city-wide view** (the request the page makes at zoom 12 over
  Taiyuan): p50 and p90 of ``GET /api/v1/map/stations``;
- **first contentful paint** under Chromium's emulation of a slow phone (Slow 4G: 150 ms
  round trips, 1.6 Mbit/s down, 750 kbit/s up; CPU 4× slower), median of 3 fresh visits.

"Old page" is the page as it was before it stopped embedding stations (commit
``e498388``: Folium rendered per view with every station inline), checked out into a
temporary worktree and served the same way against the same database. Each goal is
printed beside its figure, and each figure as a ratio to the old page's where the old
page has one. A request that fails or times out is counted and reported, never the end
of the run.

    .venv/bin/python bench/page.py [--views 300] [--sizes demo,national]
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

OLD_COMMIT = "e498388"  # the last page that Folium rendered per view, stations inline
NATIONAL = 200_000
SQUARE = (37.8644, 112.5637)  # 五一广场, central Taiyuan (lat, lon)
CITY_ZOOM = 12
TIMEOUT_S = 60.0
SLOW_4G = {"latency": 150, "downloadThroughput": 1.6e6 / 8, "uploadThroughput": 750e3 / 8}
CPU_SLOWDOWN = 4
GOALS = {"cpu_ms": 5.0, "first_kb": 150.0, "repeat_kb": 20.0, "view_p50_ms": 20.0, "fcp_s": 2.0}


# --- servers ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``stations serve`` (one worker) from ``tree``: this checkout or the old page's."""

    def __init__(self, tree: Path, database_url: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PYTHONPATH": str(tree),
            "STATIONS_RATE_LIMIT_PUBLIC": "off",
            "STATIONS_RATE_LIMIT_PLANNER": "off",
        }
        # the old page's tree predates the command line's move out of stations/
        entry = "cli" if (tree / "cli" / "__init__.py").exists() else "stations.cli"
        start = f"import sys; from {entry} import main; sys.argv[0] = 'stations'; main()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", start, "serve", "--port", str(self.port), "--workers", "1"],
            cwd=tree,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/amenities", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server in {tree} did not start") from None
                time.sleep(0.3)

    def cpu_s(self) -> float:
        """User and system CPU of the server and every process under it."""
        tick = os.sysconf("SC_CLK_TCK")
        parents, times = {}, {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
        ours, changed = {self.proc.pid}, True
        while changed:
            grown = ours | {pid for pid, parent in parents.items() if parent in ours}
            changed, ours = grown != ours, grown
        return sum(times.get(pid, 0.0) for pid in ours)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _get(url: str) -> tuple[float, int, str | None]:
    """Seconds, bytes on the wire (gzip), and what went wrong if anything did."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            size = len(response.read())
        return time.perf_counter() - started, size, None
    except TimeoutError:
        return time.perf_counter() - started, 0, "timeout"
    except (urllib.error.URLError, OSError) as err:
        return time.perf_counter() - started, 0, type(err).__name__


def page_views(server: Server, views: int) -> dict:
    """CPU per view (server side), bytes of the page, time to the last byte."""
    for _ in range(3):  # warm: the page is rendered once, then kept
        _get(f"{server.url}/")
    before = server.cpu_s()
    results = [_get(f"{server.url}/") for _ in range(views)]
    cpu = server.cpu_s() - before
    return {
        "cpu_ms": cpu / views * 1000,
        "bytes": statistics.median(r[1] for r in results),
        "p50_ms": statistics.median(r[0] for r in results) * 1000,
        "errors": Counter(r[2] for r in results if r[2]),
    }


def _engine(url: str) -> str:
    """Which engine answered a view (the ``Server-Timing`` header), or why none did."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            timing = response.headers.get("Server-Timing", "")
        return "memory" if 'desc="memory"' in timing else "postgis"
    except (urllib.error.URLError, OSError) as err:
        return type(err).__name__


def view_latency(server: Server, query: str, requests: int) -> dict:
    """p50/p90 of the city view's stations, and the answer's size, once the worker holds
    its in-memory copy (built in the background after start; up to 3 minutes)."""
    url = f"{server.url}/api/v1/map/stations?{query}"
    deadline = time.monotonic() + 180
    while _engine(url) != "memory" and time.monotonic() < deadline:
        time.sleep(0.5)
    results = [_get(url) for _ in range(requests)]
    seconds = sorted(r[0] for r in results)
    return {
        "p50_ms": seconds[len(seconds) // 2] * 1000,
        "p90_ms": seconds[int(len(seconds) * 0.9)] * 1000,
        "bytes": statistics.median(r[1] for r in results),
        "errors": Counter(r[2] for r in results if r[2]),
        "engine": _engine(url),
    }


# --- the wire ----------------------------------------------------------------------------


class CountingProxy:
    """A loopback HTTP proxy in front of ``upstream`` that counts the bytes it sends back
    (status line, headers and body, as they travel), so "bytes over the wire" is what a
    phone would download."""

    def __init__(self, upstream: str):
        host, port = upstream.removeprefix("http://").split(":")
        self.sent = 0
        self.parts: dict[str, int] = {}  # path -> bytes, since the last take()
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                try:
                    conn.request("GET", self.path, headers=headers)
                    answer = conn.getresponse()
                    body = answer.read()
                except OSError:
                    self.send_error(502)
                    return
                finally:
                    conn.close()
                head = f"HTTP/1.1 {answer.status} {answer.reason}\r\n"
                self.send_response_only(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() in ("transfer-encoding", "connection", "content-length"):
                        continue
                    self.send_header(key, value)
                    head += f"{key}: {value}\r\n"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    return  # the browser hung up (a view it no longer needs)
                with proxy.lock:
                    proxy.sent += len(head) + 2 + len(body)
                    what = self.path.split("?")[0]
                    proxy.parts[what] = proxy.parts.get(what, 0) + len(head) + 2 + len(body)

            def log_message(self, *args: object) -> None:
                pass

            def handle_error(self, *args: object) -> None:  # type: ignore[override]
                pass

        from browser import QuietServer

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> tuple[int, dict[str, int]]:
        """Bytes sent since the last call, in all and by path."""
        with self.lock:
            sent, self.sent = self.sent, 0
            parts, self.parts = self.parts, {}
        return sent, parts

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _tiles():
    from browser import serve_tiles

    server = serve_tiles()
    return server, f"http://127.0.0.1:{server.server_port}"


def _phone(pw, profile: Path):
    from browser import CHROMIUM, PHONE

    return pw.chromium.launch_persistent_context(
        str(profile),
        bypass_csp=True,  # the waits below are JavaScript strings; the policy is tested elsewhere
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        viewport=PHONE,
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )


def _visit(page, url: str) -> None:
    page.goto(url, wait_until="load", timeout=TIMEOUT_S * 1000)
    page.wait_for_function(
        "document.querySelectorAll('.st-marker, .st-cluster, .leaflet-marker-icon').length > 0",
        timeout=TIMEOUT_S * 1000,
    )
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_S * 1000)


def wire(upstream: str, link: str) -> dict:
    """Bytes a phone downloads on a first and a repeat visit; the city view's request."""
    from playwright.sync_api import Error, sync_playwright

    proxy = CountingProxy(upstream)
    out: dict = {"view_query": None}
    try:
        with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
            context = _phone(pw, Path(profile))
            try:
                page = context.pages[0] if context.pages else context.new_page()
                views = []
                page.on(
                    "request",
                    lambda r: "/api/v1/map/stations?" in r.url and views.append(r.url),
                )
                proxy.take()
                _visit(page, f"{proxy.url}/?{link}")
                page.wait_for_timeout(1500)  # the worker installs and keeps the view
                out["first"], out["first_parts"] = proxy.take()
                # a repeat visit after the page's and the views' short lifetimes (5 min,
                # 1 min) have passed: the browser's HTTP cache emptied, as a day later;
                # what the worker kept stays
                cdp = context.new_cdp_session(page)
                cdp.send("Network.clearBrowserCache")
                _visit(page, f"{proxy.url}/?{link}")
                out["repeat"], out["repeat_parts"] = proxy.take()
                # the view a rider sees of the whole city, as the page asks for it
                views.clear()
                page.evaluate(
                    f"RestStations.state.map.setView([{SQUARE[0]}, {SQUARE[1]}], {CITY_ZOOM},"
                    " {animate: false})"
                )
                page.wait_for_function("() => !RestStations.state.loading")
                if views:
                    out["view_query"] = views[-1].split("?", 1)[1]
            except Error as err:
                out["error"] = str(err).splitlines()[0]
            finally:
                context.close()
    finally:
        proxy.close()
    return out


def first_paint(url: str, runs: int = 3) -> dict:
    """First contentful paint, fresh profile each time, slow phone on a slow network."""
    from playwright.sync_api import Error, sync_playwright

    times, errors = [], Counter()
    with sync_playwright() as pw:
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as profile:
                context = _phone(pw, Path(profile))
                try:
                    page = context.pages[0] if context.pages else context.new_page()
                    cdp = context.new_cdp_session(page)
                    cdp.send("Network.enable")
                    cdp.send("Network.emulateNetworkConditions", {"offline": False, **SLOW_4G})
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
                    page.goto(url, wait_until="load", timeout=TIMEOUT_S * 4 * 1000)
                    fcp = page.evaluate(
                        """() => new Promise(done => {
                          const seen = () => performance.getEntriesByName('first-contentful-paint');
                          if (seen().length) return done(seen()[0].startTime);
                          new PerformanceObserver(() => done(seen()[0].startTime))
                            .observe({type: 'paint', buffered: true});
                        })"""
                    )
                    times.append(fcp / 1000)
                except Error as err:
                    errors[str(err).splitlines()[0][:60]] += 1
                finally:
                    context.close()
    return {"fcp_s": statistics.median(times) if times else None, "errors": errors}


# --- the run -----------------------------------------------------------------------------


def _old_tree(parent: Path) -> Path | None:
    tree = parent / "old-page"
    done = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), OLD_COMMIT],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(f"old page: not measured (git worktree: {done.stderr.strip()})")
        return None
    return tree


def _measure(name: str, tree: Path, url: str, args, tile_url: str) -> dict:
    """Every figure for one page (new or old) against one registry."""
    print(f"  {name}: serving ...", flush=True)
    try:
        server = Server(tree, url)
    except RuntimeError as err:
        return {"error": str(err)}
    try:
        link = f"lat={SQUARE[0]}&lon={SQUARE[1]}"
        views = args.views if name == "new page" else max(3, args.views // 30)
        figures = {"views": page_views(server, views)}
        figures["wire"] = wire(server.url, link)
        figures["paint"] = first_paint(f"{server.url}/?{link}")
        query = figures["wire"].get("view_query")
        if query:
            figures["city_view"] = view_latency(server, query, args.views)
        return figures
    finally:
        server.stop()


def _ratio(new: float | None, old: float | None) -> str:
    if not new or not old:
        return ""
    return f"  ({new / old:.3f}× the old page's {old:,.1f})"


def _report(size: str, new: dict, old: dict | None) -> None:
    old = old or {}
    print(f"\n== {size} ==")
    if "error" in new:
        print(f"  new page: {new['error']}")
        return
    v, ov = new["views"], old.get("views", {})
    print(
        f"  server CPU per page view: {v['cpu_ms']:.2f} ms (goal ≤ {GOALS['cpu_ms']:.0f})"
        f"{_ratio(v['cpu_ms'], ov.get('cpu_ms'))}; page {v['bytes'] / 1024:.1f} KB gzipped"
        f"{_ratio(v['bytes'] / 1024, ov.get('bytes', 0) / 1024)}; errors {dict(v['errors'])}"
        f" / old {dict(ov.get('errors', {}))}"
    )
    w, ow = new["wire"], old.get("wire", {})
    for key, goal in (("first", "first_kb"), ("repeat", "repeat_kb")):
        if key in w:
            kb = w[key] / 1024
            print(
                f"  bytes over the wire, {key} visit: {kb:.1f} KB (goal ≤ {GOALS[goal]:.0f})"
                f"{_ratio(kb, ow.get(key, 0) / 1024)}"
            )
            parts = sorted(w[f"{key}_parts"].items(), key=lambda kv: -kv[1])
            print(
                "    "
                + ", ".join(
                    f"{path.rsplit('/', 1)[-1] or '/'} {n / 1024:.1f}" for path, n in parts[:8]
                )
            )
    if "error" in w or "error" in ow:
        print(f"  browser errors: new {w.get('error')} / old {ow.get('error')}")
    city = new.get("city_view")
    if city:
        print(
            f"  stations of a city-wide view: p50 {city['p50_ms']:.1f} ms, p90 "
            f"{city['p90_ms']:.1f} ms (goal p50 ≤ {GOALS['view_p50_ms']:.0f}), "
            f"{city['bytes'] / 1024:.1f} KB, counted in {city['engine']}; "
            f"errors {dict(city['errors'])}"
            f"; the old page had no such request: its whole page took "
            f"{ov.get('p50_ms', float('nan')):.0f} ms"
        )
    p, op = new["paint"], old.get("paint", {})
    if p["fcp_s"] is not None:
        print(
            f"  first contentful paint, Slow 4G and 4× CPU: {p['fcp_s']:.2f} s (goal ≤ "
            f"{GOALS['fcp_s']:.1f}){_ratio(p['fcp_s'], op.get('fcp_s'))}"
            f"; errors {dict(p['errors'])} / old {dict(op.get('errors', {}))}"
        )
    else:
        print(f"  first contentful paint: not measured ({dict(p['errors'])})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=300)
    parser.add_argument("--sizes", default="demo,national")
    args = parser.parse_args()
    sizes = args.sizes.split(",")

    from load import _national

    from stations.sandbox import spare_primary

    tiles, tile_url = _tiles()
    os.environ["STATIONS_MAP_TILES"] = tile_url + "/{z}/{x}/{y}.png"
    os.environ["STATIONS_MAP_ATTRIBUTION"] = "bench tiles"
    scratch = Path(tempfile.mkdtemp(prefix="bench-page-"))
    old_tree = _old_tree(scratch)
    try:
        with spare_primary("bench-page") as (_cluster, url):
            for size in ("demo", "national"):
                if size not in sizes:
                    continue
                if size == "national":
                    print(f"adding {NATIONAL:,} stations ...", flush=True)
                    _national(url, NATIONAL)
                print(f"{size}:", flush=True)
                new = _measure("new page", ROOT, url, args, tile_url)
                old = None
                if old_tree is not None and size == "demo":
                    old = _measure("old page", old_tree, url, args, tile_url)
                elif old_tree is not None:
                    print(
                        "  old page: not measured at 200,000 stations: it embeds every "
                        "station in every view (about 60 MB of HTML per view)"
                    )
                _report(size, new, old)
    finally:
        tiles.shutdown()
        if old_tree is not None:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)],
                capture_output=True,
            )
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
