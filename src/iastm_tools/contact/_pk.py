"""Constrained conjugate gradient for frictionless normal contact (Polonsky & Keer 1999).

Polonsky I.A., Keer L.M., "A numerical method for solving rough contact problems based on
the multi-level multi-summation and conjugate gradient techniques", Wear 231 (1999)
206-219.  Works on any grid dimension: ``conv`` maps pixel pressures (kPa) to surface
displacements (mm, positive into the body), ``gap`` is the undeformed separation (mm).
Deformed gap = gap - approach + u; contact where it is 0 and p > 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Dot product without BLAS: OpenBLAS threads spin badly on a busy 2-core box."""
    return float(np.einsum("i,i->", a, b))


@dataclass(frozen=True)
class PKOutcome:
    """Raw solver output (internal units: kPa, mm, kPa*mm^2 for load)."""

    pressure: np.ndarray
    displacement: np.ndarray
    approach: float
    load: float
    iterations: int
    converged: bool
    residual: float
    coarse_pressure: np.ndarray | None = None  # pre-solve on every f-th node, if any
    coarse_factor: int = 1


def solve_pk(
    conv: Callable[[np.ndarray], np.ndarray],
    gap: np.ndarray,
    d_area: float,
    *,
    load: float | None,
    approach: float | None,
    p_init: np.ndarray,
    tol: float = 1e-8,
    max_iter: int = 2000,
    conv_fast: Callable[[np.ndarray], np.ndarray] | None = None,
    fast_tol: float = 3e-5,
) -> PKOutcome:
    """Load control (``load`` in kPa*mm^2) or displacement control (``approach`` in mm).

    ``conv_fast`` (optional, e.g. single precision) is used until the relative pressure
    change falls below ``fast_tol``; the iteration then restarts with ``conv`` and runs to
    ``tol``, so the answer has full double precision.
    """
    exact_conv = conv
    if conv_fast is not None:
        conv = conv_fast
    load_control = load is not None
    shape = gap.shape
    gap = np.ascontiguousarray(gap, dtype=float).ravel()
    p = np.maximum(np.asarray(p_init, dtype=float), 0.0).ravel().copy()
    if load_control:
        p *= load / (p.sum() * d_area)

    def apply(vec: np.ndarray) -> np.ndarray:
        return conv(vec.reshape(shape)).ravel()

    t = np.zeros_like(p)
    g_old = 1.0
    restart = True
    converged = False
    err = np.inf
    it = 0
    # All reductions are dot products over full arrays (t vanishes off the contact set S),
    # which avoids boolean fancy indexing in the loop.
    for it in range(1, max_iter + 1):
        g = apply(p)
        g += gap
        s_f = (p > 0).astype(float)
        n_s = float(s_f.sum())
        if n_s == 0.0:
            # lost all contact (displacement control, tiny approach): restart from the gap
            p = np.maximum(approach - gap, 0.0)
            restart = True
            continue
        if load_control:
            g -= _dot(g, s_f) / n_s
        else:
            g -= approach
        g_s = g * s_f
        G = _dot(g_s, g_s)
        if restart:
            t = g_s
        else:
            t *= s_f
            t *= G / g_old
            t += g_s
        g_old = G
        r = apply(t)
        denom = _dot(r, t)
        if load_control:
            denom -= _dot(r, s_f) / n_s * float(t.sum())
        if denom == 0.0:
            converged = True
            break
        tau = _dot(g_s, t) / denom
        p_prev = p
        p = p - tau * t
        np.maximum(p, 0.0, out=p)
        corr = g * (-tau)
        np.maximum(corr, 0.0, out=corr)
        corr *= p == 0.0
        restart = bool(corr.any())
        if restart:
            p += corr
        if load_control:
            p *= load / (p.sum() * d_area)
        scale = max(float(p.sum()), 1e-300)
        err = float(np.abs(p - p_prev).sum()) / scale
        if conv is not exact_conv and (err < fast_tol or it > max_iter // 2):
            conv = exact_conv
            restart = True
            continue
        if err < tol:
            converged = True
            break
    p = p.reshape(shape)
    gap = gap.reshape(shape)
    conv = exact_conv
    u = conv(p)
    S = p > 0
    if load_control:
        delta = float((u + gap)[S].mean()) if S.any() else 0.0
        total = load
    else:
        delta = float(approach)
        total = float(p.sum() * d_area)
    return PKOutcome(p, u, delta, total, it, converged, err)
