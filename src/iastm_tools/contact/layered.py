"""Surface compliance of a layered elastic body in Fourier space.

For a surface pressure mode ``P cos(q x)`` the layered body (layers on a rigid or elastic
base) responds in plane strain along the wave vector, so its surface compliance depends
only on ``|q|``.  We write it relative to the half-space made of the *top* layer::

    w_hat(q) = (2 / (E1* q)) * phi(q) * P_hat(q),      E1* = E1 / (1 - nu1^2)

``phi -> 1`` when every layer is thick compared with ``1/q`` (the half-space limit) and
``phi -> 0`` like ``q`` (compressible) or ``q^3`` (incompressible, bonded) when ``q -> 0``.

Method (the propagator / transfer-matrix method written as one banded "global" system,
which is the numerically stable form of it): in each layer the Airy stress function of the
mode is ``f(z) = (A + B s) e^{-s} + (C + D s') e^{-s'}`` with ``s = q (z - z_top)`` and
``s' = q (z_bot - z)``, so every exponential is <= 1 and nothing overflows for large
``q h`` (the coupling terms simply underflow to 0, which *is* the half-space limit).
Stresses and displacements follow from the plane-strain Airy relations; the unknowns
(4 per layer, 2 for a half-space base) are fixed by: surface ``sigma_zz = -P``,
``sigma_xz = 0`` (frictionless indenter); continuity of ``u_x, u_z, sigma_zz, sigma_xz``
at each bonded layer interface; and at the rigid base either ``u_x = u_z = 0`` (bonded)
or ``u_z = sigma_xz = 0`` (frictionless).  The formulation contains no ``1/(1 - 2 nu)``, so
``nu = 0.5`` is exact, not a limit.

Checks (tests/test_contact_layered.py): for one bonded layer the result equals the closed
form ``phi = [(3-4nu) sinh 2t - 2t] / [(3-4nu) cosh 2t + 2t^2 + 5 - 12nu + 8nu^2]``,
``t = q h`` (the form used in ContactMechanics' ``PeriodicFFTElasticHalfSpace``, after
Carbone & Mangialardi, J Mech Phys Solids 56 (2008)); for a frictionless base
``phi = (cosh 2t - 1) / (sinh 2t + 2t)``; q -> 0 gives ``h / M`` (bonded) and
``(1 - nu^2) h / E`` (frictionless); ``nu = 0.5`` bonded gives ``phi ~ 2 t^3 / 3``.
"""

from __future__ import annotations

import math

import numpy as np

from .tissue_stack import TissueStack


def _columns(s: np.ndarray, nu: float, g_ratio: float, upper: bool) -> np.ndarray:
    """Rows [u_x, u_z, sigma_zz, sigma_xz] for the two unknowns of one exponential family.

    Returns shape (..., 4, 2): the contribution of (A, B) (``upper``: decaying from the top
    of the layer, argument ``s``) or (C, D) (decaying from its bottom, argument ``s'``).
    Displacements are scaled by ``2 G_top q`` (``g_ratio = G_top / G_layer``) and stresses
    by the pressure amplitude, so all entries are O(1).
    """
    e = np.exp(-s)
    # g(s) = (A + B s) e^{-s}: derivatives w.r.t. s for the A and B parts
    gA = np.stack([e, -e, e, -e], axis=-1)  # g, g', g'', g''' for A=1, B=0
    gB = np.stack([s * e, (1 - s) * e, (s - 2) * e, (3 - s) * e], axis=-1)  # A=0, B=1
    sign = 1.0 if upper else -1.0  # d/dz = +q d/ds (upper) or -q d/ds' (lower)
    cols = []
    for g in (gA, gB):
        g0, g1, g2, g3 = g[..., 0], g[..., 1], g[..., 2], g[..., 3]
        ux = g_ratio * ((1 - nu) * g2 + nu * g0)
        uz = g_ratio * sign * ((1 - nu) * g3 - (2 - nu) * g1)
        szz = -g0
        sxz = sign * g1
        cols.append(np.stack([ux, uz, szz, sxz], axis=-1))
    return np.stack(cols, axis=-1)


