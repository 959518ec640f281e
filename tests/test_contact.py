"""Contact solver against analytic references (Johnson, Contact Mechanics, 1985).

Tissue numbers follow /work/shared/reference/contact_mechanics.md: E = 50 kPa, nu = 0.49
(plus others).  Each test states its reference and tolerance in the docstring.
"""

from __future__ import annotations

import itertools
import math
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iastm_tools.contact import (
    ContactInputError,
    Layer,
    TissueStack,
    calibrate_winkler,
    solve,
    solve_line,
)
from iastm_tools.contact import reference as ref
from iastm_tools.errors import IastmError

E_KPA = 50.0
NU = 0.49
E_STAR = E_KPA / (1.0 - NU**2)
HALFSPACE = TissueStack.halfspace(E_KPA, NU)


def sphere_grid(a_mm: float, n: int, radius_mm: float, box: float = 4.0):
    """Paraboloid gap on an n x n grid of size box*a with the apex on a node."""
    dx = box * a_mm / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    return (X**2 + Y**2) / (2.0 * radius_mm), dx


@pytest.fixture(scope="module")
def hertz_case():
    """Hertz sphere R = 5 mm, 5 N on E = 50 kPa, nu = 0.49, solved at 64^2 and 128^2."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    out = {}
    for n in (64, 128):
        gap, dx = sphere_grid(h.half_width_mm, n, 5.0)
        out[n] = solve(gap, dx, HALFSPACE, force_n=5.0, model="halfspace")
    return h, out


@pytest.mark.parametrize("n", [64, 128])
def test_hertz_sphere_halfspace(hertz_case, n):
    """Hertz sphere (Johnson eqs. 4.22-4.23): p0, a, delta within 0.5 % at a/dx = 16, 32;
    force balance sum(p) dA = F within 1e-6 (relative)."""
    h, res = hertz_case
    r = res[n]
    assert r.converged
    assert r.peak_pressure_kpa == pytest.approx(h.peak_pressure_kpa, rel=5e-3)
    assert r.contact_width_mm / 2 == pytest.approx(h.half_width_mm, rel=5e-3)
    assert r.contact_length_mm / 2 == pytest.approx(h.half_width_mm, rel=5e-3)
    assert r.approach_mm == pytest.approx(h.approach_mm, rel=5e-3)
    dA = r.spacing_mm[0] * r.spacing_mm[1]
    assert r.pressure_kpa.sum() * dA * 1e-3 == pytest.approx(5.0, rel=1e-6)
    assert r.force_n == pytest.approx(5.0, rel=1e-6)


def test_hertz_pressure_profile(hertz_case):
    """Pressure field vs p0 sqrt(1 - r^2/a^2) (Johnson eq. 4.21): max deviation inside
    0.9 a below 0.5 % of p0 at a/dx = 32."""
    h, res = hertz_case
    r = res[128]
    n = r.pressure_kpa.shape[0]
    x = (np.arange(n) - n // 2) * r.spacing_mm[0]
    X, Y = np.meshgrid(x, x, indexing="ij")
    rr = np.hypot(X, Y)
    ph = ref.hertz_sphere_pressure(rr, h.half_width_mm, h.peak_pressure_kpa)
    inside = rr < 0.9 * h.half_width_mm
    assert np.abs(r.pressure_kpa - ph)[inside].max() < 5e-3 * h.peak_pressure_kpa


def test_regime_flags_and_large_deformation_warning(hertz_case):
    """R from the gap curvature (exact paraboloid: 1e-9), a/R and approach/R as in the
    reference note (a/R = 1.32, delta/R = 1.73 within 1 %), and a small-strain warning."""
    h, res = hertz_case
    r = res[128]
    assert r.radius_x_mm == pytest.approx(5.0, rel=1e-9)
    assert r.a_over_r == pytest.approx(h.half_width_mm / 5.0, rel=1e-2)
    assert r.approach_over_r == pytest.approx(h.approach_mm / 5.0, rel=1e-2)
    assert r.a_over_h == 0.0
    assert not r.small_strain_valid
    assert r.max_strain_estimate == pytest.approx(h.peak_pressure_kpa / E_STAR, rel=1e-2)
    if not r.large_deformation_corrected:
        assert any("outside small-strain theory" in w for w in r.warnings)
    assert not any("singularity" in w for w in r.warnings)


def test_small_load_is_in_small_strain_range():
    """0.01 N on R = 5 mm: a/R = 0.17 < 0.3, delta/R = 0.03 (Hertz): no regime warning."""
    h = ref.hertz_sphere(5.0, 0.01, E_STAR)
    gap, dx = sphere_grid(h.half_width_mm, 64, 5.0)
    r = solve(gap, dx, HALFSPACE, force_n=0.01, model="halfspace")
    assert r.small_strain_valid
    assert r.warnings == ()
    assert r.a_over_r == pytest.approx(h.half_width_mm / 5.0, rel=5e-3)


def test_displacement_control_matches_hertz():
    """Displacement control at the Hertz approach: F within 0.5 % (Johnson eq. 4.23)."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    gap, dx = sphere_grid(h.half_width_mm, 64, 5.0)
    r = solve(gap, dx, HALFSPACE, approach_mm=h.approach_mm, model="halfspace")
    assert r.converged
    assert r.force_n == pytest.approx(5.0, rel=5e-3)
    assert r.approach_mm == h.approach_mm


