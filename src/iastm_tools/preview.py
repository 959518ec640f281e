"""3D preview of tools and fits (issue 6): one scene description, two renderers.

A :class:`Scene` is plain data (triangle meshes with a colour or pressure scalars, lines,
text labels, a colour bar and a camera, all in mm). It is built from a tool
(:func:`tool_scene`) or from a fit (:func:`fit_scene`: the tool in its best-fit pose on
the body, the pressure heat map on the skin, the working edges highlighted and labelled)
and rendered either

* by pyvista (:func:`render`): an interactive window, inline in Jupyter, or off-screen
  (:func:`screenshot`, no display needed), or
* by a small self-contained WebGL viewer (:func:`scene_html_fragment`,
  :func:`export_html`): an interactive 3D scene in plain HTML + JavaScript that works
  offline, with no external script (used by the HTML report).

Off-screen rendering: the VTK wheels (9.4+) carry an EGL render window; with no X
display :func:`ensure_offscreen` selects it (``VTK_DEFAULT_OPENGL_WINDOW``) before the
first window is made, so rendering uses Mesa's EGL (libegl-mesa0, llvmpipe, which the
machine image carries) with no Xvfb and no warning about a missing X server.

``Tool.plot()`` and ``FitResult.plot()`` delegate to :func:`plot_tool` / :func:`plot_fit`.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import sys
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import IastmError
from .fileio import write_atomic, write_text_atomic

if TYPE_CHECKING:
    import pyvista as pv

    from .fit import ContourFit, FitResult
    from .tool import Tool

#: Colours (RGB 0-1): polished stainless steel, skin, the fitted edge and the other edges.
STEEL_RGB = (0.70, 0.73, 0.77)
SKIN_RGB = (0.91, 0.76, 0.66)
FITTED_EDGE_RGB = (0.0, 0.75, 0.55)
EDGE_RGB = (0.97, 0.55, 0.10)
PPT_LINE_RGB = (0.0, 0.90, 1.0)
BACKGROUND_RGB = (1.0, 1.0, 1.0)
#: Pressure colour map (shared with :mod:`iastm_tools.plots`).
PRESSURE_CMAP = "inferno"
#: The heat map is drawn this far above the undeformed skin (mm) so that it does not
#: z-fight with the body surface.
HEATMAP_LIFT_MM = 0.05
#: Chordal / angular tolerance of the preview tool mesh (mm, deg): 0.05 mm shows the
#: 0.5 mm apex rounds; the machining STL uses 0.01 mm.
PREVIEW_MESH_TOLERANCE_MM = 0.05
PREVIEW_MESH_ANGULAR_DEG = 10.0
#: Opacity of the tool drawn on the body: the contact patch usually lies under the plate.
TOOL_OPACITY_ON_BODY = 0.35
#: Coarser tool mesh for the HTML viewer (a third of the triangles, 2-3x smaller pages).
HTML_MESH_TOLERANCE_MM = 0.1
HTML_MESH_ANGULAR_DEG = 20.0
#: Most body-patch triangles sent to the HTML viewer (decimated beyond; the skin patch is
#: smooth, and the full patch of the default body is 5-10x larger).
HTML_MAX_BODY_FACES = 6000
#: Default window (pixels) of interactive windows and screenshots.
WINDOW_SIZE = (1024, 768)
#: Camera view angle (deg) of every scene.
VIEW_ANGLE_DEG = 30.0
#: Most heat-map nodes along one grid axis sent to the HTML viewer (strided beyond).
HTML_MAX_HEATMAP_NODES = 240


# ------------------------------------------------------------------------------ scene data


@dataclass(frozen=True, eq=False)
class SceneMesh:
    """A triangle mesh of a scene (mm).

    points (n, 3), faces (m, 3) int; either a flat ``color`` (RGB 0-1) or per-point
    ``scalars`` (e.g. pressure, kPa) mapped through the scene's colour bar.
    """

    name: str
    points: np.ndarray
    faces: np.ndarray
    color: tuple[float, float, float] = STEEL_RGB
    scalars: np.ndarray | None = None
    opacity: float = 1.0
    smooth: bool = True


@dataclass(frozen=True, eq=False)
class SceneLines:
    """Poly-lines (each (k, 3) mm) drawn in one colour (thin lines, e.g. iso-lines)."""

    name: str
    polylines: tuple[np.ndarray, ...]
    color: tuple[float, float, float] = PPT_LINE_RGB
    width_px: float = 2.0


@dataclass(frozen=True)
class SceneLabel:
    """A text label anchored at a 3D point (mm)."""

    point: tuple[float, float, float]
    text: str
    color: tuple[float, float, float] = (0.1, 0.1, 0.1)


@dataclass(frozen=True)
class ColorBar:
    """The scalar colour bar: title, range (vmin, vmax), colour map and marked values
    (value, label), e.g. the site's pain threshold."""

    title: str
    vmin: float
    vmax: float
    cmap: str = PRESSURE_CMAP
    marks: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Camera:
    """Perspective camera (mm): position, focal point, view-up, view angle (deg)."""

    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    view_up: tuple[float, float, float]
    view_angle_deg: float = VIEW_ANGLE_DEG


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything a renderer draws; see the module docstring."""

    title: str
    meshes: tuple[SceneMesh, ...]
    camera: Camera
    lines: tuple[SceneLines, ...] = ()
    labels: tuple[SceneLabel, ...] = ()
    colorbar: ColorBar | None = None
    notes: tuple[str, ...] = field(default=())

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        pts = np.concatenate([m.points for m in self.meshes])
        return pts.min(axis=0), pts.max(axis=0)


def _tube(points: np.ndarray, radius: float, sides: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh (points, faces) of a tube of ``radius`` (mm) around a polyline, with
    rotation-minimising frames (double reflection) so it does not twist."""
    p = np.asarray(points, dtype=float)
    keep = np.ones(len(p), bool)
    keep[1:] = np.linalg.norm(np.diff(p, axis=0), axis=1) > 1e-9
    p = p[keep]
    if len(p) < 2:
        raise IastmError("tube: a polyline needs two distinct points")
    t = np.gradient(p, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    a = np.cross(t[0], [0.0, 0.0, 1.0])
    if np.linalg.norm(a) < 1e-6:
        a = np.cross(t[0], [1.0, 0.0, 0.0])
    r = [a / np.linalg.norm(a)]
    for i in range(len(p) - 1):
        v1 = p[i + 1] - p[i]
        c1 = v1 @ v1
        rl = r[-1] - (2.0 / c1) * (v1 @ r[-1]) * v1
        tl = t[i] - (2.0 / c1) * (v1 @ t[i]) * v1
        v2 = t[i + 1] - tl
        c2 = v2 @ v2
        rn = rl - (2.0 / c2) * (v2 @ rl) * v2 if c2 > 1e-18 else rl
        r.append(rn / np.linalg.norm(rn))
    r = np.array(r)
    s = np.cross(t, r)
    ang = np.linspace(0.0, 2.0 * math.pi, sides, endpoint=False)
    ring = (np.cos(ang)[None, :, None] * r[:, None, :]
            + np.sin(ang)[None, :, None] * s[:, None, :])
    verts = (p[:, None, :] + radius * ring).reshape(-1, 3)
    n = len(p)
    i = np.arange(n - 1)[:, None]
    k = np.arange(sides)[None, :]
    a0 = i * sides + k
    a1 = i * sides + (k + 1) % sides
    b0 = a0 + sides
    b1 = a1 + sides
    faces = np.concatenate([np.stack([a0, b0, a1], -1).reshape(-1, 3),
                            np.stack([a1, b0, b1], -1).reshape(-1, 3)])
    # end caps (fans about the end centres)
    c0, c1 = len(verts), len(verts) + 1
    verts = np.vstack([verts, p[0], p[-1]])
    ks = np.arange(sides)
    cap0 = np.column_stack([np.full(sides, c0), (ks + 1) % sides, ks])
    cap1 = np.column_stack([np.full(sides, c1), (n - 1) * sides + ks,
                            (n - 1) * sides + (ks + 1) % sides])
    return verts, np.vstack([faces, cap0, cap1]).astype(np.int64)


def _transform(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=float) @ m[:3, :3].T + m[:3, 3]


_TOOL_MESHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tool_mesh(tool: Tool, tolerance_mm: float = PREVIEW_MESH_TOLERANCE_MM,
              angular_tolerance_deg: float = PREVIEW_MESH_ANGULAR_DEG
              ) -> tuple[np.ndarray, np.ndarray]:
    """(points, faces) of the tool solid tessellated for display (tool model coordinates,
    mm), cached per tool object and tolerance."""
    per_tool = _TOOL_MESHES.setdefault(tool, {})
    key = (float(tolerance_mm), float(angular_tolerance_deg))
    if key not in per_tool:
        from .export import mesh_solid

        m = mesh_solid(tool.solid, *key)
        per_tool[key] = (np.asarray(m.vertices, dtype=float),
                         np.asarray(m.faces, dtype=np.int64))
    return per_tool[key]


def _edge_meshes(tool: Tool, m: np.ndarray, radius_mm: float, fitted: str | None,
                 label_offset_mm: float) -> tuple[list[SceneMesh], list[SceneLabel]]:
    """Tubes along every working edge and a label beside each (transformed by ``m``)."""
    meshes, labels = [], []
    for c in tool.contours:
        pts = _transform(c.points_mm, m)
        v, f = _tube(pts, radius_mm)
        hit = c.name == fitted
        meshes.append(SceneMesh(f"edge: {c.name}", v, f,
                                FITTED_EDGE_RGB if hit else EDGE_RGB))
        mid = len(c.points_mm) // 2
        nrm = m[:3, :3] @ np.asarray(c.normals[mid], dtype=float)
        anchor = pts[mid] + label_offset_mm * nrm
        text = f"{c.name} (fitted)" if hit else c.name
        labels.append(SceneLabel(tuple(float(x) for x in anchor), text,
                                 FITTED_EDGE_RGB if hit else (0.55, 0.3, 0.0)))
    return meshes, labels


def tool_scene(tool: Tool, *, coarse: bool = False) -> Scene:
    """The tool alone (model coordinates): steel solid, working edges highlighted and
    labelled, seen obliquely from above its top face. ``coarse``: the lighter mesh used
    for HTML pages."""
    pts, faces = tool_mesh(tool, *_mesh_tolerance(coarse))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = float(np.linalg.norm(hi - lo))
    edges, labels = _edge_meshes(tool, np.eye(4), max(0.25, 0.004 * size), None,
                                 0.04 * size)
    centre = 0.5 * (lo + hi)
    dist = 0.8 * size / (2.0 * math.tan(math.radians(VIEW_ANGLE_DEG / 2.0)))
    view = np.array([0.25, -0.55, 0.8])
    view /= np.linalg.norm(view)
    cam = Camera(tuple(centre + dist * view), tuple(centre), (0.0, 0.0, 1.0))
    return Scene(f"{tool.name} rev {tool.profile.revision}",
                 (SceneMesh("tool", pts, faces, STEEL_RGB), *edges), cam,
                 labels=tuple(labels))


def _mesh_tolerance(coarse: bool) -> tuple[float, float]:
    if coarse:
        return HTML_MESH_TOLERANCE_MM, HTML_MESH_ANGULAR_DEG
    return PREVIEW_MESH_TOLERANCE_MM, PREVIEW_MESH_ANGULAR_DEG


def _pick(result: FitResult, contour: str | int | None) -> ContourFit:
    if contour is None:
        return result.best
    for c in result.contours:
        if contour in (c.contour, c.rank):
            return c
    names = ", ".join(c.contour for c in result.contours)
    raise IastmError(f"{result.tool}: no fitted edge {contour!r}; available: {names}")


def _heatmap(cf: ContourFit, normal: np.ndarray, max_nodes: int | None = None
             ) -> tuple[SceneMesh, SceneLines | None, np.ndarray]:
    """The pressure field on the undeformed skin as a triangle mesh over the loaded grid
    cells (lifted :data:`HEATMAP_LIFT_MM` along the site normal), its PPT iso-line, and the
    pressure-weighted centroid of the contact (mm)."""
    pts = np.asarray(cf.skin_points_mm(), dtype=float)
    p = np.asarray(cf.contact.pressure_kpa, dtype=float)
    loaded = p > 0
    if not loaded.any():
        raise IastmError(f"contour {cf.contour}: no contact pressure to show")
    ii, jj = np.nonzero(loaded)
    i0, i1 = max(ii.min() - 2, 0), min(ii.max() + 3, p.shape[0])
    j0, j1 = max(jj.min() - 2, 0), min(jj.max() + 3, p.shape[1])
    si = sj = 1
    if max_nodes:
        si = max(1, math.ceil((i1 - i0) / max_nodes))
        sj = max(1, math.ceil((j1 - j0) / max_nodes))
    sub_p = p[i0:i1:si, j0:j1:sj]
    sub = pts[i0:i1:si, j0:j1:sj] + HEATMAP_LIFT_MM * normal
    ok = np.isfinite(sub).all(axis=-1)
    nx, ny = sub_p.shape
    idx = np.arange(nx * ny).reshape(nx, ny)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
    fp = sub_p.reshape(-1)
    fok = ok.reshape(-1)
    quad_loaded = (fp[a] > 0) | (fp[b] > 0) | (fp[c] > 0) | (fp[d] > 0)
    quad_ok = fok[a] & fok[b] & fok[c] & fok[d] & quad_loaded
    tris = np.concatenate([np.stack([a, b, c], -1)[quad_ok], np.stack([b, d, c], -1)[quad_ok]])
    used = np.unique(tris)
    remap = np.full(nx * ny, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    flat = sub.reshape(-1, 3)
    mesh = SceneMesh("pressure", flat[used], remap[tris], scalars=fp[used], smooth=False)
    w = p[loaded]
    centroid = (pts[loaded] * w[:, None]).sum(axis=0) / w.sum()
    if not np.isfinite(centroid).all():
        centroid = np.nanmean(pts[loaded], axis=0)
    iso = None
    if cf.ppt_kpa and float(sub_p.max()) > cf.ppt_kpa and min(nx, ny) >= 2:
        import contourpy

        gen = contourpy.contour_generator(z=sub_p, line_type="Separate")
        lines = []
        for seg in gen.lines(cf.ppt_kpa):
            u, v = seg[:, 1], seg[:, 0]  # contourpy x = column (j), y = row (i)
            iu = np.clip(np.floor(u).astype(int), 0, nx - 2)
            iv = np.clip(np.floor(v).astype(int), 0, ny - 2)
            fu, fv = (u - iu)[:, None], (v - iv)[:, None]
            q = ((1 - fu) * (1 - fv) * sub[iu, iv] + fu * (1 - fv) * sub[iu + 1, iv]
                 + (1 - fu) * fv * sub[iu, iv + 1] + fu * fv * sub[iu + 1, iv + 1])
            q = q + HEATMAP_LIFT_MM * normal
            if np.isfinite(q).all() and len(q) >= 2:
                lines.append(q)
        if lines:
            iso = SceneLines("PPT iso-line", tuple(lines), PPT_LINE_RGB)
    return mesh, iso, centroid


def _body_patch(body, site, centre: np.ndarray, half_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The body surface inside a box of half-width ``half_mm`` (tangent directions) and
    depth ``half_mm`` below the skin plane around ``centre``: the connected piece that
    holds the skin point nearest ``centre`` (works for any tessellation)."""
    import trimesh

    n = np.asarray(site.normal, dtype=float)
    e1 = np.asarray(site.limb_axis, dtype=float)
    e2 = np.cross(n, e1)
    mesh = body.mesh
    planes = [(e1, centre - half_mm * e1), (-e1, centre + half_mm * e1),
              (e2, centre - half_mm * e2), (-e2, centre + half_mm * e2),
              (n, centre - half_mm * n)]
    for normal, origin in planes:
        mesh = trimesh.intersections.slice_mesh_plane(mesh, normal, origin, cap=False)
        if len(mesh.faces) == 0:
            raise IastmError(f"body {body.name}: no surface within {half_mm:g} mm of the "
                             f"site {site.name}")
    mesh.merge_vertices()
    parts = mesh.split(only_watertight=False)
    if len(parts) > 1:
        dist = [float(np.min(np.linalg.norm(pp.vertices - centre, axis=1))) for pp in parts]
        mesh = parts[int(np.argmin(dist))]
    return np.asarray(mesh.vertices, dtype=float), np.asarray(mesh.faces, dtype=np.int64)


def fit_scene(result: FitResult, contour: str | int | None = None, *,
              tool: Tool | None = None, body: Any = None, tool_pose: str = "touching",
              patch_half_mm: float | None = None, max_heatmap_nodes: int | None = None,
              coarse: bool = False) -> Scene:
    """The tool in the best-fit pose of one edge (default: the best edge) on the body,
    with the pressure heat map on the skin, the PPT marked and every working edge
    highlighted and labelled.

    tool_pose: "touching" draws the tool raised by the approach so that its edge rests on
    the undeformed skin (legible; the approach is in the tables), "loaded" draws it where
    the contact model puts it, ``approach_mm`` into the undeformed skin.
    tool / body: override ``result.tool_object`` / ``result.body_object`` (needed for
    results that do not carry them). patch_half_mm: half-width of the body patch shown
    (default: from the tool size). max_heatmap_nodes: stride the heat map beyond this many
    nodes per axis; coarse: lighter tool mesh (both for HTML pages).
    """
    from .fit import SiteFrame

    tool = tool if tool is not None else getattr(result, "tool_object", None)
    body = body if body is not None else getattr(result, "body_object", None)
    if tool is None or body is None:
        raise IastmError(f"{result.tool} on {result.site}: the preview needs the Tool and "
                         "Body the fit used (pass tool= and body=)")
    if tool_pose not in ("touching", "loaded"):
        raise IastmError(f"tool_pose must be 'touching' or 'loaded' (got {tool_pose!r})")
    cf = _pick(result, contour)
    if cf.contact is None:
        raise IastmError(f"contour {cf.contour}: no pressure field (a fit loaded from JSON); "
                         "re-run the fit to preview it")
    site = body.site(result.site)
    frame = SiteFrame.from_site(site, cf.pose.position_mm)
    normal = frame.normal
    m = np.asarray(cf.tool_transform(), dtype=float)
    if tool_pose == "touching":
        lift = np.eye(4)
        lift[:3, 3] = cf.approach_mm * normal
        m = lift @ m
    tpts, tfaces = tool_mesh(tool, *_mesh_tolerance(coarse))
    tool_body = _transform(tpts, m)
    size = float(np.linalg.norm(tpts.max(axis=0) - tpts.min(axis=0)))
    heat, iso, centroid = _heatmap(cf, normal, max_heatmap_nodes)
    half = patch_half_mm if patch_half_mm else max(40.0, 0.65 * size)
    bpts, bfaces = _body_patch(body, site, centroid, half)
    if coarse and len(bfaces) > HTML_MAX_BODY_FACES:
        import fast_simplification

        bpts, bfaces = fast_simplification.simplify(
            np.ascontiguousarray(bpts, dtype=np.float32), bfaces.astype(np.int64),
            target_reduction=1.0 - HTML_MAX_BODY_FACES / len(bfaces))
        bpts, bfaces = np.asarray(bpts, dtype=float), np.asarray(bfaces, dtype=np.int64)
    edges, labels = _edge_meshes(tool, m, max(0.12, 0.0015 * size), cf.contour, 0.03 * size)
    # camera: on the side the plate does not lean to, 60 deg above the skin and a little
    # along the edge for depth, framing the edge and the contact; the tool is drawn
    # translucent because the contact usually lies under it (a bevel face, a tilted plate)
    x_axis, y_axis = frame.edge_axes(cf.pose.rotation_deg)
    s = 1.0 if cf.pose.skin_face == "bottom" else -1.0
    view = (s * math.cos(math.radians(60.0)) * x_axis + math.sin(math.radians(60.0)) * normal
            + 0.25 * y_axis)
    view /= np.linalg.norm(view)
    span = max(cf.edge_length_mm, cf.contact_length_mm, 20.0) * 1.3
    dist = span / (2.0 * math.tan(math.radians(VIEW_ANGLE_DEG / 2.0)))
    cam = Camera(tuple(float(v) for v in centroid + dist * view),
                 tuple(float(v) for v in centroid), tuple(float(v) for v in normal))
    vmax = float(cf.contact.peak_pressure_kpa)
    marks: tuple[tuple[float, str], ...] = ()
    if cf.ppt_kpa:
        vmax = max(vmax, 1.1 * cf.ppt_kpa)
        marks = ((float(cf.ppt_kpa), f"PPT {cf.ppt_kpa:.0f}"),)
    bar = ColorBar("pressure (kPa)", 0.0, vmax, PRESSURE_CMAP, marks)
    notes = (f"{result.tool} / {cf.contour} on {result.body}:{result.site}, "
             f"{result.force_n:g} N, tilt {cf.pose.tilt_deg:.1f} deg, rotation "
             f"{cf.pose.rotation_deg:.1f} deg, {cf.pose.skin_face} face; peak "
             f"{cf.peak_pressure_kpa:.0f} kPa",)
    meshes = (SceneMesh("body", bpts, bfaces, SKIN_RGB),
              heat,
              SceneMesh("tool", tool_body, tfaces, STEEL_RGB, opacity=TOOL_OPACITY_ON_BODY),
              *edges)
    return Scene(f"{result.tool} on {result.site}: {cf.contour}", meshes, cam,
                 lines=(iso,) if iso is not None else (), labels=tuple(labels),
                 colorbar=bar, notes=notes)


# ------------------------------------------------------------------------------ pyvista


def has_display() -> bool:
    """True when an interactive window can open (an X/Wayland display, or macOS/Windows)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def ensure_offscreen() -> None:
    """Make VTK render off-screen through EGL when there is no display (see the module
    docstring). Must run before the first render window is created; harmless after."""
    if not has_display():
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def _polydata(m: SceneMesh) -> pv.PolyData:
    import pyvista as pv

    faces = np.hstack([np.full((len(m.faces), 1), 3, dtype=np.int64), m.faces]).ravel()
    poly = pv.PolyData(np.asarray(m.points, dtype=float), faces)
    if m.scalars is not None:
        poly.point_data["pressure (kPa)"] = np.asarray(m.scalars, dtype=float)
    return poly


def render(scene: Scene, *, off_screen: bool | None = None,
           window_size: tuple[int, int] = WINDOW_SIZE, plotter: Any = None,
           show_title: bool = True) -> pv.Plotter:
    """A pyvista Plotter holding ``scene`` (not shown yet: call ``.show()`` or
    :func:`screenshot`). ``off_screen`` defaults to True when there is no display."""
    if off_screen is None:
        off_screen = not has_display()
    if off_screen:
        ensure_offscreen()
    import pyvista as pv

    pl = plotter
    if pl is None:
        pl = pv.Plotter(off_screen=off_screen, window_size=list(window_size))
        pl.ren_win.SetMultiSamples(0)  # no MSAA: identical pixels on every run
    pl.set_background(BACKGROUND_RGB)
    bar = scene.colorbar
    for m in scene.meshes:
        poly = _polydata(m)
        if m.scalars is not None and bar is not None:
            pl.add_mesh(poly, scalars="pressure (kPa)", cmap=bar.cmap,
                        clim=(bar.vmin, bar.vmax), smooth_shading=False,
                        annotations={v: t for v, t in bar.marks} or None,
                        scalar_bar_args={"title": bar.title, "vertical": True,
                                         "position_x": 0.86, "position_y": 0.15,
                                         "height": 0.7, "width": 0.06, "fmt": "%.0f",
                                         "title_font_size": 14, "label_font_size": 12,
                                         "color": "black", "n_labels": 5},
                        name=m.name)
        else:
            pl.add_mesh(poly, color=m.color, opacity=m.opacity, smooth_shading=m.smooth,
                        split_sharp_edges=m.smooth, specular=0.3 if m.name == "tool" else 0.0,
                        name=m.name)
    for ln in scene.lines:
        for k, seg in enumerate(ln.polylines):
            pl.add_mesh(pv.lines_from_points(np.asarray(seg, dtype=float)), color=ln.color,
                        line_width=ln.width_px, name=f"{ln.name} {k}")
    if scene.labels:
        pl.add_point_labels(np.array([lb.point for lb in scene.labels]),
                            [lb.text for lb in scene.labels], font_size=14,
                            text_color="black", shape_color="white", shape_opacity=0.7,
                            point_size=1, show_points=False, always_visible=True,
                            name="labels")
    if show_title and scene.title:
        pl.add_text(scene.title, position="upper_left", font_size=10, color="black",
                    name="title")
    cam = scene.camera
    pl.camera.position = cam.position
    pl.camera.focal_point = cam.focal_point
    pl.camera.up = cam.view_up
    pl.camera.view_angle = cam.view_angle_deg
    pl.reset_camera_clipping_range()
    return pl


def screenshot(scene: Scene, path: str | Path | None = None, *,
               window_size: tuple[int, int] = WINDOW_SIZE, force: bool = False,
               show_title: bool = True) -> np.ndarray:
    """Render ``scene`` off-screen (no display needed) and return the RGB image
    (height, width, 3) uint8; also written atomically as PNG to ``path`` if given."""
    if path is not None and Path(path).exists() and not force:
        from .errors import OutputExistsError

        raise OutputExistsError(f"{path}: exists; pass --force (force=True) to overwrite")
    pl = render(scene, off_screen=True, window_size=window_size, show_title=show_title)
    try:
        img = np.asarray(pl.screenshot(None, return_img=True))[..., :3].copy()
    finally:
        pl.close()
    if path is not None:
        write_atomic(Path(path), lambda tmp: _write_png(img, tmp), force=force)
    return img


def _write_png(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(img)).save(path, format="PNG")


def image_bytes(img: np.ndarray, fmt: str = "png", quality: int = 85) -> bytes:
    """An RGB image as PNG (lossless) or JPEG (``quality``; 5-10x smaller for scenes)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    if fmt == "jpeg":
        Image.fromarray(np.ascontiguousarray(img)).save(buf, format="JPEG", quality=quality,
                                                        optimize=True)
    else:
        Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
    return buf.getvalue()


def _finish(scene: Scene, show: bool, screenshot_path: str | Path | None,
            off_screen: bool | None, window_size: tuple[int, int], force: bool,
            jupyter_backend: str | None) -> Any:
    if screenshot_path is not None:
        return screenshot(scene, screenshot_path, window_size=window_size, force=force)
    pl = render(scene, off_screen=off_screen, window_size=window_size)
    if not show:
        return pl
    if pl.off_screen and not _in_notebook():
        pl.close()
        raise IastmError("no display for an interactive window; pass screenshot=PATH "
                         "(CLI: --screenshot out.png) to render off-screen")
    return pl.show(jupyter_backend=jupyter_backend)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def plot_tool(tool: Tool, *, show: bool = True, screenshot: str | Path | None = None,
              off_screen: bool | None = None, window_size: tuple[int, int] = WINDOW_SIZE,
              force: bool = False, jupyter_backend: str | None = None) -> Any:
    """Show the tool with its working edges highlighted and labelled.

    screenshot: render off-screen to this PNG and return the image (no display needed).
    show=False returns the pyvista Plotter (to add to it); otherwise the window opens (or
    the scene shows inline in Jupyter, ``jupyter_backend`` as pyvista's).
    """
    return _finish(tool_scene(tool), show, screenshot, off_screen, window_size, force,
                   jupyter_backend)


def plot_fit(result: FitResult, contour: str | int | None = None, *, show: bool = True,
             screenshot: str | Path | None = None, off_screen: bool | None = None,
             window_size: tuple[int, int] = WINDOW_SIZE, force: bool = False,
             jupyter_backend: str | None = None, **scene_kw: Any) -> Any:
    """Show the tool in its best-fit pose on the body with the pressure heat map (see
    :func:`fit_scene` for ``contour`` and ``scene_kw``; the rest as :func:`plot_tool`)."""
    return _finish(fit_scene(result, contour, **scene_kw), show, screenshot, off_screen,
                   window_size, force, jupyter_backend)


# ------------------------------------------------------------------------------ HTML


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")


def _colormap_rgb(cmap: str, values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    from matplotlib import colormaps

    t = np.clip((np.asarray(values, dtype=float) - vmin) / max(vmax - vmin, 1e-300), 0, 1)
    return colormaps[cmap](t)[:, :3]


def _vertex_normals(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    fn = np.cross(points[faces[:, 1]] - points[faces[:, 0]],
                  points[faces[:, 2]] - points[faces[:, 0]])
    vn = np.zeros_like(points)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    length = np.linalg.norm(vn, axis=1, keepdims=True)
    return vn / np.where(length > 0, length, 1.0)


def _flat(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Un-shared vertices per face (for flat shading of sharp-edged solids)."""
    p = points[faces].reshape(-1, 3)
    return p, np.arange(len(p), dtype=np.int64).reshape(-1, 3)


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(255 * min(max(c, 0.0), 1.0)):02x}" for c in rgb)


def scene_data(scene: Scene) -> dict[str, Any]:
    """The scene as JSON-ready data for the WebGL viewer: per mesh base64 float32
    positions (relative to the scene centre) and normals, uint8 RGB colours, uint32
    triangle indices; lines as segment pairs; labels; camera; colour bar."""
    lo, hi = scene.bounds()
    centre = 0.5 * (lo + hi)
    bar = scene.colorbar
    meshes = []
    for m in scene.meshes:
        pts = np.asarray(m.points, dtype=float)
        faces = np.asarray(m.faces, dtype=np.int64)
        per_vertex = m.scalars is not None and bar is not None
        if per_vertex:
            rgb = _colormap_rgb(bar.cmap, m.scalars, bar.vmin, bar.vmax)
        else:
            rgb = np.zeros((len(pts), 3))
        if m.name == "tool":
            # sharp edges of the solid: split where faces meet at > 30 deg
            pts, faces, rgb = _split_sharp(pts, faces, rgb, 30.0)
        normals = _vertex_normals(pts, faces)
        entry: dict[str, Any] = {
            "name": m.name,
            "p": _b64((pts - centre).astype("<f4")),
            "n": _b64(np.round(127 * normals).astype(np.int8)),
            "i": _b64(faces.astype("<u2" if len(pts) < 65536 else "<u4")),
            "wide": len(pts) >= 65536,
            "opacity": float(m.opacity),
        }
        if per_vertex:
            entry["c"] = _b64(np.round(255 * rgb).astype(np.uint8))
        else:
            entry["rgb"] = [round(255 * float(c)) for c in m.color]
        meshes.append(entry)
    lines = []
    for ln in scene.lines:
        segs = np.concatenate([np.stack([s[:-1], s[1:]], axis=1).reshape(-1, 3)
                               for s in ln.polylines])
        lines.append({"name": ln.name, "p": _b64((segs - centre).astype("<f4")),
                      "color": _hex(ln.color)})
    cam = scene.camera
    out: dict[str, Any] = {
        "title": scene.title,
        "meshes": meshes,
        "lines": lines,
        "labels": [{"p": [float(v) for v in np.asarray(lb.point) - centre], "t": lb.text,
                    "c": _hex(lb.color)} for lb in scene.labels],
        "camera": {"position": [float(v) for v in np.asarray(cam.position) - centre],
                   "focal": [float(v) for v in np.asarray(cam.focal_point) - centre],
                   "up": [float(v) for v in cam.view_up],
                   "viewAngle": float(cam.view_angle_deg)},
        "background": _hex(BACKGROUND_RGB),
    }
    return out


def _split_sharp(points: np.ndarray, faces: np.ndarray, rgb: np.ndarray,
                 angle_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Duplicate vertices along edges sharper than ``angle_deg`` so that smooth vertex
    normals do not blur the flat faces and crisp edges of the machined solid."""
    import trimesh

    if len(faces) == 0:
        return points, faces, rgb
    tm = trimesh.Trimesh(points, faces, process=False)
    try:
        smooth = trimesh.graph.smooth_shade(tm, angle=math.radians(angle_deg))
    except Exception:  # a degenerate mesh: fall back to flat shading
        p, f = _flat(points, faces)
        return p, f, rgb[faces].reshape(-1, 3)
    # map new vertices back to the nearest old vertex for colour (positions are copies)
    from scipy.spatial import cKDTree

    _, idx = cKDTree(points).query(np.asarray(smooth.vertices))
    return np.asarray(smooth.vertices, dtype=float), np.asarray(smooth.faces), rgb[idx]


def _colorbar_html(bar: ColorBar) -> str:
    stops = np.linspace(0.0, 1.0, 11)
    cols = _colormap_rgb(bar.cmap, bar.vmin + stops * (bar.vmax - bar.vmin), bar.vmin,
                         bar.vmax)
    grad = ", ".join(f"{_hex(c)} {100 * s:.0f}%" for c, s in zip(cols, stops, strict=True))
    ticks = "".join(
        f'<span class="cb-tick" style="bottom:{100 * f:.1f}%">'
        f"{bar.vmin + f * (bar.vmax - bar.vmin):.0f}</span>"
        for f in (0.0, 0.25, 0.5, 0.75, 1.0))
    marks = "".join(
        f'<span class="cb-mark" style="bottom:{100 * (v - bar.vmin) / (bar.vmax - bar.vmin):.1f}%"'
        f">{html.escape(t)}</span>" for v, t in bar.marks if bar.vmin <= v <= bar.vmax)
    return (f'<div class="cb"><div class="cb-title">{html.escape(bar.title)}</div>'
            f'<div class="cb-bar" style="background:linear-gradient(to top, {grad})">'
            f"{ticks}{marks}</div></div>")


def scene_html_fragment(scene: Scene, element_id: str, *, fallback_png: bytes | None = None,
                        fallback_mime: str = "image/png", height_px: int = 460) -> str:
    """A ``<div class="scene3d">`` holding the scene data; the page must include
    :data:`VIEWER_CSS` and :data:`VIEWER_JS` once (see :func:`scene_html_page`)."""
    data = json.dumps(scene_data(scene), separators=(",", ":"))
    data = data.replace("</", "<\\/")
    fallback = ""
    if fallback_png is not None:
        src = f"data:{fallback_mime};base64," + base64.b64encode(fallback_png).decode("ascii")
        fallback = (f'<img class="scene-fallback" alt="{html.escape(scene.title)}" '
                    f'src="{src}">')
    bar = _colorbar_html(scene.colorbar) if scene.colorbar is not None else ""
    return (f'<div class="scene3d" id="{html.escape(element_id)}" data-state="loading" '
            f'style="height:{int(height_px)}px">'
            f'<canvas aria-label="{html.escape(scene.title)} (drag to rotate, wheel to '
            'zoom, shift-drag to pan, double-click to reset)"></canvas>'
            f'<div class="scene-labels"></div>{bar}{fallback}'
            '<div class="scene-help">drag: rotate &middot; wheel: zoom &middot; '
            'shift-drag: pan &middot; double-click: reset</div>'
            f'<script type="application/json" class="scene-data">{data}</script></div>')


def scene_html_page(scene: Scene, *, fallback_png: bytes | None = None) -> str:
    """A standalone offline HTML page with the interactive scene."""
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<link rel=\"icon\" href=\"data:,\">"
            f"<title>{html.escape(scene.title)}</title><style>body{{margin:0;"
            f"font-family:system-ui,sans-serif}}{VIEWER_CSS}</style></head><body>"
            + scene_html_fragment(scene, "scene-0", fallback_png=fallback_png,
                                  height_px=720)
            + f"<script>{VIEWER_JS}</script></body></html>\n")


def export_html(scene: Scene, path: str | Path, *, force: bool = False) -> Path:
    """Write :func:`scene_html_page` atomically to ``path``."""
    return write_text_atomic(Path(path), scene_html_page(scene), force=force)


#: Styles of the WebGL viewer (scene container, labels, colour bar).
VIEWER_CSS = """
.scene3d{position:relative;width:100%;background:#fff;border:1px solid #d7dce2;
border-radius:6px;overflow:hidden;touch-action:none}
.scene3d canvas{width:100%;height:100%;display:block;cursor:grab}
.scene3d canvas:active{cursor:grabbing}
.scene-labels{position:absolute;inset:0;pointer-events:none;overflow:hidden}
.scene-label{position:absolute;transform:translate(-50%,-120%);font:12px system-ui,sans-serif;
background:rgba(255,255,255,.8);border-radius:3px;padding:1px 4px;white-space:nowrap;
border:1px solid rgba(0,0,0,.12)}
.scene-help{position:absolute;left:8px;bottom:6px;font:11px system-ui,sans-serif;color:#778}
.scene-fallback{display:none;position:absolute;inset:0;width:100%;height:100%;
object-fit:contain;background:#fff}
.scene3d:not([data-state=live]) .scene-fallback{display:block}
.cb{position:absolute;right:10px;top:14%;height:68%;width:70px;font:11px system-ui,sans-serif;
pointer-events:none}
.cb-title{position:absolute;top:-22px;right:0;white-space:nowrap;font-weight:600}
.cb-bar{position:absolute;left:0;top:0;bottom:0;width:16px;border:1px solid #999}
.cb-tick{position:absolute;left:20px;transform:translateY(50%);color:#333}
.cb-mark{position:absolute;left:-4px;width:24px;border-top:2px solid #00b8d4;
transform:translateY(1px);color:#007c8a;font-weight:600;padding-left:26px;line-height:0;
white-space:nowrap}
"""

#: The WebGL viewer (no dependencies): reads every ``.scene3d`` element's JSON, draws
#: Lambert-shaded triangles with a head light, thin lines and HTML labels; orbit, zoom
#: and pan with pointer and wheel. A scene gets its WebGL context when it scrolls into
#: view (at most 8 live, least recently activated released first); ``data-state`` is
#: idle | live | no-webgl and the static fallback image shows unless live.
#: ``window.iastmScenes`` lists one record per scene (tests read it).
VIEWER_JS = r"""
(function () {
  "use strict";
  window.iastmScenes = window.iastmScenes || [];
  function b64(s, T) {
    var bin = atob(s), n = bin.length, buf = new Uint8Array(n);
    for (var i = 0; i < n; i++) buf[i] = bin.charCodeAt(i);
    return new T(buf.buffer);
  }
  function sub(a, b) { return [a[0] - b[0], a[1] - b[1], a[2] - b[2]]; }
  function add(a, b) { return [a[0] + b[0], a[1] + b[1], a[2] + b[2]]; }
  function mul(a, s) { return [a[0] * s, a[1] * s, a[2] * s]; }
  function dot(a, b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
  function cross(a, b) {
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  }
  function norm(a) { var l = Math.sqrt(dot(a, a)) || 1; return mul(a, 1 / l); }
  function rot(v, axis, ang) {  // Rodrigues
    var k = norm(axis), c = Math.cos(ang), s = Math.sin(ang);
    return add(add(mul(v, c), mul(cross(k, v), s)), mul(k, dot(k, v) * (1 - c)));
  }
  function lookAt(eye, at, up) {
    var z = norm(sub(eye, at)), x = norm(cross(up, z)), y = cross(z, x);
    return [x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0,
            -dot(x, eye), -dot(y, eye), -dot(z, eye), 1];
  }
  function persp(fovy, aspect, near, far) {
    var f = 1 / Math.tan(fovy / 2), nf = 1 / (near - far);
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1,
            0, 0, 2 * far * near * nf, 0];
  }
  function mmul(a, b) {  // column-major 4x4: a * b
    var o = new Array(16);
    for (var c = 0; c < 4; c++) for (var r = 0; r < 4; r++) {
      var s = 0;
      for (var k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
      o[c * 4 + r] = s;
    }
    return o;
  }
  var VS = "attribute vec3 p; attribute vec3 n; attribute vec3 c; uniform mat4 mvp;" +
    "uniform mat4 mv; varying vec3 vc; varying vec3 vn; void main(){" +
    "gl_Position = mvp * vec4(p, 1.0); vn = (mv * vec4(n, 0.0)).xyz; vc = c; }";
  var FS = "precision mediump float; varying vec3 vc; varying vec3 vn; uniform float a;" +
    "uniform float lit; void main(){ vec3 nn = normalize(vn); float d = abs(nn.z);" +
    "float s = pow(d, 24.0) * 0.25 * lit;" +
    "vec3 col = vc * ((1.0 - lit) + lit * (0.38 + 0.62 * d)) + s;" +
    "gl_FragColor = vec4(col, a); }";
  function shader(gl, type, src) {
    var s = gl.createShader(type);
    gl.shaderSource(s, src); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }
  function Viewer(self) {
    var el = self.el;
    var data = JSON.parse(el.querySelector("script.scene-data").textContent);
    var canvas = el.querySelector("canvas"), labelsEl = el.querySelector(".scene-labels");
    var opts = {antialias: true, preserveDrawingBuffer: true, alpha: false};
    var gl = canvas.getContext("webgl", opts) || canvas.getContext("experimental-webgl", opts);
    var wide = data.meshes.some(function (m) { return m.wide; });
    if (!gl || (wide && !gl.getExtension("OES_element_index_uint"))) {
      self.failed = true;
      el.setAttribute("data-state", "no-webgl");
      console.warn("iastm scene " + el.id + ": WebGL not available, showing the image");
      return;
    }
    self.triangles = 0;
    var prog = gl.createProgram();
    gl.attachShader(prog, shader(gl, gl.VERTEX_SHADER, VS));
    gl.attachShader(prog, shader(gl, gl.FRAGMENT_SHADER, FS));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    var loc = {p: gl.getAttribLocation(prog, "p"), n: gl.getAttribLocation(prog, "n"),
               c: gl.getAttribLocation(prog, "c"), mvp: gl.getUniformLocation(prog, "mvp"),
               mv: gl.getUniformLocation(prog, "mv"), a: gl.getUniformLocation(prog, "a"),
               lit: gl.getUniformLocation(prog, "lit")};
    function buf(arr, target) {
      var b = gl.createBuffer();
      gl.bindBuffer(target || gl.ARRAY_BUFFER, b);
      gl.bufferData(target || gl.ARRAY_BUFFER, arr, gl.STATIC_DRAW);
      return b;
    }
    var radius = 1;
    var meshes = data.meshes.map(function (m) {
      var p = b64(m.p, Float32Array), idx = b64(m.i, m.wide ? Uint32Array : Uint16Array);
      for (var i = 0; i < p.length; i++) radius = Math.max(radius, Math.abs(p[i]));
      self.triangles += idx.length / 3;
      var c;
      if (m.c) c = b64(m.c, Uint8Array);
      else {
        c = new Uint8Array(p.length);
        for (var k = 0; k < p.length; k += 3) c.set(m.rgb, k);
      }
      return {p: buf(p), n: buf(b64(m.n, Int8Array)), c: buf(c),
              i: buf(idx, gl.ELEMENT_ARRAY_BUFFER), count: idx.length, opacity: m.opacity,
              type: m.wide ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT};
    });
    var lines = data.lines.map(function (l) {
      var p = b64(l.p, Float32Array), n = p.length / 3;
      var col = [1, 3, 5].map(function (k) { return parseInt(l.color.substr(k, 2), 16); });
      var cs = new Uint8Array(n * 3), ns = new Int8Array(n * 3);
      for (var i = 0; i < n; i++) { cs.set(col, 3 * i); ns[3 * i + 2] = 127; }
      return {p: buf(p), n: buf(ns), c: buf(cs), count: n};
    });
    var labels = data.labels.map(function (lb) {
      var d = document.createElement("div");
      d.className = "scene-label"; d.textContent = lb.t; d.style.color = lb.c;
      labelsEl.appendChild(d);
      return {p: lb.p, el: d};
    });
    var cam0 = data.camera, cam = null;
    function reset() {
      cam = {eye: cam0.position.slice(), at: cam0.focal.slice(), up: norm(cam0.up)};
      var v = sub(cam.eye, cam.at);
      cam.up = norm(cross(cross(v, cam.up), v));
    }
    reset();
    var bg = [1, 3, 5].map(function (k) {
      return parseInt(data.background.substr(k, 2), 16) / 255;
    });
    var pending = false;
    function draw() {
      pending = false;
      var w = Math.max(1, Math.round(canvas.clientWidth * (window.devicePixelRatio || 1)));
      var h = Math.max(1, Math.round(canvas.clientHeight * (window.devicePixelRatio || 1)));
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      gl.viewport(0, 0, w, h);
      gl.clearColor(bg[0], bg[1], bg[2], 1);
      gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      gl.enable(gl.DEPTH_TEST);
      gl.useProgram(prog);
      var dist = Math.sqrt(dot(sub(cam.eye, cam.at), sub(cam.eye, cam.at)));
      var near = Math.max(dist - 2 * radius, dist * 0.01), far = dist + 2 * radius;
      var view = lookAt(cam.eye, cam.at, cam.up);
      var proj = persp(cam0.viewAngle * Math.PI / 180, w / h, near, far);
      var mvp = mmul(proj, view);
      gl.uniformMatrix4fv(loc.mvp, false, new Float32Array(mvp));
      gl.uniformMatrix4fv(loc.mv, false, new Float32Array(view));
      function bind(o) {
        gl.bindBuffer(gl.ARRAY_BUFFER, o.p); gl.enableVertexAttribArray(loc.p);
        gl.vertexAttribPointer(loc.p, 3, gl.FLOAT, false, 0, 0);
        gl.bindBuffer(gl.ARRAY_BUFFER, o.n); gl.enableVertexAttribArray(loc.n);
        gl.vertexAttribPointer(loc.n, 3, gl.BYTE, true, 0, 0);
        gl.bindBuffer(gl.ARRAY_BUFFER, o.c); gl.enableVertexAttribArray(loc.c);
        gl.vertexAttribPointer(loc.c, 3, gl.UNSIGNED_BYTE, true, 0, 0);
      }
      gl.uniform1f(loc.lit, 1.0);
      var order = meshes.filter(function (m) { return m.opacity >= 1; })
        .concat(meshes.filter(function (m) { return m.opacity < 1; }));
      order.forEach(function (m) {
        if (m.opacity < 1) {
          gl.enable(gl.BLEND); gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
          gl.depthMask(false);
        }
        gl.uniform1f(loc.a, m.opacity);
        bind(m);
        gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, m.i);
        gl.drawElements(gl.TRIANGLES, m.count, m.type, 0);
        gl.disable(gl.BLEND); gl.depthMask(true);
      });
      gl.uniform1f(loc.lit, 0.0); gl.uniform1f(loc.a, 1.0);
      lines.forEach(function (l) { bind(l); gl.drawArrays(gl.LINES, 0, l.count); });
      var cw = canvas.clientWidth, ch = canvas.clientHeight;
      labels.forEach(function (lb) {
        var p = lb.p, x = mvp[0] * p[0] + mvp[4] * p[1] + mvp[8] * p[2] + mvp[12];
        var y = mvp[1] * p[0] + mvp[5] * p[1] + mvp[9] * p[2] + mvp[13];
        var ww = mvp[3] * p[0] + mvp[7] * p[1] + mvp[11] * p[2] + mvp[15];
        if (ww <= 0) { lb.el.style.display = "none"; return; }
        lb.el.style.display = "";
        lb.el.style.left = ((x / ww + 1) / 2 * cw) + "px";
        lb.el.style.top = ((1 - y / ww) / 2 * ch) + "px";
      });
      self.frames += 1;
      self.ready = true;
    }
    function redraw() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
    self.redraw = redraw;
    var drag = null;
    canvas.addEventListener("pointerdown", function (e) {
      var k = live.indexOf(self);  // most recently used: released last
      if (k >= 0) { live.splice(k, 1); live.push(self); }
      drag = {x: e.clientX, y: e.clientY, pan: e.shiftKey || e.button === 2};
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener("pointerup", function () { drag = null; });
    canvas.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    canvas.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      drag.x = e.clientX; drag.y = e.clientY;
      var v = sub(cam.eye, cam.at), right = norm(cross(cam.up, v));
      if (drag.pan) {
        var s = Math.sqrt(dot(v, v)) * 2 * Math.tan(cam0.viewAngle * Math.PI / 360) /
          Math.max(canvas.clientHeight, 1);
        var shift = add(mul(right, -dx * s), mul(cam.up, dy * s));
        cam.at = add(cam.at, shift); cam.eye = add(cam.eye, shift);
      } else {
        v = rot(v, cam.up, -dx * 0.01);
        right = norm(cross(cam.up, v));
        var v2 = rot(v, right, -dy * 0.01);
        cam.up = norm(cross(v2, right));
        cam.eye = add(cam.at, v2);
      }
      redraw();
    });
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      var v = sub(cam.eye, cam.at);
      cam.eye = add(cam.at, mul(v, Math.exp(e.deltaY * 0.001)));
      redraw();
    }, {passive: false});
    canvas.addEventListener("dblclick", function () { reset(); redraw(); });
    window.addEventListener("resize", redraw);
    self.dispose = function () {  // free the WebGL context; a fresh canvas for later
      var ext = gl.getExtension("WEBGL_lose_context");
      if (ext) ext.loseContext();
      canvas.parentNode.replaceChild(canvas.cloneNode(false), canvas);
      labelsEl.innerHTML = "";
      window.removeEventListener("resize", redraw);
      self.live = false;
      el.setAttribute("data-state", "idle");
    };
    self.live = true;
    el.setAttribute("data-state", "live");
    draw();
  }
  // Browsers allow ~16 WebGL contexts per page: a scene gets its context when it scrolls
  // into view, and the least recently activated ones beyond MAX_LIVE give theirs back
  // (showing their static image) until they are seen again.
  var MAX_LIVE = 8, live = [];
  function activate(rec) {
    if (rec.live || rec.failed) return;
    try { Viewer(rec); }
    catch (err) {
      rec.failed = true;
      rec.el.setAttribute("data-state", "no-webgl");
      console.warn("iastm scene " + rec.id + ": " + err);
      return;
    }
    if (!rec.live) return;
    live.push(rec);
    while (live.length > MAX_LIVE) live.shift().dispose();
  }
  function init() {
    var els = document.querySelectorAll(".scene3d");
    var recs = [];
    for (var i = 0; i < els.length; i++) {
      var rec = {id: els[i].id, el: els[i], ready: false, live: false, failed: false,
                 frames: 0, triangles: 0};
      els[i].setAttribute("data-state", "idle");
      window.iastmScenes.push(rec);
      recs.push(rec);
    }
    if (!("IntersectionObserver" in window)) { recs.forEach(activate); return; }
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) activate(recs[Array.prototype.indexOf.call(els, e.target)]);
      });
    }, {rootMargin: "200px"});
    recs.forEach(function (r) { io.observe(r.el); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
"""
