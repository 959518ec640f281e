"""Edge cross-sections against closed-form geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iastm_tools.profile import EdgeSpec, max_apex_radius_mm
from iastm_tools.section import edge_section
from iastm_tools.solid import _removed_props


def _corner_area(r: float, apex_angle: float) -> float:
    """Area between a sharp corner of interior angle ``apex_angle`` and its fillet of radius r."""
    return r * r * (1.0 / math.tan(apex_angle / 2.0) - (math.pi - apex_angle) / 2.0)


def analytic_removed_area(spec: EdgeSpec, t: float) -> float:
    """Closed-form area machined from the T x (bevel) corner region (mm^2)."""
    a = math.radians(spec.angle_deg)
    if spec.style == "single_bevel":
        return t * t / (2 * math.tan(a)) + _corner_area(spec.apex_radius_mm, a)
    if spec.style == "double_bevel":
        return t * t / (4 * math.tan(a)) + _corner_area(spec.apex_radius_mm, 2 * a)
    if spec.style == "full_round":
        return t * t / 2 - math.pi * t * t / 8
    return 2 * _corner_area(spec.edge_break_radius_mm, math.pi / 2)


SPECS = st.one_of(
    st.builds(
        lambda a, f, r: EdgeSpec("single_bevel", a, r, f, 0.0, True),
        st.floats(20, 70),
        st.sampled_from(["top", "bottom"]),
        st.floats(0.0, 1.0),
    ),
    st.builds(
        lambda a, r: EdgeSpec("double_bevel", a, r, "top", 0.0, True),
        st.floats(20, 70),
        st.floats(0.0, 1.0),
    ),
    st.just(EdgeSpec("full_round", working=True)),
    st.builds(lambda r: EdgeSpec("square", edge_break_radius_mm=r), st.floats(0.05, 1.5)),
)


def _clip_apex(spec: EdgeSpec, t: float) -> EdgeSpec:
    if spec.style in ("single_bevel", "double_bevel"):
        r = max(0.1, min(spec.apex_radius_mm, max_apex_radius_mm(spec.style, spec.angle_deg, t)))
        return EdgeSpec(spec.style, spec.angle_deg, r, spec.face, 0.0, True)
    return spec


@given(SPECS, st.floats(3.0, 6.0))
def test_removed_area_matches_closed_form(spec, t):
    """Polyline area within 1e-4 relative and the exact B-rep face area within 1e-7."""
    spec = _clip_apex(spec, t)
    sec = edge_section(spec, t)
    expected = analytic_removed_area(spec, t)
    assert sec.removed_area_mm2() == pytest.approx(expected, rel=1e-4)
    area, _ = _removed_props(sec)
    assert area == pytest.approx(expected, rel=1e-7)


@given(SPECS, st.floats(3.0, 6.0))
def test_section_curve_is_continuous_and_spans_the_thickness(spec, t):
    spec = _clip_apex(spec, t)
    sec = edge_section(spec, t)
    if not sec.pieces:
        return
    for a, b in zip(sec.pieces[:-1], sec.pieces[1:], strict=True):
        assert math.dist(a.b, b.a) < 1e-9
    assert sec.pieces[0].a[1] == pytest.approx(t)
    assert sec.pieces[-1].b[1] == pytest.approx(0.0, abs=1e-12)
    poly = sec.polyline()
    assert np.all(poly[:, 0] <= 1e-9)  # nothing outside the nominal outline
    assert np.all((poly[:, 1] >= -1e-9) & (poly[:, 1] <= t + 1e-9))
    assert max(poly[:, 0]) == pytest.approx(sec.apex[0], abs=1e-3)


def test_single_bevel_geometry():
    """45 deg on 4 mm: 4 mm wide; a 0.5 mm hone puts the apex 0.5 (sqrt2 - 1) / ... inward."""
    sec = edge_section(EdgeSpec("single_bevel", 45.0, 0.5, "top", 0.0, True), 4.0)
    assert sec.bevel_width_mm == pytest.approx(4.0)
    # hone centre on the bisector at r / sin(22.5 deg) from the sharp apex
    d = 0.5 / math.sin(math.radians(22.5))
    cx = -d * math.cos(math.radians(22.5))
    assert sec.apex == pytest.approx((cx + 0.5, 0.5))
    bottom = edge_section(EdgeSpec("single_bevel", 45.0, 0.5, "bottom", 0.0, True), 4.0)
    assert bottom.apex == pytest.approx((cx + 0.5, 3.5))


def test_double_bevel_and_full_round_apex_at_mid_thickness():
    dbl = edge_section(EdgeSpec("double_bevel", 30.0, 0.4, "top", 0.0, True), 5.0)
    assert dbl.apex[1] == pytest.approx(2.5)
    assert dbl.bevel_width_mm == pytest.approx(2.5 / math.tan(math.radians(30)))
    rnd = edge_section(EdgeSpec("full_round", working=True), 5.0)
    assert rnd.apex == pytest.approx((0.0, 2.5))
    assert rnd.bevel_width_mm == pytest.approx(2.5)
