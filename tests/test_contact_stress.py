"""Subsurface stress below a contact vs Johnson's closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft as sfft

from iastm_tools.contact import TissueStack, solve, subsurface_stress
from iastm_tools.contact import reference as ref
from iastm_tools.contact.kernels import padded_size
from iastm_tools.contact.stress import (
    _fourier_stress_periodic,
    _pixel_kernel,
    boussinesq,
    cerruti,
    principal_stresses,
)
from iastm_tools.errors import IastmError

E_KPA, NU = 50.0, 0.49
E_STAR = E_KPA / (1 - NU**2)


@pytest.fixture(scope="module")
def hertz():
    """Hertz sphere R = 5 mm, 5 N, half-space, 128^2 (a/dx = 32)."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    n = 128
    dx = 4 * h.half_width_mm / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    r = solve((X**2 + Y**2) / 10.0, dx, TissueStack.halfspace(E_KPA, NU), force_n=5.0,
              model="halfspace")
    return h, r


def test_hertz_axis_stress(hertz):
    """Stresses on the axis at z/a = 0.25, 0.48 (max shear depth), 1.0 vs Johnson eq. 3.45:
    sigma_r, sigma_z, von Mises and max shear within 2 % (measured ~1e-4)."""
    h, r = hertz
    a, p0 = h.half_width_mm, h.peak_pressure_kpa
    zs = [0.25 * a, 0.48 * a, 1.0 * a]
    s = subsurface_stress(r, zs)
    axis = ref.hertz_axis_stress(np.array(zs), a, p0, NU)
    c = r.pressure_kpa.shape[0] // 2
    for k in range(3):
        assert s.sigma_kpa[k, 0, c, c] == pytest.approx(axis["sigma_r"][k], rel=2e-2)
        assert s.sigma_kpa[k, 1, c, c] == pytest.approx(axis["sigma_r"][k], rel=2e-2)
        assert s.sigma_kpa[k, 2, c, c] == pytest.approx(axis["sigma_z"][k], rel=2e-2)
        assert s.von_mises_kpa[k, c, c] == pytest.approx(axis["von_mises"][k], rel=2e-2)
        assert s.max_shear_kpa[k, c, c] == pytest.approx(axis["max_shear"][k], rel=2e-2)
    # principal stresses on the axis: sigma_z and the double sigma_r
    assert s.principal_kpa[0, 0, c, c] == pytest.approx(axis["sigma_z"][0], rel=2e-2)


def test_dermal_depth_and_friction(hertz):
    """1 and 2 mm (dermal) depths are returned; sliding (mu = 0.3) raises the peak von Mises
    near the surface and breaks the x-symmetry (Hamilton 1983 trend); resultant of sigma_zz
    at depth equals -F (equilibrium, 0.5 %)."""
    _, r = hertz
    s0 = subsurface_stress(r, [1.0, 2.0])
    s1 = subsurface_stress(r, [1.0, 2.0], mu=0.3)
    assert s1.von_mises_kpa[0].max() > s0.von_mises_kpa[0].max()
    vm = s1.von_mises_kpa[0]
    assert not np.allclose(vm, vm[::-1, :], rtol=1e-3)
    dA = r.spacing_mm[0] * r.spacing_mm[1]
    assert s0.sigma_kpa[0, 2].sum() * dA * 1e-3 == pytest.approx(-5.0, rel=5e-3)