def compliance_ratio(
    q_per_mm: np.ndarray, tissue: TissueStack, _want_solution: str | None = None
) -> np.ndarray:
    """phi(q): layered surface compliance divided by the top layer's half-space one.

    q_per_mm: wavenumbers (rad/mm), >= 0 (q = 0 returns the limit: 0 on a rigid base,
    E1*/E_base* on a half-space base).  Dimensionless result.
    """
    q = np.atleast_1d(np.asarray(q_per_mm, dtype=float))
    layers = tissue.layers
    top = layers[0]
    halfspace_base = tissue.base == "halfspace"
    if len(layers) == 1 and halfspace_base:
        return np.ones_like(q)
    out = np.empty_like(q)
    pos = q > 0
    qp = q[pos]
    n = len(layers)
    n_unknown = 4 * n - (2 if halfspace_base else 0)
    m = qp.size
    M = np.zeros((m, n_unknown, n_unknown))
    rhs = np.zeros((m, n_unknown))
    g_top = top.shear_kpa
    row = 0

    def layer_block(i: int, s_top: np.ndarray, s_bot_dist: np.ndarray) -> np.ndarray:
        """(m, 4, k) state contribution of layer i's unknowns at a depth inside it."""
        lay = layers[i]
        ratio = g_top / lay.shear_kpa
        up = _columns(s_top, lay.poisson, ratio, upper=True)
        if halfspace_base and i == n - 1:
            return up
        lo = _columns(s_bot_dist, lay.poisson, ratio, upper=False)
        return np.concatenate([up, lo], axis=-1)

    def col0(i: int) -> int:
        return 4 * i

    zero = np.zeros(m)
    # surface of layer 0: sigma_zz = -1, sigma_xz = 0
    h0 = layers[0].thickness_mm
    t0 = qp * h0 if not (halfspace_base and n == 1) else np.full(m, np.inf)
    blk = layer_block(0, zero, t0)
    k0 = blk.shape[-1]
    M[:, row, 0:k0] = blk[:, 2, :]
    rhs[:, row] = -1.0 if _want_solution != "tangential" else 0.0
    row += 1
    M[:, row, 0:k0] = blk[:, 3, :]
    # tangential load: surface shear -sigma_xz(0) = sin(q xi) (unit traction along +xi)
    rhs[:, row] = -1.0 if _want_solution == "tangential" else 0.0
    row += 1
    # interfaces
    for i in range(n - 1):
        ti = qp * layers[i].thickness_mm
        above = layer_block(i, ti, zero)
        last = i + 1 == n - 1
        t_next = (
            np.full(m, np.inf) if (halfspace_base and last) else qp * layers[i + 1].thickness_mm
        )
        below = layer_block(i + 1, zero, t_next)
        ka, kb = above.shape[-1], below.shape[-1]
        for comp in range(4):
            M[:, row, col0(i) : col0(i) + ka] = above[:, comp, :]
            M[:, row, col0(i + 1) : col0(i + 1) + kb] = -below[:, comp, :]
            row += 1
    if not halfspace_base:
        tb = qp * layers[-1].thickness_mm
        base = layer_block(n - 1, tb, zero)
        kb = base.shape[-1]
        comps = (0, 1) if tissue.interface == "bonded" else (1, 3)
        for comp in comps:
            M[:, row, col0(n - 1) : col0(n - 1) + kb] = base[:, comp, :]
            row += 1
    assert row == n_unknown
    sol = np.linalg.solve(M, rhs[..., None])[..., 0]
    if _want_solution:
        return sol
    blk = layer_block(0, zero, t0)
    uz = np.einsum("mk,mk->m", blk[:, 1, :], sol[:, 0:k0])
    # half-space of the top material gives uz_scaled = 2 (1 - nu1)
    out[pos] = uz / (2.0 * (1.0 - top.poisson))
    # q -> 0: a rigid base gives zero compliance ratio (finite compliance h/M over 1/q);
    # on an elastic half-space base long waves see only the base: phi -> E1* / E_base*
    out[~pos] = top.plane_strain_kpa / layers[-1].plane_strain_kpa if halfspace_base else 0.0
    return out


def _stress_columns(s: np.ndarray, upper: bool) -> np.ndarray:
    """(..., 3, 2): [sigma_xixi, sigma_zz, sigma_xiz] from (A, B) or (C, D) of one family."""
    e = np.exp(-s)
    sign = 1.0 if upper else -1.0
    # g, g', g'' for A=1 and for B=1 (see _columns)
    ga = (e, -e, e)
    gb = (s * e, (1 - s) * e, (s - 2) * e)
    cols = [np.stack([g[2], -g[0], sign * g[1]], axis=-1) for g in (ga, gb)]
    return np.stack(cols, axis=-1)


