"""Gap between a posed tool edge and the real body surface, on a grid in the edge frame.

Frames (mm, all right-handed):

* **site frame**: origin at the site landmark (plus ``position_mm`` offsets along the limb
  axis ``e1`` and across it ``e2 = n x e1``), ``n`` the outward skin normal of the site.
* **edge frame** of a pose: ``x`` = stroke direction in the skin tangent plane,
  ``x = cos(rot) e1 + sin(rot) e2`` (``rotation_deg`` = angle from the limb axis to the
  stroke, so 0 = stroke along the limb, the edge lying across it); ``y = n x x`` (along the
  edge); ``z = n`` (height above the tangent plane).
* **tool frame**: the contour's middle sample, with its tangent ``t0``, outward in-plate
  normal ``n0`` and the plate normal ``z0`` (``n0 x t0 = z0`` for a counter-clockwise
  outline).  A pose maps ``t0 -> y``, ``n0 -> (s cos(tilt), 0, -sin(tilt))`` and
  ``z0 -> (sin(tilt), 0, s cos(tilt))`` with ``s = +1`` when the plate's bottom face looks at
  the skin (``skin_face="bottom"``) and ``s = -1`` for the top face.  ``tilt_deg`` is the
  angle between the plate and the skin tangent plane (90 = plate upright).

The tool surface is the edge's exact finished section (``contour.section`` pieces: apex arc
and bevel faces, plate faces extended ``FACE_EXTENSION_MM`` inward) swept along the sampled
contour, triangulated, and z-buffered onto the grid (lowest tool point over every node,
float64, exact for the piecewise-linear sweep).  The skin height at every node comes from
ray casting the body mesh along ``-n`` (``Body.ray_cast``): the body's own curvature is
included, no paraboloid or quadric fit is used.  ``gap = tool height - skin height``
measured along ``n`` (a vertical gap; on skin sloping by s within the contact it differs
from the normal gap by a factor cos(s), e.g. 1 % at a slope of 8 deg).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..contours import Contour
from ..errors import IastmError

#: How far the plate faces are continued inward beyond the machined section (mm), so that
#: a low tilt sees the flat face next to the bevel. A modelling choice, not a constant.
FACE_EXTENSION_MM = 10.0
#: Height (mm) above the surface from which skin rays are cast.
RAY_HEIGHT_MM = 40.0
SKIN_FACES = ("bottom", "top")


class GridTooLargeError(IastmError):
    """The contact would need more grid nodes than allowed."""


@dataclass(frozen=True)
class Pose:
    """Where and how an edge is held on a site (degrees, mm).

    tilt_deg: angle between the plate and the skin tangent plane, 0-90 (90 = upright).
    rotation_deg: angle from the limb axis to the stroke direction (the edge lies across
        the stroke), any value; 0 = stroking along the limb.
    skin_face: the plate face on the skin side when tilted, "bottom" or "top".
    position_mm: offset of the contour's middle apex point from the site landmark along
        the limb axis and across it (mm).
    """

    tilt_deg: float
    rotation_deg: float
    skin_face: str = "bottom"
    position_mm: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tilt_deg", float(self.tilt_deg))
        object.__setattr__(self, "rotation_deg", float(self.rotation_deg))
        if not (math.isfinite(self.tilt_deg) and 0.0 <= self.tilt_deg <= 90.0):
            raise IastmError(f"pose tilt_deg must be in [0, 90] (got {self.tilt_deg!r})")
        if not math.isfinite(self.rotation_deg):
            raise IastmError(f"pose rotation_deg must be finite (got {self.rotation_deg!r})")
        if self.skin_face not in SKIN_FACES:
            raise IastmError(
                f"pose skin_face must be one of {SKIN_FACES} (got {self.skin_face!r})"
            )
        pos = tuple(float(p) for p in self.position_mm)
        if len(pos) != 2 or not all(math.isfinite(p) for p in pos):
            raise IastmError(f"pose position_mm must be two finite numbers (got {pos!r})")
        object.__setattr__(self, "position_mm", pos)

    def as_dict(self) -> dict[str, object]:
        return {
            "tilt_deg": round(self.tilt_deg, 3),
            "rotation_deg": round(self.rotation_deg, 3),
            "skin_face": self.skin_face,
            "position_mm": [round(p, 3) for p in self.position_mm],
        }


@dataclass(frozen=True)
class SiteFrame:
    """Origin (mm) and orthonormal axes of a site's tangent frame (body coordinates)."""

    origin_mm: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    normal: np.ndarray

    @classmethod
    def from_site(cls, site, position_mm: tuple[float, float] = (0.0, 0.0)) -> SiteFrame:
        n = np.asarray(site.normal, dtype=float)
        n = n / np.linalg.norm(n)
        e1 = np.asarray(site.limb_axis, dtype=float)
        e1 = e1 - n * (e1 @ n)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(n, e1)
        o = np.asarray(site.point_mm, dtype=float) + position_mm[0] * e1 + position_mm[1] * e2
        return cls(o, e1, e2, n)

    def edge_axes(self, rotation_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """Unit x (stroke) and y (along the edge) of the edge frame (body coordinates)."""
        r = math.radians(rotation_deg)
        x = math.cos(r) * self.e1 + math.sin(r) * self.e2
        return x, np.cross(self.normal, x)


def section_polyline(contour: Contour, max_step_mm: float) -> np.ndarray:
    """The finished section (u, v) from the top face to the bottom face, arcs sampled at
    most ``max_step_mm`` apart, plate faces extended ``FACE_EXTENSION_MM`` inward."""
    sec = contour.section
    w = -(sec.inward_reach_mm + FACE_EXTENSION_MM)
    t = sec.thickness_mm
    if not sec.pieces:
        return np.array([(w, t), (0.0, t), (0.0, 0.0), (w, 0.0)])
    parts = [np.array([[w, t]])]
    for piece in sec.pieces:
        if piece.center is None:
            parts.append(piece.sample(1))
        else:
            pts = piece.sample(64)
            arc_len = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
            parts.append(piece.sample(max(8, math.ceil(arc_len / max_step_mm))))
    parts.append(np.array([[w, 0.0]]))
    out = np.concatenate(parts)
    keep = np.ones(len(out), bool)
    keep[1:] = np.linalg.norm(np.diff(out, axis=0), axis=1) > 1e-12
    return out[keep]


def swept_surface(contour: Contour, max_step_mm: float) -> np.ndarray:
    """Tool-frame points (n_samples, n_section, 3) of the section swept along the contour.

    Tool frame: origin at the middle apex point, axes (n0, t0, z0) of the middle sample, so
    a pose only rotates these coordinates.
    """
    poly = section_polyline(contour, max_step_mm)
    u_apex, v_apex = contour.section.apex
    p = np.asarray(contour.points_mm, dtype=float)
    nrm = np.asarray(contour.normals, dtype=float)
    du = poly[:, 0] - u_apex
    dv = poly[:, 1] - v_apex
    z = np.array([0.0, 0.0, 1.0])
    pts = p[:, None, :] + du[None, :, None] * nrm[:, None, :] + dv[None, :, None] * z
    m = middle_index(contour)
    n0, t0 = nrm[m], np.asarray(contour.tangents[m], dtype=float)
    rel = pts - p[m]
    return np.stack([rel @ n0, rel @ t0, rel @ z], axis=-1)


def middle_index(contour: Contour) -> int:
    """Index of the sample nearest the middle of the contour's arc length."""
    s = np.asarray(contour.arc_length_mm)
    return int(np.argmin(np.abs(s - 0.5 * s[-1])))


def pose_matrix(pose: Pose) -> np.ndarray:
    """3x3 matrix taking tool-frame (n0, t0, z0) coordinates to edge-frame (x, y, z)."""
    th = math.radians(pose.tilt_deg)
    s = 1.0 if pose.skin_face == "bottom" else -1.0
    c, si = math.cos(th), math.sin(th)
    cols = [(s * c, 0.0, -si), (0.0, 1.0, 0.0), (si, 0.0, s * c)]
    return np.array(cols).T


@dataclass(frozen=True)
class Grid:
    """A regular grid in the edge frame: node (i, j) at (x0 + i dx, y0 + j dy), mm."""

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int

    @property
    def x(self) -> np.ndarray:
        return self.x0 + self.dx * np.arange(self.nx)

    @property
    def y(self) -> np.ndarray:
        return self.y0 + self.dy * np.arange(self.ny)


def zbuffer(surface: np.ndarray, grid: Grid, z_keep_mm: float) -> np.ndarray:
    """Lowest height (mm) of the triangulated structured surface over every grid node.

    surface: (n, m, 3) points in the edge frame; the quads (i, k)-(i+1, k+1) are split in
    two triangles. Triangles whose lowest vertex is more than ``z_keep_mm`` above the
    surface minimum are skipped (they cannot carry contact). Nodes no triangle covers get
    +inf. Heights are linear interpolation on each triangle (exact for the sweep).
    """
    a = surface[:-1, :-1]
    b = surface[1:, :-1]
    c = surface[:-1, 1:]
    d = surface[1:, 1:]
    tri = np.concatenate(
        [np.stack([a, b, c], axis=-2).reshape(-1, 3, 3), np.stack([b, d, c], axis=-2).reshape(
            -1, 3, 3)]
    )
    zmin = tri[:, :, 2].min(axis=1)
    tri = tri[zmin <= surface[..., 2].min() + z_keep_mm]
    out = np.full(grid.nx * grid.ny, np.inf)
    x1, y1 = tri[:, 1, :2] - tri[:, 0, :2], tri[:, 2, :2] - tri[:, 0, :2]
    det = x1[:, 0] * y1[:, 1] - x1[:, 1] * y1[:, 0]
    scale = np.maximum(np.abs(x1).max(axis=1), np.abs(y1).max(axis=1)) ** 2
    tri = tri[np.abs(det) > 1e-12 * np.maximum(scale, 1e-30)]
    if not len(tri):
        return out.reshape(grid.nx, grid.ny)
    xs, ys = tri[:, :, 0], tri[:, :, 1]
    eps = 1e-9
    i0 = np.clip(np.ceil((xs.min(1) - grid.x0) / grid.dx - eps), 0, grid.nx).astype(np.int64)
    i1 = np.clip(np.floor((xs.max(1) - grid.x0) / grid.dx + eps), -1, grid.nx - 1).astype(
        np.int64)
    j0 = np.clip(np.ceil((ys.min(1) - grid.y0) / grid.dy - eps), 0, grid.ny).astype(np.int64)
    j1 = np.clip(np.floor((ys.max(1) - grid.y0) / grid.dy + eps), -1, grid.ny - 1).astype(
        np.int64)
    ni, nj = i1 - i0 + 1, j1 - j0 + 1
    ok = (ni > 0) & (nj > 0)
    tri, i0, j0, ni, nj = tri[ok], i0[ok], j0[ok], ni[ok], nj[ok]
    counts = ni * nj
    chunk = 2_000_000
    start = 0
    while start < len(tri):
        cum = np.cumsum(counts[start:])
        stop = start + max(1, int(np.searchsorted(cum, chunk)))
        sl = slice(start, stop)
        _raster(tri[sl], i0[sl], j0[sl], nj[sl], counts[sl], grid, out)
        start = stop
    return out.reshape(grid.nx, grid.ny)


def _raster(tri: np.ndarray, i0: np.ndarray, j0: np.ndarray, nj: np.ndarray,
            counts: np.ndarray, grid: Grid, out: np.ndarray) -> None:
    tid = np.repeat(np.arange(len(tri)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    local = np.arange(len(tid)) - first
    ii = i0[tid] + local // nj[tid]
    jj = j0[tid] + local % nj[tid]
    px = grid.x0 + ii * grid.dx
    py = grid.y0 + jj * grid.dy
    t = tri[tid]
    ax, ay = t[:, 0, 0], t[:, 0, 1]
    e1x, e1y = t[:, 1, 0] - ax, t[:, 1, 1] - ay
    e2x, e2y = t[:, 2, 0] - ax, t[:, 2, 1] - ay
    det = e1x * e2y - e1y * e2x
    qx, qy = px - ax, py - ay
    l1 = (qx * e2y - qy * e2x) / det
    l2 = (e1x * qy - e1y * qx) / det
    tol = -1e-9
    inside = (l1 >= tol) & (l2 >= tol) & (l1 + l2 <= 1.0 - tol)
    z = t[:, 0, 2] + l1 * (t[:, 1, 2] - t[:, 0, 2]) + l2 * (t[:, 2, 2] - t[:, 0, 2])
    np.minimum.at(out, (ii * grid.ny + jj)[inside], z[inside])


def skin_heights(body, frame: SiteFrame, rotation_deg: float, grid: Grid) -> np.ndarray:
    """Skin height (mm, along the site normal) at every grid node by ray casting the body
    along ``-n`` from ``RAY_HEIGHT_MM`` above the tangent plane; -inf where a ray misses."""
    xa, ya = frame.edge_axes(rotation_deg)
    gx, gy = np.meshgrid(grid.x, grid.y, indexing="ij")
    origins = (frame.origin_mm + gx[..., None] * xa + gy[..., None] * ya
               + RAY_HEIGHT_MM * frame.normal).reshape(-1, 3)
    dist, _, _ = body.ray_cast(origins, -frame.normal[None, :])
    h = RAY_HEIGHT_MM - dist
    h[~np.isfinite(dist)] = -np.inf
    return h.reshape(grid.nx, grid.ny)


@dataclass(frozen=True)
class PosedGap:
    """The gap of one pose on its grid, plus what is needed to read results back.

    gap_mm: (nx, ny) gap, min 0, capped where the tool or the skin is absent.
    lowest_xy_mm: (n_samples, 2) edge-frame position of each contour sample's lowest
    section point (used to map pressure back to arc length).
    """

    pose: Pose
    grid: Grid
    gap_mm: np.ndarray
    lowest_xy_mm: np.ndarray
    covered_fraction: float


#: Allowed grid sizes: 16 x (2^a 3^b 5^c), steps <= 25 %. Poses of one edge then share a
#: few grid shapes, so the contact solver's cached kernels (per shape and spacing) are
#: reused instead of rebuilt for every pose (the layered kernel takes 0.5-3 s to build).
_SIZES = sorted({16 * m for m in (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 16, 20, 24, 25, 30, 32,
                                  36, 40, 45, 48, 50, 60, 64, 72, 75, 80, 90, 96, 100, 120,
                                  128)})


def _grid_size(n: int) -> int:
    """The smallest allowed grid size >= n (n itself beyond the table)."""
    for size in _SIZES:
        if size >= n:
            return size
    return n


def posed_gap(body, frame: SiteFrame, surface_tool: np.ndarray, pose: Pose, dx: float,
              dy: float, reach_mm: float, max_nodes: int = 250_000) -> PosedGap:
    """Gap grid for ``pose``: covers the tool surface within ``reach_mm`` of its lowest
    point (plus a 1 mm border); spacing (dx, dy) mm."""
    m = pose_matrix(pose)
    surf = surface_tool @ m.T
    z = surf[..., 2]
    zmin = float(z.min())
    near = surf[z <= zmin + reach_mm]
    lo = near[:, :2].min(axis=0) - 1.0
    hi = near[:, :2].max(axis=0) + 1.0
    nx = _grid_size(math.ceil((hi[0] - lo[0]) / dx) + 1)
    ny = _grid_size(math.ceil((hi[1] - lo[1]) / dy) + 1)
    if nx * ny > max_nodes:
        raise GridTooLargeError(
            f"fit grid of {nx} x {ny} nodes exceeds {max_nodes}: the contact needs a finer "
            "grid than this edge length allows; lower the force or shorten the edge"
        )
    cx, cy = 0.5 * (lo + hi)
    # nodes on integer multiples of the spacing: one sits on the contour's middle apex
    x0 = dx * math.floor((cx - 0.5 * (nx - 1) * dx) / dx)
    y0 = dy * math.floor((cy - 0.5 * (ny - 1) * dy) / dy)
    grid = Grid(x0, y0, dx, dy, nx, ny)
    tool_h = zbuffer(surf, grid, reach_mm + 10.0)
    skin_h = skin_heights(body, frame, pose.rotation_deg, grid)
    gap = tool_h - skin_h
    finite = np.isfinite(gap)
    if not finite.any():
        raise IastmError("no contact possible: the tool edge and the skin do not overlap on "
                         "the fit grid (site off the body or edge outside the patch)")
    gmin = float(gap[finite].min())
    gap = gap - gmin
    cap = float(gap[finite].max()) + 5.0
    gap[~finite] = cap
    low = np.argmin(surf[..., 2], axis=1)
    lowest = surf[np.arange(len(surf)), low, :2]
    return PosedGap(pose, grid, gap, lowest, float(finite.mean()))
