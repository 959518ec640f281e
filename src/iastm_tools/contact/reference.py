"""Analytic and semi-analytic contact references, used by the tests and for quick checks.

Units: mm, N, kPa (1 kPa * 1 mm^2 = 1e-3 N), as everywhere in :mod:`iastm_tools.contact`.
``e_star_kpa`` is the contact modulus E* = E / (1 - nu^2) of the tissue against a rigid
indenter.  Equation numbers refer to K.L. Johnson, *Contact Mechanics*, Cambridge
University Press, 1985.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import ellipe, ellipk

from .layered import single_layer_phi

KPA_MM2_PER_N = 1e3


@dataclass(frozen=True)
class HertzContact:
    """Closed-form Hertz solution.

    half_width_mm: contact radius a (sphere), half-width b (cylinder) or semi-axes.
    peak_pressure_kpa: p0.  approach_mm: rigid-body approach delta (nan for a cylinder).
    """

    half_width_mm: float
    peak_pressure_kpa: float
    approach_mm: float
    half_length_mm: float = math.nan


def hertz_sphere(radius_mm: float, force_n: float, e_star_kpa: float) -> HertzContact:
    """Rigid sphere (paraboloid) on a half-space, Johnson eqs. 4.22-4.23.

    a = (3 F R / 4E*)^(1/3), p0 = 3F / (2 pi a^2), delta = a^2 / R.
    """
    f = force_n * KPA_MM2_PER_N
    a = (3.0 * f * radius_mm / (4.0 * e_star_kpa)) ** (1.0 / 3.0)
    return HertzContact(a, 3.0 * f / (2.0 * math.pi * a * a), a * a / radius_mm, a)


def hertz_sphere_pressure(r_mm: np.ndarray, a_mm: float, p0_kpa: float) -> np.ndarray:
    """Hertz pressure p0 sqrt(1 - r^2/a^2) (Johnson eq. 4.21)."""
    r = np.asarray(r_mm, dtype=float)
    return p0_kpa * np.sqrt(np.clip(1.0 - (r / a_mm) ** 2, 0.0, None))


def hertz_cylinder(
    radius_mm: float, force_per_length_n_per_mm: float, e_star_kpa: float
) -> HertzContact:
    """Plane-strain cylinder, Johnson eqs. 4.43-4.45.

    b = sqrt(4 P' R / (pi E*)), p0 = 2 P' / (pi b); P' in N/mm.
    """
    f = force_per_length_n_per_mm * KPA_MM2_PER_N
    b = math.sqrt(4.0 * f * radius_mm / (math.pi * e_star_kpa))
    return HertzContact(b, 2.0 * f / (math.pi * b), math.nan)


def hertz_ellipse(
    radius_x_mm: float, radius_y_mm: float, force_n: float, e_star_kpa: float
) -> HertzContact:
    """Elliptical Hertz contact of the gap x^2/(2Rx) + y^2/(2Ry) (Johnson section 4.2(b)).

    The pressure p0 sqrt(1 - x^2/c^2 - y^2/d^2) gives the displacement (Johnson eq. 3.58,
    a >= b semi-axes, e^2 = 1 - b^2/a^2) u = (L - M s^2 - N t^2) / E* with
    L = p0 b K(e), M = p0 b (K - E) / (e^2 a^2), N = p0 b (a^2 E / b^2 - K) / (e^2 a^2),
    s along the long axis.  Matching M = 1/(2 R_long), N = 1/(2 R_short) fixes e, then
    a^3 = 3 F R_long (K - E) / (pi e^2 E*), p0 = 3F/(2 pi a b), delta = p0 b K / E*.
    Returns half_width_mm = semi-axis along x, half_length_mm = semi-axis along y.
    """
    f = force_n * KPA_MM2_PER_N
    if math.isclose(radius_x_mm, radius_y_mm, rel_tol=1e-12):
        h = hertz_sphere(radius_x_mm, force_n, e_star_kpa)
        return HertzContact(h.half_width_mm, h.peak_pressure_kpa, h.approach_mm, h.half_width_mm)
    r_long, r_short = max(radius_x_mm, radius_y_mm), min(radius_x_mm, radius_y_mm)
    ratio = r_long / r_short

    def mismatch(m: float) -> float:
        k, e = ellipk(m), ellipe(m)
        return (e / (1.0 - m) - k) / (k - e) - ratio

    m = brentq(mismatch, 1e-12, 1.0 - 1e-15, xtol=1e-15, rtol=1e-15)
    k, e = ellipk(m), ellipe(m)
    a = (3.0 * f * r_long * (k - e) / (math.pi * m * e_star_kpa)) ** (1.0 / 3.0)
    b = a * math.sqrt(1.0 - m)
    p0 = 3.0 * f / (2.0 * math.pi * a * b)
    delta = p0 * b * k / e_star_kpa
    if radius_x_mm >= radius_y_mm:
        return HertzContact(a, p0, delta, b)
    return HertzContact(b, p0, delta, a)


def hertz_axis_stress(depth_mm: np.ndarray, a_mm: float, p0_kpa: float, poisson: float) -> dict:
    """Stresses on the axis below a Hertz sphere contact, Johnson eq. 3.45 (kPa, tension +).

    sigma_r = sigma_theta = p0 [-(1+nu)(1 - (z/a) atan(a/z)) + 1/(2 (1 + z^2/a^2))],
    sigma_z = -p0 / (1 + z^2/a^2); returns also max shear |sigma_r - sigma_z|/2 and
    von Mises |sigma_r - sigma_z|.
    """
    z = np.asarray(depth_mm, dtype=float)
    zeta = z / a_mm
    with np.errstate(divide="ignore", invalid="ignore"):
        at = np.where(zeta > 0, zeta * np.arctan(1.0 / np.where(zeta > 0, zeta, 1.0)), 0.0)
    s_r = p0_kpa * (-(1.0 + poisson) * (1.0 - at) + 0.5 / (1.0 + zeta**2))
    s_z = -p0_kpa / (1.0 + zeta**2)
    return {
        "sigma_r": s_r,
        "sigma_z": s_z,
        "max_shear": 0.5 * np.abs(s_r - s_z),
        "von_mises": np.abs(s_r - s_z),
    }


def westergaard(
    wavelength_mm: float, amplitude_mm: float, mean_pressure_kpa: float, e_star_kpa: float
) -> tuple[float, float]:
    """Sinusoidal (periodic) line contact, Johnson section 13.2 (eqs. 13.7-13.9).

    Gap amplitude_mm * (1 - cos(2 pi x / wavelength)).  Full contact at
    p* = pi E* amplitude / wavelength.  For mean pressure p < p*:
    sin^2(pi a / lambda) = p / p*, and the peak pressure is 2 p / sin(pi a / lambda).
    Returns (half-width a in mm, peak pressure in kPa).
    """
    p_star = math.pi * e_star_kpa * amplitude_mm / wavelength_mm
    if not 0 < mean_pressure_kpa < p_star:
        raise ValueError("westergaard: need 0 < mean pressure < pi E* amplitude / wavelength")
    s = math.sqrt(mean_pressure_kpa / p_star)
    a = wavelength_mm / math.pi * math.asin(s)
    return a, 2.0 * mean_pressure_kpa / s


def westergaard_pressure(
    x_mm: np.ndarray, wavelength_mm: float, amplitude_mm: float, mean_pressure_kpa: float,
    e_star_kpa: float,
) -> np.ndarray:
    """Westergaard pressure 2 p cos(pi x/l) sqrt(sin^2(pi a/l) - sin^2(pi x/l)) / sin^2(pi a/l)."""
    a, _ = westergaard(wavelength_mm, amplitude_mm, mean_pressure_kpa, e_star_kpa)
    x = np.asarray(x_mm, dtype=float)
    sa2 = math.sin(math.pi * a / wavelength_mm) ** 2
    sx2 = np.sin(math.pi * x / wavelength_mm) ** 2
    return (
        2.0 * mean_pressure_kpa * np.cos(math.pi * x / wavelength_mm)
        * np.sqrt(np.clip(sa2 - sx2, 0.0, None)) / sa2
    )


def sneddon_flat_punch_stiffness(radius_mm: float, e_star_kpa: float) -> float:
    """Flat circular punch on a half-space: F = 2 E* a delta (Johnson eq. 3.36, Sneddon 1946).

    Returns the stiffness dF/d(delta) in N/mm.
    """
    return 2.0 * e_star_kpa * radius_mm / KPA_MM2_PER_N


# --------------------------------------------------------------------------- bonded layer


def thin_layer_sphere(
    radius_mm: float, approach_mm: float, thickness_mm: float, youngs_kpa: float
) -> tuple[float, float, float]:
    """Paraboloid on a thin incompressible (nu = 0.5) layer bonded to a rigid base.

    Leading-order thin-layer asymptotics (Jaffar, Int J Mech Sci 31 (1989) 229; Argatov &
    Mishuris, Front Bioeng Biotechnol 4 (2016) 83): the surface deflection obeys
    ``w = -(h^3 / 3G) lap(p)`` (frictionless top, bonded base), giving
    p(r) = 3G (a^2 - r^2)^2 / (32 R h^3), a = 2 sqrt(R delta) and
    F = 2 pi G R^2 delta^3 / h^3 = (2 pi / 3) E R^2 delta^3 / h^3.
    Valid for a >> h.  Returns (force N, contact radius mm, peak pressure kPa).
    """
    g = youngs_kpa / 3.0
    a = 2.0 * math.sqrt(radius_mm * approach_mm)
    force = 2.0 * math.pi * g * radius_mm**2 * approach_mm**3 / thickness_mm**3
    p0 = 3.0 * g * a**4 / (32.0 * radius_mm * thickness_mm**3)
    return force / KPA_MM2_PER_N, a, p0


def thin_layer_cylinder(
    radius_mm: float, force_per_length_n_per_mm: float, thickness_mm: float, youngs_kpa: float
) -> tuple[float, float]:
    """Plane-strain cylinder on a thin incompressible layer bonded to a rigid base.

    Same leading-order thin-layer equation as :func:`thin_layer_sphere` in one dimension,
    w = -(h^3 / 3G) p'' with w = delta - x^2/(2R), p(b) = p'(b) = 0:
    p(x) = G (b^2 - x^2)^2 / (8 R h^3), delta = b^2 / (6R), P' = 2 G b^5 / (15 R h^3).
    Valid for b >> h (corrections O(h/b)).  Returns (half-width b mm, peak pressure kPa).
    """
    g = youngs_kpa / 3.0
    f = force_per_length_n_per_mm * KPA_MM2_PER_N
    b = (15.0 * radius_mm * thickness_mm**3 * f / (2.0 * g)) ** 0.2
    return b, g * b**4 / (8.0 * radius_mm * thickness_mm**3)


def thin_layer_flat_punch_stiffness(
    radius_mm: float, thickness_mm: float, youngs_kpa: float
) -> float:
    """Flat punch on a thin bonded incompressible layer: F = 3 pi G a^4 delta / (8 h^3) (N/mm).

    Same asymptotics as :func:`thin_layer_sphere` with w = delta constant under the punch.
    """
    g = youngs_kpa / 3.0
    return 3.0 * math.pi * g * radius_mm**4 / (8.0 * thickness_mm**3) / KPA_MM2_PER_N


def _hayes_kernel(alpha: float, poisson: float, interface: str, n: int) -> tuple[np.ndarray, ...]:
    """Nystrom nodes/weights and the kernel k(s, t) of the Hayes et al. (1972) equation."""
    s, w = np.polynomial.legendre.leggauss(n)
    s = 0.5 * (s + 1.0)
    w = 0.5 * w
    # u = q h; phi - 1 decays like u e^{-2u}; integrate to u = 40 with panels
    n_panel = int(max(200, 16 * alpha))  # >= 5 panels per period of cos(u alpha)
    xg, wg = np.polynomial.legendre.leggauss(12)
    edges = np.linspace(0.0, 40.0, n_panel + 1)
    mid = 0.5 * (edges[1:] + edges[:-1])
    half = 0.5 * (edges[1:] - edges[:-1])
    u = (mid[:, None] + half[:, None] * xg).ravel()
    wu = (half[:, None] * wg).ravel()
    f = (single_layer_phi(u, poisson, interface) - 1.0) * wu
    c = np.cos(np.outer(u, s) * alpha)
    k = (2.0 / math.pi) * (c.T * f) @ c
    return s, w, k, u, f


def hayes_flat_punch_kappa(
    a_over_h: float, poisson: float, interface: str = "bonded", n: int | None = None
) -> float:
    """Hayes et al. correction factor kappa for a flat circular punch on a layer.

    Hayes, Keer, Herrmann & Mockros, J Biomech 5 (1972) 541: F = 2 E* a delta kappa
    (their P = 4 G a w kappa / (1 - nu)), kappa -> 1 as a/h -> 0.  Computed here by their
    method: the Fredholm equation of the second kind
    g(s) + (a/h) int_0^1 k(s,t) g(t) dt = 1,
    k(s,t) = (2/pi) int_0^inf (phi(u) - 1) cos(u s a/h) cos(u t a/h) du,
    kappa = int_0^1 g ds, solved by Nystrom quadrature (max(64, 4 a/h + 32) Gauss points,
    converged to < 1e-6) with phi the closed-form layer compliance of :mod:`.layered`.
    """
    alpha = float(a_over_h)
    n = n or max(64, int(4 * alpha) + 32)
    s, w, k, _, _ = _hayes_kernel(alpha, poisson, interface, n)
    A = np.eye(s.size) + alpha * k * w[None, :]
    g = np.linalg.solve(A, np.ones(s.size))
    return float(g @ w)


def layered_sphere(
    radius_mm: float,
    contact_radius_mm: float,
    thickness_mm: float,
    youngs_kpa: float,
    poisson: float,
    interface: str = "bonded",
    n: int | None = None,
) -> tuple[float, float]:
    """Paraboloid of radius R on one layer over a rigid base, for a given contact radius.

    Same Fredholm formulation as :func:`hayes_flat_punch_kappa` with the right-hand side
    (E*/pi)(delta - x^2 / R) (Abel transform of the paraboloid displacement), and the
    contact radius fixed by a bounded pressure at r = a (g(a) = 0), as in Hayes et al.
    (1972) for the spherical indenter.  Returns (force N, approach delta mm).
    """
    e_star = youngs_kpa / (1.0 - poisson**2)
    a = contact_radius_mm
    alpha = a / thickness_mm
    n = n or max(64, int(4 * alpha) + 32)
    s, w, k, u, f = _hayes_kernel(alpha, poisson, interface, n)
    A = np.eye(s.size) + alpha * k * w[None, :]
    g1 = np.linalg.solve(A, np.ones(s.size))
    g2 = np.linalg.solve(A, (s * a) ** 2 / radius_mm)
    # Nystrom interpolation to s = 1
    c1 = np.cos(u * alpha)
    c = np.cos(np.outer(u, s) * alpha)
    k1 = (2.0 / math.pi) * (c1 * f) @ c
    g1_end = 1.0 - alpha * (k1 * w) @ g1
    g2_end = a * a / radius_mm - alpha * (k1 * w) @ g2
    delta = g2_end / g1_end
    g = delta * g1 - g2  # in units of E*/pi
    force = 2.0 * math.pi * (e_star / math.pi) * a * float(g @ w)
    return force / KPA_MM2_PER_N, float(delta)


def layered_sphere_at_force(
    radius_mm: float, force_n: float, thickness_mm: float, youngs_kpa: float, poisson: float,
    interface: str = "bonded",
) -> tuple[float, float]:
    """Invert :func:`layered_sphere` for the contact radius at a given force.

    Returns (contact radius mm, approach mm).
    """
    h = hertz_sphere(radius_mm, force_n, youngs_kpa / (1.0 - poisson**2))

    def resid(a: float) -> float:
        f, _ = layered_sphere(radius_mm, a, thickness_mm, youngs_kpa, poisson, interface)
        return f - force_n

    a = brentq(resid, 0.05 * h.half_width_mm, 1.5 * h.half_width_mm, xtol=1e-12, rtol=1e-12)
    return a, layered_sphere(radius_mm, a, thickness_mm, youngs_kpa, poisson, interface)[1]
