"""Constrained conjugate gradient for frictionless normal contact (Polonsky & Keer 1999).

Polonsky I.A., Keer L.M., "A numerical method for solving rough contact problems based on
the multi-level multi-summation and conjugate gradient techniques", Wear 231 (1999)
206-219.  Works on any grid dimension: ``conv`` maps pixel pressures (kPa) to surface
displacements (mm, positive into the body), ``gap`` is the undeformed separation (mm).
Deformed gap = gap - approach + u; contact where it is 0 and p > 0.

Optional preconditioning (``precond``: an SPD approximation of K^-1, here the FFT inverse
of the kernel symbol, :class:`.kernels.Preconditioner`, after Vollebregt, "A new solver
for the elastic normal contact problem using conjugate gradients, deflation, and an
FFT-based preconditioner", J. Comput. Phys. 257 (2014) 333-351).  Measured on dumped calf
solves (stiff skin over soft fat, thin curved contacts, 12:1 pixels), the plain loop
below spends thousands of iterations because its active set changes in nearly every
iteration (each change restarts the CG: steepest descent), not because the linear system
is hard (on the final contact set plain CG needs ~140 iterations, preconditioned ~60).
So the preconditioned path has three phases, all counted in ``iterations``:

1. Warm start, primal-dual active set (Hintermueller, Ito & Kunisch, SIAM J. Optim. 13
   (2002) 865-888) in single precision: on a fixed contact set S the problem is linear
   (K_SS p_S = approach - gap_S, plus sum(p) dA = load under load control) and is solved
   by projected preconditioned CG to a relative residual of ``WARM_INNER_RTOL``; then S
   is updated: the points in tension leave, and only when there are none, the
   overlapping points enter (both beyond a round-off band, ``WARM_SHED_TOL`` /
   ``WARM_ADD_TOL``).  Typically 10-30 updates of a few to 20 CG iterations each.
2. Finish: preconditioned constrained CG on a double-precision displacement (single-
   precision increments and preconditioner, :func:`_finish`) with the Polonsky-Keer
   structure (load-control projection, restart when points join the contact with more
   than a round-off overlap, clipping at p = 0) and the same stopping rule, relative
   pressure change < tol: the answer is the same fixed point, reached in fewer
   iterations.
3. Fallback: if the finish keeps restarting (a set still moving), the plain iteration
   continues from its pressure, so the preconditioned path is never less robust.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

Operator = Callable[[np.ndarray], np.ndarray]

# Warm start (primal-dual active set) settings, see _active_set_warm_start; measured on
# dumped calf solves (skin 894 kPa / fat 26 kPa / muscle 15 kPa, 384 x 320 pixels).
# Relative residual of a fixed-set solve: 1e-1 made the set oscillate until the round-off
# bands below; with them it takes 24 % fewer iterations than 1e-2 on 6 dumped library
# fits (54 solves), the final solves' peaks and areas the same to 1e-8 (the peaks of the
# tol 1e-4 calibration solves within 1.2e-4).
WARM_INNER_RTOL = 1e-1
WARM_MIN_RTOL = 1e-5  # tightened 10x (down to this) each time a set repeats (cycling)
WARM_MAX_INNER = 200  # CG iterations per fixed-set solve
WARM_MAX_OUTER = 60  # active-set updates
FINISH_MAX_RESTARTS = 30  # preconditioned restarts in the finish before dropping M^-1
# Round-off bands of the set updates.  On the dumped calf solves the warm start spent up
# to 70 % of its iterations flipping a few boundary points whose pressure (~1e-4 of the
# mean) and overlap (~1e-6 mm of 15 mm displacement: single-precision round-off, 6e-8)
# are both noise; the same points then restarted the finish's CG in every iteration
# (overlaps ~3e-7 of the displacement) until it gave up.  Measured on 6 dumped library
# fits (54 solves): 10 % fewer iterations in total, up to 3.7x fewer on one solve, same
# pressures (peaks and areas to 1e-4).  A wider overlap band (1e-4) leaves real contact
# points to the finish, which then gives up: 35 % more iterations.
WARM_SHED_TOL = 1e-3  # p > -this x mean pressure on S stays in S
WARM_ADD_TOL = 1e-5  # overlap beyond this x max |u| joins S
FINISH_JOIN_TOL = 1e-6  # points joining with less overlap (x max |u|) do not restart the CG


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Dot product without BLAS: OpenBLAS threads spin badly on a busy 2-core box."""
    return float(np.einsum("i,i->", a, b))


