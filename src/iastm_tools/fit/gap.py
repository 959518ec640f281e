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
float64, exact for the piecewise-linear sweep).  The rest of the tool's outline within
25 mm (its other segments and corner blends with their own sections, :func:`tool_rim`) is
z-buffered into the same grid, so the edge's ends and corners are real, and checked for
collision with the skin outside it.  The skin height at every node is the first hit of a
ray cast of the body mesh along ``-n`` (found by rasterising the mesh's triangles in the
site frame, :func:`skin_map`), once per fit on a fine map of the site's tangent plane
(:class:`SkinMap`): the body's own curvature is included, no paraboloid or quadric fit is
used.  ``gap = tool height - skin height``
measured along ``n`` (a vertical gap; on skin sloping by s within the contact it differs
from the normal gap by a factor cos(s), e.g. 1 % at a slope of 8 deg).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from ..contours import Contour
from ..errors import IastmError
from ..section import EdgeSection

#: How far the plate faces are continued inward beyond the machined section (mm), so that
#: a low tilt sees the flat face next to the bevel. A modelling choice, not a constant.
FACE_EXTENSION_MM = 10.0
#: Height (mm) above the surface from which skin rays are cast.
RAY_HEIGHT_MM = 40.0
SKIN_FACES = ("bottom", "top")


class GridTooLargeError(IastmError):
    """The contact would need more grid nodes than allowed."""


class EdgeNotInContactError(IastmError):
    """In this pose other parts of the tool reach the skin before the working edge."""


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


