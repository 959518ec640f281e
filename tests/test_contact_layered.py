"""Layered tissue: compliance, non-periodic layered kernel and layered contact references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iastm_tools.contact import ContactInputError, Layer, TissueStack, compliance_ratio, solve
from iastm_tools.contact import reference as ref
from iastm_tools.contact.layered import single_layer_phi

E_KPA = 50.0
NU = 0.49
E_STAR = E_KPA / (1.0 - NU**2)
Q = np.array([1e-4, 1e-3, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e5])


@pytest.mark.parametrize("nu", [0.3, 0.45, 0.49, 0.5])
@pytest.mark.parametrize("interface", ["bonded", "frictionless"])
def test_transfer_matrix_matches_closed_form(nu, interface):
    """Global-matrix (propagator) compliance vs the closed single-layer forms
    (Carbone & Mangialardi 2008 / ContactMechanics kernel; frictionless base) within 1e-7
    for q h >= 1e-3 (relative), including q h = 1e5 without overflow."""
    tissue = TissueStack.layer_on_bone(2.0, E_KPA, nu, interface)
    a = compliance_ratio(Q, tissue)
    b = single_layer_phi(Q * 2.0, nu, interface)
    sel = Q * 2.0 >= 1e-3
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a[sel], b[sel], rtol=1e-7)
    assert a[-1] == pytest.approx(1.0, abs=1e-12)


def test_compliance_limits():
    """q -> 0: bonded layer compliance -> h / M (confined modulus, uniaxial strain), frictionless
    -> (1 - nu^2) h / E; nu = 0.5 bonded -> phi ~ 2 (qh)^3 / 3 (thin-layer lubrication
    limit).  Tolerance 1e-4 at q h = 1e-4."""
    h = 2.0
    q = np.array([5e-5])
    m = E_KPA * (1 - NU) / ((1 + NU) * (1 - 2 * NU))
    c_bonded = 2 / (E_STAR * q) * compliance_ratio(q, TissueStack.layer_on_bone(h, E_KPA, NU))
    assert c_bonded[0] == pytest.approx(h / m, rel=1e-4)
    tf = TissueStack.layer_on_bone(h, E_KPA, NU, "frictionless")
    c_fr = 2 / (E_STAR * q) * compliance_ratio(q, tf)
    assert c_fr[0] == pytest.approx((1 - NU**2) * h / E_KPA, rel=1e-4)
    t = 1e-2
    phi = compliance_ratio(np.array([t / h]), TissueStack.layer_on_bone(h, E_KPA, 0.5))
    assert phi[0] == pytest.approx(2 * t**3 / 3, rel=1e-3)


def test_stack_of_identical_layers_equals_one_layer():
    """Two bonded 1 mm layers of one material == one 2 mm layer (1e-10); a layer on a
    half-space of the same material == half-space (phi = 1, 1e-10)."""
    one = compliance_ratio(Q, TissueStack.layer_on_bone(2.0, E_KPA, NU))
    two = compliance_ratio(Q, TissueStack((Layer(1.0, E_KPA, NU), Layer(1.0, E_KPA, NU))))
    np.testing.assert_allclose(two, one, rtol=1e-10, atol=1e-14)
    hs = compliance_ratio(
        Q, TissueStack((Layer(1.0, E_KPA, NU), Layer(math.inf, E_KPA, NU)), base="halfspace")
    )
    np.testing.assert_allclose(hs, 1.0, rtol=1e-10)


@settings(max_examples=15, deadline=None)
@given(
    e1=st.floats(5.0, 500.0), e2=st.floats(5.0, 500.0), e3=st.floats(5.0, 500.0),
    h1=st.floats(0.5, 5.0), h2=st.floats(0.5, 20.0), h3=st.floats(0.5, 30.0),
)
def test_three_layer_stack_is_bounded(e1, e2, e3, h1, h2, h3):
    """Skin/fat/muscle on bone: 0 <= phi, phi -> 1 at q h1 >> 1 (1e-6), and the stack is
    at least as stiff as a half-space of its softest layer (compliance ratio bound)."""
    tissue = TissueStack((Layer(h1, e1, 0.49), Layer(h2, e2, 0.49), Layer(h3, e3, 0.49)))
    phi = compliance_ratio(Q, tissue)
    assert np.all(np.isfinite(phi)) and np.all(phi >= 0)
    assert phi[-1] == pytest.approx(1.0, abs=1e-6)
    assert np.all(phi <= e1 / min(e1, e2, e3) * (1 + 1e-9))


def sphere_grid(a_mm: float, n: int, radius_mm: float, box: float = 4.0):
    dx = box * a_mm / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    return (X**2 + Y**2) / (2.0 * radius_mm), dx


def test_thick_layer_reduces_to_hertz():
    """h = 1e4 mm (a/h ~ 7e-4): layered model gives Hertz p0, a, delta within 0.5 %
    (Johnson eqs. 4.22-4.23) at a/dx = 16."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    gap, dx = sphere_grid(h.half_width_mm, 64, 5.0)
    r = solve(gap, dx, TissueStack.layer_on_bone(1e4, E_KPA, NU), force_n=5.0)
    assert r.peak_pressure_kpa == pytest.approx(h.peak_pressure_kpa, rel=5e-3)
    assert r.contact_width_mm / 2 == pytest.approx(h.half_width_mm, rel=5e-3)
    assert r.approach_mm == pytest.approx(h.approach_mm, rel=5e-3)


