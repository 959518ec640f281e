"""Pressure under a rigid indenter on layered soft tissue: the solver entry point.

Conventions (stated once, used everywhere in :mod:`iastm_tools.contact`):

* ``gap_mm[i, j]`` is the separation (mm) between the rigid indenter and the *undeformed*
  tissue surface at ``x = i * dx``, ``y = j * dy`` (x along axis 0, y along axis 1).
  ``gap >= 0`` means separation.  The gap is shifted so that its minimum is 0: first
  contact happens at the minimum.
* ``approach_mm`` is the rigid-body penetration of the indenter past first touch (mm).
  The deformed gap is ``gap - approach + u`` where ``u`` (mm) is the surface displacement
  into the tissue; contact where that is 0, with pressure ``p >= 0`` (compressive, kPa).
* Non-periodic (free-space) everywhere: no periodic images.
* Units at this boundary: mm, N, kPa.  1 kPa * 1 mm^2 = 1e-3 N.

Models: ``"halfspace"`` (top layer as an elastic half-space), ``"layered"`` (the full
:class:`TissueStack`, see :mod:`.kernels` / :mod:`.layered`), ``"winkler"`` (an elastic
foundation calibrated from one BEM solve, see :mod:`.winkler`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..errors import IastmError
from . import _pk
from .kernels import (
    EFFECTIVELY_INFINITE,
    Convolver,
    Preconditioner,
    line_pixel,
    line_remainder,
    padded_size,
)
from .layered import effective_depth_mm
from .tissue_stack import TissueStack

N_PER_KPA_MM2 = 1e-3  # 1 kPa * 1 mm^2 = 1e3 Pa * 1e-6 m^2 = 1e-3 N
MIN_HALF_WIDTH_PX = 4.0
MODELS = ("halfspace", "layered", "winkler")
LARGE_DEFORMATION_APPROACH_OVER_R = 0.1
LARGE_DEFORMATION_A_OVER_R = 0.3


class ContactInputError(IastmError):
    """Bad input to a contact solve (gap, spacing, load, tissue or grid).

    ``result``: for a contact found under-resolved ("grid too coarse") or touching the
    grid border ("grid too small"), the solve itself (a :class:`ContactResult`), so that a
    caller can size the next grid from it, or use it without solving again when it cannot
    refine further; None otherwise.
    """

    def __init__(self, message: str, result: ContactResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class ContactResult:
    """Solution of one normal contact problem (units in the field names).

    pressure_kpa: contact pressure on the grid (kPa, compressive positive).
    displacement_mm: surface displacement into the tissue (mm).
    contact_mask: True where pressure > 0.
    approach_mm: rigid-body penetration past first touch (mm).
    force_n: total normal force (N).
    contact_area_mm2: pixel-count contact area (mm^2) (biased by about +dx/2 on the
        perimeter); ``contact_area_ellipse_mm2 = pi * width * length / 4`` uses the
        interpolated extents instead.
    contact_extent_x_mm / contact_extent_y_mm: contact extent along axis 0 / axis 1 through
        the pressure centroid, with the boundary located inside the pixel from the local
        edge solution (see :func:`_edge_position`); not a pixel count.
    contact_width_mm / contact_length_mm: the smaller / larger of the two extents.
    peak_pressure_kpa, mean_pressure_kpa: max(p) and force / contact_area_ellipse.
    radius_x_mm / radius_y_mm: indenter radii from the gap curvature at its minimum (or as
        passed in); ``inf`` for a flat gap.
    a_over_r: contact half-width over the radius in the same direction.
    approach_over_r: approach over the smaller radius.
    a_over_h: contact half-width over the tissue depth to bone (0 on a half-space).
    max_strain_estimate: peak pressure over the top layer's E* (about 0.64 a/R in Hertz).
    small_strain_valid: a/R <= 0.3 and approach/R <= 0.1 (Hertz/linear elasticity range).
    warnings: human-readable caveats (singular edges, large deformation, ...).
    tissue: the stack that was solved (used by :func:`subsurface_stress`).
    corrected_*: large-deformation corrected values from
        :mod:`iastm_tools.contact.large_deformation` when it applies, else None.
    """

    model: str
    pressure_kpa: np.ndarray
    displacement_mm: np.ndarray
    contact_mask: np.ndarray
    spacing_mm: tuple[float, float]
    approach_mm: float
    force_n: float
    contact_area_mm2: float
    contact_area_ellipse_mm2: float
    contact_extent_x_mm: float
    contact_extent_y_mm: float
    contact_width_mm: float
    contact_length_mm: float
    peak_pressure_kpa: float
    mean_pressure_kpa: float
    radius_x_mm: float
    radius_y_mm: float
    a_over_r: float
    approach_over_r: float
    a_over_h: float
    max_strain_estimate: float
    small_strain_valid: bool
    iterations: int
    converged: bool
    residual: float
    warnings: tuple[str, ...] = ()
    large_deformation_corrected: bool = False
    corrected_peak_pressure_kpa: float | None = None
    corrected_contact_width_mm: float | None = None
    corrected_force_n: float | None = None
    corrected_approach_mm: float | None = None
    extras: dict[str, float] = field(default_factory=dict)
    tissue: TissueStack | None = None

    def __post_init__(self) -> None:
        for name in ("pressure_kpa", "displacement_mm", "contact_mask"):
            arr = getattr(self, name)
            if isinstance(arr, np.ndarray):
                arr.setflags(write=False)

    def summary(self) -> dict[str, object]:
        """Scalar fields (units in the keys), warnings as a list: ready for JSON/reports."""
        out: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            val = getattr(self, name)
            if isinstance(val, bool | int | float | str) or val is None:
                out[name] = val.item() if isinstance(val, np.generic) else val
            elif isinstance(val, np.floating | np.integer | np.bool_):
                out[name] = val.item()
        out["spacing_mm"] = list(self.spacing_mm)
        out["warnings"] = list(self.warnings)
        return out


# ----------------------------------------------------------------------------- validation


def _spacing(spacing_mm: float | tuple[float, float] | list[float]) -> tuple[float, float]:
    if isinstance(spacing_mm, int | float):
        sp = (float(spacing_mm), float(spacing_mm))
    else:
        vals = tuple(float(s) for s in spacing_mm)
        if len(vals) != 2:
            raise ContactInputError(
                f"spacing_mm must be a float or a (dx, dy) pair (got {spacing_mm!r})"
            )
        sp = (vals[0], vals[1])
    for s in sp:
        if not (math.isfinite(s) and s > 0):
            raise ContactInputError(f"spacing_mm must be finite and > 0 (got {spacing_mm!r})")
    return sp


def _check_tissue(tissue: object) -> TissueStack:
    if not isinstance(tissue, TissueStack):
        raise ContactInputError(f"tissue must be a TissueStack (got {type(tissue).__name__})")
    for la in tissue.layers:
        if not (math.isfinite(la.youngs_kpa) and la.youngs_kpa > 0):
            raise ContactInputError(f"layer youngs_kpa must be > 0 (got {la.youngs_kpa!r})")
        if not (0.0 < la.poisson <= 0.5):
            raise ContactInputError(f"layer poisson must be in (0, 0.5] (got {la.poisson!r})")
    return tissue


def _check_gap(gap_mm: object, ndim: int) -> np.ndarray:
    try:
        gap = np.array(gap_mm, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ContactInputError(f"gap_mm must be a numeric array ({exc})") from exc
    if gap.ndim != ndim:
        raise ContactInputError(f"gap_mm must be a {ndim}-D array (got shape {gap.shape})")
    if min(gap.shape) < 8:
        raise ContactInputError(f"gap_mm needs at least 8 points per axis (got {gap.shape})")
    if not np.all(np.isfinite(gap)):
        raise ContactInputError("gap_mm contains NaN or inf values; pass a finite gap")
    return gap - gap.min()


def _check_load(force_n: float | None, approach_mm: float | None) -> None:
    if (force_n is None) == (approach_mm is None):
        raise ContactInputError(
            "give exactly one of force_n (load control) or approach_mm (displacement control)"
        )
    val, name = (force_n, "force_n") if force_n is not None else (approach_mm, "approach_mm")
    if not (isinstance(val, int | float) and math.isfinite(val) and val > 0):
        raise ContactInputError(f"{name} must be finite and > 0 (got {val!r})")


# ----------------------------------------------------------------------------- diagnostics


def _curvature_radii(gap: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float]:
    """Radii (mm) from the second differences of the gap at its minimum; inf if flat."""
    i, j = np.unravel_index(int(np.argmin(gap)), gap.shape)
    radii = []
    for axis, d in enumerate(spacing):
        idx = [i, j]
        n = gap.shape[axis]
        c = min(max(idx[axis], 1), n - 2)
        idx_m, idx_p, idx_c = list(idx), list(idx), list(idx)
        idx_m[axis], idx_c[axis], idx_p[axis] = c - 1, c, c + 1
        k = (gap[tuple(idx_p)] - 2 * gap[tuple(idx_c)] + gap[tuple(idx_m)]) / (d * d)
        radii.append(1.0 / k if k > 1e-12 else math.inf)
    return radii[0], radii[1]


def _contact_radii(
    gap: np.ndarray, mask: np.ndarray, spacing: tuple[float, float]
) -> tuple[float, float]:
    """Indenter radii (mm) from a least-squares quadric fit of the gap over the contact.

    gap ~ c0 + c1 x + c2 y + x^2/(2 Rx) + y^2/(2 Ry) + c5 x y on the contact pixels; a flat
    (or concave) direction gives inf.
    """
    ii, jj = np.nonzero(mask)
    if ii.size < 6:
        return _curvature_radii(gap, spacing)
    x = (ii - ii.mean()) * spacing[0]
    y = (jj - jj.mean()) * spacing[1]
    A = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)
    coef, *_ = np.linalg.lstsq(A, gap[ii, jj], rcond=None)
    scale = float(np.ptp(gap[ii, jj])) or 1.0
    out = []
    for c, ext in ((coef[3], np.ptp(x)), (coef[4], np.ptp(y))):
        # curvature too small to matter over the contact -> flat
        flat = c <= 0 or c * max(ext, 1e-12) ** 2 < 1e-6 * scale
        out.append(math.inf if flat else 1.0 / (2.0 * c))
    return out[0], out[1]


def _edge_position(prof: np.ndarray, gprof: np.ndarray | None, k_in: int, k_out: int,
                   d: float, e_star: float | None = None) -> float:
    """Interpolated contact boundary between inside pixel k_in and outside pixel k_out
    (mm from index 0) of one profile; see :func:`_edge_positions`."""
    return float(_edge_positions(prof[:, None], None if gprof is None else gprof[:, None],
                                 np.array([k_in]), np.array([k_out]), np.array([0]), d,
                                 e_star)[0])


#: Bisection steps of :func:`_edge_positions`: the bracket of one pixel shrinks to
#: 2^-48 d (< 4e-15 d), below the 1e-12 d of the scalar root finder it replaced.
EDGE_BISECTIONS = 48


def _edge_positions(p: np.ndarray, g: np.ndarray | None, k_in: np.ndarray,
                    k_out: np.ndarray, col: np.ndarray, d: float,
                    e_star: float | None = None) -> np.ndarray:
    """Interpolated contact boundaries between inside pixels ``p[k_in, col]`` and outside
    pixels ``p[k_out, col]`` (k_out = k_in +- 1) along axis 0, in mm from index 0.

    Near any smooth contact edge the local solution is universal (plane strain across the
    edge; e.g. the expansion of the Hertz line-contact gap, Johnson 1985 section 4.3):
    p = P sqrt(t) at a distance t inside and deformed gap g = (4 P / (3 E*)) s^(3/2) at a
    distance s outside.  With p at the last contact node and g at the first free node
    (t + s = one pixel) the ratio g/p = (4 / (3 E*)) s^(3/2) / sqrt(t) fixes the edge
    without knowing P (its root in t, decreasing in t, by vectorised bisection).  This
    beats p^2 or g^(2/3) extrapolation: measured error <= 0.5 % of the half-width at
    a/dx >= 14 on sphere, ellipse and layered cases whatever the node alignment.
    Fallback without gap data: p^2 extrapolated linearly from the last two inside nodes.
    """
    k_in = np.asarray(k_in)
    k_out = np.asarray(k_out)
    col = np.asarray(col)
    step = k_out - k_in
    p_in = p[k_in, col]
    out = np.empty(k_in.shape)
    local = (p_in > 0) if (g is not None and e_star is not None) else np.zeros(k_in.shape,
                                                                              dtype=bool)
    if local.any():
        g_out = g[k_out[local], col[local]]
        ratio = g_out / p_in[local]
        c = 4.0 / (3.0 * e_star)

        def f(t: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return c * (d - t) ** 1.5 / np.sqrt(t) - ratio

        lo = np.full(ratio.shape, 1e-12 * d)
        hi = np.full(ratio.shape, d * (1.0 - 1e-12))
        f_lo = f(lo)
        bracketed = (f_lo > 0) & (f(hi) < 0)
        for _ in range(EDGE_BISECTIONS):
            mid = 0.5 * (lo + hi)
            pos = f(mid) > 0
            lo = np.where(pos, mid, lo)
            hi = np.where(pos, hi, mid)
        t = np.where(bracketed, 0.5 * (lo + hi), np.where(f_lo <= 0, 0.0, d))
        ki, st = k_in[local], step[local]
        out[local] = np.where(g_out <= 0.0, k_out[local] * d, ki * d + st * t)
    rest = ~local
    if rest.any():
        ki, st, cr = k_in[rest], step[rest], col[rest]
        p_e = p_in[rest] ** 2
        k_prev = ki - st
        ok = (k_prev >= 0) & (k_prev < p.shape[0])
        p_prev = np.zeros(ki.shape)
        p_prev[ok] = p[k_prev[ok], cr[ok]]
        use = ok & (p_prev > 0) & (p_prev**2 > p_e)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(use, np.clip(p_e / (p_prev**2 - p_e), 0.0, 1.0), 0.5)
        out[rest] = (ki + st * frac) * d
    return out


def _extent(
    prof: np.ndarray, k0: int, d: float, gprof: np.ndarray | None = None,
    e_star: float | None = None,
) -> tuple[float, float, float]:
    """(extent, left, right) of the contact run through index k0 of a pressure profile."""
    n = prof.size
    if prof[k0] <= 0:
        nz = np.flatnonzero(prof > 0)
        if nz.size == 0:
            return 0.0, 0.0, 0.0
        k0 = int(nz[np.argmin(np.abs(nz - k0))])
    lo = k0
    while lo - 1 >= 0 and prof[lo - 1] > 0:
        lo -= 1
    hi = k0
    while hi + 1 < n and prof[hi + 1] > 0:
        hi += 1
    left = _edge_position(prof, gprof, lo, lo - 1, d, e_star) if lo > 0 else -0.5 * d
    right = _edge_position(prof, gprof, hi, hi + 1, d, e_star) if hi < n - 1 else (n - 0.5) * d
    return right - left, left, right


def interpolated_area_mm2(
    p: np.ndarray,
    spacing: tuple[float, float],
    deformed_gap: np.ndarray | None = None,
    e_star_kpa: float | None = None,
) -> float:
    """Contact area (mm^2) with the boundary located inside the pixels along axis 0.

    Every line of nodes along axis 0 (across an edge's contact strip) contributes the
    interpolated length of its contact runs (:func:`_edge_position`, the local edge
    solution) times the spacing along axis 1.  Unlike the pixel count, whose boundary is
    off by up to half a pixel per side (10 % of an 8-pixel-wide strip), this converges
    with the grid; the area along axis 1 is still summed per line (its ends fall within
    half a line spacing).
    """
    dx, dy = spacing
    n = p.shape[0]
    inside = p > 0
    if not inside.any():
        return 0.0
    pad = np.zeros((p.shape[1], 1), dtype=np.int8)
    # run starts (+1) and ends (-1) along axis 0, column by column (transposed: np.nonzero
    # then lists each column's starts and ends in order, so they pair up)
    change = np.diff(np.hstack([pad, inside.T.view(np.int8), pad]), axis=1)
    col, lo = np.nonzero(change == 1)
    hi = np.nonzero(change == -1)[1] - 1
    left = np.full(lo.shape, -0.5 * dx)
    right = np.full(hi.shape, (n - 0.5) * dx)
    a, b = lo > 0, hi < n - 1
    left[a] = _edge_positions(p, deformed_gap, lo[a], lo[a] - 1, col[a], dx, e_star_kpa)
    right[b] = _edge_positions(p, deformed_gap, hi[b], hi[b] + 1, col[b], dx, e_star_kpa)
    return float((right - left).sum() * dy)


def contact_extents(
    p: np.ndarray,
    spacing: tuple[float, float],
    deformed_gap: np.ndarray | None = None,
    e_star_kpa: float | None = None,
) -> tuple[float, float]:
    """Contact extents (mm) along axis 0 and axis 1 through the pressure centroid.

    deformed_gap (mm, gap - approach + u) and the surface layer's E* (kPa) give the
    accurate boundary estimate of :func:`_edge_position`; without them the pressure alone
    is used.
    """
    total = p.sum()
    if total <= 0:
        return 0.0, 0.0
    ii = np.arange(p.shape[0])
    jj = np.arange(p.shape[1])
    ic = round(float((p.sum(axis=1) * ii).sum() / total))
    jc = round(float((p.sum(axis=0) * jj).sum() / total))
    gx = None if deformed_gap is None else deformed_gap[:, jc]
    gy = None if deformed_gap is None else deformed_gap[ic, :]
    ex, _, _ = _extent(p[:, jc], ic, spacing[0], gx, e_star_kpa)
    ey, _, _ = _extent(p[ic, :], jc, spacing[1], gy, e_star_kpa)
    return ex, ey


def _boundary_ratio(p: np.ndarray) -> float | None:
    """Max pressure on the contact rim (2 pixels) over the max in the interior (>= 3 in)."""
    mask = p > 0
    if mask.sum() < 16:
        return None
    interior = ndimage.binary_erosion(mask, iterations=3)
    boundary = mask & ~ndimage.binary_erosion(mask, iterations=2)
    if not interior.any() or not boundary.any():
        return None
    return float(p[boundary].max()) / float(p[interior].max())


def _edge_spike_warning(p: np.ndarray, coarse: np.ndarray | None, factor: int) -> str | None:
    """Detect a pressure maximum on the contact boundary (singular edge or flat end).

    A smooth contact has p -> 0 at its boundary, so a rim pressure above the interior peak
    means an elastic singularity (flat punch or flat-ended edge: p ~ 1/sqrt(distance)).
    When the coarse pre-solve exists its ratio is reported too: a real singularity grows
    with refinement (reference note: 2.97 -> 4.10 -> 5.76 at 128^2 -> 512^2).
    """
    ratio = _boundary_ratio(p)
    if ratio is None or ratio <= 1.0:
        return None
    growth = ""
    if coarse is not None:
        rc = _boundary_ratio(coarse)
        if rc is not None:
            trend = "grows" if ratio > 1.05 * rc else "does not grow"
            growth = f" ({rc:.2f}x on the {factor}x coarser pre-solve: {trend} with refinement)"
    return (
        f"pressure singularity at the contact boundary: the boundary pressure is "
        f"{ratio:.2f}x the interior peak{growth}; the peak pressure of a sharp edge or flat "
        "end is grid-dependent: round or crown the edge ends"
    )


def _large_deformation(
    shape: str, approach_over_r: float, a_over_h: float
) -> tuple[object | None, str]:
    """Ask the FE-calibrated module for a correction: (correction or None, note).

    The module (:mod:`iastm_tools.contact.large_deformation`, written separately) is
    optional: if it is missing, fails (e.g. its calibration table is absent) or returns
    None / ``in_range=False``, the linear result stands and the note says why.
    """
    try:
        from . import large_deformation  # type: ignore[attr-defined]
    except ImportError:
        return None, "outside small-strain theory; no calibrated correction (module absent)"
    try:
        corr = large_deformation.correction(shape, approach_over_r, a_over_h)
    except Exception as exc:  # an optional add-on must never break a contact solve
        return None, (
            "outside small-strain theory; no calibrated correction "
            f"({type(exc).__name__}: {exc})"
        )
    if corr is None:
        return None, "outside small-strain theory; no calibrated correction (outside its range)"
    if not getattr(corr, "in_range", False):
        return None, (
            "outside small-strain theory; no calibrated correction (extrapolated: "
            f"{getattr(corr, 'note', '')})"
        )
    return corr, str(getattr(corr, "note", ""))


# ----------------------------------------------------------------------------- solve


def _initial_pressure(
    gap: np.ndarray, e_star: float, load: float | None, approach: float | None, radius: float
) -> np.ndarray:
    """Hertz-shaped first guess p ~ sqrt(delta - gap) (any shape: the load is rescaled).

    delta: the given approach, or the Hertz approach (9 F^2 / (16 R E*^2))^(1/3) for a
    finite radius (Johnson eq. 4.23), else 1 % of the gap range.
    """
    if approach is not None:
        delta = approach
    elif math.isfinite(radius) and load is not None:
        delta = (9.0 * load**2 / (16.0 * radius * e_star**2)) ** (1.0 / 3.0)
    else:
        delta = 0.01 * float(np.ptp(gap))
    p = np.sqrt(np.maximum(delta - gap, 0.0))
    if not p.any():
        p = (gap <= np.partition(gap.ravel(), 8)[8]).astype(float)
    return p


def _solve_direct(
    gap: np.ndarray,
    spacing: tuple[float, float],
    tissue: TissueStack,
    kernel_model: str,
    load: float | None,
    approach: float | None,
    tol: float,
    max_iter: int,
    p_init: np.ndarray | None,
    box_shape: tuple[int, int] | None = None,
    precondition: bool = True,
) -> _pk.PKOutcome:
    """Conjugate-gradient solve on the whole given grid (float32 start, float64 finish).

    box_shape: the full grid when ``gap`` is a window of it (same kernel values).
    precondition: FFT-preconditioned active-set warm start and preconditioned finish
    (:class:`.kernels.Preconditioner`, see :mod:`._pk`); same answer, fewer iterations.
    """
    d_area = spacing[0] * spacing[1]
    conv = Convolver(gap.shape, spacing, tissue, kernel_model, box_shape=box_shape)
    if p_init is None or not np.any(p_init > 0):
        rx, ry = _curvature_radii(gap, spacing)
        p_init = _initial_pressure(
            gap, tissue.layers[0].plane_strain_kpa, load, approach, min(rx, ry)
        )
    conv_fast = Convolver(gap.shape, spacing, tissue, kernel_model, single=True,
                          box_shape=box_shape)
    precond = precond_fast = None
    if precondition:
        precond = Preconditioner(gap.shape, spacing, tissue, kernel_model)
        precond_fast = Preconditioner(gap.shape, spacing, tissue, kernel_model, single=True)
    return _pk.solve_pk(
        conv, gap, d_area, load=load, approach=approach, p_init=p_init, tol=tol,
        max_iter=max_iter, conv_fast=conv_fast, precond=precond, precond_fast=precond_fast,
    )


#: Margin of the nested solve's window around the coarse contact, as a fraction of its
#: extent (at least 2 coarse pixels): on 33 dumped calf fit solves 0.05 took 13 % less
#: time than 0.15 (smaller FFTs), although 6 windows had to grow once.
WINDOW_MARGIN = 0.05


def _round_window(lo: int, hi: int, n: int, quantum: int = 16) -> tuple[int, int]:
    """Grow [lo, hi) to a multiple of ``quantum`` points (kernel-cache reuse), within [0, n)."""
    size = min(n, -(-(hi - lo) // quantum) * quantum)
    lo = max(0, min(lo - (size - (hi - lo)) // 2, n - size))
    return lo, lo + size


def _solve_grid(
    gap: np.ndarray,
    spacing: tuple[float, float],
    tissue: TissueStack,
    kernel_model: str,
    load: float | None,
    approach: float | None,
    tol: float,
    max_iter: int,
    nested: bool,
    p_init: np.ndarray | None,
    precondition: bool = True,
) -> _pk.PKOutcome:
    """Solve, using a coarse pre-solve to confine the fine solve to a window when possible.

    ``nested``: solve on a coarse (every f-th point, f a power of 2 leaving >= 48 points)
    copy of the full grid first; its contact, dilated by a margin, defines a window on
    which the fine problem is solved (p = 0 outside it) from the interpolated coarse
    pressure.  Because the convolution is linear, the windowed problem is the same
    non-periodic problem restricted to that window: the result is exact provided the
    deformed gap outside the window stays >= 0, which is checked with one full-grid
    convolution; otherwise the window grows and the solve is repeated (warm start).
    ``p_init`` (kPa, optional): a pressure guess on this grid; when it has contact it
    replaces the coarse pre-solve (window and starting pressure), nested or not.
    ``precondition`` is passed to every :func:`_solve_direct`.
    """
    n0, n1 = gap.shape
    guessed = p_init is not None and bool(np.any(p_init > 0))
    if not guessed and (p_init is not None or not nested or min(n0, n1) < 96):
        return _solve_direct(gap, spacing, tissue, kernel_model, load, approach, tol,
                             max_iter, p_init, precondition=precondition)
    if guessed:
        # a guess (e.g. a coarser grid's solve, interpolated) takes the pre-solve's place
        f, coarse_p = 1, None
        p0 = np.asarray(p_init, dtype=float)
        cm = p0 > 0
    else:
        f = 2
        while min(n0, n1) // (2 * f) >= 48:
            f *= 2
        coarse = _solve_direct(
            gap[::f, ::f], (f * spacing[0], f * spacing[1]), tissue, kernel_model, load,
            approach, max(tol, 1e-6), max_iter, None, precondition=precondition,
        )
        coarse_p = coarse.pressure
        cm = coarse_p > 0
        if not cm.any():
            return _solve_direct(gap, spacing, tissue, kernel_model, load, approach, tol,
                                 max_iter, None, precondition=precondition)
        ci, cj = np.meshgrid(np.arange(n0) / f, np.arange(n1) / f, indexing="ij")
        p0 = ndimage.map_coordinates(coarse_p, [ci, cj], order=1, mode="nearest")
        # start from the fine nodes the coarse solution puts in contact (its deformed gap
        # <= 0 there), not the whole support of the interpolated pressure, which is up to
        # f - 1 nodes wider on each side: 7 % fewer iterations on 33 dumped calf solves
        u0 = ndimage.map_coordinates(coarse.displacement, [ci, cj], order=1, mode="nearest")
        inside = p0 * (gap + u0 - coarse.approach <= 0.0)
        if inside.any():
            p0 = inside
    ii, jj = np.nonzero(cm)
    lo_i, hi_i = ii.min() * f, (ii.max() + 1) * f
    lo_j, hi_j = jj.min() * f, (jj.max() + 1) * f
    mi = max(2 * f, 4, int(WINDOW_MARGIN * (hi_i - lo_i)))
    mj = max(2 * f, 4, int(WINDOW_MARGIN * (hi_j - lo_j)))
    box = [max(0, lo_i - mi), min(n0, hi_i + mi), max(0, lo_j - mj), min(n1, hi_j + mj)]
    full_conv = None
    p_start = p0
    total_its = 0 if guessed else coarse.iterations
    for _ in range(4):
        wi = _round_window(box[0], box[1], n0)
        wj = _round_window(box[2], box[3], n1)
        if (wi[1] - wi[0]) * (wj[1] - wj[0]) >= 0.8 * n0 * n1:
            break
        win = (slice(*wi), slice(*wj))
        sub = _solve_direct(gap[win], spacing, tissue, kernel_model, load, approach, tol,
                            max_iter, p_start[win].copy(), box_shape=gap.shape,
                            precondition=precondition)
        total_its += sub.iterations
        p_full = np.zeros_like(gap)
        p_full[win] = sub.pressure
        if full_conv is None:
            full_conv = Convolver(gap.shape, spacing, tissue, kernel_model)
        u_full = full_conv(p_full)
        # the approach from the full-grid displacement (load control): consistent fields
        delta = float((gap + u_full)[p_full > 0].mean()) if load is not None else approach
        g_full = gap + u_full - delta
        scale = max(abs(sub.approach), float(np.ptp(gap[win])), 1e-300)
        outside = np.ones_like(gap, dtype=bool)
        outside[win] = False
        viol = outside & (g_full < -1e-7 * scale)
        if not viol.any():
            return _pk.PKOutcome(p_full, u_full, delta, sub.load, total_its,
                                 sub.converged, sub.residual, coarse_p, f)
        vi, vj = np.nonzero(viol)
        box = [min(box[0], vi.min() - mi), max(box[1], vi.max() + 1 + mi),
               min(box[2], vj.min() - mj), max(box[3], vj.max() + 1 + mj)]
        box = [max(0, box[0]), min(n0, box[1]), max(0, box[2]), min(n1, box[3])]
        p_start = p_full + p0 * (p_full == 0) * outside
    out = _solve_direct(gap, spacing, tissue, kernel_model, load, approach, tol, max_iter,
                        p_start, precondition=precondition)
    return _pk.PKOutcome(out.pressure, out.displacement, out.approach, out.load,
                         out.iterations + total_its, out.converged, out.residual,
                         coarse_p, f)


def solve(
    gap_mm: np.ndarray,
    spacing_mm: float | tuple[float, float],
    tissue: TissueStack,
    force_n: float | None = None,
    approach_mm: float | None = None,
    model: str = "layered",
    *,
    radius_mm: float | tuple[float, float] | None = None,
    tol: float = 1e-8,
    max_iter: int = 2000,
    nested: bool = True,
    check_grid: bool = True,
    winkler_k_kpa_per_mm: float | None = None,
    precondition: bool = True,
    pressure_guess_kpa: np.ndarray | None = None,
) -> ContactResult:
    """Solve frictionless normal contact of a rigid indenter on ``tissue``.

    gap_mm: (nx, ny) undeformed gap (mm) on a regular grid, see the module docstring.
    spacing_mm: grid spacing (mm), a float or (dx, dy) with x along axis 0.
    tissue: the layered tissue; ``model="halfspace"`` uses only its top layer.
    force_n / approach_mm: exactly one; load (N) or displacement (mm) control.
    model: "layered" (default), "halfspace" or "winkler".
    radius_mm: indenter radius (or (Rx, Ry)) for the regime flags; default from the gap.
    tol: relative pressure-change tolerance of the conjugate gradient.
    nested: solve on a coarse copy of the grid first, then solve the fine problem only on
        a window around the coarse contact, verified on the full grid (faster, same answer;
        see :func:`_solve_grid`).
    check_grid: raise :class:`ContactInputError` if the contact is under-resolved or
        touches the grid border (never return a wrong number silently).
    winkler_k_kpa_per_mm: foundation stiffness for ``model="winkler"``; by default it is
        calibrated with :func:`iastm_tools.contact.winkler.calibrate_winkler`.
    precondition: FFT-preconditioned solver with an active-set warm start (default; same
        solution and stopping rule, far fewer iterations on large or layered contacts);
        False runs the plain Polonsky-Keer iteration (for comparisons).
    pressure_guess_kpa: optional (nx, ny) pressure guess (kPa), e.g. the solve of the same
        pose on a coarser or smaller grid interpolated onto this one; it takes the place of
        the coarse pre-solve (start and window). Same answer, fewer iterations when close.

    Raises ContactInputError (an IastmError / ValueError) for bad input.
    """
    if model not in MODELS:
        raise ContactInputError(f"model must be one of {MODELS} (got {model!r})")
    tissue = _check_tissue(tissue)
    _check_load(force_n, approach_mm)
    if radius_mm is not None:
        radii = (radius_mm,) if isinstance(radius_mm, int | float) else tuple(radius_mm)
        if len(radii) not in (1, 2) or not all(
            isinstance(r, int | float) and r > 0 and not math.isnan(r) for r in radii
        ):
            raise ContactInputError(
                f"radius_mm must be a positive number or (Rx, Ry) pair (got {radius_mm!r})"
            )
    gap = _check_gap(gap_mm, 2)
    spacing = _spacing(spacing_mm)
    guess = None
    if pressure_guess_kpa is not None:
        guess = np.asarray(pressure_guess_kpa, dtype=float)
        if guess.shape != gap.shape or not np.all(np.isfinite(guess)):
            raise ContactInputError(
                f"pressure_guess_kpa must be a finite array of the gap's shape {gap.shape} "
                f"(got shape {guess.shape})")
        guess = np.maximum(guess, 0.0)
    load = None if force_n is None else float(force_n) / N_PER_KPA_MM2
    d_area = spacing[0] * spacing[1]

    if model == "winkler":
        from .winkler import calibrate_winkler, solve_winkler

        k = winkler_k_kpa_per_mm
        if k is None:
            k = calibrate_winkler(gap, spacing, tissue, force_n=force_n, approach_mm=approach_mm)
        out = solve_winkler(gap, d_area, k, load=load, approach=approach_mm)
        iterations, converged, residual = 0, True, 0.0
    else:
        if model == "halfspace":
            tissue_k = TissueStack.halfspace(tissue.layers[0].youngs_kpa, tissue.layers[0].poisson)
        else:
            tissue_k = tissue
        out = _solve_grid(
            gap, spacing, tissue_k, "layered" if model == "layered" else "halfspace", load,
            approach_mm, tol, max_iter, nested, guess, precondition,
        )
        iterations, converged, residual = out.iterations, out.converged, out.residual
    return _build_result(
        model, out, gap, spacing, tissue, radius_mm, check_grid, iterations, converged, residual
    )


def _build_result(
    model: str,
    out: _pk.PKOutcome,
    gap: np.ndarray,
    spacing: tuple[float, float],
    tissue: TissueStack,
    radius_mm: float | tuple[float, float] | None,
    check_grid: bool,
    iterations: int,
    converged: bool,
    residual: float,
) -> ContactResult:
    p = out.pressure
    mask = p > 0
    d_area = spacing[0] * spacing[1]
    warnings: list[str] = []
    if not mask.any():
        raise ContactInputError("no contact: the approach does not reach the tissue")
    on_border = mask[0, :].any() or mask[-1, :].any() or mask[:, 0].any() or mask[:, -1].any()
    too_small = check_grid and on_border  # raised once the result is built
    e_top = tissue.layers[0].plane_strain_kpa
    if model == "winkler":
        ex, ey = contact_extents(p, spacing)
    else:
        ex, ey = contact_extents(p, spacing, gap - out.approach + out.displacement, e_top)
    half_px = min(0.5 * ex / spacing[0], 0.5 * ey / spacing[1])
    coarse = check_grid and half_px < MIN_HALF_WIDTH_PX  # raised once the result is built
    if radius_mm is None:
        rx, ry = _contact_radii(gap, mask, spacing)
    elif isinstance(radius_mm, int | float):
        rx = ry = float(radius_mm)
    else:
        rx, ry = (float(radius_mm[0]), float(radius_mm[1]))
    # narrow direction: the smaller extent
    if ex <= ey:
        half_w, r_w = 0.5 * ex, rx
    else:
        half_w, r_w = 0.5 * ey, ry
    a_over_r = half_w / r_w if math.isfinite(r_w) else 0.0
    r_min = min(rx, ry)
    approach_over_r = out.approach / r_min if math.isfinite(r_min) else 0.0
    depth = tissue.total_thickness_mm if model != "halfspace" else math.inf
    a_over_h = half_w / depth if math.isfinite(depth) else 0.0
    peak = float(p.max())
    e_star = tissue.layers[0].plane_strain_kpa
    strain = peak / e_star
    force_n = out.load * N_PER_KPA_MM2
    area = float(mask.sum() * d_area)
    area_ell = math.pi * ex * ey / 4.0
    small = a_over_r <= LARGE_DEFORMATION_A_OVER_R and approach_over_r <= (
        LARGE_DEFORMATION_APPROACH_OVER_R
    )
    spike = _edge_spike_warning(p, out.coarse_pressure, out.coarse_factor)
    if spike:
        warnings.append(spike)
    if not converged:
        warnings.append(
            f"solver did not converge in {iterations} iterations (residual {residual:.1e})"
        )
    corrected: dict[str, float | None] = {}
    ld_applied = False
    if not small:
        shape = "sphere" if max(rx, ry) <= 3.0 * min(rx, ry) else "cylinder"
        # the FE calibration is indexed by the linear approach over R
        corr, note = _large_deformation(shape, max(approach_over_r, 0.0), a_over_h)
        if corr is None:
            warnings.append(
                f"{note}: a/R = {a_over_r:.2f}, approach/R = {approach_over_r:.2f} "
                "(linear theory holds for a/R <= 0.3, approach/R <= 0.1)"
            )
        else:
            ld_applied = True
            corrected = {
                "corrected_peak_pressure_kpa": peak * float(corr.pressure_factor),
                "corrected_contact_width_mm": min(ex, ey) * float(corr.width_factor),
                "corrected_force_n": force_n * float(corr.force_factor),
                "corrected_approach_mm": out.approach
                * float(getattr(corr, "approach_factor", 1.0)),
            }
            warnings.append(
                "outside small-strain theory: large-deformation correction applied "
                f"({shape}, a/R = {a_over_r:.2f}, approach/R = {approach_over_r:.2f}; "
                f"{note}); corrected_* fields hold the corrected values (pressure and width "
                "at the same force, force at the same approach), the others are linear"
            )
    stack_depth = tissue.total_thickness_mm
    if model == "halfspace" and math.isfinite(stack_depth) and half_w / stack_depth > 0.1:
        warnings.append(
            f"half-space model on a {tissue.total_thickness_mm:g} mm stack with "
            f"a/h = {half_w / tissue.total_thickness_mm:.2f}: use model='layered'"
        )
    result = ContactResult(
        model=model,
        pressure_kpa=p,
        displacement_mm=out.displacement,
        contact_mask=mask,
        spacing_mm=spacing,
        approach_mm=out.approach,
        force_n=force_n,
        contact_area_mm2=area,
        contact_area_ellipse_mm2=area_ell,
        contact_extent_x_mm=ex,
        contact_extent_y_mm=ey,
        contact_width_mm=min(ex, ey),
        contact_length_mm=max(ex, ey),
        peak_pressure_kpa=peak,
        mean_pressure_kpa=force_n / N_PER_KPA_MM2 / area_ell if area_ell > 0 else 0.0,
        radius_x_mm=rx,
        radius_y_mm=ry,
        a_over_r=a_over_r,
        approach_over_r=approach_over_r,
        a_over_h=a_over_h,
        max_strain_estimate=strain,
        small_strain_valid=small,
        iterations=iterations,
        converged=converged,
        residual=residual,
        warnings=tuple(warnings),
        large_deformation_corrected=ld_applied,
        extras={"poisson": tissue.layers[0].poisson},
        tissue=tissue,
        **corrected,
    )
    if too_small:
        raise ContactInputError(
            "grid too small: the contact touches the grid border; enlarge the gap grid "
            "(about 2x the contact size in each direction)", result)
    if coarse:
        raise ContactInputError(
            f"grid too coarse: the contact half-width is {half_px:.1f} pixels, "
            f"need >= {MIN_HALF_WIDTH_PX:.0f}; refine spacing_mm", result)
    return result


def window_mean_pressure_kpa(result: ContactResult, area_mm2: float = 100.0) -> float:
    """Largest mean pressure (kPa) over a disc of ``area_mm2`` placed anywhere on the grid.

    Pressure-pain thresholds are measured with a 1 cm^2 probe (Fischer, Pain 30 (1987)
    115), i.e. they are a mean pressure over 100 mm^2: compare them with this value, not
    with the peak of a fine grid.  The disc is the set of pixel centres within
    sqrt(area / pi) of the window centre; the mean divides by that pixel area.  Computed by
    a zero-padded (non-periodic) FFT correlation.
    """
    if not (math.isfinite(area_mm2) and area_mm2 > 0):
        raise ContactInputError(f"area_mm2 must be finite and > 0 (got {area_mm2!r})")
    from scipy.signal import fftconvolve

    dx, dy = result.spacing_mm
    radius = math.sqrt(area_mm2 / math.pi)
    hx, hy = int(radius // dx), int(radius // dy)
    x = np.arange(-hx, hx + 1) * dx
    y = np.arange(-hy, hy + 1) * dy
    disc = (x[:, None] ** 2 + y[None, :] ** 2 <= radius * radius).astype(float)
    if disc.sum() < 4:
        raise ContactInputError(
            f"area_mm2 = {area_mm2:g} covers fewer than 4 pixels of this grid; refine it"
        )
    total = fftconvolve(np.asarray(result.pressure_kpa, dtype=float), disc, mode="same")
    return float(total.max() / disc.sum())


# ----------------------------------------------------------------------------- line contact


@dataclass(frozen=True)
class LineContactResult:
    """Plane-strain line contact (per unit length), non-periodic.

    pressure_kpa: pressure on the 1-D grid; half_width_mm: contact half-width from the
    interpolated boundary; peak_pressure_kpa; force_per_length_n_per_mm; approach_mm
    (rigid-body approach past first touch, layered stack on bone only, else nan).
    """

    pressure_kpa: np.ndarray
    half_width_mm: float
    peak_pressure_kpa: float
    force_per_length_n_per_mm: float
    iterations: int
    converged: bool
    approach_mm: float = math.nan


def solve_line(
    gap_mm: np.ndarray,
    spacing_mm: float,
    tissue: TissueStack,
    force_per_length_n_per_mm: float,
    *,
    model: str = "halfspace",
    tol: float = 1e-11,
    max_iter: int = 5000,
    periodic: bool = False,
) -> LineContactResult:
    """Plane-strain (2-D) contact of a long rigid indenter: a cross-section of an edge.

    gap_mm: 1-D gap (mm) across the edge; spacing_mm: its spacing (mm);
    force_per_length_n_per_mm: load per unit length (N/mm; 250 N/m = 0.25 N/mm).
    model: "halfspace" (top layer as a half-space) or "layered" (the stack; strip kernel
    plus :func:`.kernels.line_remainder`).  Load control.  The returned approach is
    meaningful only for a layered stack on a rigid base (a plane-strain half-space
    approach is undefined: log term); it is nan otherwise.
    Non-periodic by default: linear convolution with the strip kernel (Johnson 1985,
    eq. 2.25b).  ``periodic=True`` (half-space only) treats the gap as one period (spectral
    kernel 2/(E* |q|)), e.g. for the Westergaard sinusoid.
    """
    if model not in ("halfspace", "layered"):
        raise ContactInputError(
            f"solve_line model must be 'halfspace' or 'layered' (got {model!r})"
        )
    if periodic and model != "halfspace":
        raise ContactInputError("solve_line: periodic=True is available for the half-space only")
    tissue = _check_tissue(tissue)
    _check_load(force_per_length_n_per_mm, None)
    gap = _check_gap(gap_mm, 1)
    dx = _spacing(spacing_mm)[0]
    n = gap.size
    e_star = tissue.layers[0].plane_strain_kpa
    from scipy import fft as sfft

    if periodic:
        q = 2.0 * np.pi * sfft.rfftfreq(n, dx)
        spec = np.zeros_like(q)
        spec[1:] = 2.0 / (e_star * q[1:])  # Johnson (1985) eq. 13.3 per Fourier mode

        def conv(p: np.ndarray) -> np.ndarray:
            return sfft.irfft(sfft.rfft(p) * spec, n=n)
    else:
        npad = padded_size(n)
        off = np.arange(npad, dtype=float)
        off = np.where(off < n, off, off - npad) * dx
        ker = line_pixel(off, dx, e_star)
        layered = (
            model == "layered"
            and not (tissue.base == "halfspace" and len(tissue.layers) == 1)
            and not effective_depth_mm(tissue) > EFFECTIVELY_INFINITE * n * dx
        )
        if layered:
            used = np.abs(off) <= (n - 1) * dx
            ker[used] += line_remainder(off[used], dx, tissue)
        spec = sfft.rfft(ker)

        def conv(p: np.ndarray) -> np.ndarray:
            return sfft.irfft(sfft.rfft(p, n=npad) * spec, n=npad)[:n]

    load = force_per_length_n_per_mm / N_PER_KPA_MM2
    p0 = np.sqrt(np.maximum(np.ptp(gap) * 0.01 - gap, 0.0)) + (gap == 0)
    out = _pk.solve_pk(conv, gap, dx, load=load, approach=None, p_init=p0, tol=tol,
                       max_iter=max_iter)
    p = out.pressure
    if not periodic and (p[0] > 0 or p[-1] > 0):
        raise ContactInputError("grid too small: the line contact touches the grid end")
    g_def = gap - out.approach + out.displacement
    if periodic:
        g_def = g_def - g_def[p > 0].mean()  # a periodic solve fixes u up to a constant
    width, _, _ = _extent(p, int(np.argmax(p)), dx, g_def, e_star)
    if 0.5 * width / dx < MIN_HALF_WIDTH_PX:
        raise ContactInputError("grid too coarse: contact half-width < 4 pixels")
    absolute = model == "layered" and tissue.base == "rigid"
    return LineContactResult(p, 0.5 * width, float(p.max()), out.load * N_PER_KPA_MM2,
                             out.iterations, out.converged,
                             out.approach if absolute else math.nan)
