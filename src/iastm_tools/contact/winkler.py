"""Winkler (elastic foundation) preview: p = k * max(approach - gap, 0), local and instant.

Uncalibrated, ``k = E/h`` or ``k = M/h`` is 30-200 % off in peak pressure (measurements in
/work/shared/reference/contact_mechanics.md, section 3.7), and no single k matches both
contact size and peak pressure.  So k is calibrated **per geometry** from one BEM solve:
:func:`calibrate_winkler` runs :func:`iastm_tools.contact.solve` (layered model) once and
returns the k whose Winkler solution has the same peak pressure at the same load.  Reuse
that k (``solve(..., model="winkler", winkler_k_kpa_per_mm=k)``) for nearby loads and
orientations of the same edge, where it is a fast (milliseconds) preview of the peak
pressure; the contact size and shape stay Winkler-like (narrower tails).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from ..errors import IastmError
from . import _pk
from .tissue_stack import TissueStack

N_PER_KPA_MM2 = 1e-3


def _volume(gap: np.ndarray, delta: float, d_area: float) -> float:
    return float(np.maximum(delta - gap, 0.0).sum() * d_area)


def solve_winkler(
    gap: np.ndarray, d_area: float, k_kpa_per_mm: float, *, load: float | None,
    approach: float | None,
) -> _pk.PKOutcome:
    """Winkler solution for load (kPa*mm^2) or approach (mm) control; gap min must be 0."""
    if not (math.isfinite(k_kpa_per_mm) and k_kpa_per_mm > 0):
        raise IastmError(f"winkler_k_kpa_per_mm must be > 0 (got {k_kpa_per_mm!r})")
    if approach is None:
        hi = float(np.ptp(gap)) or 1.0
        if k_kpa_per_mm * _volume(gap, hi, d_area) < load:
            raise IastmError("winkler: the load needs an approach beyond the gap grid; enlarge it")
        delta = brentq(
            lambda d: k_kpa_per_mm * _volume(gap, d, d_area) - load, 0.0, hi, xtol=1e-14,
            rtol=1e-13,
        )
    else:
        delta = float(approach)
    p = k_kpa_per_mm * np.maximum(delta - gap, 0.0)
    return _pk.PKOutcome(p, p / k_kpa_per_mm, delta, float(p.sum() * d_area), 0, True, 0.0)


def calibrate_winkler(
    gap_mm: np.ndarray,
    spacing_mm: float | tuple[float, float],
    tissue: TissueStack,
    *,
    force_n: float | None = None,
    approach_mm: float | None = None,
    model: str = "layered",
) -> float:
    """Foundation stiffness k (kPa/mm) matching one BEM solve's peak pressure at its load.

    The BEM solve uses the same gap, tissue and load (``model`` "layered" or "halfspace").
    Winkler: p_peak = k delta and F = k V(delta), V = sum (delta - gap)+ dA, so
    delta / V(delta) = p_peak / F fixes delta (monotone for convex gaps) and k = F / V.
    """
    from .solver import solve

    ref = solve(gap_mm, spacing_mm, tissue, force_n=force_n, approach_mm=approach_mm,
                model=model)
    gap = np.asarray(gap_mm, dtype=float)
    gap = gap - gap.min()
    if isinstance(spacing_mm, int | float):
        d_area = float(spacing_mm) ** 2
    else:
        d_area = float(spacing_mm[0]) * float(spacing_mm[1])
    load = ref.force_n / N_PER_KPA_MM2
    target = ref.peak_pressure_kpa / load
    hi = float(np.ptp(gap))
    lo = hi * 1e-9

    def resid(d: float) -> float:
        return d / _volume(gap, d, d_area) - target

    if resid(hi) > 0 or resid(lo) < 0:
        raise IastmError("calibrate_winkler: cannot match the BEM peak pressure on this grid")
    delta = brentq(resid, lo, hi, xtol=1e-14, rtol=1e-13)
    return load / _volume(gap, delta, d_area)