@pytest.mark.parametrize(
    "thickness, interface, nu",
    [(10.0, "bonded", 0.49), (5.0, "bonded", 0.49), (5.0, "frictionless", 0.49),
     (3.0, "bonded", 0.3)],
)
def test_layered_sphere_vs_hayes_integral_equation(thickness, interface, nu):
    """Sphere R = 5 mm, 5 N on one layer over bone vs the axisymmetric Fredholm solution
    (Hayes et al. 1972 method, reference.layered_sphere_at_force): approach within 0.1 %,
    contact radius within 0.5 % at a/dx = 20 (the pixel discretisation of the edge gives
    about 0.1 dx/a).  (Independent discretisation: BEM on a 2-D grid with the real-space
    layered kernel vs Nystrom in the Hankel domain.)"""
    a_ref, d_ref = ref.layered_sphere_at_force(5.0, 5.0, thickness, E_KPA, nu, interface)
    gap, dx = sphere_grid(a_ref, 80, 5.0)
    r = solve(gap, dx, TissueStack.layer_on_bone(thickness, E_KPA, nu, interface), force_n=5.0)
    assert r.approach_mm == pytest.approx(d_ref, rel=1e-3)
    assert r.contact_width_mm / 2 == pytest.approx(a_ref, rel=5e-3)
    assert r.a_over_h == pytest.approx(a_ref / thickness, rel=1e-2)