def _layer_at(tissue: TissueStack, depth_mm: float) -> tuple[int, float]:
    """(index of the layer containing depth_mm, depth inside it)."""
    layers = tissue.layers
    z_top = 0.0
    for i, la in enumerate(layers):
        if i == len(layers) - 1:
            zeta = depth_mm - z_top
            if tissue.base == "rigid" and zeta > la.thickness_mm:
                raise ValueError(
                    f"depth {depth_mm} mm is below the stack ({z_top + la.thickness_mm} mm)"
                )
            return i, zeta
        if depth_mm < z_top + la.thickness_mm:
            return i, depth_mm - z_top
        z_top += la.thickness_mm
    raise AssertionError("unreachable")


def modal_stress(
    q_per_mm: np.ndarray, tissue: TissueStack, depth_mm: float, load: str = "normal"
) -> np.ndarray:
    """In-plane (plane-strain) modal stress at ``depth_mm``, q > 0, tension positive.

    load="normal": unit surface pressure cos(q xi); returns (4, q.size) sigma_xixi,
    sigma_etaeta, sigma_zz (times cos(q xi)) and sigma_xiz (times sin(q xi)).  A single
    half-space gives the classical -(1-qz)e^{-qz}, -2 nu e^{-qz}, -(1+qz)e^{-qz},
    -qz e^{-qz}.
    load="tangential": unit surface shear traction sin(q xi) along +xi; same layout with
    the normal stresses times cos(q xi) and sigma_xiz times sin(q xi); a half-space gives
    (2-qz)e^{-qz}, 2 nu e^{-qz}, qz e^{-qz}, -(1-qz)e^{-qz}.
    sigma_etaeta = nu (sigma_xixi + sigma_zz) (plane strain).  Same global system as
    :func:`compliance_ratio`.
    """
    q = np.atleast_1d(np.asarray(q_per_mm, dtype=float))
    layers = tissue.layers
    halfspace_base = tissue.base == "halfspace"
    if len(layers) == 1 and halfspace_base:
        s = q * depth_mm
        e = np.exp(-s)
        nu = layers[0].poisson
        if load == "tangential":
            return np.stack([(2 - s) * e, 2 * nu * e, s * e, -(1 - s) * e])
        return np.stack([-(1 - s) * e, -2 * nu * e, -(1 + s) * e, -s * e])
    if np.any(q <= 0):
        raise ValueError("modal_stress needs q > 0")
    sol = compliance_ratio(q, tissue, _want_solution=load)
    idx, zeta = _layer_at(tissue, depth_mm)
    la = layers[idx]
    up = _stress_columns(q * zeta, upper=True)
    infinite = halfspace_base and idx == len(layers) - 1
    blk = up if infinite else np.concatenate(
        [up, _stress_columns(q * (la.thickness_mm - zeta), upper=False)], axis=-1
    )
    k = blk.shape[-1]
    coef = sol[:, 4 * idx : 4 * idx + k]
    sxx, szz, sxz = (np.einsum("mk,mk->m", blk[:, c, :], coef) for c in range(3))
    return np.stack([sxx, la.poisson * (sxx + szz), szz, sxz])