@numba.njit(cache=True, nogil=True)
def _set_sums(q: np.ndarray, t: np.ndarray,
              s: np.ndarray) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """(sum q s, sum t q s, sum t s): the sums of one CG step on the set S (s: 1 on S)."""
    qs = tq = ts = 0.0
    for i in range(q.size):
        if s[i] != 0.0:
            qs += q[i]
            tq += t[i] * q[i]
            ts += t[i]
    return qs, tq, ts


@numba.njit(cache=True, nogil=True)
def _cg_step(p: np.ndarray, u: np.ndarray, r: np.ndarray, t: np.ndarray, q: np.ndarray,
             s: np.ndarray, a: float, shift: float) -> float:  # pragma: no cover
    """p += a t, u += a q, r -= a (q - shift) s in place (one pass); returns |r|^2."""
    rr = 0.0
    for i in range(p.size):
        p[i] += a * t[i]
        u[i] += a * q[i]
        if s[i] != 0.0:
            r[i] -= a * (q[i] - shift)
        rr += r[i] * r[i]
    return rr


@numba.njit(cache=True, nogil=True)
def _axpby(z: np.ndarray, t: np.ndarray, beta: float) -> None:  # pragma: no cover
    """t = z + beta t in place: the next conjugate direction."""
    for i in range(t.size):
        t[i] = z[i] + beta * t[i]


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


class _SetPrecond:
    """M^-1 restricted to the contact set S, projected so that sum_S z = 0 (load control).

    The projection is the constraint (Schur-complement) form
    z = M_S^-1 r - v (1^T M_S^-1 r) / (1^T v), v = M_S^-1 1_S, with M_S^-1 = P_S M^-1 P_S:
    symmetric positive semi-definite, definite on {sum_S = 0}, and the exact inverse of
    the constrained system when M = K.  ``v`` is recomputed only when S changes.
    """

    def __init__(self, precond: Operator, shape: tuple[int, ...], load_control: bool) -> None:
        self.precond = precond
        self.shape = shape
        self.load_control = load_control
        self._s: np.ndarray | None = None
        self._v = np.zeros(0)
        self._v_sum = 1.0

    def _apply(self, vec: np.ndarray, s_f: np.ndarray) -> np.ndarray:
        z = self.precond(vec.reshape(self.shape)).ravel()
        z *= s_f
        return z

    def __call__(self, r: np.ndarray, s_f: np.ndarray, s_b: np.ndarray) -> np.ndarray:
        """z (kPa) for the residual r (mm); s_f / s_b: the set S as float / bool."""
        z = self._apply(r, s_f)
        if self.load_control:
            if self._s is None or not np.array_equal(s_b, self._s):
                self._s = s_b.copy()
                self._v = self._apply(s_f, s_f)
                self._v_sum = float(self._v.sum())
            z -= self._v * (float(z.sum()) / self._v_sum)
        return z