def test_layered_matches_contactmechanics_large_box_numbers():
    """Reference note section 3.6 (ContactMechanics, periodic 16a box, ~2 % quality): sphere 5 N
    on a 10 mm bonded layer gives p0/p0_H = 1.103, a/a_H = 0.960, delta/delta_H = 0.601;
    ours within 2 %."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    gap, dx = sphere_grid(h.half_width_mm, 64, 5.0)
    r = solve(gap, dx, TissueStack.layer_on_bone(10.0, E_KPA, NU), force_n=5.0)
    assert r.peak_pressure_kpa / h.peak_pressure_kpa == pytest.approx(1.103, rel=2e-2)
    assert r.contact_width_mm / 2 / h.half_width_mm == pytest.approx(0.960, rel=2e-2)
    assert r.approach_mm / h.approach_mm == pytest.approx(0.601, rel=2e-2)


def test_thin_incompressible_layer_vs_asymptotics():
    """nu = 0.5 bonded layer, R = 5 mm, a/h ~ 4: BEM force at given approach vs the Fredholm
    reference within 1 %; the Fredholm reference itself tends to the thin-layer asymptote
    F = 2 pi G R^2 delta^3 / h^3 (Jaffar 1989) as a/h grows (error 15 % at a/h = 10,
    below 6 % at a/h = 30; the correction is O(h/a))."""
    h_mm = 1.0
    a_c = 4.0
    f_ref, d_ref = ref.layered_sphere(5.0, a_c, h_mm, E_KPA, 0.5)
    n = 96
    dx = 4 * a_c / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    r = solve((X**2 + Y**2) / 10.0, dx, TissueStack.layer_on_bone(h_mm, E_KPA, 0.5),
              approach_mm=d_ref)
    assert r.force_n == pytest.approx(f_ref, rel=1e-2)
    assert r.contact_width_mm / 2 == pytest.approx(a_c, rel=1e-2)
    errs = []
    for a in (10.0, 30.0):
        f, d = ref.layered_sphere(5.0, a * 0.2, 0.2, E_KPA, 0.5)
        f_asym, _, _ = ref.thin_layer_sphere(5.0, d, 0.2, E_KPA)
        errs.append(abs(f / f_asym - 1))
    assert errs[1] < errs[0] < 0.2
    assert errs[1] < 0.06


def test_multilayer_solve_is_between_bounds():
    """Skin 2 mm (E 100 kPa) / fat 10 mm (E 20 kPa) / muscle 20 mm (E 50 kPa) on bone:
    the approach lies between all-fat and all-skin layers of the same total depth, and
    force balance holds to 1e-6."""
    h = ref.hertz_sphere(5.0, 2.0, 20.0 / (1 - NU**2))
    gap, dx = sphere_grid(h.half_width_mm * 1.2, 64, 5.0)
    stack = TissueStack(
        (Layer(2.0, 100.0, NU, "skin"), Layer(10.0, 20.0, NU, "fat"),
         Layer(20.0, 50.0, NU, "muscle"))
    )
    r = solve(gap, dx, stack, force_n=2.0)
    soft = solve(gap, dx, TissueStack.layer_on_bone(32.0, 20.0, NU), force_n=2.0)
    stiff = solve(gap, dx, TissueStack.layer_on_bone(32.0, 100.0, NU), force_n=2.0)
    assert stiff.approach_mm < r.approach_mm < soft.approach_mm
    assert r.pressure_kpa.sum() * dx * dx * 1e-3 == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize("control", ["force", "approach"])
def test_windowed_solve_equals_full_solve(control):
    """The coarse-window acceleration (nested=True) returns the full-grid solution: pressure
    within 1e-5 of the peak and approach/force within 1e-6 (layered 10 mm, 128^2)."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    gap, dx = sphere_grid(h.half_width_mm, 128, 5.0)
    tissue = TissueStack.layer_on_bone(10.0, E_KPA, NU)
    kw = {"force_n": 5.0} if control == "force" else {"approach_mm": 5.0}
    full = solve(gap, dx, tissue, nested=False, tol=1e-10, **kw)
    win = solve(gap, dx, tissue, nested=True, tol=1e-10, **kw)
    assert np.abs(win.pressure_kpa - full.pressure_kpa).max() < 1e-5 * full.peak_pressure_kpa
    assert win.approach_mm == pytest.approx(full.approach_mm, rel=1e-6)
    assert win.force_n == pytest.approx(full.force_n, rel=1e-6)


def test_soft_layer_on_stiff_halfspace_limits():
    """Skin-like layer (50 kPa, 2 mm) on a 500 kPa half-space: phi -> 1 for q h >> 1 and
    phi -> E1*/E2* = 0.1 for q h << 1 (long waves see the base), within 1e-3."""
    stack = TissueStack((Layer(2.0, 50.0, NU), Layer(math.inf, 500.0, NU)), base="halfspace")
    phi = compliance_ratio(np.array([0.0, 1e-5, 1e3]), stack)
    assert phi[0] == pytest.approx(0.1, rel=1e-12)
    assert phi[1] == pytest.approx(0.1, rel=1e-3)
    assert phi[2] == pytest.approx(1.0, rel=1e-3)


@settings(max_examples=6, deadline=None)
@given(
    h1=st.floats(2.0, 30.0), ratio=st.floats(0.3, 0.8), nu=st.floats(0.3, 0.5),
    interface=st.sampled_from(["bonded", "frictionless"]),
)
def test_thinner_layer_is_stiffer(h1, ratio, nu, interface):
    """Same sphere (R = 5 mm) and load (1 N): force balance 1e-6, and a thinner layer over
    bone gives a smaller approach and a higher peak pressure than a thicker one, both
    bounded by the half-space (Hertz) approach (layer compliance <= half-space)."""
    es = E_KPA / (1 - nu**2)
    h = ref.hertz_sphere(5.0, 1.0, es)
    gap, dx = sphere_grid(h.half_width_mm, 64, 5.0)
    thick = solve(gap, dx, TissueStack.layer_on_bone(h1, E_KPA, nu, interface), force_n=1.0)
    thin = solve(gap, dx, TissueStack.layer_on_bone(h1 * ratio, E_KPA, nu, interface),
                 force_n=1.0, check_grid=False)
    for r in (thick, thin):
        assert r.pressure_kpa.sum() * dx * dx * 1e-3 == pytest.approx(1.0, rel=1e-6)
    assert thin.approach_mm < thick.approach_mm < h.approach_mm * 1.001
    assert thin.peak_pressure_kpa > thick.peak_pressure_kpa


