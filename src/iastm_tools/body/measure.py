"""Tape-measure girths of a body surface (mm), for checking generated bodies against
anthropometric references.

A girth is the perimeter of the convex hull of the cross-section of the surface by the
plane through ``point_mm`` normal to ``axis``, restricted to the section points within
``reach_mm`` of ``point_mm`` (so the other leg or the torso is not included). A tape bridges
concavities, hence the convex hull (ISO 8559-1:2017 girths are taken with a tape).
"""

from __future__ import annotations

import numpy as np

from ..errors import IastmError

__all__ = ["girth_mm", "max_girth_mm"]


def girth_mm(mesh, point_mm: np.ndarray, axis: np.ndarray, *, reach_mm: float = 100.0) -> float:
    """Girth (mm) of ``mesh`` in the plane through ``point_mm`` normal to ``axis``."""
    import trimesh
    from scipy.spatial import ConvexHull

    p = np.asarray(point_mm, dtype=np.float64)
    n = np.asarray(axis, dtype=np.float64)
    n = n / np.linalg.norm(n)
    seg = trimesh.intersections.mesh_plane(mesh, plane_normal=n, plane_origin=p)
    pts = np.asarray(seg).reshape(-1, 3)
    pts = pts[np.linalg.norm(pts - p, axis=1) <= reach_mm]
    if len(pts) < 3:
        raise IastmError(f"girth: no section of the surface within {reach_mm:g} mm of {p}")
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(n, helper)
    u /= np.linalg.norm(u)
    w = np.cross(n, u)
    xy = np.column_stack([(pts - p) @ u, (pts - p) @ w])
    hull = ConvexHull(xy)
    ring = xy[hull.vertices]
    return float(np.linalg.norm(np.roll(ring, -1, axis=0) - ring, axis=1).sum())


def max_girth_mm(
    mesh, start_mm: np.ndarray, end_mm: np.ndarray, *, fractions: tuple[float, float] = (0.1, 0.5),
    steps: int = 21, reach_mm: float = 100.0,
) -> float:
    """Largest girth (mm) along the segment start->end between the given fractions."""
    a = np.asarray(start_mm, dtype=np.float64)
    b = np.asarray(end_mm, dtype=np.float64)
    axis = b - a
    return max(girth_mm(mesh, a + t * axis, axis, reach_mm=reach_mm)
               for t in np.linspace(fractions[0], fractions[1], steps))
