"""A printable planning map: the gaps, zones, stations and proposed sites of an area.

A city union's report needs a map that stands on paper: a title, a legend, a scale bar,
a north arrow, the date and hour, and a data stamp saying which registry it was drawn
from. The map is drawn by matplotlib on the area's equal-area plane (the one every
analysis measures on), so the scale bar is true in metres across the sheet and north is
up at the centre; it comes out as PNG (for slides) or PDF (A4 landscape, for print),
with the fonts embedded so the Chinese stays Chinese on any machine.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from stations import hours
from stations.coverage import GapReport
from stations.zones import Zone

FORMATS = ("pdf", "png")  # the first is the default
MEDIA = {"png": "image/png", "pdf": "application/pdf"}
A4_LANDSCAPE_IN = (1754 / 150, 1240 / 150)  # 297 × 210 mm; 1754 × 1240 pixels at 150 dpi
FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "DejaVu Sans"]
GAP, ZONE, OPEN, CLOSED, SITE = "#b2182b", "#762a83", "#1a9850", "#888888", "#2166ac"
LABELLED_ZONES = 10
_LOCK = threading.Lock()


def render(
    report: GapReport,
    found: Sequence[Zone],
    fmt: str,
    *,
    title: str,
    at: dt.datetime | None,
    sites: Sequence[tuple[float, float]] = (),
    generation: int,
) -> bytes:
    """The map as ``fmt`` bytes (see the module doc)."""
    with _LOCK:  # matplotlib's settings are global; granian serves from several threads
        return _render(report, found, fmt, title=title, at=at, sites=sites, generation=generation)


def _render(
    report: GapReport,
    found: Sequence[Zone],
    fmt: str,
    *,
    title: str,
    at: dt.datetime | None,
    sites: Sequence[tuple[float, float]],
    generation: int,
) -> bytes:
    import matplotlib  # imported here: only a print pays for it
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    layer = report.layer
    with matplotlib.rc_context(
        {"font.family": "sans-serif", "font.sans-serif": FONTS, "pdf.fonttype": 42,
         "axes.unicode_minus": False, "svg.hashsalt": "stations"}
    ):  # fmt: skip
        fig = Figure(figsize=A4_LANDSCAPE_IN, dpi=150)  # no pyplot: nothing left behind
        ax = fig.add_axes((0.03, 0.08, 0.68, 0.80))
        ax.set_aspect("equal")
        ax.set_axis_off()
        _polygons(ax, [p.geometry for p in report.parts] or [layer.area_plane], "none", "#333")
        most = max((g.demand for g in report.coverage.gaps), default=0) or 1
        for gap in report.coverage.gaps:
            alpha = 0.08 + 0.45 * math.sqrt(gap.demand / most) if gap.demand > 0 else 0
            _polygons(ax, [gap.geometry], GAP, GAP, alpha=alpha, width=0.4)
        for zone in found:
            _polygons(ax, [zone.outline], ZONE, ZONE, alpha=0.35, width=0.5)
        for rank, zone in enumerate(found[:LABELLED_ZONES], start=1):
            ax.annotate(str(rank), zone.centre_xy, color="white", fontsize=7, ha="center",
                        va="center",
                        bbox={"boxstyle": "circle,pad=0.2", "fc": ZONE, "ec": "white"})  # fmt: skip
        xy = layer.stations_xy
        counted = np.asarray(report.counted, dtype=bool)
        ax.scatter(xy[~counted, 0], xy[~counted, 1], s=6, c=CLOSED, linewidths=0)
        ax.scatter(xy[counted, 0], xy[counted, 1], s=8, c=OPEN, linewidths=0)
        if len(sites):
            site_xy = layer.plane.points([s[0] for s in sites], [s[1] for s in sites])
            ax.scatter(site_xy[:, 0], site_xy[:, 1], s=40, c=SITE, edgecolors="white",
                       linewidths=0.8, marker="o", zorder=5)  # fmt: skip
        x0, y0, x1, y1 = layer.area_plane.bounds
        pad = 0.03 * max(x1 - x0, y1 - y0)
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
        _scale_bar(ax, x0, y0, x1 - x0)
        _north_arrow(ax)
        when = at.astimezone(hours.SHANGHAI).strftime("%Y-%m-%d %H:%M") if at else "全天 all day"
        fig.text(0.03, 0.95, title, fontsize=17)
        fig.text(0.03, 0.915, f"{report.area.label} · {when}（北京时间）· 服务半径 "
                 f"{report.radius_m:,.0f} 米", fontsize=10)  # fmt: skip
        result = report.coverage
        facts = [
            f"计入驿站 {report.stations_counted} 个",
            f"需求覆盖 {result.demand_coverage_ratio:.1%}",
            f"面积覆盖 {result.coverage_ratio:.1%}",
            f"未覆盖需求 {result.demand_total - result.demand_covered:,.0f} 人",
            f"需求区 {len(found)} 个（图上编号前 {min(len(found), LABELLED_ZONES)} 个）",
        ]
        if len(sites):
            facts.append(f"拟建站点 {len(sites)} 个")
        handles = [
            Patch(fc=GAP, ec=GAP, alpha=0.5, label="缺口（按县区切分，越深需求越多）"),
            Patch(fc=ZONE, ec=ZONE, alpha=0.5, label="需求区：一个新站可服务的未覆盖需求"),
            Line2D([], [], marker="o", ls="", color=OPEN, label="驿站：此时开放"),
            Line2D([], [], marker="o", ls="", color=CLOSED, label="驿站：此时关闭"),
            Patch(fc="white", ec="#999", label="已覆盖（此时开放驿站的服务半径内）"),
            Patch(fc="none", ec="#333", label="县区界"),
        ]
        if len(sites):
            handles.append(Line2D([], [], marker="o", ls="", color=SITE, label="拟建站点"))
        legend = fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.73, 0.86),
                            frameon=False, fontsize=9, title="图例 Legend")  # fmt: skip
        legend.set_in_layout(False)
        fig.text(0.735, 0.50, "\n".join(facts), fontsize=9, va="top", linespacing=1.6)
        fig.text(0.735, 0.25, "需求 = 估计的户外劳动者人数\n（每个需求点按该处人数加权）",
                 fontsize=8, color="#555", va="top")  # fmt: skip
        made = dt.datetime.now(hours.SHANGHAI).strftime("%Y-%m-%d %H:%M")
        fig.text(0.03, 0.03, f"数据：驿站登记库第 {generation} 版 · 制图 {made}（北京时间）· "
                 "等积方位投影（兰伯特），以区域中心为原点", fontsize=8, color="#555")  # fmt: skip
        out = io.BytesIO()
        fig.savefig(out, format=fmt, metadata=_metadata(fmt, title))
    return out.getvalue()


def _metadata(fmt: str, title: str) -> dict[str, Any]:
    if fmt == "pdf":
        return {"Title": title, "Creator": "rest-stations", "CreationDate": None}
    return {"Title": title, "Software": "rest-stations"}


def _polygons(
    ax: Any, geoms: Sequence[Any], face: str, edge: str, alpha: float = 1.0, width: float = 0.8
) -> None:
    """Polygons, holes included, each as a path patch."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    for geom in geoms:
        for poly in shapely.get_parts(geom):
            if poly.geom_type != "Polygon" or poly.is_empty:
                continue
            rings = [np.asarray(poly.exterior.coords)] + [
                np.asarray(r.coords) for r in poly.interiors
            ]
            codes = []
            for ring in rings:
                codes += [Path.MOVETO] + [Path.LINETO] * (len(ring) - 2) + [Path.CLOSEPOLY]
            path = Path(np.concatenate(rings), codes)
            fill = _rgba(face, alpha) if face != "none" else "none"
            ax.add_patch(PathPatch(path, facecolor=fill, edgecolor=edge, lw=width))


def _rgba(colour: str, alpha: float) -> tuple[float, float, float, float]:
    value = colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b, alpha)


def _scale_bar(ax: Any, x0: float, y0: float, width_m: float) -> None:
    """A bar of a round length near a fifth of the map's width, in metres or kilometres."""
    target = width_m / 5
    step = 10 ** math.floor(math.log10(target))
    length = max(s * step for s in (1, 2, 5) if s * step <= target)
    ymin, ymax = ax.get_ylim()
    y = ymin + 0.04 * (ymax - ymin)
    ax.plot([x0, x0 + length], [y, y], color="black", lw=3, solid_capstyle="butt")
    label = f"{length / 1000:g} 公里" if length >= 1000 else f"{length:g} 米"
    ax.text(x0 + length / 2, y + 0.012 * (ymax - ymin), label, ha="center", fontsize=9)


def _north_arrow(ax: Any) -> None:
    """An arrow and N at the top right: north is up on a plane centred on the area."""
    ax.annotate("", xy=(0.95, 0.97), xytext=(0.95, 0.88), xycoords="axes fraction",
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5})  # fmt: skip
    ax.text(0.95, 0.985, "北 N", transform=ax.transAxes, ha="center", va="bottom", fontsize=10)
