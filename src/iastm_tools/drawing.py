"""The manufacturing drawing of one tool: top view, edge sections, notes and title block.

One A3 landscape sheet (ISO 5216, 420 x 297 mm) drawn with matplotlib in paper
millimetres, so the printed scale is exact: the top view at 1:1 (1:2 or 1:5 for parts that
do not fit), one section view per *distinct* edge section at 5:1 (2:1 or 1:1 for very
wide bevels). Written to PDF and SVG with no timestamps, so the same tool gives the same
bytes.

What the drawing carries and the STEP file cannot (shared/reference/cad_recipes.md sections
4 and 5): general tolerances ISO 2768-mK; explicit tolerances on apex radii (ISO 2768 gives
none below 0.5 mm) and bevel angles (+-1 deg, the ISO 2768-m angular class for legs up to
10 mm); edge finish (working edges Ra <= 0.4 um polished, faces Ra <= 0.8 um: engineering
defaults from the same notes, not standard-mandated); the burr/edge-break rule; material
and grade spec with the density source; passivation per ASTM A967 or electropolishing per
ASTM B912 verified per ASTM F1089; "do not scale". Dimensions of bevelled edges are to the
theoretical sharp edge (the nominal outline), drawn thick in the top view.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .fileio import write_atomic
from .outline import Outline, Prim, runout_plan, runout_sweep_rad
from .section import EdgeSection, edge_section

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .tool import Tool

#: Sheet size (mm), ISO 216 A3 landscape.
SHEET_MM = (420.0, 297.0)
SHEET_NAME = "A3"
#: Frame margins (mm): ISO 5457 filing margin 20 mm on the left, 10 mm elsewhere.
MARGIN_LEFT_MM = 20.0
MARGIN_MM = 10.0
#: Title block size (mm): ISO 7200 limits its width to 180 mm.
TITLE_W_MM = 180.0
BAND_H_MM = 66.0
#: Preferred scales (ISO 5455), largest first.
TOP_SCALES = (1.0, 0.5, 0.2)
SECTION_SCALES = (5.0, 2.0, 1.0)
#: Bevel angle tolerance (deg): ISO 2768-m for legs up to 10 mm is +-1 deg
#: (cad_recipes.md section 4; bevel faces are 4-6 mm long).
ANGLE_TOL_DEG = 1.0
#: Line widths (pt) for 0.5 mm (thick) and 0.25 mm (thin) lines, ISO 128-20 group 0.5.
THICK_PT = 0.5 / 25.4 * 72.0
THIN_PT = 0.25 / 25.4 * 72.0
#: Finish and process notes (cad_recipes.md section 4, "Surface finish" and "Passivation").
FINISH_NOTE = ("Edge finish: working edges and bevels Ra <= 0.4 µm, polished; faces "
               "Ra <= 0.8 µm (satin acceptable on grip areas); ISO 21920-1 / ISO 1302.")
EDGE_NOTE = "All edges burr-free; break sharp edges 0.2-0.5 unless specified."
PASSIVATION_NOTE = ("Passivate per ASTM A967 or electropolish per ASTM B912; "
                    "verify per ASTM F1089.")
GENERAL_TOL = "ISO 2768-mK"


def apex_radius_tolerance_mm(radius_mm: float) -> float:
    """Explicit +- tolerance (mm) of an edge radius on the drawing.

    20 % of the radius rounded to 0.05 mm, between 0.05 and 0.2 mm: R0.5 gets +-0.1;
    0.2 mm is the ISO 2768-m limit for external radii of 0.5-3 mm (cad_recipes.md s4), so
    larger radii are never looser than the general tolerance would be.
    """
    return float(min(0.2, max(0.05, round(0.2 * radius_mm / 0.05) * 0.05)))


def fmt_mm(value: float, digits: int = 2) -> str:
    """A dimension value: at most ``digits`` decimals, trailing zeros removed."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class SectionGroup:
    """One distinct edge section and the profile segments that carry it.

    letter: the section label on the drawing (A, B, ...); segments: segment indices;
    labels: their names (segment label or ``segment i``); working: any of them is a
    working edge.
    """

    letter: str
    section: EdgeSection
    segments: tuple[int, ...]
    labels: tuple[str, ...]
    working: bool


