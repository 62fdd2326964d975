"""The map's JavaScript and CSS, vendored from npm packages so the page needs no CDN.

Run ``python -m web.vendor_assets`` (needs ``npm`` and the npm registry) to fetch the
pinned packages with ``npm pack``, copy the files the page uses into
``web/static/vendor/`` and rewrite its ``README.md``. The output is committed with this
script, so installing or serving the app never needs npm or the internet.

Why vendored and not a CDN: the public map must load in China on a courier's phone, where
foreign CDNs (jsDelivr, cdnjs, unpkg) are slow or blocked, and the page must keep working
on a network without the internet. Folium's defaults point at those CDNs, so
:mod:`web.pages` replaces them with the files in ``LINKS``, which lives in this module
so that one place says both what is shipped and what the page links.

Leaflet.locatecontrol is pinned to 0.86.0, the last release written in ES2015: 0.87 and
later use optional chaining (``?.``), which older Android WebViews (Chrome < 80, still
common in cheap phones and in-app browsers) cannot parse, and the control would vanish.

Dropped on purpose: jQuery, Bootstrap, Leaflet.awesome-markers, Font Awesome and the
glyphicons that ``folium.Map`` links by default. The page draws its markers as
``L.divIcon`` with plain CSS, so it needs none of them (about 400 kB less per load).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"


@dataclass(frozen=True)
class Package:
    """One npm package: the files copied out of its tarball (``package/`` stripped)."""

    name: str
    version: str
    licence: str
    homepage: str
    files: tuple[str, ...]  # paths inside the package; copied without their "dist/" prefix
    note: str = ""  # why this version, for the README

    @property
    def folder(self) -> str:
        """Folder under ``static/vendor`` (the npm name, which is URL-safe)."""
        return self.name

    def target(self, path: str) -> str:
        """Where a package file lands, relative to ``static/vendor``."""
        return f"{self.folder}/{path.removeprefix('dist/')}"


PACKAGES: tuple[Package, ...] = (
    Package(
        "leaflet",
        "1.9.4",
        "BSD-2-Clause",
        "https://leafletjs.com/",
        (
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
            "LICENSE",
        ),
    ),
    Package(
        "leaflet.markercluster",
        "1.5.3",
        "MIT",
        "https://github.com/Leaflet/Leaflet.markercluster",
        (
            "dist/leaflet.markercluster.js",
            "dist/MarkerCluster.css",
            "dist/MarkerCluster.Default.css",
            "MIT-LICENCE.txt",
        ),
    ),
    Package(
        "leaflet.locatecontrol",
        "0.86.0",
        "MIT",
        "https://github.com/domoritz/leaflet-locatecontrol",
        (
            "dist/L.Control.Locate.min.js",
            "dist/L.Control.Locate.min.css",
            "LICENSE",
        ),
        "pinned: 0.87 and later use optional chaining (`?.`), which older Android "
        "WebViews (Chrome < 80) cannot parse",
    ),
    Package(
        "leaflet.heat",
        "0.2.0",
        "BSD-2-Clause",
        "https://github.com/Leaflet/Leaflet.heat",
        ("dist/leaflet-heat.js", "LICENSE"),
        "the planner map's demand heat map",
    ),
)

# What each Folium element links, as (Folium resource name, path under static/): the
# names are Folium's own, so these replace its CDN links one for one.
LINKS: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    "leaflet": (
        (("leaflet", "vendor/leaflet/leaflet.js"),),
        (("leaflet_css", "vendor/leaflet/leaflet.css"),),
    ),
    "markercluster": (
        (("markerclusterjs", "vendor/leaflet.markercluster/leaflet.markercluster.js"),),
        (
            ("markerclustercss", "vendor/leaflet.markercluster/MarkerCluster.css"),
            ("markerclusterdefaultcss", "vendor/leaflet.markercluster/MarkerCluster.Default.css"),
        ),
    ),
    "locatecontrol": (
        (("Control_locate_min_js", "vendor/leaflet.locatecontrol/L.Control.Locate.min.js"),),
        (("Control_locate_min_css", "vendor/leaflet.locatecontrol/L.Control.Locate.min.css"),),
    ),
    "heat": ((("leaflet_heat", "vendor/leaflet.heat/leaflet-heat.js"),), ()),
    "planner": (  # the planner map's own script and style
        (("planner_js", "planner/planner.js"),),
        (("planner_css", "planner/planner.css"),),
    ),
    "stations": (  # the page's own script and style, after Leaflet and the plugins
        (("stations_geo_js", "map/geodesy.js"), ("stations_js", "map/stations.js")),
        (("stations_css", "map/stations.css"),),
    ),
}


def _pack(package: Package, workdir: Path) -> tuple[Path, str]:
    """``npm pack`` one pinned package into ``workdir``; returns the tarball and integrity."""
    out = subprocess.run(
        ["npm", "pack", f"{package.name}@{package.version}", "--json", "--pack-destination", "."],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    info = json.loads(out)[0]
    if info["version"] != package.version:
        raise SystemExit(f"npm gave {package.name}@{info['version']}, wanted {package.version}")
    return workdir / info["filename"], info["integrity"]


def _extract(tarball: Path, into: Path) -> Path:
    """Unpack a package tarball safely (no absolute paths, links or device files)."""
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    return into / "package"


@dataclass(frozen=True)
class Copied:
    """One file copied into the vendor folder."""

    path: str  # relative to static/vendor
    size: int  # bytes
    sha256: str


@dataclass(frozen=True)
class Vendored:
    """One package as vendored: its npm tarball integrity and the files copied."""

    package: Package
    integrity: str
    files: tuple[Copied, ...]


def vendor(dest: Path = VENDOR_DIR) -> list[Vendored]:
    """Fetch every package and replace ``dest``'s package folders; returns what was copied.

    Everything is copied to a staging folder first, so a failed download or a file
    missing from a new release leaves the committed assets untouched.
    """
    report = []
    with tempfile.TemporaryDirectory(prefix="vendor-assets-") as tmp:
        staging = Path(tmp) / "staging"
        for package in PACKAGES:
            work = Path(tmp) / package.name
            work.mkdir()
            tarball, integrity = _pack(package, work)
            root = _extract(tarball, work)
            files = []
            for path in package.files:
                target = staging / package.target(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / path, target)
                data = target.read_bytes()
                files.append(
                    Copied(package.target(path), len(data), hashlib.sha256(data).hexdigest())
                )
            report.append(Vendored(package, integrity, tuple(files)))
        dest.mkdir(parents=True, exist_ok=True)
        for package in PACKAGES:
            shutil.rmtree(dest / package.folder, ignore_errors=True)
            shutil.copytree(staging / package.folder, dest / package.folder)
    (dest / "README.md").write_text(_readme(report), encoding="utf-8")
    return report


def _readme(report: list[Vendored]) -> str:
    """The vendor folder's README: what, which versions, licences, sizes and hashes."""
    lines = [
        "# Vendored map assets",
        "",
        "Every JavaScript and CSS file the public map (`/` and `/map`) loads is served by the",
        "app from this folder, so the page works without the internet and without foreign",
        "CDNs. **Do not edit these files by hand**: they are copied unchanged from the npm",
        "packages below by `python -m web.vendor_assets` (see its docstring), which also",
        "writes this README. To upgrade, change a version in `web/vendor_assets.py`, rerun",
        "it, check the map (`tests/test_map_browser.py`) and commit the script's output.",
        "",
        "Not copied: source maps (browsers ask for them only with developer tools open) and",
        "Folium's other defaults (jQuery, Bootstrap, awesome-markers, Font Awesome), which",
        "the page does not use.",
        "",
        "| package | version | licence | npm tarball integrity | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in report:
        pkg = entry.package
        lines.append(
            f"| [{pkg.name}]({pkg.homepage}) | {pkg.version} | {pkg.licence} | "
            f"`{entry.integrity}` | {pkg.note} |"
        )
    lines += ["", "| file | bytes | sha256 |", "| --- | ---: | --- |"]
    for entry in report:
        lines += [f"| `{f.path}` | {f.size:,} | `{f.sha256}` |" for f in entry.files]
    total = sum(f.size for entry in report for f in entry.files)
    lines += ["", f"Total: {total:,} bytes.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: vendor the assets into ``web/static/vendor`` (or ``--dest``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=VENDOR_DIR, help="target folder")
    args = parser.parse_args(argv)
    if shutil.which("npm") is None:
        print("error: npm is needed to fetch the packages (apt-get install npm)", file=sys.stderr)
        return 1
    for entry in vendor(args.dest):
        size = sum(f.size for f in entry.files)
        name = f"{entry.package.name}@{entry.package.version}"
        print(f"{name}: {len(entry.files)} files, {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