def modal_antiplane(q_per_mm: np.ndarray, tissue: TissueStack, depth_mm: float) -> np.ndarray:
    """Antiplane modal stress for a unit surface shear cos(q xi) along +eta, q > 0.

    u_eta = (a e^{-s} + b e^{-s'}) cos(q xi) per layer (harmonic), s = q (z - z_top),
    s' = q (z_bot - z); sigma_etaz = G du/dz, sigma_xieta = G du/dxi.  Conditions: surface
    -sigma_etaz = cos(q xi); u_eta and sigma_etaz continuous at bonded interfaces;
    u_eta = 0 (bonded) or sigma_etaz = 0 (frictionless) at a rigid base.  Returns (2, q.size):
    sigma_etaz (times cos(q xi)) and sigma_xieta (times -sin(q xi)); a half-space gives
    -e^{-qz} and e^{-qz}.
    """
    q = np.atleast_1d(np.asarray(q_per_mm, dtype=float))
    layers = tissue.layers
    halfspace_base = tissue.base == "halfspace"
    n = len(layers)
    if n == 1 and halfspace_base:
        e = np.exp(-q * depth_mm)
        return np.stack([-e, e])
    if np.any(q <= 0):
        raise ValueError("modal_antiplane needs q > 0")
    g_top = layers[0].shear_kpa
    n_unk = 2 * n - (1 if halfspace_base else 0)
    m = q.size
    M = np.zeros((m, n_unk, n_unk))
    rhs = np.zeros((m, n_unk))

    def cols(i: int, s_top: np.ndarray, s_bot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u rows, tau rows), each (m, k): scaled displacement and sigma_etaz."""
        ratio = g_top / layers[i].shear_kpa
        ea = np.exp(-s_top)
        if halfspace_base and i == n - 1:
            return (ratio * ea)[:, None], (-ea)[:, None]
        eb = np.exp(-s_bot)
        return np.stack([ratio * ea, ratio * eb], -1), np.stack([-ea, eb], -1)

    zero = np.zeros(m)

    def thick(i: int) -> np.ndarray:
        if halfspace_base and i == n - 1:
            return np.full(m, np.inf)
        return q * layers[i].thickness_mm

    _, t0 = cols(0, zero, thick(0))
    M[:, 0, : t0.shape[1]] = t0
    rhs[:, 0] = -1.0
    row = 1
    for i in range(n - 1):
        ua, ta = cols(i, thick(i), zero)
        ub, tb = cols(i + 1, zero, thick(i + 1))
        ka, kb = ua.shape[1], ub.shape[1]
        M[:, row, 2 * i : 2 * i + ka] = ua
        M[:, row, 2 * i + 2 : 2 * i + 2 + kb] = -ub
        M[:, row + 1, 2 * i : 2 * i + ka] = ta
        M[:, row + 1, 2 * i + 2 : 2 * i + 2 + kb] = -tb
        row += 2
    if not halfspace_base:
        ub, tb = cols(n - 1, thick(n - 1), zero)
        M[:, row, 2 * n - 2 : 2 * n] = ub if tissue.interface == "bonded" else tb
        row += 1
    assert row == n_unk
    sol = np.linalg.solve(M, rhs[..., None])[..., 0]
    idx, zeta = _layer_at(tissue, depth_mm)
    infinite = halfspace_base and idx == n - 1
    ea = np.exp(-q * zeta)
    coef = sol[:, 2 * idx : 2 * idx + (1 if infinite else 2)]
    if infinite:
        tau = -ea * coef[:, 0]
        shear = ea * coef[:, 0]
    else:
        eb = np.exp(-q * (layers[idx].thickness_mm - zeta))
        tau = -ea * coef[:, 0] + eb * coef[:, 1]
        shear = ea * coef[:, 0] + eb * coef[:, 1]
    return np.stack([tau, shear])


def single_layer_phi(t: np.ndarray, poisson: float, interface: str = "bonded") -> np.ndarray:
    """Closed-form phi(t), t = q h, for one layer on a rigid base (overflow-safe).

    bonded: [(3-4nu) sinh 2t - 2t] / [(3-4nu) cosh 2t + 2t^2 + 5 - 12nu + 8nu^2]
    (ContactMechanics' PeriodicFFTElasticHalfSpace kernel; Carbone & Mangialardi 2008);
    frictionless: (cosh 2t - 1) / (sinh 2t + 2t).  Both are evaluated with numerator and
    denominator multiplied by 2 e^{-2t}, so large t gives 1 without overflow.
    """
    t = np.asarray(t, dtype=float)
    e = np.exp(-2.0 * t)
    e2 = e * e
    nu = poisson
    if interface == "bonded":
        k = 3.0 - 4.0 * nu
        num = k * (1.0 - e2) - 4.0 * t * e
        den = k * (1.0 + e2) + 2.0 * e * (2.0 * t * t + 5.0 - 12.0 * nu + 8.0 * nu * nu)
    elif interface == "frictionless":
        num = 1.0 + e2 - 2.0 * e
        den = 1.0 - e2 + 4.0 * t * e
    else:
        raise ValueError(f"interface must be 'bonded' or 'frictionless' (got {interface!r})")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    small = t < 1e-4
    if np.any(small):
        # series: bonded -> (1-2nu) t / (2 (1-nu)^2) (+ t^3 terms), frictionless -> t / 2
        ts = t[small]
        if interface == "bonded":
            if abs(1 - 2 * nu) < 1e-12:
                out[small] = 2.0 * ts**3 / 3.0
            else:
                out[small] = (1 - 2 * nu) * ts / (2 * (1 - nu) ** 2)
        else:
            out[small] = ts / 2.0
    return out


def effective_depth_mm(tissue: TissueStack) -> float:
    """Depth below which the base no longer matters to the surface response (mm)."""
    if tissue.base == "halfspace":
        finite = [la.thickness_mm for la in tissue.layers[:-1]]
        return float(sum(finite)) if finite else math.inf
    return tissue.total_thickness_mm
