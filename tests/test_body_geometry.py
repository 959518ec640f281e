"""Geometry queries of iastm_tools.body on analytic shapes: curvature, signed distance, rays."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import given
from hypothesis import strategies as st

from iastm_tools.body import Body, SurfaceQuery
from iastm_tools.body.queries import closest_point_on_triangles
from iastm_tools.errors import IastmError


def _body(mesh: trimesh.Trimesh) -> Body:
    return Body(name="analytic", mesh=mesh)


def _sphere(radius: float, subdivisions: int = 6) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=subdivisions)
    return trimesh.Trimesh(m.vertices * radius, m.faces, process=False)


def _ellipsoid(a: float, b: float, c: float) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=6)
    return trimesh.Trimesh(m.vertices * [a, b, c], m.faces, process=False)


def _tube(radius: float, length: float, n_theta: int = 240, n_z: int = 200) -> trimesh.Trimesh:
    """Open cylinder along z with vertices exactly on the cylinder, ~1 mm spacing."""
    t = np.linspace(0, 2 * np.pi, n_theta, endpoint=False)
    z = np.linspace(-length / 2, length / 2, n_z)
    T, Z = np.meshgrid(t, z)
    v = np.column_stack([radius * np.cos(T).ravel(), radius * np.sin(T).ravel(), Z.ravel()])
    faces = []
    for i in range(n_z - 1):
        for j in range(n_theta):
            a, b = i * n_theta + j, i * n_theta + (j + 1) % n_theta
            c, d = a + n_theta, b + n_theta
            faces += [[a, b, d], [a, d, c]]
    return trimesh.Trimesh(v, np.array(faces), process=False)


@given(radius=st.floats(20.0, 200.0))
def test_curvature_sphere_within_2_percent(radius: float) -> None:
    """Sphere of radius R (vertices exactly on it): k1 = k2 = +1/R (convex positive), 2 %."""
    body = _body(_sphere(radius, 5))
    p = np.array([0.3, -0.5, 0.8])
    p = radius * p / np.linalg.norm(p)
    k1, k2, d1, d2 = body.curvature_at(p)
    assert k1 >= k2
    assert k1 == pytest.approx(1 / radius, rel=0.02)
    assert k2 == pytest.approx(1 / radius, rel=0.02)
    n = p / radius
    assert abs(d1 @ n) < 1e-6 and abs(d2 @ n) < 1e-6 and abs(d1 @ d2) < 1e-6


@pytest.mark.parametrize("radius", [8.0, 40.0, 120.0])
def test_curvature_cylinder_within_2_percent(radius: float) -> None:
    """Cylinder radius R: k1 = 1/R around (2 %), k2 = 0 along the axis (|k2| < 2 % of k1)."""
    body = _body(_tube(radius, 300.0, n_theta=max(60, int(2 * np.pi * radius / 1.5))))
    p = np.array([radius * np.cos(0.3), radius * np.sin(0.3), 10.0])
    k1, k2, _, d2 = body.curvature_at(p)
    assert k1 == pytest.approx(1 / radius, rel=0.02)
    assert abs(k2) < 0.02 / radius
    assert abs(d2[2]) > 0.999  # minimum-curvature direction is the axis


def test_curvature_ellipsoid_within_2_percent() -> None:
    """Ellipsoid a,b,c = 60,40,30 mm at (a,0,0): k = a/c^2 (along z), a/b^2 (along y), 2 %
    (do Carmo 1976, principal curvatures at the vertices of an ellipsoid)."""
    a, b, c = 60.0, 40.0, 30.0
    body = _body(_ellipsoid(a, b, c))
    k1, k2, d1, _ = body.curvature_at([a, 0.0, 0.0])
    assert k1 == pytest.approx(a / c**2, rel=0.02)
    assert k2 == pytest.approx(a / b**2, rel=0.02)
    assert abs(d1[2]) > 0.99
    k1, k2, _, _ = body.curvature_at([0.0, b, 0.0])
    assert k1 == pytest.approx(b / c**2, rel=0.02)
    assert k2 == pytest.approx(b / a**2, rel=0.02)


def test_curvature_concave_is_negative() -> None:
    """Inside of a tube (normals inward-facing flipped mesh): curvature -1/R (convex positive)."""
    m = _tube(40.0, 200.0)
    body = _body(trimesh.Trimesh(m.vertices, m.faces[:, ::-1], process=False))
    k1, k2, _, _ = body.curvature_at([40.0, 0.0, 0.0])
    assert k2 == pytest.approx(-1 / 40.0, rel=0.02)
    assert abs(k1) < 0.02 / 40.0


def test_curvature_far_point_rejected() -> None:
    """A query point more than 10 mm off the surface is an input error."""
    with pytest.raises(IastmError, match="from the surface"):
        _body(_sphere(50.0, 4)).curvature_at([0, 0, 80.0])


def test_closest_point_matches_brute_force() -> None:
    """Vectorised point-triangle distance equals a dense brute-force search (1e-9 mm)."""
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=(3, 500, 3))
    p = rng.normal(size=(500, 3)) * 2
    q, _ = closest_point_on_triangles(p, a, b, c)
    u, w = np.meshgrid(np.linspace(0, 1, 401), np.linspace(0, 1, 401))
    keep = (u + w) <= 1
    u, w = u[keep], w[keep]
    for i in range(0, 500, 50):
        dense = a[i] + np.outer(u, b[i] - a[i]) + np.outer(w, c[i] - a[i])
        brute = np.linalg.norm(dense - p[i], axis=1).min()
        assert np.linalg.norm(q[i] - p[i]) <= brute + 1e-9
        assert np.linalg.norm(q[i] - p[i]) == pytest.approx(brute, abs=5e-3)


def _brute_distance(mesh: trimesh.Trimesh, pts: np.ndarray) -> np.ndarray:
    """Exact unsigned distance by testing every face (the reference)."""
    tri = mesh.triangles
    out = np.empty(len(pts))
    for i, p in enumerate(pts):
        q, _ = closest_point_on_triangles(
            np.broadcast_to(p, tri[:, 0].shape), tri[:, 0], tri[:, 1], tri[:, 2])
        out[i] = np.linalg.norm(q - p, axis=1).min()
    return out


def test_signed_distance_matches_brute_force_and_sphere() -> None:
    """Signed distance (+ outside): |value| equals an all-faces brute force to 1e-9 mm with
    the sign of |p| - R, and equals |p| - R on a fine sphere to the chord error
    (< 0.05 mm for R = 50)."""
    mesh = _sphere(50.0, 5)
    q = SurfaceQuery(mesh.vertices, mesh.faces)
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(2000, 3))
    pts = pts / np.linalg.norm(pts, axis=1, keepdims=True) * rng.uniform(5, 120, (2000, 1))
    sd = q.signed_distance(pts)
    ref = _brute_distance(mesh, pts[:200]) * np.sign(np.linalg.norm(pts[:200], axis=1) - 50.0)
    np.testing.assert_allclose(sd[:200], ref, atol=1e-9)
    np.testing.assert_allclose(sd, np.linalg.norm(pts, axis=1) - 50.0, atol=0.05)


def test_signed_distance_exact_with_uneven_faces() -> None:
    """Huge and tiny faces mixed: the candidate escalation still finds the exact closest
    face (reference: all-faces brute force, 1e-9 mm)."""
    big = trimesh.creation.box(extents=[400, 400, 400])
    small = _sphere(10.0, 4)
    small.apply_translation([0, 0, 215.0])
    mesh = trimesh.util.concatenate([big, small])
    q = SurfaceQuery(mesh.vertices, mesh.faces, k=4)
    rng = np.random.default_rng(3)
    pts = rng.uniform(-260, 260, size=(400, 3))
    res = q.closest(pts, exact=True)
    assert res.certified.all()
    np.testing.assert_allclose(res.distance, _brute_distance(mesh, pts), atol=1e-9)
    near = np.abs(q.signed_distance(pts)) <= 2.0  # the default band is exact too
    np.testing.assert_allclose(q.closest(pts[near]).distance, _brute_distance(mesh, pts[near]),
                               atol=1e-9)


def test_rays_hit_sphere() -> None:
    """Rays from the centre hit a sphere R = 50 at 50 mm (chord error < 0.05 mm); rays that
    start outside and point away miss (inf)."""
    mesh = _sphere(50.0, 5)
    q = SurfaceQuery(mesh.vertices, mesh.faces)
    rng = np.random.default_rng(4)
    d = rng.normal(size=(1000, 3))
    dist, face, point = q.ray_first_hit(np.zeros((1000, 3)), d)
    np.testing.assert_allclose(dist, 50.0, atol=0.05)
    assert (face >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(point, axis=1), 50.0, atol=0.05)
    dist, face, _ = q.ray_first_hit(np.array([[0, 0, 100.0]]), np.array([[0, 0, 1.0]]))
    assert np.isinf(dist[0]) and face[0] == -1