def _active_set_warm_start(
    apply: Operator,
    set_precond: _SetPrecond,
    gap: np.ndarray,
    d_area: float,
    load: float | None,
    approach: float | None,
    p: np.ndarray,
    budget: int,
) -> tuple[np.ndarray, int]:
    """Primal-dual active-set iterations with projected PCG solves; returns (p, iterations).

    S starts as {p > 0}.  Each update either sheds the points with p < 0 or, when there
    are none, adds the points where the deformed gap is < 0 (tension first, see below).
    Each CG iteration (one convolution and one preconditioner application, in the
    precision of ``apply`` / ``set_precond``) counts as one solver iteration; at most
    ``budget`` are used.  Stops when S no longer changes, when a set repeats at the
    tightest inner tolerance (cycling: the Polonsky-Keer finish settles the last points)
    or when the budget is spent.  The returned pressure is clipped to >= 0 and carries
    the load.
    """
    load_control = load is not None
    s_b = p > 0
    if not s_b.any():
        s_b = gap <= (approach if approach is not None else gap.min())
    used = 0
    p_start = p
    seen = {np.packbits(s_b).tobytes()}
    rtol = WARM_INNER_RTOL
    for _ in range(WARM_MAX_OUTER):
        s_f = s_b.astype(float)
        n_s = float(s_f.sum())
        p = p * s_f
        if load_control:
            total = float(p.sum())
            p = p * (load / (total * d_area)) if total > 0 else s_f * (load / (n_s * d_area))
        u = apply(p)
        used += 1
        g = u + gap
        g -= _dot(g, s_f) / n_s if load_control else approach
        r = -g * s_f  # projected negative gradient: sum_S r = 0 under load control
        r0 = np.sqrt(_dot(r, r))
        z = set_precond(r, s_f, s_b)
        t = z.copy()
        rz = _dot(r, z)
        for _inner in range(WARM_MAX_INNER):
            if r0 == 0.0 or rz <= 0.0 or used >= budget:
                break
            q = apply(t)
            used += 1
            # qs = q on S, minus its mean on S under load control (sum_S r stays 0)
            q_sum, tq, t_sum = _set_sums(q, t, s_f)
            shift = q_sum / n_s if load_control else 0.0
            denom = tq - shift * t_sum  # = t . qs
            if denom <= 0.0:
                break
            a = rz / denom
            if np.sqrt(_cg_step(p, u, r, t, q, s_f, a, shift)) < rtol * r0:
                break
            z = set_precond(r, s_f, s_b)
            rz_new = _dot(r, z)
            _axpby(z, t, rz_new / rz)
            rz = rz_new
        g = u + gap
        g -= _dot(g, s_f) / n_s if load_control else approach
        keep = s_b & (p > -WARM_SHED_TOL * _dot(p, s_f) / n_s)
        # shed the points in tension first: on a stiff skin over soft fat, gluing a rim
        # lifts a wide zone around it into (spurious) overlap, so adding points in the
        # same update makes the set oscillate
        shed = bool(np.count_nonzero(keep != s_b))
        new_s = keep if shed else keep | (~s_b & (g < -WARM_ADD_TOL * float(np.abs(u).max())))
        if not new_s.any() or used >= budget or np.array_equal(new_s, s_b):
            break
        key = np.packbits(new_s).tobytes()
        if key in seen:
            # a set seen before: inexact solves make boundary points flip back and
            # forth, so solve tighter (or leave the last few to the finish)
            if rtol <= WARM_MIN_RTOL:
                break
            rtol = max(0.1 * rtol, WARM_MIN_RTOL)
        seen.add(key)
        s_b = new_s
    p = np.maximum(p, 0.0)
    if not p.any():
        return p_start, used  # nothing left in contact: let the finish start afresh
    if load_control:
        p *= load / (p.sum() * d_area)
    return p, used


def _finish(
    apply: Operator,
    apply_step: Operator,
    set_precond: _SetPrecond,
    gap: np.ndarray,
    d_area: float,
    load: float | None,
    approach: float | None,
    p: np.ndarray,
    tol: float,
    it: int,
    max_iter: int,
) -> tuple[np.ndarray, int, bool, float]:
    """Preconditioned constrained CG from the warm start; returns (p, it, converged, err).

    The Polonsky-Keer iteration with z = M^-1 g as search direction, on the free set
    F = {p > 0} or {deformed gap < 0} (so that a point entering contact gets its pressure
    from the preconditioned step itself, not from a separate scale), projected so that
    sum_F z = 0 under load control.  As in Polonsky & Keer, points leaving F just drop out
    of the direction and points joining F restart the CG (unless their overlap is below
    ``FINISH_JOIN_TOL`` of the largest displacement: they join without a restart, which
    keeps the CG from degenerating into steepest descent while a few boundary points with
    p ~ 0 and gap ~ 0 flip).  Same stopping rule: relative pressure change < tol.

    The displacement u = K p is computed once with ``apply`` (double precision) and then
    updated by increments: K t of each step and K of each clipping correction come from
    ``apply_step`` (single precision: 3x faster FFTs), whose relative error ~1e-7 then
    applies to the increments only, which shrink with the pressure change (measured on
    dumped calf solves: the same pressures to 1e-9 of the peak, 7 % less time).

    Gives up (converged False) after ``FINISH_MAX_RESTARTS`` restarts: a preconditioned
    step followed by clipping is not a descent step in general, so a set that keeps
    moving is left to the plain iteration.
    """
    load_control = load is not None
    n = p.size
    t = np.zeros(n)
    g = np.empty(n)
    g_f = np.empty(n)
    f_f = np.empty(n)
    free = np.zeros(n, dtype=np.bool_)
    free_prev = np.ones(n, dtype=np.bool_)  # no point "joins" at the first step
    p = p.copy()
    p_prev = np.empty(n)
    g_old = 1.0
    first = True
    restarts = 0
    err = np.inf
    shift = math.nan if load_control else float(approach)  # type: ignore[arg-type]
    u = apply(p)  # double precision once; then updated by increments
    while it < max_iter:
        n_f, joined = _finish_gradient(u, gap, p, shift, FINISH_JOIN_TOL, free_prev, g,
                                       g_f, f_f, free)
        if n_f < 0:  # no point with p > 0 left
            break
        if first or joined:
            first = False
            restarts += 1
            if restarts > FINISH_MAX_RESTARTS:
                break
            t = set_precond(g_f, f_f, free)
            G = _dot(g_f, t)
        else:
            z = set_precond(g_f, f_f, free)
            G = _dot(g_f, z)
            _next_direction(t, z, f_f, G / g_old)
        it += 1
        free, free_prev = free_prev, free
        g_old = G
        r = apply_step(t)
        rt, rf, t_sum, gt = _step_sums(r, t, f_f, g_f)
        denom = rt - rf / n_f * t_sum if load_control else rt
        if denom <= 0.0:
            return p, it, True, 0.0  # t = 0: g vanishes on the free set
        tau = gt / denom
        if _descend(p, p_prev, u, t, r, tau) < 0.0:
            clip = _clip(p)  # clipped at 0: add K of the (small) correction
            u += apply_step(clip)
        scale = load / (float(p.sum()) * d_area) if load_control else 1.0
        err = _rescale_change(p, u, p_prev, scale)
        if err < tol:
            return p, it, True, err
    return p, it, False, err