def test_layered_line_contact_limits():
    """Plane-strain layered line solver: a 1 km layer gives the Hertz cylinder (Johnson
    eqs. 4.43-4.45) within 0.5 %; on thin incompressible bonded layers the half-width and
    peak pressure approach the thin-layer closed form (reference.thin_layer_cylinder) as
    h/b -> 0 (b: -18 %, -9 % and p0: +5.4 %, +1.4 % at b/h = 8, 16; first- and second-order
    corrections), and a layered result on bone has a finite approach, a half-space none."""
    from iastm_tools.contact import solve_line

    hc = ref.hertz_cylinder(1.5, 0.25, E_STAR)
    n = 256
    dx = 8 * hc.half_width_mm / n
    x = (np.arange(n) - n // 2) * dx
    thick = solve_line(x**2 / 3.0, dx, TissueStack.layer_on_bone(1e3, E_KPA, NU), 0.25,
                       model="layered")
    assert thick.half_width_mm == pytest.approx(hc.half_width_mm, rel=5e-3)
    assert thick.peak_pressure_kpa == pytest.approx(hc.peak_pressure_kpa, rel=5e-3)
    assert math.isfinite(thick.approach_mm)
    assert math.isnan(solve_line(x**2 / 3.0, dx, TissueStack.halfspace(E_KPA, NU), 0.25)
                      .approach_mm)
    errs_b, errs_p = [], []
    for h in (0.5, 0.25):
        g = E_KPA / 3.0
        force = 2 * g * 4.0**5 / (15 * 5.0 * h**3) * 1e-3  # N/mm giving b = 4 mm
        b_ref, p_ref = ref.thin_layer_cylinder(5.0, force, h, E_KPA)
        assert b_ref == pytest.approx(4.0, rel=1e-12)
        m = 512
        d = 4 * b_ref / m
        xs = (np.arange(m) - m // 2) * d
        r = solve_line(xs**2 / 10.0, d, TissueStack.layer_on_bone(h, E_KPA, 0.5), force,
                       model="layered")
        errs_b.append(abs(r.half_width_mm / b_ref - 1))
        errs_p.append(abs(r.peak_pressure_kpa / p_ref - 1))
    assert errs_b[1] < 0.6 * errs_b[0] and errs_b[1] < 0.1
    assert errs_p[1] < 0.35 * errs_p[0] and errs_p[1] < 0.02
    with pytest.raises(ContactInputError):
        solve_line(x**2 / 3.0, dx, TissueStack.halfspace(E_KPA, NU), 0.25, model="winkler")


@settings(max_examples=15, deadline=None)
@given(dx=st.floats(0.02, 0.8), dy=st.floats(0.02, 0.8), n=st.integers(2, 90),
       m=st.integers(2, 90))
def test_remainder_spectrum_grid_matches_array_form(dx, dy, n, m):
    """The compiled pass of the remainder tables equals remainder_spectrum(|q|) times the
    pixel average sinc(qx dx / 2) sinc(qy dy / 2) to 1e-13 of the largest value, over the
    whole q range of a table (from 0, below the spline's q_lo, to beyond its q_hi)."""
    from iastm_tools.contact.kernels import remainder_spectrum, remainder_spectrum_grid

    tissue = TissueStack(
        layers=(Layer(1.3, 894.0, 0.49), Layer(6.0, 26.1, 0.49), Layer(15.0, 15.2, 0.49)),
        base="rigid")
    qx = 2.0 * math.pi * np.arange(n) / (n * dx) * 40.0 ** (np.arange(n) / n)
    qy = 2.0 * math.pi * np.arange(m) / (m * dy)
    ref = remainder_spectrum(np.hypot(qx[:, None], qy[None, :]), tissue)
    ref = ref * (np.sinc(qx * dx / (2.0 * math.pi))[:, None]
                 * np.sinc(qy * dy / (2.0 * math.pi))[None, :])
    out = remainder_spectrum_grid(qx, qy, (dx, dy), tissue)
    assert np.abs(out - ref).max() <= 1e-13 * np.abs(ref).max()
