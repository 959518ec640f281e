"""Principal curvatures of a triangulated surface at a point, by a local polynomial fit.

Method: take the surface vertices within ``radius_mm`` of the closest surface point, express
them in a frame whose z axis is the surface normal, fit the height field
z = f(x, y) with all monomials up to degree 4 (weighted least squares, weight
(1 - (rho/r)^2)^2), re-centre the frame on the fitted normal once, and evaluate the shape
operator of the graph at the origin (do Carmo, Differential Geometry of Curves and
Surfaces, 1976, sec. 3-3). The quartic terms remove most of the truncation bias of a plain
quadric fit (Cazals & Pouget, CAGD 22:121, 2005).

Convention: curvatures in 1/mm, k1 >= k2, **convex positive** (a sphere of radius R gives
+1/R with outward normals); dir1, dir2 are unit tangent vectors in body coordinates.
"""

from __future__ import annotations

import numpy as np

from ..errors import IastmError

__all__ = ["MIN_FIT_POINTS", "fit_principal_curvatures"]

#: Fewest neighbourhood vertices for a stable degree-4 fit (15 unknowns).
MIN_FIT_POINTS = 40
_EXPONENTS = [(i, d - i) for d in range(1, 5) for i in range(d, -1, -1)]


def _frame(normal: np.ndarray) -> np.ndarray:
    """Rows: tangent u, tangent v, normal (right-handed)."""
    n = normal / np.linalg.norm(normal)
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(helper, n)
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    return np.vstack([u, v, n])


def _fit(local: np.ndarray, radius: float) -> np.ndarray:
    """Weighted LSQ coefficients of z = c0 + sum c_ij x^i y^j (degree 1..4)."""
    x, y, z = local.T
    rho2 = (x * x + y * y) / (radius * radius)
    w = np.clip(1.0 - rho2, 0.0, None) ** 2 + 1e-6
    cols = [np.ones_like(x)] + [x**i * y**j for i, j in _EXPONENTS]
    A = np.column_stack(cols) * w[:, None]
    coef, *_ = np.linalg.lstsq(A, z * w, rcond=None)
    return coef


def fit_principal_curvatures(
    neighbours: np.ndarray, origin: np.ndarray, normal: np.ndarray, radius: float
) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    """Fit at ``origin`` (on the surface) with outward ``normal`` from ``neighbours`` (mm).

    Returns ``(k1, k2, dir1, dir2, fitted_normal)``; see the module docstring.
    Raises IastmError when fewer than MIN_FIT_POINTS vertices are given.
    """
    pts = np.asarray(neighbours, dtype=np.float64)
    if len(pts) < MIN_FIT_POINTS:
        raise IastmError(
            f"curvature fit needs at least {MIN_FIT_POINTS} surface vertices within "
            f"{radius:.3g} mm of the point (found {len(pts)}); pass a larger radius_mm"
        )
    frame = _frame(normal)
    centre = np.asarray(origin, dtype=np.float64)
    for _ in range(2):
        local = (pts - centre) @ frame.T
        c = _fit(local, radius)
        # re-centre: move the origin onto the fitted surface, tilt z to the fitted normal
        grad = np.array([-c[1], -c[2], 1.0])
        n_world = frame.T @ (grad / np.linalg.norm(grad))
        centre = centre + frame[2] * c[0]
        frame = _frame(n_world)
    local = (pts - centre) @ frame.T
    c = _fit(local, radius)
    fx, fy = c[1], c[2]
    fxx, fxy, fyy = 2.0 * c[3], c[4], 2.0 * c[5]
    W = np.sqrt(1.0 + fx * fx + fy * fy)
    first = np.array([[1.0 + fx * fx, fx * fy], [fx * fy, 1.0 + fy * fy]])
    second = np.array([[fxx, fxy], [fxy, fyy]]) / W
    shape = -np.linalg.solve(first, second)  # convex positive
    evals, evecs = np.linalg.eig(shape)
    evals = np.real(evals)
    evecs = np.real(evecs)
    order = np.argsort(-evals)
    k1, k2 = float(evals[order[0]]), float(evals[order[1]])
    dirs = []
    for i in order:
        a, b = evecs[:, i]
        t = frame.T @ np.array([a, b, a * fx + b * fy])
        dirs.append(t / np.linalg.norm(t))
    d1 = dirs[0]
    d2 = np.cross(frame[2], d1)
    d2 /= np.linalg.norm(d2)
    return k1, k2, d1, d2, frame[2]
