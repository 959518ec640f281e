"""Working-edge contours: on the solid's surface, normals, curvature, sections."""

from __future__ import annotations

import cadquery as cq
import numpy as np
import pytest


def _surface_distance(solid, points: np.ndarray) -> float:
    shell = cq.Compound.makeCompound(solid.Faces())
    return max(shell.distance(cq.Vertex.makeVertex(*map(float, p))) for p in points)


def test_contours_lie_on_the_solid_surface(library_tools):
    """Every contour sample is on the built solid's faces within 0.01 mm (issue 2)."""
    for tool in library_tools.values():
        assert tool.contours, f"{tool.name} has no working edge"
        for contour in tool.contours:
            idx = np.unique(np.linspace(0, len(contour.points_mm) - 1, 9).round().astype(int))
            assert _surface_distance(tool.solid, contour.points_mm[idx]) < 0.01, (
                tool.name,
                contour.name,
            )


def test_contour_frames_are_orthonormal_and_in_plane(library_tools):
    for tool in library_tools.values():
        for c in tool.contours:
            assert np.allclose(np.linalg.norm(c.normals, axis=1), 1.0)
            assert np.allclose(np.linalg.norm(c.tangents, axis=1), 1.0)
            assert np.allclose(np.einsum("ij,ij->i", c.normals, c.tangents), 0.0, atol=1e-12)
            assert np.allclose(c.normals[:, 2], 0.0)
            assert np.all(np.diff(c.arc_length_mm) > 0)
            # sample spacing never exceeds the requested spacing
            step = np.linalg.norm(np.diff(c.points_mm, axis=0), axis=1)
            assert step.max() <= tool.contour_spacing_mm + 1e-9


def test_curvature_sign_and_radius_of_the_apex_line():
    """The apex line of a bevel on an arc of radius R has radius R + u (convex), R - u (concave)."""
    from iastm_tools import Tool
    from profile_factory import blade_dict

    tool = Tool.from_dict(blade_dict())
    concave, convex = tool.contour("concave"), tool.contour("convex")
    u = concave.section.apex[0]
    assert concave.radius_mm == pytest.approx(-(80.0 - u), rel=1e-12)
    assert convex.radius_mm == pytest.approx(120.0 + u, rel=1e-12)
    # the measured curvature of the sampled polyline agrees (three-point circle)
    p = convex.points_mm[:, :2]
    a, b, c = p[0], p[len(p) // 2], p[-1]
    area2 = abs((b - a)[0] * (c - a)[1] - (b - a)[1] * (c - a)[0])
    r = np.linalg.norm(b - a) * np.linalg.norm(c - b) * np.linalg.norm(c - a) / (2 * area2)
    assert r == pytest.approx(convex.radius_mm, rel=1e-9)


def test_runout_shortens_the_contour():
    from iastm_tools import Tool
    from profile_factory import blade_dict

    tool = Tool.from_dict(blade_dict())
    convex = tool.contour("convex")
    assert convex.ends == ("within", "within")
    full = tool.outline.for_segment(5).length_mm
    assert convex.length_mm < full
