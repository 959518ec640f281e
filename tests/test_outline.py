"""Exact outline geometry: closure, tangency of corner blends, area, curvature signs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import Polygon

from iastm_tools.errors import ProfileError
from iastm_tools.outline import build_outline, validate_outline
from iastm_tools.profile import Profile
from profile_factory import blade_dict


def _outline(**kw):
    return build_outline(Profile.from_dict(blade_dict(**kw)))


def test_chain_is_closed_and_g1_at_every_blend():
    """Consecutive pieces meet (< 1e-9 mm) with equal tangents (< 1e-9 rad) at every blend."""
    out = _outline()
    prims = out.prims
    for a, b in zip(prims, prims[1:] + prims[:1], strict=True):
        assert math.dist(a.p1, b.p0) < 1e-9
        ta, tb = a.tangent(1.0), b.tangent(0.0)
        assert abs(math.atan2(ta[0] * tb[1] - ta[1] * tb[0], float(ta @ tb))) < 1e-9


def test_area_is_exact_against_a_dense_polygon():
    """Green's-theorem area vs a 1 nm chord polygon (rel 1e-7) and the B-rep face (1e-9)."""
    out = _outline()
    assert out.area_mm2 == pytest.approx(Polygon(out.polygon(1e-6)).area, rel=1e-7)
    import cadquery as cq

    from iastm_tools.solid import outline_wire

    assert out.area_mm2 == pytest.approx(cq.Face.makeFromWires(outline_wire(out)).Area(), rel=1e-9)


def test_rectangle_area_with_corner_blends():
    """A 100 x 40 rectangle with R5 blends loses (4 - pi) r^2 of area."""
    data = {
        "name": "rect",
        "material": "304",
        "thickness_mm": 4.0,
        "corner_radius_mm": 5.0,
        "start": [0.0, 0.0],
        "default_edge": {"style": "square"},
        "segments": [
            {"kind": "line", "to": p}
            for p in ([100.0, 0.0], [100.0, 40.0], [0.0, 40.0], [0.0, 0.0])
        ],
    }
    out = build_outline(Profile.from_dict(data))
    assert out.area_mm2 == pytest.approx(4000.0 - (4 - math.pi) * 25.0, rel=1e-12)
    assert out.perimeter_mm == pytest.approx(2 * (100 + 40) - 8 * 5 + 2 * math.pi * 5, rel=1e-12)


def test_knob_is_a_major_arc_and_tip_a_minor_arc():
    data = {
        "name": "knob",
        "material": "304",
        "thickness_mm": 4.0,
        "corner_radius_mm": 3.0,
        "start": [0.0, -8.0],
        "default_edge": {"style": "full_round"},
        "segments": [
            {"kind": "line", "to": [80.0, -8.0]},
            {"kind": "knob", "to": [80.0, 8.0], "radius_mm": 15.0},
            {"kind": "line", "to": [0.0, 8.0]},
            {"kind": "tip", "to": [0.0, -8.0], "radius_mm": 8.0},
        ],
    }
    prof = Profile.from_dict(data)
    out = build_outline(prof)
    knob, tip = out.for_segment(1), out.for_segment(3)
    assert knob.sweep_rad > math.pi and knob.curvature_per_mm == pytest.approx(1 / 15)
    assert 0 < tip.sweep_rad <= math.pi + 1e-12 and tip.curvature_per_mm == pytest.approx(1 / 8)
    xmin, _, xmax, _ = out.bbox_mm
    assert xmax == pytest.approx(80 + math.sqrt(15**2 - 8**2) + 15, abs=1e-3)
    assert xmin == pytest.approx(-8.0, abs=1e-3)


def test_concave_and_convex_signs():
    out = _outline()
    assert out.for_segment(1).curvature_per_mm == pytest.approx(-1 / 80)
    assert out.for_segment(5).curvature_per_mm == pytest.approx(1 / 120)
    # the concave edge's midpoint lies inside the chord line y = 0 (into the plate)
    assert out.for_segment(1).midpoint()[1] > 0


@given(st.floats(20.0, 200.0), st.floats(25.0, 300.0), st.floats(0.8, 8.0))
def test_validated_outlines_are_simple_and_ccw(concave, convex, corner):
    try:
        prof = Profile.from_dict(
            blade_dict(concave_radius_mm=concave, convex_radius_mm=convex, corner_radius_mm=corner)
        )
    except ProfileError:
        return
    out = validate_outline(prof)
    poly = Polygon(out.polygon())
    assert poly.is_valid and out.area_mm2 > 0
    normals_ok = []
    for p in out.prims:  # outward normals point out of the polygon
        q = p.point(0.5) + 0.01 * p.normal_out(0.5)
        normals_ok.append(not poly.contains(_pt(q)))
    assert all(normals_ok)


def _pt(q: np.ndarray):
    from shapely.geometry import Point

    return Point(float(q[0]), float(q[1]))