@dataclass(frozen=True, eq=False)
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

    def same_as(self, other: SiteFrame, tol: float = 1e-12) -> bool:
        """True when both frames have the same origin and axes (to ``tol``)."""
        return all(np.allclose(getattr(self, f), getattr(other, f), rtol=0.0, atol=tol)
                   for f in ("origin_mm", "e1", "e2", "normal"))

    def edge_axes(self, rotation_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """Unit x (stroke) and y (along the edge) of the edge frame (body coordinates)."""
        r = math.radians(rotation_deg)
        x = math.cos(r) * self.e1 + math.sin(r) * self.e2
        return x, np.cross(self.normal, x)


def section_polyline(contour: Contour | EdgeSection, max_step_mm: float) -> np.ndarray:
    """The finished section (u, v) from the top face to the bottom face, arcs sampled at
    most ``max_step_mm`` apart, plate faces extended ``FACE_EXTENSION_MM`` inward.
    Accepts a contour or an edge section."""
    sec = getattr(contour, "section", contour)
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


@dataclass(frozen=True, eq=False)
class RimPiece:
    """One outline piece of the tool (a segment or a corner blend) with its finished
    section: apex line points (N, 3), outward in-plane normals (N, 3), tool model mm."""

    points_mm: np.ndarray
    normals: np.ndarray
    section: EdgeSection


def tool_rim(profile: Any, outline: Any, spacing_mm: float = 0.5) -> tuple[RimPiece, ...]:
    """Every outline piece of the tool with its own section (corner blends with the
    section of :func:`iastm_tools.outline.corner_spec`, a plain square edge where that is
    as cut), so that a fit sees the whole tool near the contact: the ends of the working
    edge, its corners and neighbouring edges.  Bevel run-outs are not modelled: a piece
    carries its segment's full section to its ends (a slightly sharper end zone than the
    machined run-out, see docs/fit.md)."""
    from ..outline import corner_spec
    from ..profile import EdgeSpec
    from ..section import edge_section

    segs = profile.segments
    out = []
    for prim in outline.prims:
        kind, i = prim.owner
        if kind == "segment":
            spec = segs[i].edge
        else:
            spec = corner_spec(segs[i].edge, segs[(i + 1) % len(segs)].edge) or EdgeSpec(
                "square")
        sec = edge_section(spec, profile.thickness_mm)
        n = max(2, math.ceil(prim.length_mm / spacing_mm)) + 1
        t = np.linspace(0.0, 1.0, n)
        nrm = prim.normal_out(t)
        u, v = sec.apex
        pts = np.column_stack([prim.point(t) + u * nrm, np.full(n, v)])
        out.append(RimPiece(pts, np.hstack([nrm, np.zeros((n, 1))]), sec))
    return tuple(out)


def _sweep(points: np.ndarray, normals: np.ndarray, section: EdgeSection,
           max_step_mm: float, frame: np.ndarray) -> np.ndarray:
    """Section swept along an apex line, in the tool frame given by the 4x4 ``frame``."""
    poly = section_polyline(section, max_step_mm)
    u_apex, v_apex = section.apex
    du = poly[:, 0] - u_apex
    dv = poly[:, 1] - v_apex
    z = np.array([0.0, 0.0, 1.0])
    pts = points[:, None, :] + du[None, :, None] * normals[:, None, :] + dv[None, :, None] * z
    return pts @ frame[:3, :3].T + frame[:3, 3]


def tool_surfaces(contour: Contour, rim: Sequence[RimPiece], max_step_mm: float,
                  within_mm: float = 25.0) -> list[np.ndarray]:
    """The contour's swept surface followed by the rim pieces within ``within_mm`` of its
    apex line (rows farther away dropped), all in the contour's tool frame."""
    from scipy.spatial import cKDTree

    out = [swept_surface(contour, max_step_mm)]
    if not rim:
        return out
    frame = tool_frame_matrix(contour)
    tree = cKDTree(np.asarray(contour.points_mm, dtype=float))
    for piece in rim:
        d, _ = tree.query(piece.points_mm)
        keep = np.flatnonzero(d <= within_mm)
        if len(keep) < 2:
            continue
        rows = slice(max(keep[0] - 1, 0), min(keep[-1] + 2, len(piece.points_mm)))
        out.append(_sweep(piece.points_mm[rows], piece.normals[rows], piece.section,
                          max_step_mm, frame))
    return out


def tool_frame_matrix(contour: Contour) -> np.ndarray:
    """4x4 matrix taking tool model coordinates (mm, as the solid and the exports) to the
    tool frame of :func:`swept_surface` (origin at the middle apex point, axes n0, t0, z0)."""
    m = middle_index(contour)
    p = np.asarray(contour.points_mm, dtype=float)[m]
    n0 = np.asarray(contour.normals, dtype=float)[m]
    t0 = np.asarray(contour.tangents, dtype=float)[m]
    out = np.eye(4)
    out[:3, :3] = np.array([n0, t0, [0.0, 0.0, 1.0]])
    out[:3, 3] = -out[:3, :3] @ p
    return out


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


def zbuffer(surface: np.ndarray | Sequence[np.ndarray], grid: Grid, z_keep_mm: float,
            z_ref_mm: float | None = None) -> np.ndarray:
    """Lowest height (mm) of the triangulated structured surface(s) over every grid node.

    surface: (n, m, 3) points in the edge frame, or a list of such surfaces (the lowest of
    all); the quads (i, k)-(i+1, k+1) are split in two triangles. Triangles whose lowest
    vertex is more than ``z_keep_mm`` above ``z_ref_mm`` (default: the surfaces' minimum)
    are skipped (they cannot carry contact).
    Nodes no triangle covers get +inf. Heights are linear interpolation on each triangle
    (exact for the sweep).
    The rasterisation loop is compiled with numba (about 100x a vectorised numpy version,
    which had to expand every triangle's bounding box into index arrays).
    """
    surfaces = [surface] if isinstance(surface, np.ndarray) else list(surface)
    ref = min(float(s[..., 2].min()) for s in surfaces) if z_ref_mm is None else z_ref_mm
    out = np.full(grid.nx * grid.ny, np.inf)
    for s in surfaces:
        _raster_surface(np.ascontiguousarray(s, dtype=np.float64), ref + z_keep_mm,
                        float(grid.x0), float(grid.y0), float(grid.dx), float(grid.dy),
                        int(grid.nx), int(grid.ny), out)
    return out.reshape(grid.nx, grid.ny)


@numba.njit(cache=True, nogil=True)
def _raster_surface(surf: np.ndarray, z_limit: float, x0: float, y0: float, dx: float,
                    dy: float, nx: int, ny: int, out: np.ndarray) -> None:  # pragma: no cover
    """Both triangles (a, b, c) and (b, d, c) of every quad of the structured surface whose
    lowest vertex is at most ``z_limit``."""
    idx, idy = 1.0 / dx, 1.0 / dy
    for i in range(surf.shape[0] - 1):
        for k in range(surf.shape[1] - 1):
            ax, ay, az = surf[i, k, 0], surf[i, k, 1], surf[i, k, 2]
            bx, by, bz = surf[i + 1, k, 0], surf[i + 1, k, 1], surf[i + 1, k, 2]
            cx, cy, cz = surf[i, k + 1, 0], surf[i, k + 1, 1], surf[i, k + 1, 2]
            ex, ey, ez = surf[i + 1, k + 1, 0], surf[i + 1, k + 1, 1], surf[i + 1, k + 1, 2]
            if min(az, bz, cz) <= z_limit:
                _raster_tri(ax, ay, az, bx, by, bz, cx, cy, cz, x0, y0, 0, 0, dx, dy, idx,
                            idy, nx, ny, -np.inf, out)
            if min(bz, ez, cz) <= z_limit:
                _raster_tri(bx, by, bz, ex, ey, ez, cx, cy, cz, x0, y0, 0, 0, dx, dy, idx,
                            idy, nx, ny, -np.inf, out)


@numba.njit(cache=True, nogil=True, inline="always")
def _raster_tri(ax: float, ay: float, az: float, bx: float, by: float, bz: float,
                cx: float, cy: float, cz: float, x0: float, y0: float, oi: int, oj: int,
                dx: float, dy: float, idx: float, idy: float, nx: int, ny: int,
                z_floor: float, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Lower ``out`` (flat, node (i, j) at i ny + j) to the triangle's height at every node
    it covers, node (i, j) lying at (x0 + (i - oi) dx, y0 + (j - oj) dy); heights below
    ``z_floor`` are skipped. Nodes on a shared edge count for both triangles (barycentric
    tolerance 1e-9)."""
    eps = 1e-9
    # nodes in the bounding box first: most triangles of a fine sweep cover none
    j0 = max(math.ceil((min(ay, by, cy) - y0) * idy - eps) + oj, 0)
    j1 = min(math.floor((max(ay, by, cy) - y0) * idy + eps) + oj, ny - 1)
    if j0 > j1:
        return
    i0 = max(math.ceil((min(ax, bx, cx) - x0) * idx - eps) + oi, 0)
    i1 = min(math.floor((max(ax, bx, cx) - x0) * idx + eps) + oi, nx - 1)
    if i0 > i1:
        return
    e1x, e1y = bx - ax, by - ay
    e2x, e2y = cx - ax, cy - ay
    det = e1x * e2y - e1y * e2x
    scale = max(abs(e1x), abs(e1y), abs(e2x), abs(e2y)) ** 2
    if abs(det) <= 1e-12 * max(scale, 1e-30):
        return  # degenerate in plan view: its neighbours cover the same nodes
    inv = 1.0 / det
    dz1 = bz - az
    dz2 = cz - az
    # visit only the nodes of each grid line (along the box's longer side) that can pass
    # the test: the triangle's extent on that line widened by a node, else the whole box
    along_x = i1 - i0 >= j1 - j0
    lo_o, hi_o = (j0, j1) if along_x else (i0, i1)
    for o in range(lo_o, hi_o + 1):
        if along_x:
            v, pa, pb, pc, ua, ub, uc, lo_u, hi_u = (y0 + (o - oj) * dy, ay, by, cy, ax, bx,
                                                     cx, i0, i1)
            u0, iu, ou = x0, idx, oi
        else:
            v, pa, pb, pc, ua, ub, uc, lo_u, hi_u = (x0 + (o - oi) * dx, ax, bx, cx, ay, by,
                                                     cy, j0, j1)
            u0, iu, ou = y0, idy, oj
        ulo, uhi = math.inf, -math.inf
        if (pa - v) * (pb - v) <= 0.0 and pa != pb:
            uv = ua + (v - pa) / (pb - pa) * (ub - ua)
            ulo, uhi = min(ulo, uv), max(uhi, uv)
        if (pb - v) * (pc - v) <= 0.0 and pb != pc:
            uv = ub + (v - pb) / (pc - pb) * (uc - ub)
            ulo, uhi = min(ulo, uv), max(uhi, uv)
        if (pc - v) * (pa - v) <= 0.0 and pc != pa:
            uv = uc + (v - pc) / (pa - pc) * (ua - uc)
            ulo, uhi = min(ulo, uv), max(uhi, uv)
        if ulo <= uhi:
            lo_u = max(lo_u, math.floor((ulo - u0) * iu) - 1 + ou)
            hi_u = min(hi_u, math.ceil((uhi - u0) * iu) + 1 + ou)
        for u in range(lo_u, hi_u + 1):
            i, j = (u, o) if along_x else (o, u)
            qx = x0 + (i - oi) * dx - ax
            qy = y0 + (j - oj) * dy - ay
            l1 = (qx * e2y - qy * e2x) * inv
            l2 = (e1x * qy - e1y * qx) * inv
            if l1 >= -eps and l2 >= -eps and l1 + l2 <= 1.0 + eps:
                z = az + l1 * dz1 + l2 * dz2
                kk = i * ny + j
                if z_floor <= z < out[kk]:
                    out[kk] = z


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


#: Spacing (mm) of the skin height map. The skin mesh is piecewise linear on facets of a few
#: mm; bilinear interpolation of its heights at 0.1 mm is off by at most about
#: (kink angle) x spacing / 4, i.e. ~2e-3 mm at a 3 deg facet kink, against approaches
#: of 0.1-1 mm under IASTM loads.
SKIN_MAP_STEP_MM = 0.15


@dataclass(frozen=True, eq=False)
class SkinMap:
    """Skin heights (mm, along the site normal) found once on a regular grid of the site's
    tangent plane (axes e1, e2, :func:`skin_map`), so that every pose only interpolates them.

    heights[i, j] is at (x0 + i step, y0 + j step) along (e1, e2); -inf where the ray missed
    the body. The cost is set by the patch the tool can cover, not by the scan size.
    """

    frame: SiteFrame
    x0: float
    y0: float
    step: float
    heights: np.ndarray

    @property
    def radius_mm(self) -> float:
        """Half-side (mm) of the square the map covers around the frame origin."""
        return -max(self.x0, self.y0)

    def at(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Bilinear heights at site-frame coordinates (u along e1, v along e2), mm; -inf
        outside the map or next to a missed ray."""
        # indices relative to the origin node, so that maps of any size give bit-identical
        # heights at a point (see cached_skin_map)
        fi = np.asarray(u, dtype=float).ravel() / self.step
        fj = np.asarray(v, dtype=float).ravel() / self.step
        out = np.empty(fi.size)
        _bilinear(self.heights, fi, fj, round(-self.x0 / self.step),
                  round(-self.y0 / self.step), out)
        return out.reshape(np.shape(u))

    def on_grid(self, grid: Grid, xa: np.ndarray, ya: np.ndarray,
                box: tuple[slice, slice] | None = None) -> np.ndarray:
        """:meth:`at` on the nodes of ``grid``, whose axes x and y point along ``xa`` and
        ``ya`` (unit vectors in the tangent plane): (nx, ny) heights, mm; only the nodes
        ``grid[box]`` when a box (two slices with step 1) is given, with the same values."""
        i0, i1, _ = (box[0] if box else slice(None)).indices(grid.nx)
        j0, j1, _ = (box[1] if box else slice(None)).indices(grid.ny)
        out = np.empty((max(i1 - i0, 0), max(j1 - j0, 0)))
        _bilinear_grid(self.heights, self.step, *self._origin(), i0, j0,
                       *_grid_map(grid, self.frame, xa, ya), out)
        return out

    def _origin(self) -> tuple[int, int]:
        """Index of the map node at the frame origin (heights are counted from it)."""
        return round(-self.x0 / self.step), round(-self.y0 / self.step)


def _grid_map(grid: Grid, frame: SiteFrame, xa: np.ndarray, ya: np.ndarray
              ) -> tuple[float, ...]:
    """(x0, dx, y0, dy, a11, a21, a12, a22) of a pose's grid for the map kernels: node
    (i, j) lies at x = x0 + i dx, y = y0 + j dy and at u = x a11 + y a21, v = x a12 + y a22
    on the map (mm)."""
    e1, e2 = frame.e1, frame.e2
    return (float(grid.x0), float(grid.dx), float(grid.y0), float(grid.dy),
            float(xa @ e1), float(ya @ e1), float(xa @ e2), float(ya @ e2))


@numba.njit(cache=True, nogil=True)
def _bilinear(h: np.ndarray, fi: np.ndarray, fj: np.ndarray, oi: int, oj: int,
              out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Bilinear interpolation of ``h`` at fractional indices (fi, fj) counted from the
    node (oi, oj), see :func:`_bilinear_at`."""
    for q in range(fi.size):
        out[q] = _bilinear_at(h, fi[q], fj[q], oi, oj)


@numba.njit(cache=True, nogil=True)
def _bilinear_grid(h: np.ndarray, step: float, oi: int, oj: int, i0: int, j0: int,
                   x0: float, dx: float, y0: float, dy: float, a11: float, a21: float,
                   a12: float, a22: float, out: np.ndarray) -> None:  # pragma: no cover
    """:func:`_bilinear_at` at the nodes (x0 + i dx, y0 + j dy), i >= i0, j >= j0, of a
    pose's grid (``out[i - i0, j - j0]``), mapped to map coordinates
    u = x a11 + y a21, v = x a12 + y a22 (mm): the grid without its node coordinate
    arrays."""
    for i in range(out.shape[0]):
        x = x0 + dx * (i + i0)
        for j in range(out.shape[1]):
            y = y0 + dy * (j + j0)
            out[i, j] = _bilinear_at(h, (x * a11 + y * a21) / step,
                                     (x * a12 + y * a22) / step, oi, oj)


@numba.njit(cache=True, nogil=True)
def _gap_grid(gap: np.ndarray, h: np.ndarray, step: float, oi: int, oj: int, x0: float,
              dx: float, y0: float, dy: float, a11: float, a21: float, a12: float,
              a22: float) -> tuple[float, float, int]:  # pragma: no cover - compiled
    """Turn the (nx, ny) tool heights ``gap`` into the gap tool - skin in place, the skin
    interpolated as :func:`_bilinear_grid` does, but only under the tool (+inf where
    either is absent). Returns the finite gaps' (min, max, count)."""
    lo, hi, count = np.inf, -np.inf, 0
    for i in range(gap.shape[0]):
        x = x0 + dx * i
        for j in range(gap.shape[1]):
            z = gap[i, j]
            if not np.isfinite(z):
                gap[i, j] = np.inf
                continue
            y = y0 + dy * j
            g = z - _bilinear_at(h, (x * a11 + y * a21) / step, (x * a12 + y * a22) / step,
                                 oi, oj)
            gap[i, j] = g
            if np.isfinite(g):
                count += 1
                lo = min(lo, g)
                hi = max(hi, g)
    return lo, hi, count


@numba.njit(cache=True, nogil=True, inline="always")
def _bilinear_at(h: np.ndarray, x: float, y: float, oi: int,
                 oj: int) -> float:  # pragma: no cover - compiled
    """Bilinear value of ``h`` at fractional index (x, y) counted from the node (oi, oj);
    -inf outside the array or when any of the four corners is not finite (a missed
    ray)."""
    n, m = h.shape
    if not (-oi <= x <= n - 1 - oi and -oj <= y <= m - 1 - oj):  # also false for NaN
        return -np.inf
    fx, fy = math.floor(x), math.floor(y)
    i = min(fx + oi, n - 2)
    j = min(fy + oj, m - 2)
    a, b = h[i, j], h[i + 1, j]
    c, d = h[i, j + 1], h[i + 1, j + 1]
    if not (np.isfinite(a) and np.isfinite(b) and np.isfinite(c) and np.isfinite(d)):
        return -np.inf
    ti, tj = x - (i - oi), y - (j - oj)
    return (a * (1 - ti) + b * ti) * (1 - tj) + (c * (1 - ti) + d * ti) * tj


def skin_map(body, frame: SiteFrame, radius_mm: float,
             step_mm: float = SKIN_MAP_STEP_MM) -> SkinMap:
    """Skin heights on a square of half-side ``radius_mm`` around the site frame origin:
    at every node the first hit of a ray cast along ``-n`` from ``RAY_HEIGHT_MM`` above
    the tangent plane, i.e. the highest point of the body surface below that height.

    Found by rasterising the body's triangles in the site frame (:func:`_raster_highest`,
    heights interpolated linearly on each triangle in double precision, as the ray-plane
    hit of :meth:`Body.ray_cast`) rather than by one ray per node: the same heights
    (tested against the ray cast) in 1/10-1/20 of the time, and independent of a ray
    library. Triangles off the square or above the rays' start cost one bounding-box test
    each, so the cost follows the patch rather than the scan size."""
    half = math.ceil(radius_mm / step_mm)
    x0 = -step_mm * half
    mesh = body.mesh
    rel = np.asarray(mesh.vertices, dtype=np.float64) - frame.origin_mm
    uvw = np.column_stack([rel @ frame.e1, rel @ frame.e2, rel @ frame.normal])
    n = 2 * half + 1
    lowest = np.full(n * n, np.inf)  # of -height: the highest skin point is the first hit
    _raster_highest(uvw, np.ascontiguousarray(mesh.faces, dtype=np.int64), step_mm, half,
                    RAY_HEIGHT_MM, lowest)
    return SkinMap(frame, x0, x0, step_mm, -lowest.reshape(n, n))


@numba.njit(cache=True, nogil=True)
def _raster_highest(uvw: np.ndarray, faces: np.ndarray, step: float, half: int,
                    z_max: float, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Minus the highest height <= ``z_max`` of the triangles ``faces`` (vertex rows of
    ``uvw``: u, v along the tangent axes and w along the normal, mm) over each node
    (i, j) at ((i - half) step, (j - half) step), into the flat ``out`` (lowered, by
    :func:`_raster_tri` on the negated heights). Triangles wholly above ``z_max`` are
    skipped; the others are cut per node."""
    n = 2 * half + 1
    inv_step = 1.0 / step
    for t in range(faces.shape[0]):
        a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
        az, bz, cz = uvw[a, 2], uvw[b, 2], uvw[c, 2]
        if min(az, bz, cz) > z_max:
            continue
        _raster_tri(uvw[a, 0], uvw[a, 1], -az, uvw[b, 0], uvw[b, 1], -bz, uvw[c, 0],
                    uvw[c, 1], -cz, 0.0, 0.0, half, half, step, step, inv_step, inv_step,
                    n, n, -z_max, out)


#: Skin maps kept per body by :func:`cached_skin_map` (each is (2 r / step)^2 doubles,
#: about 5 MB at r = 60 mm): enough for every default site and a 10-station stroke.
MAX_CACHED_SKIN_MAPS = 12
#: Radii of cached skin maps are rounded up to this (mm) so that tools of similar size
#: share a map.
SKIN_MAP_RADIUS_QUANTUM_MM = 5.0
_SKIN_MAPS: weakref.WeakKeyDictionary[Any, list[SkinMap]] = weakref.WeakKeyDictionary()


def cached_skin_map(body, frame: SiteFrame, radius_mm: float) -> SkinMap:
    """:func:`skin_map` of ``body`` at ``frame``, reused across fits (other tools, forces
    and edges on the same site) for as long as the body object lives. A body's surface is
    not changed in place (its own query structures are built once, like this cache).

    A cached map of larger radius is returned as is: node k of any map lies exactly k steps
    from the frame origin and :meth:`SkinMap.at` counts from there, so every height a fit
    reads is bit-identical to a fresh map's, and results do not depend on what was fitted
    before.
    """
    try:
        entries = _SKIN_MAPS.setdefault(body, [])
    except TypeError:  # not weak-referenceable: no cache
        return skin_map(body, frame, radius_mm)
    for m in entries:
        if m.radius_mm >= radius_mm and m.frame.same_as(frame):
            return m
    q = SKIN_MAP_RADIUS_QUANTUM_MM
    m = skin_map(body, frame, q * math.ceil(radius_mm / q))
    entries[:] = [e for e in entries if not e.frame.same_as(frame)][1 - MAX_CACHED_SKIN_MAPS:]
    entries.append(m)
    return m


@dataclass(frozen=True)
class PosedGap:
    """The gap of one pose on its grid, plus what is needed to read results back.

    gap_mm: (nx, ny) gap, min 0, capped where the tool or the skin is absent.
    lowest_xy_mm: (n_samples, 2) edge-frame position of each contour sample's lowest
    section point (used to map pressure back to arc length).
    skin_height_mm: (nx, ny) skin heights along the site normal (mm, -inf where the body
    is absent), or None when ``skin_map`` is given: :meth:`skin_heights` then interpolates
    them on demand (a pose search reads them only around its contacts).
    """

    pose: Pose
    grid: Grid
    gap_mm: np.ndarray
    lowest_xy_mm: np.ndarray
    covered_fraction: float
    skin_height_mm: np.ndarray | None = None
    shift_mm: float = 0.0
    frame: SiteFrame | None = None
    #: pressure (kPa) of a solve of the same pose on another grid, interpolated onto this
    #: one (:func:`regrid`): the contact solver's starting guess
    pressure_guess_kpa: np.ndarray | None = None
    skin_map: SkinMap | None = None

    def skin_heights(self, box: tuple[slice, slice] | None = None) -> np.ndarray | None:
        """Skin heights (mm, along the site normal; -inf where the body is absent) at the
        grid nodes, or at ``grid[box]`` (two slices with step 1); None if unknown."""
        box = box or (slice(None), slice(None))
        if self.skin_height_mm is not None:
            return self.skin_height_mm[box]
        if self.skin_map is None or self.frame is None:
            return None
        return self.skin_map.on_grid(self.grid, *self.frame.edge_axes(self.pose.rotation_deg),
                                     box)

    def skin_points_mm(self) -> np.ndarray:
        """(nx, ny, 3) undeformed skin points (body coordinates, mm) under the grid nodes;
        nodes whose ray missed the body are NaN."""
        heights = self.skin_heights()
        if heights is None or self.frame is None:
            raise IastmError("this gap carries no skin heights")
        xa, ya = self.frame.edge_axes(self.pose.rotation_deg)
        gx, gy = np.meshgrid(self.grid.x, self.grid.y, indexing="ij")
        h = np.where(np.isfinite(heights), heights, np.nan)
        return (self.frame.origin_mm + gx[..., None] * xa + gy[..., None] * ya
                + h[..., None] * self.frame.normal)

    def edge_to_body(self, approach_mm: float = 0.0) -> np.ndarray:
        """4x4 matrix taking edge-frame tool heights (as posed for this gap) to body
        coordinates, with the tool touching the skin and pushed ``approach_mm`` into it."""
        if self.frame is None:
            raise IastmError("this gap carries no site frame")
        xa, ya = self.frame.edge_axes(self.pose.rotation_deg)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2] = xa, ya, self.frame.normal
        m[:3, 3] = self.frame.origin_mm - (self.shift_mm + approach_mm) * self.frame.normal
        return m


def _check_collision(body, frame: SiteFrame, pose: Pose, pts: np.ndarray,
                     gmin: float, reach_mm: float, skin: SkinMap | None) -> None:
    """EdgeNotInContactError when a vertex ``pts`` (n, 3) of another part of the tool lies
    more than ``reach_mm`` closer to (or into) the skin than the edge's first touch
    ``gmin``: in this pose that part, not the edge, would carry the load."""
    xa, ya = frame.edge_axes(pose.rotation_deg)
    if skin is not None:
        h = skin.at(pts[:, 0] * (xa @ frame.e1) + pts[:, 1] * (ya @ frame.e1),
                    pts[:, 0] * (xa @ frame.e2) + pts[:, 1] * (ya @ frame.e2))
    else:
        origins = (frame.origin_mm + pts[:, :1] * xa + pts[:, 1:2] * ya
                   + RAY_HEIGHT_MM * frame.normal)
        dist, _, _ = body.ray_cast(origins, -frame.normal[None, :])
        h = RAY_HEIGHT_MM - dist
    ok = np.isfinite(h)
    if ok.any():
        worst = float((pts[ok, 2] - h[ok]).min()) - gmin
        if worst < -reach_mm:
            raise EdgeNotInContactError(
                f"another part of the tool comes {-worst:.1f} mm nearer the skin than the "
                "edge in this pose")


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


def regrid(values: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """``values`` on the nodes of ``source`` interpolated (bilinear) onto the nodes of
    ``target`` (both grids of the same edge frame); 0 outside ``source``."""
    from scipy import ndimage

    ci = (target.x - source.x0) / source.dx
    cj = (target.y - source.y0) / source.dy
    ii, jj = np.meshgrid(ci, cj, indexing="ij")
    return ndimage.map_coordinates(np.asarray(values, dtype=float), [ii, jj], order=1,
                                   mode="constant", cval=0.0)


@dataclass(frozen=True, eq=False)
class _PosedTool:
    """The rotation-independent part of a pose's gap: the grid and the tool's z-buffer on
    it (read-only), the contour samples' lowest points, the other pieces' vertices."""

    grid: Grid
    tool_h: np.ndarray
    lowest: np.ndarray
    #: (n, 3) vertices of the pieces other than the edge's own surface (collision check)
    others: np.ndarray | None


class ToolRasterCache:
    """The last few tool z-buffers of one contour, keyed by what they depend on: tilt, skin
    face, spacing, reach and the tool surface (by identity). A pose's rotation turns the
    skin under the edge frame, not the tool (:func:`pose_matrix`), so the rotations of one
    tilt share a z-buffer: a pose search that sweeps the rotations at each tilt (and a
    simplex held at a tilt bound) rasterises the tool once per tilt. Not thread-safe: one
    per contour fit."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: list[tuple[tuple[Any, ...], Any, _PosedTool]] = []

    def get(self, key: tuple[Any, ...], surface: Any) -> _PosedTool | None:
        for k, surf, value in self._entries:
            if k == key and surf is surface:
                return value
        return None

    def put(self, key: tuple[Any, ...], surface: Any, value: _PosedTool) -> None:
        # the entry keeps ``surface`` alive, so its id cannot be reused by another object
        self._entries = [e for e in self._entries if not (e[0] == key and e[1] is surface)]
        self._entries.append((key, surface, value))
        del self._entries[:-self.size]


def _posed_tool(surface_tool: np.ndarray | Sequence[np.ndarray], pose: Pose, dx: float,
                dy: float, reach_mm: float, max_nodes: int) -> _PosedTool:
    """The tool part of :func:`posed_gap` (independent of the pose's rotation)."""
    m = pose_matrix(pose)
    pieces = [surface_tool] if isinstance(surface_tool, np.ndarray) else list(surface_tool)
    posed = [p @ m.T for p in pieces]
    surf = posed[0]
    # the grid covers the edge's own lowest band (and whatever else of the tool lies in
    # it); parts of the tool outside it are checked for collision in posed_gap
    zmin = float(surf[..., 2].min())
    near = np.concatenate([p[p[..., 2] <= zmin + reach_mm] for p in posed])
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
    tool_h = zbuffer(posed, grid, reach_mm + 10.0, zmin)
    tool_h.setflags(write=False)
    low = np.argmin(surf[..., 2], axis=1)
    others = (np.concatenate([p.reshape(-1, 3) for p in posed[1:]]) if len(posed) > 1
              else None)
    return _PosedTool(grid, tool_h, surf[np.arange(len(surf)), low, :2], others)


def posed_gap(body, frame: SiteFrame, surface_tool: np.ndarray | Sequence[np.ndarray],
              pose: Pose, dx: float, dy: float, reach_mm: float, max_nodes: int = 250_000,
              skin: SkinMap | None = None,
              tool_cache: ToolRasterCache | None = None) -> PosedGap:
    """Gap grid for ``pose``: covers the tool surface within ``reach_mm`` of its lowest
    point (plus a 1 mm border); spacing (dx, dy) mm. Skin heights come from ``skin`` (a
    :class:`SkinMap` of this frame) when given, else from ray casting every node.
    ``tool_cache``: reuses the tool's z-buffer of an earlier pose that differs only in
    rotation (same result)."""
    key = (pose.tilt_deg, pose.skin_face, float(dx), float(dy), float(reach_mm), max_nodes)
    tool = tool_cache.get(key, surface_tool) if tool_cache is not None else None
    if tool is None:
        tool = _posed_tool(surface_tool, pose, dx, dy, reach_mm, max_nodes)
        if tool_cache is not None:
            tool_cache.put(key, surface_tool, tool)
    grid = tool.grid
    gap = tool.tool_h.copy()
    skin_h = None
    if skin is None:
        skin_h = skin_heights(body, frame, pose.rotation_deg, grid)
        gap = gap - skin_h
        finite = np.isfinite(gap)
        count = int(np.count_nonzero(finite))
        gmin = float(gap[finite].min()) if count else math.inf
        gmax = float(gap[finite].max()) if count else math.inf
    else:
        # the skin only under the tool (a third to a half of a search grid): the rest is
        # interpolated on demand (PosedGap.skin_heights)
        gmin, gmax, count = _gap_grid(gap, skin.heights, skin.step, *skin._origin(),
                                      *_grid_map(grid, frame, *frame.edge_axes(
                                          pose.rotation_deg)))
    if count == 0:
        raise EdgeNotInContactError(
            "no contact possible: the tool edge and the skin do not overlap on the fit grid "
            "(site off the body, or the edge beyond the limb in this pose)")
    if tool.others is not None:
        _check_collision(body, frame, pose, tool.others, gmin, reach_mm, skin)
    cap = (gmax - gmin) + 5.0
    gap = _shift_and_cap(gap, gmin, cap)
    return PosedGap(pose, grid, gap, tool.lowest, count / gap.size, skin_h, gmin, frame,
                    skin_map=skin)


@numba.njit(cache=True, nogil=True)
def _shift_and_cap(gap: np.ndarray, gmin: float,
                   cap: float) -> np.ndarray:  # pragma: no cover - compiled
    """The (nx, ny) ``gap`` - gmin in place, ``cap`` where it is not finite."""
    for i in range(gap.shape[0]):
        for j in range(gap.shape[1]):
            g = gap[i, j] - gmin
            gap[i, j] = g if np.isfinite(g) else cap
    return gap