def distinct_sections(tool: Tool) -> tuple[SectionGroup, ...]:
    """Group all segments by their finished section (EdgeSection equality).

    Working sections come first, in segment order, then the others.
    """
    profile = tool.profile
    groups: list[tuple[EdgeSection, list[int]]] = []
    for i, seg in enumerate(profile.segments):
        sec = edge_section(seg.edge, profile.thickness_mm)
        for known, members in groups:
            if known == sec:
                members.append(i)
                break
        else:
            groups.append((sec, [i]))

    def working(members: list[int]) -> bool:
        return any(profile.segments[i].edge.working for i in members)

    groups.sort(key=lambda g: (not working(g[1]), g[1][0]))
    out = []
    for k, (sec, members) in enumerate(groups):
        labels = tuple(profile.segments[i].label or f"segment {i}" for i in members)
        out.append(SectionGroup(chr(ord("A") + k), sec, tuple(members), labels, working(members)))
    return tuple(out)


def exact_bbox_mm(outline: Outline) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of the outline, exact for arcs (mm)."""
    xs: list[float] = []
    ys: list[float] = []
    for p in outline.prims:
        xs += [p.p0[0], p.p1[0]]
        ys += [p.p0[1], p.p1[1]]
        if p.is_arc:
            for k in range(-8, 9):
                ang = k * math.pi / 2
                rel = (ang - p.a0_rad) / p.sweep_rad
                if 0.0 < rel < 1.0:
                    q = p.point(rel)
                    xs.append(float(q[0]))
                    ys.append(float(q[1]))
    return min(xs), min(ys), max(xs), max(ys)


def drawing_notes(tool: Tool) -> list[str]:
    """The numbered general notes of the drawing, in order (plain text)."""
    profile = tool.profile
    mat = profile.material
    groups = distinct_sections(tool)
    radii = []
    for g in groups:
        s = g.section
        if s.style in ("single_bevel", "double_bevel", "full_round") and s.apex_radius_mm > 0:
            r = s.apex_radius_mm
            radii.append(f"R{fmt_mm(r)} ±{fmt_mm(apex_radius_tolerance_mm(r))}")
    apex = ", ".join(dict.fromkeys(radii)) or "none"
    corner_r = sorted({p.radius_mm for p in tool.outline.prims if p.owner[0] == "corner"})
    notes = [
        f"Dimensions in mm. DO NOT SCALE the drawing. The STEP file {tool.name}.step governs "
        "geometry; this drawing governs tolerances, finish, material and process.",
        f"General tolerances {GENERAL_TOL}. Dimensions of bevelled and rounded edges are to the "
        "theoretical sharp edge (the nominal outline, where the extended faces meet).",
        f"Explicit tolerances (ISO 2768 gives none below 0.5 mm): apex radii {apex}; "
        f"bevel angles ±{fmt_mm(ANGLE_TOL_DEG)}°; edge radii as stated on the sections.",
        FINISH_NOTE,
        EDGE_NOTE,
        f"Material: {mat.spec}. Density {mat.density_g_cm3:g} g/cm³ ({mat.source}).",
        PASSIVATION_NOTE,
    ]
    if corner_r:
        radii_txt = ", R".join(fmt_mm(r) for r in corner_r)
        notes.append(f"Corner blends not dimensioned: R{radii_txt}.")
    if runout_plan(profile, tool.outline):
        notes.append("Bevel run-outs blend tangentially into the adjacent edges as modelled in "
                     "the STEP file.")
    notes.append(f"Mark '{tool.name} rev {profile.revision}' and lot number by laser etching on a "
                 "flat face, away from the working edges.")
    return notes


# --------------------------------------------------------------------------------------
# layout


@dataclass(frozen=True)
class DrawingLayout:
    """Where things go on the sheet (paper mm) and at which scales."""

    sheet: str
    width_mm: float
    height_mm: float
    top_scale: float
    section_scale: float
    top_origin_mm: tuple[float, float]  # paper position of model (0, 0)
    section_cells: tuple[tuple[float, float, float, float], ...]  # x, y, w, h per group


def _scale_text(s: float) -> str:
    return f"{fmt_mm(s)}:1" if s >= 1 else f"1:{fmt_mm(1 / s)}"


def _section_extent_mm(sec: EdgeSection) -> tuple[float, float]:
    """Model extent (u width, v height) a section view shows (mm)."""
    return sec.inward_reach_mm + 1.0, sec.thickness_mm


def layout_drawing(tool: Tool) -> DrawingLayout:
    """Choose scales and positions: largest preferred scales that fit the A3 sheet."""
    W, H = SHEET_MM
    x0, x1 = MARGIN_LEFT_MM, W - MARGIN_MM
    y0, y1 = MARGIN_MM + BAND_H_MM, H - MARGIN_MM
    groups = distinct_sections(tool)
    xmin, ymin, xmax, ymax = exact_bbox_mm(tool.outline)
    # sections: one row of cells under the top view (two rows if many)
    n = len(groups)
    per_row = min(n, 4)
    rows = math.ceil(n / per_row)
    cell_w = (x1 - x0) / per_row
    u_max = max(_section_extent_mm(g.section)[0] for g in groups)
    t = tool.profile.thickness_mm
    k = next((s for s in SECTION_SCALES if s * u_max + 45 <= cell_w and s * t <= 60),
             SECTION_SCALES[-1])
    cell_h = k * t + 42.0
    sec_h = rows * cell_h
    avail_w = x1 - x0 - 50.0  # room for dimensions and radius labels
    avail_h = y1 - y0 - sec_h - 45.0
    s = next((s for s in TOP_SCALES
              if s * (xmax - xmin) <= avail_w and s * (ymax - ymin) <= avail_h), TOP_SCALES[-1])
    top_area_bottom = y0 + sec_h
    cx = 0.5 * (x0 + x1) - s * 0.5 * (xmin + xmax)
    cy = 0.5 * (top_area_bottom + y1) - s * 0.5 * (ymin + ymax) - 4.0
    cells = []
    for i in range(n):
        r, c = divmod(i, per_row)
        cells.append((x0 + c * cell_w, top_area_bottom - (r + 1) * cell_h, cell_w, cell_h))
    return DrawingLayout(SHEET_NAME, W, H, s, k, (cx, cy), tuple(cells))


# --------------------------------------------------------------------------------------
# primitives in paper mm


def _text(ax: Axes, x: float, y: float, s: str, size: float = 7.0, **kw) -> None:
    ax.text(x, y, s, fontsize=size, family="DejaVu Sans", **kw)


def _line(ax: Axes, pts: np.ndarray, lw: float = THIN_PT, **kw) -> None:
    pts = np.asarray(pts, dtype=float)
    ax.plot(pts[:, 0], pts[:, 1], color="black", lw=lw, solid_capstyle="round", **kw)


def _arrow(ax: Axes, a: tuple[float, float], b: tuple[float, float], both: bool = True) -> None:
    ax.annotate("", xy=b, xytext=a, arrowprops={
        "arrowstyle": "<|-|>" if both else "-|>", "lw": THIN_PT, "color": "black",
        "shrinkA": 0, "shrinkB": 0, "mutation_scale": 7})


def _dim_h(ax: Axes, xa: float, xb: float, y_feat_a: float, y_feat_b: float, y_dim: float,
           text: str) -> None:
    """Horizontal linear dimension between x = xa and xb, dimension line at y_dim."""
    gap = 1.5 if y_dim < min(y_feat_a, y_feat_b) else -1.5
    for x, yf in ((xa, y_feat_a), (xb, y_feat_b)):
        _line(ax, [(x, yf - gap), (x, y_dim - (2.0 if gap > 0 else -2.0))])
    _arrow(ax, (xa, y_dim), (xb, y_dim))
    _text(ax, 0.5 * (xa + xb), y_dim + 1.0, text, 8, ha="center", va="bottom")


def _dim_v(ax: Axes, ya: float, yb: float, x_feat_a: float, x_feat_b: float, x_dim: float,
           text: str) -> None:
    """Vertical linear dimension between y = ya and yb, dimension line at x_dim."""
    gap = 1.5 if x_dim < min(x_feat_a, x_feat_b) else -1.5
    for y, xf in ((ya, x_feat_a), (yb, x_feat_b)):
        _line(ax, [(xf - gap, y), (x_dim - (2.0 if gap > 0 else -2.0), y)])
    _arrow(ax, (x_dim, ya), (x_dim, yb))
    _text(ax, x_dim - 1.0, 0.5 * (ya + yb), text, 8, ha="right" if gap > 0 else "left",
          va="center", rotation=90, rotation_mode="anchor")


def _leader(ax: Axes, target: tuple[float, float], at: tuple[float, float], text: str) -> None:
    """A leader with an arrowhead on ``target`` and ``text`` at ``at``."""
    ax.annotate(text, xy=target, xytext=at, fontsize=8, family="DejaVu Sans",
                ha="left" if at[0] >= target[0] else "right", va="center",
                arrowprops={"arrowstyle": "-|>", "lw": THIN_PT, "color": "black",
                            "shrinkA": 1.0, "shrinkB": 0, "mutation_scale": 7})


# --------------------------------------------------------------------------------------
# views


def _sample(prim: Prim, step_mm: float = 0.5) -> np.ndarray:
    n = max(2, math.ceil(prim.length_mm / step_mm)) if prim.is_arc else 1
    return prim.point(np.linspace(0.0, 1.0, n + 1))


def _offset_pts(prim: Prim, u: float, step_mm: float = 0.5) -> np.ndarray:
    n = max(2, math.ceil(prim.length_mm / step_mm)) if prim.is_arc else 1
    t = np.linspace(0.0, 1.0, n + 1)
    return prim.point(t) + u * prim.normal_out(t)


def _bevel_lines(tool: Tool) -> list[tuple[np.ndarray, bool]]:
    """Model-space polylines (mm) where bevels meet the plate faces: (points, visible).

    Along each bevelled piece at ``u = -bevel width``; round corner blends that share the
    section; and along the run-out circles, clipped to the plate outline.
    """
    from shapely.geometry import LineString, Polygon

    profile = tool.profile
    outline = tool.outline
    t = profile.thickness_mm
    n = len(profile.segments)
    plan = runout_plan(profile, outline)
    plate = Polygon(outline.polygon(0.002))
    out: list[tuple[np.ndarray, bool]] = []
    for prim in outline.prims:
        kind, idx = prim.owner
        if kind == "segment":
            spec = profile.segments[idx].edge
        else:
            left, right = profile.segments[idx].edge, profile.segments[(idx + 1) % n].edge
            spec = left if left == right else None
        if spec is None or spec.style not in ("single_bevel", "double_bevel"):
            continue
        sec = edge_section(spec, t)
        visible = not (spec.style == "single_bevel" and spec.face == "bottom")
        reach = sec.inward_reach_mm
        path = prim
        ends = plan.get(idx) if kind == "segment" else None
        if ends is not None:
            path = ends.full_section(prim)
            phi = runout_sweep_rad(sec, ends.rho_mm)
            for at_end, mode in ((False, ends.start), (True, ends.end)):
                if mode is None:
                    continue
                tt = 1.0 if at_end else 0.0
                p, nrm = path.point(tt), path.normal_out(tt)
                axis = p + ends.rho_mm * nrm
                q0 = p - reach * nrm - axis
                sign = -1.0 if at_end else 1.0
                angs = sign * np.linspace(0.0, phi, 60)
                c, s = np.cos(angs), np.sin(angs)
                arc = axis + np.stack([c * q0[0] - s * q0[1], s * q0[0] + c * q0[1]], -1)
                clipped = LineString(arc).intersection(plate)
                for geom in getattr(clipped, "geoms", [clipped]):
                    if not geom.is_empty and geom.geom_type == "LineString":
                        out.append((np.asarray(geom.coords), visible))
        out.append((_offset_pts(path, -reach), visible))
    return out


def _draw_top_view(ax: Axes, tool: Tool, lay: DrawingLayout,
                   groups: Iterable[SectionGroup]) -> None:
    s = lay.top_scale
    ox, oy = lay.top_origin_mm

    def to_paper(q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        return np.stack([ox + s * q[..., 0], oy + s * q[..., 1]], -1)

    outline = tool.outline
    ring = np.concatenate([_sample(p)[:-1] for p in outline.prims]
                          + [_sample(outline.prims[0])[:1]])
    _line(ax, to_paper(ring), THICK_PT)
    for pts, visible in _bevel_lines(tool):
        _line(ax, to_paper(pts), THIN_PT, linestyle="-" if visible else (0, (4, 2)))

    xmin, ymin, xmax, ymax = exact_bbox_mm(outline)
    (px0, py0), (px1, py1) = to_paper(np.array([xmin, ymin])), to_paper(np.array([xmax, ymax]))

    # radius of each arc segment, by a leader from outside onto the arc midpoint
    label_x, label_y = [px0], [py0]
    for prim in outline.prims:
        if prim.owner[0] != "segment" or not prim.is_arc:
            continue
        mid = prim.midpoint()
        nrm = prim.normal_out(0.5)
        target = to_paper(mid)
        at = to_paper(mid) + 12.0 * nrm
        text = f"R{fmt_mm(prim.radius_mm)}"
        _leader(ax, (float(target[0]), float(target[1])), (float(at[0]), float(at[1])), text)
        label_y.append(float(at[1]) - 2.5)
        label_x.append(float(at[0]) - (2.0 * len(text) if at[0] < target[0] else 0.0))

    # section cutting-plane marks: one per group, across its first segment (off the middle,
    # where the radius leader points)
    for g in groups:
        prim = outline.for_segment(g.segments[0])
        mid, nrm = prim.point(0.3), prim.normal_out(0.3)
        inner = to_paper(mid - (g.section.inward_reach_mm + 3.0) / s * nrm)
        outer = to_paper(mid + 6.0 / s * nrm)
        _line(ax, np.array([inner, outer]), THICK_PT, linestyle=(0, (6, 2, 1, 2)))
        lbl = to_paper(mid + 9.0 / s * nrm)
        _text(ax, float(lbl[0]), float(lbl[1]), g.letter, 10, ha="center", va="center",
              weight="bold")
        label_x.append(float(lbl[0]) - 3.0)
        label_y.append(float(lbl[1]) - 3.0)

    # overall length below, overall width on the left, clear of the radius labels
    poly = outline.polygon(0.002)
    at_xmin = poly[np.argmin(poly[:, 0])]
    at_xmax = poly[np.argmax(poly[:, 0])]
    at_ymin = poly[np.argmin(poly[:, 1])]
    at_ymax = poly[np.argmax(poly[:, 1])]
    y_dim = min(label_y) - 10.0
    x_dim = min(label_x) - 10.0
    _dim_h(ax, px0, px1, float(to_paper(at_xmin)[1]), float(to_paper(at_xmax)[1]), y_dim,
           fmt_mm(xmax - xmin))
    _dim_v(ax, py0, py1, float(to_paper(at_ymin)[0]), float(to_paper(at_ymax)[0]), x_dim,
           fmt_mm(ymax - ymin))

    _text(ax, 0.5 * (px0 + px1), y_dim - 7.0, f"TOP VIEW  {_scale_text(s)}", 10,
          ha="center", va="top", weight="bold")


def _draw_section(ax: Axes, g: SectionGroup, cell: tuple[float, float, float, float],
                  k: float) -> None:
    from matplotlib.patches import Arc, Polygon

    sec = g.section
    x, y, w, h = cell
    u_w, t = _section_extent_mm(sec)
    # place theoretical sharp corner (u = 0) so the view is centred in the cell
    ox = x + 0.5 * w + 0.5 * k * u_w - 6.0
    oy = y + 16.0

    def to_paper(uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, dtype=float)
        return np.stack([ox + k * uv[..., 0], oy + k * uv[..., 1]], -1)

    boundary = to_paper(sec.polyline(48))
    closed = np.concatenate([boundary, boundary[:1]])
    ax.add_patch(Polygon(boundary, closed=True, fill=False, hatch="////", lw=0.0,
                         edgecolor="black"))
    _line(ax, boundary, THICK_PT)
    _line(ax, closed[-2:], THIN_PT, linestyle=(0, (1, 1.5)))  # break line at the cut-off
    # theoretical sharp edge (the nominal outline) as a thin phantom line
    phantom = (0, (8, 2, 1, 2, 1, 2))
    if sec.style == "single_bevel":
        b = sec.inward_reach_mm
        sharp = [(-b, t), (0.0, 0.0)] if sec.face != "bottom" else [(-b, 0.0), (0.0, t)]
        _line(ax, to_paper(np.array(sharp)), THIN_PT, linestyle=phantom)
    elif sec.style == "double_bevel":
        b = sec.inward_reach_mm
        _line(ax, to_paper(np.array([(-b, t), (0.0, 0.5 * t), (-b, 0.0)])), THIN_PT,
              linestyle=phantom)
    _line(ax, to_paper(np.array([(0.0, 0.0), (0.0, t)])), THIN_PT, linestyle=phantom)

    left = float(to_paper(np.array([-u_w, 0.0]))[0])
    (x0p, y0p), (_, y1p) = to_paper(np.array([0.0, 0.0])), to_paper(np.array([0.0, t]))
    _dim_v(ax, float(y0p), float(y1p), left, left, left - 7.0, fmt_mm(t))
    if sec.style in ("single_bevel", "double_bevel"):
        b = sec.inward_reach_mm
        xb = float(to_paper(np.array([-b, 0.0]))[0])
        on_bottom = sec.style == "single_bevel" and sec.face == "bottom"
        y_face = float(y0p) if on_bottom else float(y1p)
        y_dim = float(y0p) - 7.0 if on_bottom else float(y1p) + 7.0
        _dim_h(ax, xb, float(x0p), y_face, y_face, y_dim, f"({fmt_mm(b)})")
        # bevel angle at the theoretical apex, between the bevel and the reference face
        a = sec.angle_deg
        if sec.style == "double_bevel":
            apex, th1, th2 = to_paper(np.array([0.0, 0.5 * t])), 180.0 - a, 180.0
            _line(ax, np.array([apex, apex + np.array([-k * (b + 1.0), 0.0])]), THIN_PT,
                  linestyle=phantom)
        elif sec.face == "bottom":
            apex, th1, th2 = to_paper(np.array([0.0, t])), 180.0, 180.0 + a
        else:
            apex, th1, th2 = to_paper(np.array([0.0, 0.0])), 180.0 - a, 180.0
        rad = min(0.8 * k * b, 18.0)
        ax.add_patch(Arc(tuple(apex), 2 * rad, 2 * rad, theta1=th1, theta2=th2, lw=THIN_PT,
                         color="black"))
        mid_a = math.radians(0.5 * (th1 + th2))
        label = f"{fmt_mm(a)}° ±{fmt_mm(ANGLE_TOL_DEG)}°"
        if sec.style == "double_bevel":
            label += " both faces"
        on_arc = (float(apex[0] + rad * math.cos(mid_a)), float(apex[1] + rad * math.sin(mid_a)))
        y_label = float(y0p) + 1.0 if on_bottom else float(y1p) + 2.0
        _leader(ax, on_arc, (float(x0p) + 10.0, y_label), label)
    # every radius of the finished curve, with its explicit tolerance
    seen: set[tuple[float, float]] = set()
    n_r = 0
    for piece in sec.pieces:
        if piece.center is None or piece.mid is None:
            continue
        key = (round(piece.mid[0], 6), round(piece.mid[1], 6))
        if key in seen:
            continue
        seen.add(key)
        r = piece.radius_mm
        tgt = to_paper(np.array(piece.mid))
        at = (float(x0p) + 10.0, float(tgt[1]) + (6.0 if piece.mid[1] >= 0.5 * t else -6.0))
        name = "apex " if sec.style in ("single_bevel", "double_bevel") else ""
        _leader(ax, (float(tgt[0]), float(tgt[1])), at,
                f"{name}R{fmt_mm(r)} ±{fmt_mm(apex_radius_tolerance_mm(r))}")
        n_r += 1
    title = f"SECTION {g.letter}-{g.letter}  {_scale_text(k)}"
    _text(ax, x + 0.5 * w, y + h - 4.0, title, 9, ha="center", va="top", weight="bold")
    style = sec.style.replace("_", " ") + (f", bevel on {sec.face} face" if sec.face else "")
    members = ", ".join(g.labels)
    _text(ax, x + 0.5 * w, y + 3.0, "\n".join(textwrap.wrap(f"{style}: {members}", 60)[:2]), 6,
          ha="center", va="bottom")


def _draw_title_block(ax: Axes, tool: Tool, lay: DrawingLayout) -> None:
    from . import __version__

    p = tool.profile
    mat = p.material
    W = lay.width_mm
    x1, y0 = W - MARGIN_MM, MARGIN_MM
    x0 = x1 - TITLE_W_MM
    y1 = y0 + BAND_H_MM
    rows = [
        [("PART", tool.name), ("REVISION", p.revision)],
        [("DESCRIPTION", p.description or p.family or "-"), ("", "")],
        [("MATERIAL", mat.spec), ("DENSITY", f"{mat.density_g_cm3:g} g/cm³ (note 6)")],
        [("MASS (computed, ±1 %)", f"{tool.mass_g:.1f} g"),
         ("THICKNESS", f"{fmt_mm(p.thickness_mm)} mm")],
        [("UNITS / SCALE", f"mm / {_scale_text(lay.top_scale)}, "
                           f"sections {_scale_text(lay.section_scale)}"),
         ("GENERAL TOLERANCES", GENERAL_TOL)],
        [("SHEET", f"1 of 1, {lay.sheet} landscape. DO NOT SCALE"),
         ("GENERATED BY", f"iastm_tools {__version__}")],
    ]
    rh = BAND_H_MM / len(rows)
    ax.add_patch(_rect(x0, y0, TITLE_W_MM, BAND_H_MM, THICK_PT))
    for r, row in enumerate(rows):
        top = y1 - r * rh
        _line(ax, [(x0, top - rh), (x1, top - rh)])
        spans = [TITLE_W_MM] if row[1][0] == "" else [0.5 * TITLE_W_MM, 0.5 * TITLE_W_MM]
        cx = x0
        for (label, value), span in zip(row, spans, strict=False):
            if cx > x0:
                _line(ax, [(cx, top), (cx, top - rh)])
            _text(ax, cx + 1.5, top - 1.2, label, 5, va="top")
            wrap = textwrap.wrap(value, int(span / 1.75)) or [""]
            _text(ax, cx + 1.5, top - rh + 1.3, "\n".join(wrap[:2]),
                  8 if len(wrap) == 1 else 6.5, va="bottom",
                  weight="bold" if label in ("PART", "REVISION") else "normal")
            cx += span


def _rect(x: float, y: float, w: float, h: float, lw: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, lw=lw, edgecolor="black")


def _draw_notes(ax: Axes, tool: Tool, lay: DrawingLayout) -> None:
    x0, y0 = MARGIN_LEFT_MM, MARGIN_MM
    w = lay.width_mm - MARGIN_MM - TITLE_W_MM - x0
    ax.add_patch(_rect(x0, y0, w, BAND_H_MM, THICK_PT))
    notes = drawing_notes(tool)
    # largest font (pt) whose wrapped lines fit the box: a character is about 0.55 em wide,
    # a line 1.3 em high (1 pt = 0.3528 mm)
    for size in (7.5, 7.0, 6.5, 6.0, 5.5, 5.0):
        em = size * 0.3528
        lines = ["NOTES"]
        for i, note in enumerate(notes, 1):
            wrapped = textwrap.wrap(note, int((w - 6.0) / (0.55 * em)) - 4)
            lines.append(f"{i}. {wrapped[0]}")
            lines += [f"    {cont}" for cont in wrapped[1:]]
        if len(lines) * 1.3 * em <= BAND_H_MM - 4.0:
            break
    _text(ax, x0 + 2.0, y0 + BAND_H_MM - 2.0, "\n".join(lines), size, va="top", linespacing=1.3)


def render_drawing(tool: Tool) -> Figure:
    """The drawing as a matplotlib Figure (not attached to pyplot; paper mm coordinates)."""
    from matplotlib.figure import Figure

    lay = layout_drawing(tool)
    fig = Figure(figsize=(lay.width_mm / 25.4, lay.height_mm / 25.4))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, lay.width_mm)
    ax.set_ylim(0.0, lay.height_mm)
    ax.set_axis_off()
    ax.add_patch(_rect(MARGIN_LEFT_MM, MARGIN_MM, lay.width_mm - MARGIN_LEFT_MM - MARGIN_MM,
                       lay.height_mm - 2 * MARGIN_MM, THICK_PT))
    groups = distinct_sections(tool)
    _draw_top_view(ax, tool, lay, groups)
    for g, cell in zip(groups, lay.section_cells, strict=True):
        _draw_section(ax, g, cell, lay.section_scale)
    _draw_notes(ax, tool, lay)
    _draw_title_block(ax, tool, lay)
    return fig


def _rc() -> dict[str, object]:
    """Settings for reproducible output; SVG keeps text as text (searchable), the PDF
    embeds subset Type 3 fonts (Type 42 costs 0.7 s more per sheet)."""
    return {"pdf.fonttype": 3, "svg.fonttype": "none", "svg.hashsalt": "iastm_tools",
            "hatch.linewidth": 0.3, "path.simplify": False}


def write_drawing(tool: Tool, pdf_path: Path | None = None, svg_path: Path | None = None, *,
                  force: bool = False) -> dict[str, Path]:
    """Render the drawing and write it to PDF and/or SVG atomically (deterministic bytes).

    Returns ``{"pdf": path, "svg": path}`` for the files written.
    """
    import matplotlib

    written: dict[str, Path] = {}
    if pdf_path is None and svg_path is None:
        return written
    with matplotlib.rc_context(_rc()):
        fig = render_drawing(tool)
        meta_pdf = {"CreationDate": None, "ModDate": None, "Creator": "iastm_tools",
                    "Title": f"{tool.name} rev {tool.profile.revision} drawing"}
        meta_svg = {"Date": None, "Creator": "iastm_tools",
                    "Title": f"{tool.name} rev {tool.profile.revision} drawing"}
        if pdf_path is not None:
            written["pdf"] = write_atomic(Path(pdf_path), lambda p: fig.savefig(
                p, format="pdf", metadata=meta_pdf), force=force)
        if svg_path is not None:
            written["svg"] = write_atomic(Path(svg_path), lambda p: fig.savefig(
                p, format="svg", metadata=meta_svg), force=force)
    return written