@settings(max_examples=8, deadline=None)
@given(
    radius=st.floats(2.0, 20.0),
    youngs=st.floats(10.0, 200.0),
    force=st.floats(0.2, 10.0),
    nu=st.floats(0.3, 0.5),
)
def test_hertz_scaling_property(radius, youngs, force, nu):
    """Over R, E, nu, F: force balance within 1e-6 and p0, a within 0.5 % of Hertz at
    a/dx = 16 (Johnson eqs. 4.22-4.23)."""
    es = youngs / (1 - nu**2)
    h = ref.hertz_sphere(radius, force, es)
    gap, dx = sphere_grid(h.half_width_mm, 64, radius)
    r = solve(gap, dx, TissueStack.halfspace(youngs, nu), force_n=force, model="halfspace")
    assert r.pressure_kpa.sum() * dx * dx * 1e-3 == pytest.approx(force, rel=1e-6)
    assert r.peak_pressure_kpa == pytest.approx(h.peak_pressure_kpa, rel=5e-3)
    assert r.contact_width_mm / 2 == pytest.approx(h.half_width_mm, rel=5e-3)


def test_elliptical_hertz_crowned_edge():
    """Crowned 40 mm edge (Rx = 1.5, Ry = 24.6 mm, 10 N): elliptical Hertz (Johnson
    section 4.2(b)) p0, both semi-axes and delta within 0.5 % at b/dx = 16, rectangular pixels."""
    h = ref.hertz_ellipse(1.5, 24.6, 10.0, E_STAR)
    assert 2 * h.half_length_mm == pytest.approx(40.0, rel=1e-3)  # reference note: 2a = 40
    assert h.peak_pressure_kpa == pytest.approx(73.22, rel=1e-3)
    n = 64
    dx, dy = 4 * h.half_width_mm / n, 4 * h.half_length_mm / n
    x = (np.arange(n) - n // 2) * dx
    y = (np.arange(n) - n // 2) * dy
    X, Y = np.meshgrid(x, y, indexing="ij")
    r = solve(X**2 / 3.0 + Y**2 / 49.2, (dx, dy), HALFSPACE, force_n=10.0, model="halfspace")
    assert r.peak_pressure_kpa == pytest.approx(h.peak_pressure_kpa, rel=5e-3)
    assert r.contact_extent_x_mm / 2 == pytest.approx(h.half_width_mm, rel=5e-3)
    assert r.contact_extent_y_mm / 2 == pytest.approx(h.half_length_mm, rel=5e-3)
    assert r.approach_mm == pytest.approx(h.approach_mm, rel=5e-3)
    assert r.radius_x_mm == pytest.approx(1.5, rel=1e-6)
    assert r.radius_y_mm == pytest.approx(24.6, rel=1e-6)


def test_plane_strain_cylinder_line_solver():
    """Plane-strain cylinder R = 1.5 mm, 250 N/m (Johnson eqs. 4.43-4.45), non-periodic
    1-D solver: b and p0 within 0.5 % at b/dx = 16 and 32."""
    h = ref.hertz_cylinder(1.5, 0.25, E_STAR)
    assert h.half_width_mm == pytest.approx(2.694, rel=1e-3)  # reference note
    for n in (128, 256):
        dx = 8 * h.half_width_mm / n
        x = (np.arange(n) - n // 2) * dx
        r = solve_line(x**2 / 3.0, dx, HALFSPACE, 0.25)
        assert r.half_width_mm == pytest.approx(h.half_width_mm, rel=5e-3)
        assert r.peak_pressure_kpa == pytest.approx(h.peak_pressure_kpa, rel=5e-3)
        assert r.force_per_length_n_per_mm == pytest.approx(0.25, rel=1e-9)


def test_westergaard_sinusoid_periodic():
    """Westergaard sinusoid (Johnson eqs. 13.7-13.9) at mean p = 0.3 p*: half-width within
    0.5 % and peak pressure within 0.1 %, periodic line solver, 256 points per period."""
    lam, amp = 10.0, 0.2
    p_star = math.pi * E_STAR * amp / lam
    pm = 0.3 * p_star
    a, pk = ref.westergaard(lam, amp, pm, E_STAR)
    n = 256
    dx = lam / n
    x = (np.arange(n) - n // 2) * dx
    r = solve_line(amp * (1 - np.cos(2 * np.pi * x / lam)), dx, HALFSPACE, pm * lam * 1e-3,
                   periodic=True)
    assert r.half_width_mm == pytest.approx(a, rel=5e-3)
    assert r.peak_pressure_kpa == pytest.approx(pk, rel=1e-3)
    prof = ref.westergaard_pressure(x, lam, amp, pm, E_STAR)
    assert np.abs(r.pressure_kpa - prof).max() < 0.02 * pk


@pytest.fixture(scope="module")
def flat_punch():
    """Flat circular punch a = 2 mm, approach 0.1 mm, at a/dx = 32: half-space and a
    2 mm bonded layer (a/h = 1)."""
    ap, n = 2.0, 128
    dx = 4 * ap / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    gap = np.where(ap**2 >= X**2 + Y**2, 0.0, 1.0)
    hs = solve(gap, dx, HALFSPACE, approach_mm=0.1, model="halfspace")
    lay = solve(gap, dx, TissueStack.layer_on_bone(2.0, E_KPA, NU), approach_mm=0.1)
    return ap, hs, lay


def test_sneddon_flat_punch_stiffness(flat_punch):
    """Sneddon flat punch F = 2 E* a delta (Johnson eq. 3.36) within 1 % at a/dx = 32 (the
    pixelated circle with a singular edge converges like dx/a), and the edge singularity
    is reported as a warning."""
    ap, hs, _ = flat_punch
    k = hs.force_n / 0.1
    assert k == pytest.approx(ref.sneddon_flat_punch_stiffness(ap, E_STAR), rel=1e-2)
    assert any("singularity" in w for w in hs.warnings)
    assert math.isinf(hs.radius_x_mm)


def test_hayes_flat_punch_kappa(flat_punch):
    """Bonded layer a/h = 1, nu = 0.49: F_layer / F_halfspace on the same grid vs the Hayes
    et al. (1972) kappa (their Fredholm equation, reference.hayes_flat_punch_kappa) within
    1 %.  The ratio cancels most of the pixelated-edge error; the remainder (-0.5 % at
    a/dx = 32, -1.2 % at 16) converges like dx/a."""
    _, hs, lay = flat_punch
    kappa = ref.hayes_flat_punch_kappa(1.0, NU)
    assert lay.force_n / hs.force_n == pytest.approx(kappa, rel=1e-2)
    assert lay.a_over_h == pytest.approx(1.0, rel=2e-2)


def test_hayes_kappa_limits():
    """kappa -> 1 as a/h -> 0 (Hayes 1972: kappa(0.2, nu=0.3) ~ 1.21): within 1e-3 of 1 at
    a/h = 1e-3; and for nu = 0.5 the Nystrom solution approaches the thin-layer asymptote
    F = 3 pi G a^4 delta / (8 h^3) monotonically, within 16 % at a/h = 40 (the next term
    is O(h/a): ratios 2.72, 1.72, 1.32, 1.15 at a/h = 5, 10, 20, 40)."""
    assert ref.hayes_flat_punch_kappa(1e-3, 0.3) == pytest.approx(1.0, abs=1e-3)
    ratios = []
    for a in (5.0, 10.0, 20.0, 40.0):
        k = ref.hayes_flat_punch_kappa(a, 0.5)
        stiff = 2 * (E_KPA / 0.75) * a * k * 1e-3
        ratios.append(stiff / ref.thin_layer_flat_punch_stiffness(a, 1.0, E_KPA))
    assert all(r1 > r2 > 1.0 for r1, r2 in itertools.pairwise(ratios))
    assert ratios[-1] == pytest.approx(1.0, rel=0.16)


def test_winkler_calibrated_preview():
    """Calibrated Winkler reproduces the BEM peak pressure at the calibration load (1e-8),
    and at another load follows its closed form P = pi k R delta^2 (reference note 3.7)
    within 1 % (grid sampling of the paraboloid volume)."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    gap, dx = sphere_grid(h.half_width_mm, 64, 5.0)
    tissue = TissueStack.layer_on_bone(10.0, E_KPA, NU)
    k = calibrate_winkler(gap, dx, tissue, force_n=5.0)
    bem = solve(gap, dx, tissue, force_n=5.0)
    w = solve(gap, dx, tissue, force_n=5.0, model="winkler", winkler_k_kpa_per_mm=k)
    assert w.peak_pressure_kpa == pytest.approx(bem.peak_pressure_kpa, rel=1e-8)
    w2 = solve(gap, dx, tissue, force_n=2.0, model="winkler", winkler_k_kpa_per_mm=k)
    assert w2.force_n == pytest.approx(math.pi * k * 5.0 * w2.approach_mm**2 * 1e-3, rel=1e-2)


# ------------------------------------------------------------------ large deformation hook


@dataclass(frozen=True)
class _FakeCorrection:
    force_factor: float
    pressure_factor: float
    width_factor: float
    in_range: bool
    note: str


def test_large_deformation_correction_is_applied(monkeypatch, hertz_case):
    """With a calibrated correction module present, corrected_* = linear value x factor
    (exact), the linear fields are unchanged and a warning says so."""
    h, res = hertz_case
    fake = types.ModuleType("iastm_tools.contact.large_deformation")
    calls = []

    def correction(shape, approach_over_r, a_over_h):
        calls.append((shape, approach_over_r, a_over_h))
        return _FakeCorrection(0.8, 1.25, 0.9, True, "fake FE table")

    fake.correction = correction
    monkeypatch.setitem(sys.modules, "iastm_tools.contact.large_deformation", fake)
    import iastm_tools.contact as pkg

    monkeypatch.setattr(pkg, "large_deformation", fake, raising=False)
    gap, dx = sphere_grid(h.half_width_mm, 64, 5.0)
    r = solve(gap, dx, HALFSPACE, force_n=5.0, model="halfspace")
    assert calls and calls[0][0] == "sphere"
    assert r.large_deformation_corrected
    assert r.corrected_peak_pressure_kpa == pytest.approx(1.25 * r.peak_pressure_kpa, rel=1e-12)
    assert r.corrected_contact_width_mm == pytest.approx(0.9 * r.contact_width_mm, rel=1e-12)
    assert r.peak_pressure_kpa == pytest.approx(res[64].peak_pressure_kpa, rel=1e-12)
    assert any("correction applied" in w for w in r.warnings)


def test_large_deformation_none_gives_warning(monkeypatch, hertz_case):
    """A module returning None (outside its calibrated range) -> no corrected values and the
    'no calibrated correction' warning."""
    h, _ = hertz_case
    fake = types.ModuleType("iastm_tools.contact.large_deformation")
    fake.correction = lambda shape, approach_over_r, a_over_h: None
    monkeypatch.setitem(sys.modules, "iastm_tools.contact.large_deformation", fake)
    import iastm_tools.contact as pkg

    monkeypatch.setattr(pkg, "large_deformation", fake, raising=False)
    gap, dx = sphere_grid(h.half_width_mm, 64, 5.0)
    r = solve(gap, dx, HALFSPACE, force_n=5.0, model="halfspace")
    assert not r.large_deformation_corrected
    assert r.corrected_peak_pressure_kpa is None
    assert any("no calibrated correction" in w for w in r.warnings)


def test_flat_ended_edge_reports_end_singularity():
    """Flat-ended cylinder R1.5 x 40 mm, 10 N (reference note 3.5): the end spike
    (p_max / p0 = 2.97 at 128^2 there) is reported, and found to grow between the coarse
    pre-solve and the fine grid; a crowned edge is not flagged (test_regime_flags...)."""
    n = 96
    b = 3.0
    dx, dy = 4 * b / n, 60.0 / n
    x = (np.arange(n) - n // 2) * dx
    y = (np.arange(n) - n // 2) * dy
    X, Y = np.meshgrid(x, y, indexing="ij")
    gap = np.where(np.abs(Y) <= 20.0, X**2 / 3.0, 50.0)
    r = solve(gap, (dx, dy), HALFSPACE, force_n=10.0, model="halfspace")
    assert any("singularity" in w and "grows with refinement" in w for w in r.warnings)
    assert r.contact_length_mm == pytest.approx(40.0, rel=0.05)


# ------------------------------------------------------------------------------ bad input


def _good():
    gap, dx = sphere_grid(6.58, 64, 5.0)
    return gap, dx


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"force_n": 0.0}, "force_n"),
        ({"force_n": -1.0}, "force_n"),
        ({"force_n": math.nan}, "force_n"),
        ({}, "exactly one"),
        ({"force_n": 1.0, "approach_mm": 1.0}, "exactly one"),
        ({"force_n": 1.0, "model": "magic"}, "model"),
    ],
)
def test_bad_load_arguments(kwargs, match):
    """Zero/negative/NaN force, both or neither of force/approach, unknown model."""
    gap, dx = _good()
    with pytest.raises(ContactInputError, match=match):
        solve(gap, dx, HALFSPACE, **kwargs)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nonfinite_gap(bad):
    """NaN or inf in the gap raise an IastmError (ValueError), never a number."""
    gap, dx = _good()
    gap[3, 4] = bad
    with pytest.raises(IastmError, match="NaN or inf"):
        solve(gap, dx, HALFSPACE, force_n=1.0)
    assert issubclass(ContactInputError, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"thickness_mm": 1.0, "youngs_kpa": 0.0, "poisson": 0.49},
        {"thickness_mm": 1.0, "youngs_kpa": -5.0, "poisson": 0.49},
        {"thickness_mm": 1.0, "youngs_kpa": 50.0, "poisson": 0.0},
        {"thickness_mm": 1.0, "youngs_kpa": 50.0, "poisson": 0.51},
        {"thickness_mm": 0.0, "youngs_kpa": 50.0, "poisson": 0.49},
    ],
)
def test_bad_tissue(kwargs):
    """Non-positive modulus/thickness or Poisson outside (0, 0.5] raise IastmError."""
    with pytest.raises(IastmError):
        Layer(**kwargs)


def test_bad_spacing_and_shape():
    """Non-positive spacing, wrong dimension, too small grids raise ContactInputError."""
    gap, dx = _good()
    with pytest.raises(ContactInputError, match="spacing"):
        solve(gap, 0.0, HALFSPACE, force_n=1.0)
    with pytest.raises(ContactInputError, match="spacing"):
        solve(gap, (dx, dx, dx), HALFSPACE, force_n=1.0)
    with pytest.raises(ContactInputError, match="2-D"):
        solve(gap[0], dx, HALFSPACE, force_n=1.0)
    with pytest.raises(ContactInputError, match="tissue"):
        solve(gap, dx, "skin", force_n=1.0)
    with pytest.raises(ContactInputError, match="radius_mm"):
        solve(gap, dx, HALFSPACE, force_n=1.0, radius_mm=-2.0)


def test_grid_too_coarse():
    """Contact half-width below 4 pixels raises (grid too coarse)."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    gap, dx = sphere_grid(h.half_width_mm, 12, 5.0)
    with pytest.raises(ContactInputError, match="too coarse") as err:
        solve(gap, dx, HALFSPACE, force_n=5.0, model="halfspace")
    # the rejected solve travels with the error (a caller that cannot refine uses it): it
    # is the same as the solve without the check
    unchecked = solve(gap, dx, HALFSPACE, force_n=5.0, model="halfspace", check_grid=False)
    assert err.value.result is not None
    np.testing.assert_array_equal(err.value.result.pressure_kpa, unchecked.pressure_kpa)
    assert err.value.result.force_n == pytest.approx(5.0, rel=1e-9)


def test_contact_touching_border():
    """A contact reaching the grid border raises (grid too small)."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    gap, dx = sphere_grid(h.half_width_mm, 48, 5.0, box=1.8)
    with pytest.raises(ContactInputError, match="too small"):
        solve(gap, dx, HALFSPACE, force_n=5.0, model="halfspace")


def test_window_mean_pressure(hertz_case):
    """1 cm^2 window mean (Fischer 1987 probe area): equals F / window area when the window
    covers the whole contact (pixel-disc area, 1e-9), lies between the mean contact
    pressure scale and the peak for a smaller window, and rejects a bad area."""
    from iastm_tools.contact import window_mean_pressure_kpa

    h, res = hertz_case
    r = res[64]
    dx = r.spacing_mm[0]
    big = window_mean_pressure_kpa(r, area_mm2=math.pi * (2.0 * h.half_width_mm) ** 2)
    rad = 2.0 * h.half_width_mm
    k = int(rad // dx)
    xs = np.arange(-k, k + 1) * dx
    n_px = int((xs[:, None] ** 2 + xs[None, :] ** 2 <= rad**2).sum())
    assert big == pytest.approx(5.0 * 1e3 / (n_px * dx * dx), rel=1e-9)
    small = window_mean_pressure_kpa(r, area_mm2=100.0)
    assert big < small < r.peak_pressure_kpa
    with pytest.raises(ContactInputError):
        window_mean_pressure_kpa(r, area_mm2=-1.0)


@pytest.mark.parametrize("stretch", [1.03, 1.1, 1.17, 1.25])
def test_contact_size_any_node_alignment(stretch):
    """Contact radius within 0.5 % of Hertz (Johnson eq. 4.22) at a/dx >= 16 when the edge
    falls between nodes (grid box stretched so a/dx is not an integer)."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    n = math.ceil(64 * stretch)
    gap, dx = sphere_grid(h.half_width_mm, n, 5.0, box=4.0 * stretch)
    assert h.half_width_mm / dx >= 16.0
    r = solve(gap, dx, HALFSPACE, force_n=5.0, model="halfspace")
    assert r.contact_width_mm / 2 == pytest.approx(h.half_width_mm, rel=5e-3)
    assert r.contact_length_mm / 2 == pytest.approx(h.half_width_mm, rel=5e-3)
    assert r.peak_pressure_kpa == pytest.approx(h.peak_pressure_kpa, rel=5e-3)


def test_summary_is_json_ready(hertz_case):
    """summary() holds the scalar results with units in the keys and serialises to JSON."""
    import json

    _, res = hertz_case
    d = res[64].summary()
    assert d["force_n"] == pytest.approx(5.0, rel=1e-9)
    assert {"peak_pressure_kpa", "contact_width_mm", "a_over_r", "warnings"} <= set(d)
    assert "pressure_kpa" not in d
    json.dumps(d)


# ---------------------------------------------------------------- preconditioned solver

# stiff skin on soft fat on muscle: the stack of the lead's calf fits (skin 1.3 mm 894 kPa,
# fat 6 mm 26.1 kPa, muscle half-space 15.2 kPa), the case the preconditioner is for
CALF = TissueStack(
    (Layer(1.3, 894.0, 0.49, "skin"), Layer(6.0, 26.1, 0.49, "fat"),
     Layer(math.inf, 15.2, 0.49, "muscle")),
    base="halfspace",
)


def tilted_flat_face(nx: int = 160, ny: int = 128, spacing=(0.05, 0.25)):
    """Punch-like gap (mm): a 3 x 20 mm flat face with 0.5 mm edge radii, tilted 0.002 rad
    about y, on anisotropic 1:5 pixels (like the fits' edge-aligned grids)."""
    x = (np.arange(nx) - nx // 2) * spacing[0]
    y = (np.arange(ny) - ny // 2) * spacing[1]
    X, Y = np.meshgrid(x, y, indexing="ij")
    rim = (np.maximum(np.abs(X) - 1.5, 0.0) ** 2 + np.maximum(np.abs(Y) - 10.0, 0.0) ** 2) / 1.0
    return rim + 0.002 * X, spacing


def test_preconditioned_matches_plain_hertz():
    """Hertz sphere on a half-space (a/dx = 16), tol 1e-10: the preconditioned and the plain
    Polonsky-Keer solves give the same pressure field within 1e-6 p0 (max abs) and the same
    approach within 1e-8 (relative); both converge, both within 0.5 % of Hertz p0."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    gap, dx = sphere_grid(h.half_width_mm, 64, 5.0)
    kw = dict(force_n=5.0, model="halfspace", tol=1e-10)
    pre = solve(gap, dx, HALFSPACE, **kw)
    plain = solve(gap, dx, HALFSPACE, precondition=False, **kw)
    assert pre.converged and plain.converged
    assert np.abs(pre.pressure_kpa - plain.pressure_kpa).max() < 1e-6 * h.peak_pressure_kpa
    assert pre.approach_mm == pytest.approx(plain.approach_mm, rel=1e-8)
    assert pre.peak_pressure_kpa == pytest.approx(h.peak_pressure_kpa, rel=5e-3)


@pytest.mark.parametrize("control", [{"force_n": 5.0}, {"approach_mm": 1.0}])
def test_preconditioned_matches_plain_punch_on_layers(control):
    """Tilted flat face on skin/fat/muscle (load and displacement control), tol 1e-9: same
    pressure within 1e-6 of the peak (max abs), same force and approach within 1e-7
    (relative), and the preconditioned solve takes under 0.6x the plain iterations
    (measured: 160 vs 577 under load control, 206 vs 411 under displacement control)."""
    gap, spacing = tilted_flat_face()
    kw = dict(tol=1e-9, check_grid=False, **control)
    pre = solve(gap, spacing, CALF, **kw)
    plain = solve(gap, spacing, CALF, precondition=False, **kw)
    assert pre.converged and plain.converged
    peak = plain.peak_pressure_kpa
    assert np.abs(pre.pressure_kpa - plain.pressure_kpa).max() < 1e-6 * peak
    assert pre.force_n == pytest.approx(plain.force_n, rel=1e-7)
    assert pre.approach_mm == pytest.approx(plain.approach_mm, rel=1e-7)
    assert pre.iterations < 0.6 * plain.iterations


def test_preconditioner_fallback_to_plain(monkeypatch):
    """If the preconditioned finish gives up (forced: no restart allowed), the plain
    iteration continues from its pressure: same converged answer (1e-6 of the peak)."""
    from iastm_tools.contact import _pk

    gap, spacing = tilted_flat_face()
    plain = solve(gap, spacing, CALF, force_n=5.0, check_grid=False, precondition=False,
                  tol=1e-9)
    monkeypatch.setattr(_pk, "FINISH_MAX_RESTARTS", 0)
    fallback = solve(gap, spacing, CALF, force_n=5.0, check_grid=False, tol=1e-9)
    assert fallback.converged
    diff = np.abs(fallback.pressure_kpa - plain.pressure_kpa).max()
    assert diff < 1e-6 * plain.peak_pressure_kpa


def test_pressure_guess_gives_the_same_answer_in_fewer_iterations():
    """A guess (the solve on a 2x coarser grid, interpolated) replaces the coarse
    pre-solve: the same converged field (1e-6 of the peak), force and approach (1e-7) as
    without it, in under 0.7x the iterations (measured: 83 vs 161); a guess of the wrong shape or
    not finite is a ContactInputError."""
    from scipy import ndimage

    gap, spacing = tilted_flat_face()
    kw = dict(force_n=5.0, tol=1e-9, check_grid=False)
    fresh = solve(gap, spacing, CALF, **kw)
    coarse = solve(gap[::2, :], (2 * spacing[0], spacing[1]), CALF, **kw)
    ci, cj = np.meshgrid(np.arange(gap.shape[0]) / 2.0, np.arange(gap.shape[1]),
                         indexing="ij")
    guess = ndimage.map_coordinates(coarse.pressure_kpa, [ci, cj], order=1, mode="nearest")
    guided = solve(gap, spacing, CALF, pressure_guess_kpa=guess, **kw)
    assert fresh.converged and guided.converged
    peak = fresh.peak_pressure_kpa
    assert np.abs(guided.pressure_kpa - fresh.pressure_kpa).max() < 1e-6 * peak
    assert guided.force_n == pytest.approx(fresh.force_n, rel=1e-7)
    assert guided.approach_mm == pytest.approx(fresh.approach_mm, rel=1e-7)
    assert guided.iterations < 0.7 * fresh.iterations
    for bad in (guess[:-1], np.where(guess > 0, np.nan, 0.0)):
        with pytest.raises(ContactInputError, match="pressure_guess_kpa"):
            solve(gap, spacing, CALF, pressure_guess_kpa=bad, **kw)


def test_fft_share_splits_the_fft_threads_between_the_threads_inside(monkeypatch):
    """Threads inside ``fft_share()`` (a fit's contours) split ``FFT_WORKERS`` between
    them: 4 -> 2 each while two are inside (1 while a block is nested in one of them), 4
    for the one left; threads outside keep 4, and leaving restores the count."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from iastm_tools.contact import kernels

    monkeypatch.setattr(kernels, "FFT_WORKERS", 4)
    step = threading.Barrier(2)
    first_left = threading.Event()

    def contour(i: int) -> list[int]:
        seen = []
        with kernels.fft_share():
            step.wait(timeout=10)
            seen.append(kernels.fft_workers())
            step.wait(timeout=10)
            if i == 1:
                with kernels.fft_share():
                    seen.append(kernels.fft_workers())
                seen.append(kernels.fft_workers())
            step.wait(timeout=10)
            if i == 1:
                first_left.wait(timeout=10)
                seen.append(kernels.fft_workers())
        if i == 0:
            first_left.set()
        return seen

    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(contour, [0, 1]))
    assert outs == [[2], [2, 1, 2, 4]]
    assert kernels.fft_workers() == 4 and kernels._SHARING == 0


@pytest.mark.parametrize("tissue, model", [(HALFSPACE, "halfspace"), (CALF, "layered")])
@pytest.mark.parametrize("spacing", [(0.1, 0.1), (0.05, 0.25)])
def test_preconditioner_inverts_the_kernel(tissue, model, spacing):
    """M^-1 (K p) reproduces a localised, oscillating pressure pattern (4 and 8 pixel
    wavelengths under a Gaussian envelope) within 5 % (L2), on square and 1:5 pixels and
    for the layered stack; the symbol it divides by is strictly positive."""
    from iastm_tools.contact.kernels import Convolver, Preconditioner, kernel_symbol

    shape = (128, 96)
    conv = Convolver(shape, spacing, tissue, model)
    prec = Preconditioner(shape, spacing, tissue, model)
    x = (np.arange(shape[0]) - 64) * spacing[0]
    y = (np.arange(shape[1]) - 48) * spacing[1]
    X, Y = np.meshgrid(x, y, indexing="ij")
    env = np.exp(-(X**2 / 2.0 + Y**2 / 32.0))
    for k in (4, 8):
        p = env * np.cos(2 * np.pi * X / (k * spacing[0]))
        p *= np.cos(2 * np.pi * Y / (k * spacing[1]))
        z = prec(conv(p))
        assert np.linalg.norm(z - p) < 0.05 * np.linalg.norm(p)
    assert kernel_symbol(prec.fft_shape, spacing, tissue, model == "layered").min() > 0
    with pytest.raises(ValueError):
        Preconditioner(shape, spacing, tissue, model, fft_shape=(64, 96))


@settings(max_examples=60, deadline=None)
@given(p_in=st.floats(1e-3, 1e4), g_out=st.floats(1e-9, 1.0), d=st.floats(0.01, 0.5),
       e_star=st.floats(5.0, 5000.0), step=st.sampled_from([-1, 1]))
def test_edge_positions_solve_the_local_edge_relation(p_in, g_out, d, e_star, step):
    """The vectorised boundary of a contact run between an inside node (pressure p_in) and
    the next outside node (deformed gap g_out): the distance t it places inside the pixel
    is the root of (4 / (3 E*)) (d - t)^1.5 / sqrt(t) = g_out / p_in found by brentq to
    1e-13 d (within 1e-12 d, the scalar root finder's tolerance it replaced) whenever
    there is one in the pixel, else the pixel's end that the relation points to; the
    scalar wrapper gives the same number."""
    from scipy.optimize import brentq

    from iastm_tools.contact.solver import _edge_position, _edge_positions

    prof = np.array([0.0, p_in, p_in, 0.0])
    gprof = np.array([g_out, 0.0, 0.0, g_out])
    k_in, k_out = (2, 3) if step == 1 else (1, 0)
    pos = float(_edge_positions(prof[:, None], gprof[:, None], np.array([k_in]),
                                np.array([k_out]), np.array([0]), d, e_star)[0])
    assert pos == _edge_position(prof, gprof, k_in, k_out, d, e_star)
    t = (pos - k_in * d) * step
    assert -1e-12 * d <= t <= d * (1 + 1e-12)
    c, ratio = 4.0 / (3.0 * e_star), g_out / p_in

    def f(x: float) -> float:
        return c * (d - x) ** 1.5 / math.sqrt(x) - ratio

    lo, hi = 1e-12 * d, d * (1 - 1e-12)
    if f(lo) > 0 > f(hi):
        assert abs(t - brentq(f, lo, hi, xtol=1e-13 * d, rtol=1e-15)) <= 1e-12 * d
    else:
        assert t == (0.0 if f(lo) <= 0 else d)


@settings(max_examples=30, deadline=None)
@given(nx=st.integers(1, 40), ny=st.integers(1, 40), bx=st.integers(0, 20),
       by=st.integers(0, 20), dx=st.floats(0.01, 2.0), dy=st.floats(0.01, 2.0))
def test_kernel_layout_is_love_pixel_at_each_offset(nx, ny, bx, by, dx, dy):
    """The half-space kernel on the padded layout, looked up in the cached quadrant table
    of the whole grid (a window of it included), equals Love's pixel formula at each
    signed offset (1e-12 of the largest value) and is zero in the unused band."""
    from iastm_tools.contact.kernels import _offsets, kernel_real, love_pixel, padded_size

    tissue = TissueStack.halfspace(100.0, 0.49)
    box = None if bx == by == 0 else (nx + bx, ny + by)
    k = kernel_real((nx, ny), (dx, dy), tissue, "halfspace", box)
    ox = _offsets(nx, padded_size(nx), dx)
    oy = _offsets(ny, padded_size(ny), dy)
    used = np.isfinite(ox)[:, None] & np.isfinite(oy)[None, :]
    ref = love_pixel(np.nan_to_num(ox)[:, None], np.nan_to_num(oy)[None, :], dx, dy,
                     tissue.layers[0].plane_strain_kpa)
    assert np.all(k[~used] == 0.0)
    assert np.abs(k[used] - ref[used]).max() <= 1e-12 * np.abs(ref).max()