@numba.njit(cache=True, nogil=True)
def _finish_gradient(u: np.ndarray, gap: np.ndarray, p: np.ndarray, shift: float,
                     join_tol: float, free_prev: np.ndarray, g: np.ndarray, g_f: np.ndarray,
                     f_f: np.ndarray, free: np.ndarray) -> tuple[float, bool]:  # pragma: no cover
    """One gradient of :func:`_finish` in three passes: g = u + gap - shift (shift: the
    mean over {p > 0} of u + gap under load control, flagged by a NaN ``shift``), the free
    set F = {p > 0} or {g < 0} into ``free`` / ``f_f``, g_f = g on F (minus its mean on F
    under load control). Returns (|F|, whether a point joined F with an overlap beyond
    ``join_tol`` x max |u|); |F| = -1 when no p > 0."""
    n = u.size
    n_pos = 0
    g_pos = 0.0
    u_max = 0.0
    for i in range(n):
        gi = u[i] + gap[i]
        g[i] = gi
        u_max = max(u_max, abs(u[i]))
        if p[i] > 0.0:
            n_pos += 1
            g_pos += gi
    if n_pos == 0:
        return -1.0, False
    load_control = math.isnan(shift)
    if load_control:
        shift = g_pos / n_pos
    limit = -join_tol * u_max
    n_f = 0
    g_sum = 0.0
    joined = False
    for i in range(n):
        gi = g[i] - shift
        g[i] = gi
        fi = p[i] > 0.0 or gi < 0.0
        free[i] = fi
        if fi:
            n_f += 1
            g_sum += gi
            f_f[i] = 1.0
            if not free_prev[i] and gi < limit:
                joined = True
        else:
            f_f[i] = 0.0
    mean = g_sum / n_f if load_control else 0.0
    for i in range(n):
        g_f[i] = (g[i] - mean) * f_f[i]
    return float(n_f), joined


@numba.njit(cache=True, nogil=True)
def _next_direction(t: np.ndarray, z: np.ndarray, f: np.ndarray,
                    beta: float) -> None:  # pragma: no cover - compiled
    """t = beta (t on the set f) + z in place."""
    for i in range(t.size):
        t[i] = t[i] * f[i] * beta + z[i]


@numba.njit(cache=True, nogil=True)
def _step_sums(r: np.ndarray, t: np.ndarray, f: np.ndarray,
               g_f: np.ndarray) -> tuple[float, float, float, float]:  # pragma: no cover
    """(r . t, r . f, sum t, g_f . t) of a finish step, in one pass."""
    rt = rf = ts = gt = 0.0
    for i in range(r.size):
        rt += r[i] * t[i]
        rf += r[i] * f[i]
        ts += t[i]
        gt += g_f[i] * t[i]
    return rt, rf, ts, gt


@numba.njit(cache=True, nogil=True)
def _descend(p: np.ndarray, p_prev: np.ndarray, u: np.ndarray, t: np.ndarray,
             r: np.ndarray, tau: float) -> float:  # pragma: no cover - compiled
    """p_prev = p, p -= tau t, u -= tau r (r = K t) in place; returns min p."""
    lo = np.inf
    for i in range(p.size):
        p_prev[i] = p[i]
        pi = p[i] - tau * t[i]
        p[i] = pi
        u[i] -= tau * r[i]
        lo = min(lo, pi)
    return lo