@pytest.mark.parametrize("field, which", [(boussinesq, "normal"), (cerruti, "tangential")])
def test_kernels_match_fourier_solution(field, which):
    """Real-space Boussinesq/Cerruti kernels (Johnson eqs. 3.3, 3.19) vs an independent
    Fourier-space Airy-function solution for a Gaussian load in a large periodic box:
    all six components within 1 % of the peak stress near the load."""
    n, L, z = 256, 40.0, 1.0
    dx = L / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    g = np.exp(-(X**2 + (Y - 0.3) ** 2) / 2.0)
    zero = np.zeros_like(g)
    if which == "normal":
        four = _fourier_stress_periodic(g, zero, zero, (dx, dx), z, NU)
    else:
        four = _fourier_stress_periodic(zero, g, zero, (dx, dx), z, NU)
    kern = _pixel_kernel(field, (n, n), (dx, dx), z, NU)
    pad = (padded_size(n), padded_size(n))
    real = sfft.irfft2(sfft.rfft2(kern, axes=(1, 2)) * sfft.rfft2(g, s=pad), s=pad,
                       axes=(1, 2))[:, :n, :n]
    sl = (slice(None), slice(n // 2 - 20, n // 2 + 20), slice(n // 2 - 20, n // 2 + 20))
    peak = np.abs(four[sl]).max()
    assert np.abs(real[sl] - four[sl]).max() < 1e-2 * peak


def test_bad_depth(hertz):
    """Depth below half a pixel, or negative mu, raise IastmError."""
    _, r = hertz
    with pytest.raises(IastmError, match="depth"):
        subsurface_stress(r, [0.0])
    with pytest.raises(IastmError, match="mu"):
        subsurface_stress(r, [1.0], mu=-0.1)


def test_layered_stress_vs_axisymmetric_hankel():
    """Skin 2 mm (100 kPa) / fat 6 mm (20 kPa) / muscle 10 mm (50 kPa, nu 0.45) on bone,
    Hertz-shaped pressure (a = 4 mm, p0 = 30 kPa) on a 128^2 grid: sigma_zz and sigma_xx on
    the axis at 0.5, 1.9, 2.1 and 4 mm vs the axisymmetric Hankel integral of the same
    transfer-matrix modal stresses, within 1 % of p0 (measured <= 0.3 %).  Checks the
    non-periodic FFT machinery; modal_stress itself is checked in test_modal_stress_*."""
    import dataclasses

    from iastm_tools.contact import Layer
    from iastm_tools.contact.layered import modal_stress

    stack = TissueStack((Layer(2.0, 100.0, NU), Layer(6.0, 20.0, NU), Layer(10.0, 50.0, 0.45)))
    a, p0, n = 4.0, 30.0, 128
    dx = 4 * a / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    r = solve((X**2 + Y**2) / 10.0, dx, stack, force_n=2.0)
    r2 = dataclasses.replace(r, pressure_kpa=ref.hertz_sphere_pressure(np.hypot(X, Y), a, p0))
    xg, wg = np.polynomial.legendre.leggauss(16)
    edges = np.linspace(0.0, 60.0, 3001)
    mid, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * (edges[1:] - edges[:-1])
    q = (mid[:, None] + half[:, None] * xg).ravel()
    w = (half[:, None] * wg).ravel()
    qa = q * a
    p_hankel = p0 * a * a * (np.sin(qa) - qa * np.cos(qa)) / qa**3
    zs = [0.5, 1.9, 2.1, 4.0]
    st = subsurface_stress(r2, zs)
    assert "layered" in st.note
    c = n // 2
    for k, z in enumerate(zs):
        m = modal_stress(q, stack, z)
        szz = np.sum(p_hankel * m[2] * q * w)
        sxx = np.sum(p_hankel * 0.5 * (m[0] + m[1]) * q * w)
        assert st.sigma_kpa[k, 2, c, c] == pytest.approx(szz, abs=1e-2 * p0)
        assert st.sigma_kpa[k, 0, c, c] == pytest.approx(sxx, abs=1e-2 * p0)
    # the stiff skin bends: tension at its bottom, compression at its top
    assert st.sigma_kpa[1, 0, c, c] > 0 > st.sigma_kpa[0, 0, c, c]
    with pytest.raises(IastmError, match="bone"):
        subsurface_stress(r2, [18.0])


def test_modal_stress_interfaces_and_limits():
    """Transfer-matrix modal stresses: surface traction = applied (-1, 0) to 1e-12,
    sigma_zz and sigma_xz continuous across a bonded interface (1e-8), and a 1 km layer
    equals the half-space closed form -(1+qz)e^{-qz}, ... (Johnson section 2.x) to 1e-5."""
    from iastm_tools.contact import Layer
    from iastm_tools.contact.layered import modal_stress

    q = np.array([0.05, 0.3, 1.0, 5.0, 30.0])
    two = TissueStack((Layer(2.0, 100.0, NU), Layer(5.0, 20.0, 0.45)))
    s0 = modal_stress(q, two, 0.0)
    np.testing.assert_allclose(s0[2], -1.0, atol=1e-12)
    np.testing.assert_allclose(s0[3], 0.0, atol=1e-12)
    above, below = modal_stress(q, two, 2.0 - 1e-10), modal_stress(q, two, 2.0 + 1e-10)
    np.testing.assert_allclose(above[2], below[2], atol=1e-8)
    np.testing.assert_allclose(above[3], below[3], atol=1e-8)
    thick = modal_stress(q, TissueStack.layer_on_bone(1e6, E_KPA, NU), 1.0)
    hs = modal_stress(q, TissueStack.halfspace(E_KPA, NU), 1.0)
    np.testing.assert_allclose(thick, hs, atol=1e-5)


def test_layered_stress_equilibrium(hertz):
    """On a 10 mm bonded layer the resultant of sigma_zz at 1 and 2 mm equals -F (0.5 %).
    The box is 8a: a bonded, nearly incompressible layer has a weak tensile sigma_zz ring
    outside the contact that a 4a box would cut off (+1 % there)."""
    h, _ = hertz
    n = 128
    dx = 8 * h.half_width_mm / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    r = solve((X**2 + Y**2) / 10.0, dx, TissueStack.layer_on_bone(10.0, E_KPA, NU),
              force_n=5.0)
    s = subsurface_stress(r, [1.0, 2.0])
    for k in range(2):
        assert s.sigma_kpa[k, 2].sum() * dx * dx * 1e-3 == pytest.approx(-5.0, rel=5e-3)


@pytest.fixture(scope="module")
def layered_sliding():
    """Sphere R = 5 mm, 5 N on a 10 mm bonded layer, 16a box (192^2: the shear stress
    field at depth decays slowly, an 8a box cuts off 1.5-3 % of its resultant); stresses
    at 0.5, 1, 2 mm with mu = 0 and 0.3, layered and half-space."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    n = 192
    dx = 16 * h.half_width_mm / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    r = solve((X**2 + Y**2) / 10.0, dx, TissueStack.layer_on_bone(10.0, E_KPA, NU),
              force_n=5.0)
    zs = [0.5, 1.0, 2.0]
    return r, zs, {
        (mu, lay): subsurface_stress(r, zs, mu=mu, layered=lay)
        for mu in (0.0, 0.3) for lay in (True, False)
    }


def test_layered_friction_equilibrium_and_parity(layered_sliding):
    """Sliding (mu = 0.3) on a bonded layer: resultant of sigma_xz at each depth = -mu F
    (1 %, box truncation); the friction-induced sigma_zz is odd in x and sigma_xz even (phase of the
    tangential modes, 1e-6 of the peak); ahead of the tool (x > 0) the friction part of
    sigma_xx near the surface is compressive, as in the half-space (Cerruti), and at 0.5 mm
    within 10 % of it (the layer hardly matters that shallow)."""
    r, zs, st = layered_sliding
    dx = r.spacing_mm[0]
    lay0, lay3 = st[(0.0, True)], st[(0.3, True)]
    hs0, hs3 = st[(0.0, False)], st[(0.3, False)]
    assert "friction traction" in lay3.note and "half-space" not in lay3.note
    c = r.pressure_kpa.shape[0] // 2
    for k in range(len(zs)):
        assert lay3.sigma_kpa[k, 4].sum() * dx * dx * 1e-3 == pytest.approx(-0.3 * 5.0, rel=1e-2)
        fz = lay3.sigma_kpa[k, 2] - lay0.sigma_kpa[k, 2]
        fxz = lay3.sigma_kpa[k, 4] - lay0.sigma_kpa[k, 4]
        peak = np.abs(fxz).max()
        # mirror about the centre node c (grid index i <-> 2c - i)
        sl = slice(1, 2 * c)
        assert np.abs(fz[sl] + fz[sl][::-1]).max() < 1e-6 * peak
        assert np.abs(fxz[sl] - fxz[sl][::-1]).max() < 1e-6 * peak
    i_ahead = c + round(0.5 * r.contact_width_mm / 2 / dx)
    f_lay = lay3.sigma_kpa[0, 0, i_ahead, c] - lay0.sigma_kpa[0, 0, i_ahead, c]
    f_hs = hs3.sigma_kpa[0, 0, i_ahead, c] - hs0.sigma_kpa[0, 0, i_ahead, c]
    assert f_hs < 0 and f_lay < 0
    assert f_lay == pytest.approx(f_hs, rel=0.1)


def test_thick_layer_friction_stress_is_halfspace():
    """A 1 km bonded layer with mu = 0.3: layered stresses equal the half-space
    (Boussinesq + Cerruti) ones within 0.5 % of the peak von Mises stress."""
    h = ref.hertz_sphere(5.0, 5.0, E_STAR)
    n = 64
    dx = 4 * h.half_width_mm / n
    x = (np.arange(n) - n // 2) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    r = solve((X**2 + Y**2) / 10.0, dx, TissueStack.layer_on_bone(1e6, E_KPA, NU),
              force_n=5.0)
    a = subsurface_stress(r, [1.0, 2.0], mu=0.3)
    b = subsurface_stress(r, [1.0, 2.0], mu=0.3, layered=False)
    assert np.abs(a.sigma_kpa - b.sigma_kpa).max() < 5e-3 * b.von_mises_kpa.max()


@pytest.mark.parametrize("field", [boussinesq, cerruti])
def test_pixel_kernel_mirrors_direct_evaluation(field):
    """The kernel built on one quadrant of offsets and mirrored by the components'
    parities equals the pixel average evaluated at every offset a linear convolution of the
    grid uses (to 1e-13 of its peak); offsets it never uses are 0."""
    shape, spacing, z = (13, 20), (0.3, 0.2), 0.5
    k = _pixel_kernel(field, shape, spacing, z, NU)
    px, py = padded_size(shape[0]), padded_size(shape[1])
    assert k.shape == (6, px, py)
    ox = np.r_[0:shape[0], -(shape[0] - 1):0]
    oy = np.r_[0:shape[1], -(shape[1] - 1):0]
    ix, iy = np.mod(ox, px), np.mod(oy, py)
    n_g = 2  # 3 x max(spacing) / z <= 2: the kernel's own Gauss order
    g, w = np.polynomial.legendre.leggauss(n_g)
    X, Y = np.meshgrid(ox * spacing[0], oy * spacing[1], indexing="ij")
    direct = sum((wi * wj / 4.0) * field(X - 0.5 * gi * spacing[0], Y - 0.5 * gj * spacing[1],
                                         z, NU)
                 for gi, wi in zip(g, w, strict=True) for gj, wj in zip(g, w, strict=True))
    direct = direct * spacing[0] * spacing[1]
    used = k[:, ix][:, :, iy]
    assert np.abs(used - direct).max() < 1e-13 * np.abs(direct).max()
    unused = np.ones((px, py), dtype=bool)
    unused[np.ix_(ix, iy)] = False
    assert not k[:, unused].any()


def test_normal_load_correction_box(monkeypatch):
    """The layered correction of a normal load on one padded grid (BOX_FACTOR_NORMAL)
    against two: skin 1.3 mm / fat 6 mm / muscle 20 mm on bone (the calf's layout) under
    a line contact as long as its grid (the worst case: the periodic images are nearest),
    stresses at the skin base within 6e-3 and their maxima within 5e-3 of the peak von
    Mises stress (measured 4.6e-3 and 3.5e-3; <= 4e-4 on the maxima of 8 calf fit
    contacts, whose dermal field keeps 2 depths around the contact)."""
    import iastm_tools.contact.stress as stress_mod
    from iastm_tools.contact import Layer

    stack = TissueStack((Layer(1.3, 300.0, NU), Layer(6.0, 26.0, NU), Layer(20.0, 60.0, NU)))
    n0, n1, dx, dy = 64, 160, 0.1, 0.25
    x = (np.arange(n0) - n0 // 2) * dx
    y = (np.arange(n1) - n1 // 2) * dy
    X, Y = np.meshgrid(x, y, indexing="ij")
    r = solve(X**2 / 2.0 + Y**4 / 4e4, (dx, dy), stack, force_n=2.0, check_grid=False)
    one = subsurface_stress(r, [1.3])
    monkeypatch.setattr(stress_mod, "BOX_FACTOR_NORMAL", 2.0)
    two = subsurface_stress(r, [1.3])
    peak = two.von_mises_kpa.max()
    assert np.abs(one.sigma_kpa - two.sigma_kpa).max() < 6e-3 * peak
    assert abs(one.von_mises_kpa.max() - peak) < 5e-3 * peak
    assert abs(one.max_shear_kpa.max() - two.max_shear_kpa.max()) < 5e-3 * peak


def _full_tensors(sig: np.ndarray) -> np.ndarray:
    """(6, n) components xx, yy, zz, xy, xz, yz -> (n, 3, 3) symmetric tensors."""
    xx, yy, zz, xy, xz, yz = sig
    return np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1),
                     np.stack([xz, yz, zz], -1)], -2)


def test_principal_stresses_match_lapack():
    """The closed-form principal stresses equal numpy's eigvalsh (LAPACK) to 1e-12 of the
    stress magnitude on random tensors, to 1e-7 on tensors with a double principal stress
    (the arccos is ill-conditioned there: ~sqrt(eps)), and exactly on a hydrostatic one."""
    rng = np.random.default_rng(7)
    n = 20000
    generic = rng.normal(scale=1e3, size=(6, n))
    # a double principal stress, rotated to a random frame, perturbed by 1e-9 of the stress
    lam = rng.normal(scale=1e3, size=(2, n))
    diag = np.zeros((n, 3, 3))
    diag[:, 0, 0] = diag[:, 1, 1] = lam[0]
    diag[:, 2, 2] = lam[1]
    q, _ = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    t = q @ diag @ np.swapaxes(q, 1, 2)
    double = np.stack([t[:, 0, 0], t[:, 1, 1], t[:, 2, 2], t[:, 0, 1], t[:, 0, 2],
                       t[:, 1, 2]]) + rng.normal(scale=1e-6, size=(6, n))
    for sig, rtol in ((generic, 1e-12), (double, 1e-7)):
        got = principal_stresses(sig.reshape(1, 6, n, 1))[0, :, :, 0].T
        want = np.linalg.eigvalsh(_full_tensors(sig))
        scale = np.abs(want).max(axis=1, keepdims=True)
        assert np.all(np.abs(got - want) <= rtol * scale)
        assert np.all(np.diff(got, axis=1) >= -rtol * scale)  # ascending
    hydro = np.zeros((6, 3))
    hydro[:3] = -4.0
    assert np.array_equal(principal_stresses(hydro.reshape(6, 3, 1)), np.full((3, 3, 1), -4.0))