@numba.njit(cache=True, nogil=True)
def _clip(p: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Clip p at 0 in place; returns the (non-negative) correction added."""
    clip = np.zeros(p.size)
    for i in range(p.size):
        if p[i] < 0.0:
            clip[i] = -p[i]
            p[i] = 0.0
    return clip


@numba.njit(cache=True, nogil=True)
def _rescale_change(p: np.ndarray, u: np.ndarray, p_prev: np.ndarray,
                    scale: float) -> float:  # pragma: no cover - compiled
    """p *= scale, u *= scale in place; returns sum |p - p_prev| / sum p."""
    change = total = 0.0
    for i in range(p.size):
        pi = p[i] * scale
        p[i] = pi
        u[i] *= scale
        change += abs(pi - p_prev[i])
        total += pi
    return change / max(total, 1e-300)


def _plain_pk(
    apply: Operator,
    to_exact: Callable[[], bool],
    gap: np.ndarray,
    d_area: float,
    load: float | None,
    approach: float | None,
    p: np.ndarray,
    tol: float,
    it0: int,
    max_iter: int,
    fast_tol: float,
) -> tuple[np.ndarray, int, bool, float]:
    """The Polonsky-Keer iteration (iterations it0 + 1 .. max_iter); (p, it, converged, err).

    ``to_exact()`` switches ``apply`` from the fast to the exact convolution (returns
    False when it already was exact); that happens once the relative pressure change is
    below ``fast_tol`` or half of ``max_iter`` is used, and restarts the CG.
    """
    load_control = load is not None
    t = np.zeros_like(p)
    g_old = 1.0
    restart = True
    converged = False
    err = np.inf
    it = it0
    # All reductions are dot products over full arrays (t vanishes off the contact set S),
    # which avoids boolean fancy indexing in the loop.
    for it in range(it0 + 1, max_iter + 1):
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
        if (err < fast_tol or it > max_iter // 2) and to_exact():
            restart = True
            continue
        if err < tol:
            converged = True
            break
    return p, it, converged, err


def solve_pk(
    conv: Operator,
    gap: np.ndarray,
    d_area: float,
    *,
    load: float | None,
    approach: float | None,
    p_init: np.ndarray,
    tol: float = 1e-8,
    max_iter: int = 2000,
    conv_fast: Operator | None = None,
    fast_tol: float = 3e-5,
    precond: Operator | None = None,
    precond_fast: Operator | None = None,
) -> PKOutcome:
    """Load control (``load`` in kPa*mm^2) or displacement control (``approach`` in mm).

    ``conv_fast`` (optional, e.g. single precision) is used until the relative pressure
    change falls below ``fast_tol``; the iteration then restarts with ``conv`` and runs to
    ``tol``, so the answer has full double precision.

    ``precond`` (optional): r (mm) -> M^-1 r (kPa), an SPD approximation of the inverse
    influence operator on the grid (``precond_fast``: its single-precision twin).  It
    switches on the active-set warm start (in ``conv_fast`` / ``precond_fast`` precision,
    at most half of ``max_iter``) and the preconditioned finish (double-precision
    displacement, ``precond_fast`` as its preconditioner when given), see the module
    docstring; if the finish gives up, the plain iteration below continues
    from its pressure.  Iterations of all phases count towards ``max_iter``.
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

    def to_exact() -> bool:
        """Switch ``apply`` to the exact convolution; False if it already was."""
        nonlocal conv
        switched = conv is not exact_conv
        conv = exact_conv
        return switched

    it = 0
    converged = False
    err = np.inf
    if precond is not None:
        warm = _SetPrecond(precond_fast or precond, shape, load_control)
        p, it = _active_set_warm_start(apply, warm, gap, d_area, load, approach, p,
                                       max_iter // 2)
        apply_fast = apply if conv_fast is None else (
            lambda vec: conv_fast(vec.reshape(shape)).ravel())
        to_exact()  # finish in double precision
        # the preconditioner only steers the CG, it does not set the fixed point: its
        # single-precision twin serves the finish too (4 % less solver time on the
        # dumped solves of hook-j and boomerang-small; peaks within 2e-5)
        fine = _SetPrecond(precond_fast or precond, shape, load_control)
        p, it, converged, err = _finish(apply, apply_fast, fine, gap, d_area, load,
                                        approach, p, tol, it, max_iter)
    if not converged:
        p, it, converged, err = _plain_pk(apply, to_exact, gap, d_area, load, approach, p,
                                          tol, it, max_iter, fast_tol)
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
