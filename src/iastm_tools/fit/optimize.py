"""Contact-area optimisation of every working edge of a tool on a body site (issue 5).

For each contour: a coarse global search over tilt x rotation (x plate face for a
single-bevel edge) and a Nelder-Mead polish, both with a Winkler foundation calibrated by
one BEM solve of the chosen model (each pose solved exactly in one sort); then a bounded
Nelder-Mead refinement of (tilt, rotation) with the chosen contact model from there;
finally the best pose is solved once more and its pressure field is read out into a
:class:`ContourFit`.  Gaps come from :mod:`iastm_tools.fit.gap` (the real tool section and
outline, the real body surface).
"""

from __future__ import annotations

import inspect
import math
import os
import re
import sys
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..contours import Contour
from ..errors import IastmError
from .gap import (
    EdgeNotInContactError,
    Grid,
    GridTooLargeError,
    Pose,
    PosedGap,
    RimPiece,
    SiteFrame,
    SkinMap,
    ToolRasterCache,
    cached_skin_map,
    posed_gap,
    regrid,
    tool_frame_matrix,
    tool_rim,
    tool_surfaces,
)
from .result import ContourFit, FitResult

OBJECTIVES = ("area", "peak", "ppt")
#: Largest normal force accepted (N): far above the 5-20 N of IASTM strokes; beyond it a
#: number is much more likely a unit mistake (e.g. grams) than a real stroke.
MAX_FORCE_N = 200.0
#: Initial reach (mm) of the grid above the tool's lowest point; doubled when the contact
#: reaches the grid border.
INITIAL_REACH_MM = 2.0
#: The calibration solve (layered, upright pose) starts from this multiple of the initial
#: reach: over soft fat its approach is often beyond 2 mm at IASTM loads, and each grid
#: found too small costs a whole layered solve (measured on 63 library edges on 3 sites:
#: 25 such retries at 1x; 8 % less fit time at 2x).
CALIBRATION_REACH_FACTOR = 2.0
#: Contact half-width (pixels) the calibration solve accepts without refining its grid:
#: 40 % of the calibration contacts of the library (63 edges on 3 sites) came out 3.2-3.9
#: pixels wide, and a refinement costs a second layered solve on a 1.7x larger grid. At
#: 3 pixels the BEM peak that sets the Winkler stiffness is within 1.2 % of a 6-pixel
#: solve (measured: a 20 mm edge, R 5 mm, on a half-space), enough for the preview's
#: ranking search.
CALIBRATION_MIN_HALF_WIDTH_PX = 3.0
#: Grid refinements (x 1/1.7 each) tried per pose before a contact is accepted as
#: under-resolved (a corner or multi-patch contact that refining does not resolve).
MAX_REFINE = 3
#: Reach (mm of tool height covered by the grid) per mm of approach of a solve whose
#: contact touched the grid border: the contact lies where gap <= approach, and a tool
#: point's gap on convex skin is at least its height above the lowest point; 1.5 leaves a
#: margin for the approach shrinking once the whole contact fits.
REACH_PER_APPROACH = 1.5
#: Relative pressure-change tolerance of the contact solves during the pose refinement.
REFINE_TOL = 1e-6
#: Tolerance of the reported (best-pose) solve. 1e-6 leaves the pressures within 1e-4 of
#: the peak of a 1e-12 solve (docs/contact_preconditioner.md), far below the grid's
#: discretisation error; on 26 final solves of 4 library tools on the calf it changed them
#: by <= 7.5e-5 of the peak and the areas by <= 0.1 % against 1e-8, in 15-35 % less time
#: (the double-precision finish is where the last digits cost).
FINAL_TOL = 1e-6
#: Tolerance of the calibration solve, which only sets the Winkler stiffness from its
#: peak: the preconditioned solver is within 2e-5 of the converged pressure at 1e-4
#: (docs/contact_preconditioner.md; the peak of a calf calibration solve moved 0.01 kPa
#: in 424), 10-25 % faster than at REFINE_TOL.
CALIBRATION_TOL = 1e-4
N_PER_KPA_MM2 = 1e-3


def _check_inputs(force_n: float, angle_range_deg: Sequence[float], model: str,
                  objective: str, rotation_range_deg: Sequence[float]) -> tuple[float, float]:
    from ..contact.solver import MODELS

    if not (isinstance(force_n, int | float) and math.isfinite(force_n)
            and 0.0 < force_n <= MAX_FORCE_N):
        raise IastmError(f"force_n must be in (0, {MAX_FORCE_N:g}] N (got {force_n!r})")
    try:
        lo, hi = (float(a) for a in angle_range_deg)
    except (TypeError, ValueError):
        raise IastmError(
            f"angle_range_deg must be two numbers lo <= hi in [0, 90] (got {angle_range_deg!r})"
        ) from None
    if not (0.0 <= lo <= hi <= 90.0):
        raise IastmError(
            f"angle_range_deg must satisfy 0 <= lo <= hi <= 90 degrees (got {lo:g}:{hi:g})"
        )
    if model not in MODELS:
        raise IastmError(f"model must be one of {', '.join(MODELS)} (got {model!r})")
    if objective not in OBJECTIVES:
        raise IastmError(f"objective must be one of {', '.join(OBJECTIVES)} (got {objective!r})")
    r = tuple(float(a) for a in rotation_range_deg)
    if len(r) != 2 or not all(math.isfinite(a) for a in r) or r[0] > r[1]:
        raise IastmError(
            f"rotation_range_deg must be two finite numbers lo <= hi (got {rotation_range_deg!r})"
        )
    return lo, hi


@dataclass
class _Problem:
    """Mutable per-contour state: grid spacing and reach grow/shrink on solver feedback."""

    body: Any
    frame: SiteFrame
    contour: Contour
    stack: Any
    ppt_kpa: float | None
    force_n: float
    dx: float
    dy: float
    reach: float
    surface: list[np.ndarray]
    step_mm: float
    evaluations: int = 0
    dx_min: float = 0.0
    skin: SkinMap | None = None
    rim: tuple[RimPiece, ...] = ()
    #: a contact this many pixels half-wide is accepted without refining (the contact
    #: solver asks for 4; the calibration accepts CALIBRATION_MIN_HALF_WIDTH_PX)
    accept_half_px: float = 4.0
    #: the tool z-buffers of recent poses (shared by the copies of one contour's problem)
    rasters: ToolRasterCache = field(default_factory=ToolRasterCache)

    def run(self, pose: Pose, fn, reach_hint: float = 0.0
            ) -> tuple[PosedGap, Any, tuple[str, ...]]:
        """Call ``fn(posed_gap, check_grid)``; refine the grid on 'too coarse', enlarge it
        on 'too small'.  Returns (gap, outcome, notes).

        reach_hint (mm): a reach the contact is expected to need; tried first, and dropped
        if its grid would exceed the node limit.

        A contact made of separate patches (e.g. the two ends of an edge) has no contact at
        its pressure centroid, so the solver reports a half-width of 0 pixels however fine
        the grid; a corner contact (the cut end of the swept section) needs ever finer
        grids.  Both are solved without the resolution check once refining cannot help
        (the remaining refinements would not reach 4 pixels, after ``MAX_REFINE`` steps,
        or at the node limit; the border check is then done here) and a note says so.
        Refinements that end in a resolved solve are kept for the next poses; the others
        are not.
        """
        from ..contact.solver import MIN_HALF_WIDTH_PX, ContactInputError

        dx, dy, reach, step, surface = self.dx, self.dy, self.reach, self.step_mm, self.surface
        hinted = reach_hint > reach
        reach = max(reach, reach_hint)
        last = ""
        refined = 0
        check = True
        notes: list[str] = []
        pg, made_for = None, None
        coarse_prev: tuple[Any, ...] | None = None  # the last grid found too coarse
        rejected: tuple[np.ndarray, Grid] | None = None  # its solve: the next one's guess
        for _ in range(10):
            try:
                # the same grid is reused when only the check changed, so that ``fn`` may
                # reuse the solve it just did (see ContactInputError.result)
                if made_for != (dx, dy, reach, id(surface)):
                    pg = posed_gap(self.body, self.frame, surface, pose, dx, dy, reach,
                                   skin=self.skin, tool_cache=self.rasters)
                    made_for = (dx, dy, reach, id(surface))
                    if rejected is not None:
                        pg = replace(pg, pressure_guess_kpa=regrid(*rejected, pg.grid))
            except GridTooLargeError:
                if coarse_prev is not None:
                    # the refinement does not fit: keep the grid just solved (and its solve)
                    dx, dy, step, surface, made_for, pg = coarse_prev
                    coarse_prev = None
                    check = False
                    last = last or "grid node limit"
                    continue
                if hinted:  # the hint is a guess: back to the reach known to be needed
                    hinted = False
                    reach = self.reach
                    continue
                if dx * 1.7 > 0.5:
                    raise
                check = False  # coarser than the solver's resolution check wants: noted
                dx, dy = dx * 1.7, min(dy * 1.3, 0.5)
                last = last or "grid node limit"
                continue
            try:
                out = fn(pg, check)
            except ContactInputError as exc:
                last = str(exc)
                if exc.result is not None:
                    rejected = (np.asarray(exc.result.pressure_kpa), pg.grid)
                if os.environ.get("IASTM_FIT_DEBUG"):
                    print(f"fit {pose}: {last[:90]}", file=sys.stderr)
                if "grid too coarse" in last:
                    # refining cannot help a half-width that the remaining refinements
                    # would not bring to the 4 pixels asked for (a split or corner contact)
                    m = re.search(r"half-width is ([0-9.]+) pixels", last)
                    half_px = float(m.group(1)) if m else 0.0
                    left = MAX_REFINE - refined  # refinement steps of 1.7 left
                    if (half_px * 1.7**left < MIN_HALF_WIDTH_PX or left < 1
                            or dx / 1.7 < self.dx_min or half_px >= self.accept_half_px):
                        check = False
                        continue
                    coarse_prev = (dx, dy, step, surface, made_for, pg)
                    # as many 1.7 steps at once as the half-width asks for (margin 10 %)
                    steps = min(left, max(1, math.ceil(math.log(
                        1.1 * MIN_HALF_WIDTH_PX / max(half_px, 1e-3)) / math.log(1.7))))
                    refined += steps
                    dx = max(dx / 1.7**steps, self.dx_min)
                    dy = max(dx, dy / 1.3**steps)
                    if dx < 0.5 * step:
                        step = dx
                        surface = tool_surfaces(self.contour, self.rim, step)
                    continue
                if "grid too small" in last:
                    # the contact lies where gap <= approach: cover that at once
                    approach = getattr(exc.result, "approach_mm", 0.0) or 0.0
                    reach = max(2.0 * reach, REACH_PER_APPROACH * float(approach))
                    hinted = False
                    continue
                raise
            except IastmError as exc:  # winkler: load beyond the grid
                last = str(exc)
                if "enlarge" in last:
                    reach *= 2.0
                    continue
                raise
            mask = getattr(out, "contact_mask", None)
            if not check and mask is not None:
                if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
                    reach *= 2.0
                    continue
                notes.append(
                    "contact under-resolved or in separate patches (e.g. only the cut ends "
                    f"of the edge touch; solver: {last.split(';')[0]}): peak pressure and "
                    "extents are grid-dependent, use the line load and edge_contact_fraction")
            else:
                self.dx, self.dy, self.step_mm, self.surface = dx, dy, step, surface
            self.reach = max(self.reach, reach)
            self.evaluations += 1
            if os.environ.get("IASTM_FIT_DEBUG"):
                print(f"fit {self.contour.name} {pose} dx={dx:.4f} dy={dy:.3f} "
                      f"reach={reach:.1f} grid={pg.gap_mm.shape} check={check}",
                      file=sys.stderr)
            return pg, out, tuple(notes)
        raise IastmError(f"contour {self.contour.name}: no adequate contact grid after 10 "
                         f"adaptations ({last})")


#: Steepest skin slope (degrees from the site's tangent plane) allowed under the contact:
#: the gap is measured along the site normal, which overstates the normal gap by
#: 1 / cos(slope) (41 % at 45 deg). A pose whose contact reaches steeper skin has the tool
#: wrapping round the side of the limb: it is ruled out, and if every pose does it the tool
#: is larger than the body region at that site.
MAX_SKIN_SLOPE_DEG = 45.0
#: Poses of the search solved with the chosen model, best first, until one's contact stays
#: on the site region (the BEM contact is wider than the Winkler one that ranked them).
FINAL_POSES_TRIED = 3
#: Objective value given to ruled-out poses (minimised objectives are O(1e3) at most).
INFEASIBLE = 1e9
#: Tilt (deg) from which the plate stands upright: both skin faces give the same pose
#: (:func:`~iastm_tools.fit.gap.pose_matrix` differs by cos(90 deg) ~ 6e-17), so the coarse
#: search evaluates it once instead of letting round-off pick a face label.
UPRIGHT_DEG = 90.0 - 1e-9


def off_region(pg: PosedGap, r: Any) -> bool:
    """True when the contact of ``r`` on ``pg`` reaches skin steeper than
    ``MAX_SKIN_SLOPE_DEG`` or a node next to one whose ray missed the body."""
    mask = getattr(r, "contact_mask", None)
    if mask is None or not np.any(mask):
        return False
    mask = np.asarray(mask)
    # only the contact's box (plus 3 nodes: the central differences and the 2-node
    # dilation below see the same neighbours as on the whole grid)
    ii, jj = np.nonzero(mask)
    box = (slice(max(int(ii.min()) - 3, 0), int(ii.max()) + 4),
           slice(max(int(jj.min()) - 3, 0), int(jj.max()) + 4))
    h = pg.skin_heights(box)
    if h is None:
        return False
    mask = mask[box]
    missing = ~np.isfinite(h)
    hf = np.where(missing, 0.0, h)
    gx, gy = np.gradient(hf, pg.grid.dx, pg.grid.dy)
    steep = np.hypot(gx, gy) > math.tan(math.radians(MAX_SKIN_SLOPE_DEG))
    if missing.any():
        from scipy import ndimage

        steep |= ndimage.binary_dilation(missing, iterations=2)
    return bool(np.any(steep & mask))


def _objective(r, objective: str, ppt_kpa: float | None, pg: PosedGap, stack: Any) -> float:
    if objective == "area":
        return -contact_area_mm2(r, pg, stack)
    if objective == "peak":
        return float(r.peak_pressure_kpa)
    from ..contact import window_mean_pressure_kpa

    return window_mean_pressure_kpa(r) / float(ppt_kpa)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _QuickContact:
    """The few fields of a contact solve the pose search reads (duck-types ContactResult
    for :func:`_objective`, :func:`off_region` and ``window_mean_pressure_kpa``)."""

    pressure_kpa: np.ndarray
    spacing_mm: tuple[float, float]
    contact_mask: np.ndarray
    contact_area_mm2: float
    peak_pressure_kpa: float


#: Lowest gaps sorted first by the quick Winkler solve (more if the contact needs them);
#: a search contact covers a few hundred to a few thousand nodes of a 10^5-node grid.
QUICK_WINKLER_PREFIX = 8192


def _quick_winkler(pg: PosedGap, k_kpa_per_mm: float, force_n: float) -> _QuickContact:
    """Winkler foundation p = k (delta - gap)+ at load ``force_n``, solved exactly: with
    the gaps sorted, the load is piecewise linear in the approach delta.  Skips the
    diagnostics of a full :func:`~iastm_tools.contact.solve` (grid checks, extents,
    regime flags) that the pose search does not read."""
    g = pg.gap_mm.ravel()
    d_area = pg.grid.dx * pg.grid.dy
    load = force_n / N_PER_KPA_MM2 / (k_kpa_per_mm * d_area)  # = sum (delta - g)+
    # only the lowest gaps matter: sort a growing prefix (np.partition) until it holds the
    # bracket; a prefix's sort and cumulative sums are those of the whole array
    k = min(QUICK_WINKLER_PREFIX, g.size)
    while True:
        gs = np.sort(np.partition(g, k - 1)[:k]) if k < g.size else np.sort(g)
        n = np.arange(1, len(gs) + 1)
        vol = n * gs - np.cumsum(gs)  # sum (gs[m] - g)+ over the m lowest, at delta = gs[m]
        m = int(np.searchsorted(vol, load))
        if m < len(gs) or k == g.size:
            break
        k = min(4 * k, g.size)
    if m >= len(gs):
        raise IastmError("winkler: the load needs an approach beyond the gap grid; enlarge it")
    cnt = m  # nodes strictly below the bracket's upper gap value
    delta = (load + gs[:cnt].sum()) / cnt
    w = delta - pg.gap_mm
    p = k_kpa_per_mm * np.maximum(w, 0.0)
    mask = p > 0
    return _QuickContact(p, (pg.grid.dx, pg.grid.dy), mask,
                         linear_area_mm2(w, pg.grid.dx, pg.grid.dy), float(p.max()))


def linear_area_mm2(w: np.ndarray, dx: float, dy: float) -> float:
    """Area (mm^2) where the field ``w`` (linear between nodes along axis 0) is positive:
    the interpolated length of every positive run along axis 0 times ``dy``.  For a
    Winkler foundation w = approach - gap, so the boundary is exact for a linear gap."""
    a, b = w[:-1], w[1:]
    both = (a > 0) & (b > 0)
    frac = np.zeros_like(a)
    frac[both] = 1.0
    one = (a > 0) != (b > 0)
    frac[one] = np.maximum(a[one], b[one]) / np.abs(a[one] - b[one])
    lone = (w[0] > 0).sum() + (w[-1] > 0).sum()  # runs at the border: half a pixel outward
    return float((frac.sum() + 0.5 * lone) * dx * dy)


def contact_area_mm2(r: Any, pg: PosedGap, stack: Any) -> float:
    """Contact area (mm^2) of a solve with its boundary interpolated across the edge:
    linear in (approach - gap) for a Winkler foundation, the local edge solution of
    :func:`iastm_tools.contact.solver.interpolated_area_mm2` for the BEM models."""
    from ..contact.solver import interpolated_area_mm2

    spacing = (pg.grid.dx, pg.grid.dy)
    if isinstance(r, _QuickContact):
        return r.contact_area_mm2
    if r.model == "winkler":
        return linear_area_mm2(r.approach_mm - pg.gap_mm, *spacing)
    deformed = pg.gap_mm - r.approach_mm + np.asarray(r.displacement_mm)
    return interpolated_area_mm2(np.asarray(r.pressure_kpa), spacing, deformed,
                                 stack.layers[0].plane_strain_kpa)


def _calibrate_winkler(pg: PosedGap, ref) -> float:
    """Winkler stiffness (kPa/mm) with the BEM solve ``ref``'s peak pressure at its load;
    the method of :func:`iastm_tools.contact.calibrate_winkler` (delta / V(delta) =
    p_peak / F, k = F / V), applied to a solve that may have skipped the resolution check
    (a split contact), which that function would reject."""
    from scipy.optimize import brentq

    gap = pg.gap_mm
    d_area = pg.grid.dx * pg.grid.dy
    load = ref.force_n / N_PER_KPA_MM2

    def volume(d: float) -> float:
        return float(np.maximum(d - gap, 0.0).sum() * d_area)

    target = ref.peak_pressure_kpa / load
    hi = float(np.ptp(gap))
    lo = hi * 1e-9
    if hi / volume(hi) - target > 0 or lo / max(volume(lo), 1e-300) - target < 0:
        # the BEM peak is a singular corner no foundation can match: match its approach
        # instead (the Winkler solution then carries the load at the BEM's penetration)
        vol = volume(float(ref.approach_mm))
        if not vol > 0:
            raise IastmError("calibrate_winkler: cannot match the BEM solve on this grid")
        return load / vol
    delta = brentq(lambda d: d / volume(d) - target, lo, hi, xtol=1e-14, rtol=1e-13)
    return load / volume(delta)


def _estimate_spacing(contour: Contour, stack, force_n: float) -> tuple[float, float]:
    """Grid spacing (mm) from plane-strain Hertz (Johnson eq. 4.43) with the apex radius and
    the force spread over the whole edge: a lower bound of the half-width, / 5 pixels."""
    length = max(contour.length_mm, 1.0)
    r = max(contour.section.apex_radius_mm, 0.05)
    e_star = stack.layers[0].plane_strain_kpa
    b = math.sqrt(4.0 * (force_n / length / N_PER_KPA_MM2) * r / (math.pi * e_star))
    dx = min(max(b / 5.0, 0.01), 0.5)
    dy = min(max(length / 120.0, dx), 0.5)
    return dx, dy


def _symmetric(contour: Contour) -> bool:
    """True when the section is mirror-symmetric about mid-thickness (only single bevels
    are not), so both plate faces give the same contact."""
    return contour.section.style != "single_bevel"


def fit_contour(*args: Any, **kwargs: Any) -> ContourFit:
    """Optimise the pose of one contour on ``site`` of ``body``: :func:`contour_stages`
    (same arguments) run to its end. Returns a :class:`ContourFit` with rank 0."""
    return run_stages(contour_stages(*args, **kwargs))


def run_stages(stages: Generator[None, None, Any]) -> Any:
    """Run a stage generator (:func:`contour_stages`) to its end; returns its value."""
    try:
        while True:
            next(stages)
    except StopIteration as stop:
        return stop.value


def contour_stages(
    contour: Contour,
    body: Any,
    site: Any,
    force_n: float,
    stack: Any,
    *,
    ppt_kpa: float | None = None,
    angle_range_deg: Sequence[float] = (30.0, 90.0),
    rotation_range_deg: Sequence[float] = (-90.0, 90.0),
    position_mm: tuple[float, float] = (0.0, 0.0),
    model: str = "layered",
    objective: str = "area",
    coarse_tilts: int = 4,
    coarse_rotations: int = 8,
    refine_evals: int = 0,
    skin_faces: Sequence[str] | None = None,
    skin: SkinMap | None = None,
    resolution: float = 1.0,
    rim: Sequence[RimPiece] = (),
) -> Generator[None, None, ContourFit]:
    """Optimise the pose of one contour on ``site`` of ``body`` (see :func:`fit`), in two
    stages: a generator that yields once, after the pose search, and returns the
    :class:`ContourFit` after the final solve and its read-out, so that :func:`fit` can
    schedule the stages of all contours on its threads (:func:`_run_staged`).

    stack: the :class:`~iastm_tools.contact.TissueStack` of the site. resolution: grid
    density factor (2 halves both spacings; for convergence checks). rim: the tool's outline
    pieces (:func:`~iastm_tools.fit.gap.tool_rim`) so that the edge's ends, corners and
    neighbouring edges are in the gap (without it only the edge itself is). skin: a
    :class:`SkinMap` of the same site frame to reuse (one is built otherwise). Returns a
    :class:`ContourFit` with rank 0 (ranks are set by :func:`fit`).
    """
    from ..contact import solve
    from ..contact.solver import ContactInputError

    lo, hi = _check_inputs(force_n, angle_range_deg, model, objective, rotation_range_deg)
    if objective == "ppt" and not ppt_kpa:
        raise IastmError("objective 'ppt' needs the site's pressure-pain threshold (ppt_kpa)")
    rlo, rhi = (float(a) for a in rotation_range_deg)
    frame = SiteFrame.from_site(site, position_mm)
    if not (isinstance(resolution, int | float) and 0.25 <= resolution <= 8.0):
        raise IastmError(f"resolution must be in [0.25, 8] (got {resolution!r})")
    dx, dy = (s / float(resolution) for s in _estimate_spacing(contour, stack, force_n))
    step = min(dx, dy) / 2.0
    prob = _Problem(body, frame, contour, stack, ppt_kpa, float(force_n), dx, dy,
                    INITIAL_REACH_MM, tool_surfaces(contour, rim, step), step,
                    dx_min=dx / 1.7**MAX_REFINE)
    # every pose keeps the middle apex point over the origin, so no tool point leaves the
    # disc of its largest distance from there (plus the grid's 1 mm border)
    prob.rim = tuple(rim)
    radius = max(float(np.linalg.norm(p, axis=-1).max()) for p in prob.surface) + 2.0
    if skin is not None and skin.radius_mm >= radius and skin.frame.same_as(frame):
        prob.skin = skin
    else:
        prob.skin = cached_skin_map(body, frame, radius)
    faces = tuple(skin_faces) if skin_faces else (
        ("bottom",) if _symmetric(contour) else ("bottom", "top"))
    tilts = [lo] if hi - lo < 1e-9 else list(np.linspace(lo, hi, max(coarse_tilts, 2)))
    if rhi - rlo < 1e-9:
        rots = [rlo]
    else:
        n_rot = max(coarse_rotations, 2)
        full = rhi - rlo >= 180.0 - 1e-9  # a half turn is periodic for the edge geometry
        rots = list(np.linspace(rlo, rhi, n_rot, endpoint=not full))

    held: list[tuple[np.ndarray, tuple[Any, ...], Any]] = []

    def solve_model(pg: PosedGap, mdl: str, k: float | None = None, check: bool = True,
                    tol: float = FINAL_TOL):
        """Solve at the pose of ``pg``; a solve rejected as under-resolved is held so that
        the same grid asked again without the check costs nothing."""
        args = (mdl, k, tol)
        last = held.pop() if held else None
        if not check and last is not None and last[0] is pg.gap_mm and last[1] == args:
            return last[2]
        try:
            return solve(pg.gap_mm, (pg.grid.dx, pg.grid.dy), stack, force_n=float(force_n),
                         model=mdl, check_grid=check, winkler_k_kpa_per_mm=k, tol=tol,
                         pressure_guess_kpa=pg.pressure_guess_kpa)
        except ContactInputError as exc:
            if exc.result is not None:
                held.append((pg.gap_mm, args, exc.result))
            raise

    def value_of(pg: PosedGap, r: Any, rule_out: bool = True) -> float:
        """Objective of a solve; ``INFEASIBLE`` for a contact off the site region."""
        if rule_out and off_region(pg, r):
            return INFEASIBLE
        return _objective(r, objective, ppt_kpa, pg, stack)

    free = (hi - lo > 1e-9, rhi - rlo > 1e-9)
    bounds = ((lo, hi), (rlo, rhi))
    coarse_step = (max((hi - lo) / (2 * max(len(tilts) - 1, 1)), 1.0),
                   max((rhi - rlo) / (2 * max(len(rots), 1)), 1.0))
    warnings: list[str] = []
    mid_pose = Pose(tilts[len(tilts) // 2], rots[len(rots) // 2], faces[0], position_mm)
    if not any(free) and len(faces) == 1:
        pg, r, notes = prob.run(mid_pose, lambda pg, chk: solve_model(pg, model, None, chk))
        return _read_out(prob, pg, r, model, objective, value_of(pg, r, False),
                         True, list(notes))

    # --- 1. coarse global search with a Winkler foundation calibrated once by a BEM solve
    # of the chosen model (layered for the Winkler model itself), at the most upright
    # allowed tilt where the edge can touch: an apex contact, which the BEM solves in a few
    # hundred iterations (a bevel lying flat is punch-like and needs thousands) ----------
    calib_model = "layered" if model == "winkler" else model
    k_w = None
    # a copy: the calibration's grid adaptations (a deep layered contact) must not enlarge
    # the grids of the Winkler search
    cal_prob = replace(prob, reach=CALIBRATION_REACH_FACTOR * prob.reach,
                       accept_half_px=CALIBRATION_MIN_HALF_WIDTH_PX)
    cal_approach_mm = 0.0

    def calibrate(pg: PosedGap, chk: bool) -> float:
        nonlocal cal_approach_mm
        ref = solve_model(pg, calib_model, None, chk, CALIBRATION_TOL)
        cal_approach_mm = float(ref.approach_mm)
        return _calibrate_winkler(pg, ref)

    for t_cal in sorted(tilts, reverse=True):
        calib_pose = Pose(t_cal, rots[len(rots) // 2], faces[0], position_mm)
        try:
            _, k_w, _ = cal_prob.run(calib_pose, calibrate)
            break
        except EdgeNotInContactError:
            continue
    prob.evaluations = cal_prob.evaluations
    if k_w is None:
        raise EdgeNotInContactError(
            f"contour {contour.name}: cannot touch the skin at any allowed tilt (other parts "
            "of the tool reach it first, or the edge lies beyond the limb); widen the angle "
            "range or choose another site")
    w_cache: dict[tuple[str, float, float], tuple[float, PosedGap, Any, tuple[str, ...]]] = {}

    def winkler_eval(pose: Pose) -> float:
        key = (pose.skin_face, round(pose.tilt_deg, 3), round(pose.rotation_deg, 3))
        if key not in w_cache:
            try:
                pg, r, notes = prob.run(pose, lambda pg, chk: _quick_winkler(pg, k_w, force_n))
            except EdgeNotInContactError:
                w_cache[key] = (INFEASIBLE, None, None, ())
                return INFEASIBLE
            value = value_of(pg, r)
            w_cache[key] = (value, pg, r, notes)
        return w_cache[key][0]

    # upright (90 deg) the two skin faces are one pose: searched once, with the first face
    coarse = [Pose(float(t), float(rot), face, position_mm)
              for face in faces for t in tilts for rot in rots
              if face == faces[0] or t < UPRIGHT_DEG]
    start = min(coarse, key=winkler_eval)
    if winkler_eval(start) >= INFEASIBLE:
        raise EdgeNotInContactError(
            f"contour {contour.name}: cannot touch the skin in any allowed pose (other parts "
            "of the tool reach it first, the edge lies beyond the limb, or the contact "
            "leaves the site region); widen the angle range or choose another site")
    # --- 2. local Winkler refinement (cheap: a gap and a 1-D root find per pose) --------
    start, w_converged, _ = _nelder_mead(winkler_eval, start, free, bounds, coarse_step,
                                         maxfev=40, xatol=1.0, fatol=1e-3)
    yield  # the search is done: the final stage may run later, on another thread
    if model == "winkler":
        pg, r, notes = prob.run(start, lambda pg, chk: solve_model(pg, "winkler", k_w, False))
        return _read_out(prob, pg, r, model, objective, value_of(pg, r, False),
                         w_converged, list(notes))

    # --- 3. local refinement with the chosen model, from the Winkler optimum ------------
    # the BEM contact spreads further than the Winkler one (the skin bends over soft fat):
    # grids that cover the calibration solve's approach, the most upright and so deepest
    # contact, save the BEM solve that would find the contact touching the border
    hint = REACH_PER_APPROACH * cal_approach_mm
    cache: dict[tuple[float, float], tuple[float, PosedGap, Any, tuple[str, ...]]] = {}

    def model_eval(pose: Pose) -> float:
        key = (round(pose.tilt_deg, 3), round(pose.rotation_deg, 3))
        if key not in cache:
            try:
                pg, r, notes = prob.run(pose, lambda pg, chk: solve_model(pg, model, None, chk,
                                                                          REFINE_TOL), hint)
            except EdgeNotInContactError:
                cache[key] = (INFEASIBLE, None, None, ())
                return INFEASIBLE
            value = value_of(pg, r)
            cache[key] = (value, pg, r, notes)
        return cache[key][0]

    converged = True
    if refine_evals > 0:
        local_step = tuple(s / 4.0 for s in coarse_step)
        best, converged, nfev = _nelder_mead(model_eval, start, free, bounds, local_step,
                                             maxfev=int(refine_evals), xatol=1.0, fatol=0.01)
        if not converged:
            warnings.append(f"pose refinement with the {model} model stopped after {nfev} "
                            "evaluations before its simplex shrank to 1 deg and 1 % of the "
                            "objective")
    else:
        best, converged = start, w_converged
        warnings.append(f"pose from the calibrated Winkler search, not refined with the "
                        f"{model} model (refine_evals=0)")
    # --- 4. the best pose solved once more to the full tolerance; where the chosen
    # model's contact (wider than the Winkler one: the skin bends over soft fat) leaves the
    # site region, the next best poses of the search are tried ---------------------------
    ranked = sorted((v[0], k) for k, v in w_cache.items() if v[0] < INFEASIBLE)
    candidates = [best] + [Pose(t, rot, face, position_mm) for _, (face, t, rot) in ranked]
    seen: set[tuple[str, float, float]] = set()
    for pose in candidates:
        key = (pose.skin_face, round(pose.tilt_deg, 3), round(pose.rotation_deg, 3))
        if key in seen:
            continue
        seen.add(key)
        pg, r, notes = prob.run(pose, lambda pg, chk: solve_model(pg, model, None, chk), hint)
        if not off_region(pg, r):
            if pose is not best:
                warnings.append(
                    f"at the best pose of the search (tilt {best.tilt_deg:.1f}, rotation "
                    f"{best.rotation_deg:.1f} deg) the {model} contact reaches skin sloping "
                    f"more than {MAX_SKIN_SLOPE_DEG:g} deg; the next best pose is reported")
            value = value_of(pg, r, False)
            return _read_out(prob, pg, r, model, objective, value, converged,
                             warnings + list(notes))
        if len(seen) >= FINAL_POSES_TRIED:
            break
    raise EdgeNotInContactError(
        f"contour {contour.name}: the tool is larger than the body region at this site: in "
        f"the {len(seen)} best poses of the search its {model} contact reaches skin sloping "
        f"more than {MAX_SKIN_SLOPE_DEG:g} deg from the site plane or the body's "
        "silhouette; choose a smaller tool, another site or a wider rotation range")


fit_contour.__signature__ = inspect.signature(contour_stages).replace(  # type: ignore[attr-defined]
    return_annotation=ContourFit)


def _nelder_mead(fun: Any, start: Pose, free: tuple[bool, bool],
                 bounds: tuple[tuple[float, float], tuple[float, float]],
                 step: tuple[float, float], *, maxfev: int, xatol: float,
                 fatol: float) -> tuple[Pose, bool, int]:
    """Bounded Nelder-Mead over the free pose angles (tilt, rotation) from ``start``.

    The objective is divided by its magnitude at the start so that ``fatol`` is relative
    (pixel-counted areas move in steps of one pixel; a relative tolerance lets the simplex
    stop once steps that small are all that is left). Returns (best pose, converged,
    evaluations).
    """
    from scipy.optimize import minimize

    x0 = [v for v, fr in zip((start.tilt_deg, start.rotation_deg), free, strict=True) if fr]
    if not x0:
        fun(start)
        return start, True, 1

    def pose_of(x: np.ndarray) -> Pose:
        vals = [start.tilt_deg, start.rotation_deg]
        it = iter(x)
        for i in range(2):
            if free[i]:
                vals[i] = min(max(float(next(it)), bounds[i][0]), bounds[i][1])
        return Pose(vals[0], vals[1], start.skin_face, start.position_mm)

    scale = max(abs(fun(start)), 1e-12)
    bnd = [b for b, fr in zip(bounds, free, strict=True) if fr]
    stp = [s for s, fr in zip(step, free, strict=True) if fr]
    simplex = [list(x0)]
    for i in range(len(x0)):
        v = list(x0)
        v[i] = v[i] + stp[i] if v[i] + stp[i] <= bnd[i][1] else v[i] - stp[i]
        simplex.append(v)
    res = minimize(lambda x: fun(pose_of(x)) / scale, np.array(x0), method="Nelder-Mead",
                   bounds=bnd, options={"initial_simplex": np.array(simplex), "xatol": xatol,
                                        "fatol": fatol, "maxfev": int(maxfev)})
    best = pose_of(res.x)
    if fun(best) > fun(start):
        best = start
    return best, bool(res.success), int(res.nfev)


def _read_out(prob: _Problem, pg: PosedGap, r, model: str, objective: str, value: float,
              converged: bool, warnings: list[str]) -> ContourFit:
    """Turn the best pose's pressure field into a :class:`ContourFit`; IastmError when
    even the best pose wraps round the side of the limb (the tool is too large there)."""
    if off_region(pg, r):
        raise EdgeNotInContactError(
            f"contour {prob.contour.name}: the tool is larger than the body region at this "
            f"site: in every allowed pose its contact reaches skin sloping more than "
            f"{MAX_SKIN_SLOPE_DEG:g} deg from the site plane or the body's silhouette; "
            "choose a smaller tool, another site or a wider rotation range")
    from scipy.signal import fftconvolve

    c = prob.contour
    g = pg.grid
    d_area = g.dx * g.dy
    p = np.asarray(r.pressure_kpa, dtype=float)
    force = float(p.sum() * d_area * N_PER_KPA_MM2)
    mask = np.asarray(r.contact_mask)
    area = contact_area_mm2(r, pg, prob.stack)
    # line load: every loaded pixel is projected onto the polyline of the contour samples'
    # lowest section points (edge frame) to get its arc length, then deposited on nodes
    # along the arc length by linear (cloud-in-cell) weights, nodes no closer than 1.5x the
    # grid step along the edge, so the line load is smooth (N/mm)
    ii, jj = np.nonzero(mask)
    s = np.asarray(c.arc_length_mm, dtype=float)
    s_pix = _arc_length_of(np.column_stack([g.x[ii], g.y[jj]]), pg.lowest_xy_mm, s)
    length = float(s[-1])
    h = 1.5 * max(g.dy, float(np.median(np.diff(s))))
    n_nodes = max(2, round(length / h) + 1)
    nodes = np.linspace(0.0, length, n_nodes)
    h = float(nodes[1] - nodes[0])
    pos = np.clip(s_pix / h, 0.0, n_nodes - 1 - 1e-12)
    k0 = np.floor(pos).astype(np.int64)
    w1 = pos - k0
    f_pix = p[ii, jj] * d_area * N_PER_KPA_MM2
    dep = np.bincount(k0, (1.0 - w1) * f_pix, n_nodes) + np.bincount(k0 + 1, w1 * f_pix,
                                                                      n_nodes)
    cell = np.full(n_nodes, h)
    cell[[0, -1]] = 0.5 * h
    line_load = dep / cell
    loaded = line_load > 1e-6 * max(float(line_load.max()), 1e-300)
    fraction = float(cell[loaded].sum() / cell.sum())
    centres = nodes
    # the 1 cm^2 window-mean field (same disc as window_mean_pressure_kpa)
    radius = math.sqrt(100.0 / math.pi)
    hx, hy = int(radius // g.dx), int(radius // g.dy)
    x = np.arange(-hx, hx + 1) * g.dx
    y = np.arange(-hy, hy + 1) * g.dy
    disc = (x[:, None] ** 2 + y[None, :] ** 2 <= radius * radius).astype(float)
    window = fftconvolve(p, disc, mode="same") / disc.sum()
    wmax = float(window.max())  # = window_mean_pressure_kpa(r), the same field
    above_area = above_frac = None
    if prob.ppt_kpa:
        above_area = float(((window > prob.ppt_kpa) & mask).sum() * d_area)
        above_frac = above_area / area if area > 0 else 0.0
    depth = dermal_depth_mm(prob.stack)
    from ..contact import subsurface_stress

    try:
        st = subsurface_stress(_dermal_field(r, depth), [depth])
        dermal_shear, dermal_vm = float(st.max_shear_kpa.max()), float(st.von_mises_kpa.max())
    except IastmError:  # depth not resolved by this grid: reported as unknown
        dermal_shear = dermal_vm = math.nan
    warns = list(r.warnings) + warnings
    if not r.converged:
        warns.append("contact solver did not converge at the best pose")
    return ContourFit(
        contour=c.name, rank=0, pose=pg.pose, model=model, objective=objective,
        objective_value=float(value), force_n=force, applied_force_n=prob.force_n,
        contact_area_mm2=area, contact_length_mm=float(r.contact_extent_y_mm),
        contact_width_mm=float(r.contact_extent_x_mm), edge_length_mm=c.length_mm,
        edge_contact_fraction=fraction, peak_pressure_kpa=float(r.peak_pressure_kpa),
        mean_pressure_kpa=force / N_PER_KPA_MM2 / area if area > 0 else 0.0,
        window_mean_pressure_kpa=float(wmax), ppt_kpa=prob.ppt_kpa,
        dermal_depth_mm=depth, dermal_max_shear_kpa=dermal_shear,
        dermal_von_mises_kpa=dermal_vm,
        area_above_ppt_mm2=above_area, fraction_above_ppt=above_frac,
        approach_mm=float(r.approach_mm), a_over_r=float(r.a_over_r),
        approach_over_r=float(r.approach_over_r), a_over_h=float(r.a_over_h),
        small_strain_valid=bool(r.small_strain_valid), arc_length_mm=centres,
        line_load_n_per_mm=line_load, grid_spacing_mm=(g.dx, g.dy), grid_shape=(g.nx, g.ny),
        converged=converged and bool(r.converged), evaluations=prob.evaluations,
        warnings=tuple(warns), contact=r, posed=pg,
        tool_frame=tool_frame_matrix(c), stack=prob.stack,
    )


#: Border (in depths below the surface) kept around the contact when the dermal stresses
#: are computed: the stress maxima of a compressive contact lie under it, the stresses
#: decaying with distance from the load (Johnson, Contact Mechanics, 1985, ch. 3).
#: Measured on two calf contacts at the skin base (1.3 mm): a border of 1 depth changes the
#: maxima by < 5e-4 relative to the whole fit grid and 2 depths by < 2e-4, at 1/3-1/7 of
#: the cost.
DERMAL_STRESS_BORDER_DEPTHS = 2.0
#: Pixels per depth of the (force-conserving, binned) pressure field the dermal stresses
#: are computed from: the stress at depth z smooths pressure detail finer than z. Measured
#: against the unbinned field: maxima within 0.32 % on 5 calf contacts (hook-j,
#: scanner-straight, blade-large-cc; skin base 1.3 mm) and 0.38 % at the cut ends of a
#: Hertz line contact (tests/test_fit.py), at 1/2-1/10 of the cost (6 px: 0.6 % and 0.9 %).
DERMAL_STRESS_PX_PER_DEPTH = 8.0


def _dermal_field(r: Any, depth_mm: float) -> Any:
    """``r`` reduced to what its dermal stress maxima need (see :func:`subsurface_stress`):
    the pressure cut to the contact's bounding box plus ``DERMAL_STRESS_BORDER_DEPTHS``
    depths (p = 0 outside the contact, so the stresses inside the cut are those of the
    whole grid up to the kernels' padding), then averaged over blocks of pixels no larger
    than 1 / ``DERMAL_STRESS_PX_PER_DEPTH`` of the depth (the force is kept)."""
    p = np.asarray(r.pressure_kpa)
    ii, jj = np.nonzero(p > 0)
    if ii.size == 0:
        return r
    dx, dy = r.spacing_mm
    mi = math.ceil(DERMAL_STRESS_BORDER_DEPTHS * depth_mm / dx) + 2
    mj = math.ceil(DERMAL_STRESS_BORDER_DEPTHS * depth_mm / dy) + 2
    cut = p[max(int(ii.min()) - mi, 0):int(ii.max()) + 1 + mi,
            max(int(jj.min()) - mj, 0):int(jj.max()) + 1 + mj]
    kx = max(1, int(depth_mm / (DERMAL_STRESS_PX_PER_DEPTH * dx)))
    ky = max(1, int(depth_mm / (DERMAL_STRESS_PX_PER_DEPTH * dy)))
    nx, ny = -(-cut.shape[0] // kx) * kx, -(-cut.shape[1] // ky) * ky
    padded = np.zeros((nx, ny))
    padded[:cut.shape[0], :cut.shape[1]] = cut
    binned = padded.reshape(nx // kx, kx, ny // ky, ky).mean(axis=(1, 3))
    return replace(r, pressure_kpa=binned, displacement_mm=np.zeros_like(binned),
                   contact_mask=binned > 0, spacing_mm=(kx * dx, ky * dy))


#: Dermal depth (mm) used when the top layer is a half-space (no skin thickness known):
#: skin (epidermis + dermis) is about 1-3 mm thick (shared/reference/tissue_and_clinical.md).
DEFAULT_DERMAL_DEPTH_MM = 1.0


def dermal_depth_mm(stack: Any) -> float:
    """Depth (mm) at which dermal stimulation is reported: the base of the top (skin)
    layer, where the dermis meets the fat (as ``SiteTissue.skin_thickness_mm``)."""
    t = float(stack.layers[0].thickness_mm)
    return t if math.isfinite(t) else DEFAULT_DERMAL_DEPTH_MM


def _arc_length_of(xy: np.ndarray, poly: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Arc length (mm) of the nearest point of the polyline ``poly`` (with arc lengths
    ``s`` at its vertices) to every point of ``xy`` (both edge-frame xy, mm)."""
    from scipy.spatial import cKDTree

    if not len(xy):
        return np.empty(0)
    _, k = cKDTree(poly).query(xy)
    best_d = np.full(len(xy), np.inf)
    best_s = s[k].astype(float)
    for a_idx in (k - 1, k):
        a_idx = np.clip(a_idx, 0, len(poly) - 2)
        a, b = poly[a_idx], poly[a_idx + 1]
        ab = b - a
        den = np.maximum((ab * ab).sum(axis=1), 1e-300)
        t = np.clip(((xy - a) * ab).sum(axis=1) / den, 0.0, 1.0)
        d = np.linalg.norm(a + t[:, None] * ab - xy, axis=1)
        better = d < best_d
        best_d[better] = d[better]
        best_s[better] = (s[a_idx] + t * (s[a_idx + 1] - s[a_idx]))[better]
    return best_s


def resolve_inputs(tool: Any, body: Any, site: Any) -> tuple[Any, Any, Any]:
    """(Tool, Body, Site) from objects or names: a profile path or library name, a
    built-in body name or scan path, a site name of that body."""
    from ..body import Body, Site
    from ..tool import Tool

    if not isinstance(tool, Tool):
        from ..library import find_profile

        tool = Tool.from_profile(find_profile(str(tool)))
    if not isinstance(body, Body):
        body = Body.load(str(body) if not isinstance(body, Path) else body)
    site_obj = site if isinstance(site, Site) else body.site(str(site))
    return tool, body, site_obj


def _check_site_on_body(body: Any, site: Any) -> None:
    """IastmError when the site landmark is farther from the skin than a site may be.

    A mesh vertex within the allowed offset settles it (the skin's closest point is no
    farther than any of its vertices); only otherwise is the exact closest-point query
    asked, whose spatial index takes 1-2 s to build on the default body (most of a cold
    ``iastm fit``'s overhead, for this one check)."""
    from ..body.sites import MAX_SITE_OFFSET_MM

    p = np.asarray(site.point_mm, dtype=float)
    mesh = getattr(body, "mesh", None)
    if mesh is not None:
        rel = np.asarray(mesh.vertices, dtype=float) - p
        if float(np.einsum("ij,ij->i", rel, rel).min()) <= MAX_SITE_OFFSET_MM**2:
            return
    d = float(body.closest(p[None]).distance[0])
    if not d <= MAX_SITE_OFFSET_MM:
        raise IastmError(
            f"site {site.name!r} of body {body.name!r} is off the body: its point is {d:.1f} mm "
            f"from the skin (allowed at most {MAX_SITE_OFFSET_MM:g} mm)")


def _resolve_tissue(body: Any, site_name: str, tissue: Any) -> tuple[Any, float | None]:
    from ..contact import TissueStack

    if tissue is None:
        tissue = body.tissue(site_name)
    if isinstance(tissue, TissueStack):
        return tissue, None
    return tissue.stack, float(tissue.ppt_kpa)


def fit(
    tool: Any,
    body: Any,
    site: Any,
    force_n: float,
    angle_range_deg: Sequence[float] = (30.0, 90.0),
    model: str = "layered",
    objective: str = "area",
    *,
    rotation_range_deg: Sequence[float] = (-90.0, 90.0),
    position_mm: tuple[float, float] = (0.0, 0.0),
    tissue: Any = None,
    contours: Sequence[str] | None = None,
    contour_spacing_mm: float = 0.25,
    coarse_tilts: int = 4,
    coarse_rotations: int = 8,
    refine_evals: int = 0,
    progress: Any = None,
    threads: int | None = None,
) -> FitResult:
    """Fit every working edge of ``tool`` on ``site`` of ``body`` and rank them.

    tool: a :class:`~iastm_tools.Tool`, a profile path or a library name.
    body: a :class:`~iastm_tools.body.Body`, a built-in body name or a scan path.
    site: a site name of the body (or a :class:`~iastm_tools.body.Site`).
    force_n: normal force (N), (0, 200]. angle_range_deg: allowed tilt between plate and
    skin (degrees, within [0, 90]). rotation_range_deg: allowed angle between limb axis and
    stroke. model: "layered" | "halfspace" | "winkler". objective: "area" (maximise contact
    area), "peak" (minimise peak pressure) or "ppt" (minimise the 1 cm^2 window-mean
    pressure over the site's pressure-pain threshold). tissue: override the site's
    ``SiteTissue`` (or give a bare ``TissueStack``; then no PPT is known).
    contours: names of the edges to fit (default all). progress: called once per contour.
    refine_evals: BEM solves of the chosen model in the local Nelder-Mead refinement after
    the Winkler search (default 0: each is a layered solve of 0.2-2 s, so 8 add seconds; the
    reported field is always a full solve of the chosen model at the final pose).
    threads: contours fitted at once (default :func:`fit_threads`: one per core, or
    ``IASTM_FIT_THREADS``); the result does not depend on it.
    Raises IastmError (one line) on bad input or when no contact is possible.
    """
    _check_inputs(force_n, angle_range_deg, model, objective, rotation_range_deg)
    t0 = time.perf_counter()
    tool, body, site_obj = resolve_inputs(tool, body, site)
    _check_site_on_body(body, site_obj)
    stack, ppt = _resolve_tissue(body, site_obj.name, tissue)
    if objective == "ppt" and ppt is None:
        raise IastmError("objective 'ppt' needs a site tissue with a pressure-pain threshold")
    from ..contours import working_contours

    all_c = working_contours(tool.profile, tool.outline, contour_spacing_mm)
    if not all_c:
        raise IastmError(f"{tool.name}: the tool has no working edges to fit")
    chosen = list(all_c)
    if contours:
        names = {c.name for c in all_c}
        bad = [n for n in contours if n not in names]
        if bad:
            raise IastmError(f"{tool.name}: no working edge {bad[0]!r}; available: "
                             f"{', '.join(sorted(names))}")
        chosen = [c for c in all_c if c.name in set(contours)]
    frame = SiteFrame.from_site(site_obj, position_mm)
    rim = tool_rim(tool.profile, tool.outline)
    reach = max(float(np.linalg.norm(p, axis=-1).max())
                for c in chosen for p in tool_surfaces(c, rim, 0.5))
    skin = cached_skin_map(body, frame, reach + 2.0)
    def stages(c: Contour) -> Generator[None, None, ContourFit]:
        return contour_stages(
            c, body, site_obj, force_n, stack, ppt_kpa=ppt,
            angle_range_deg=angle_range_deg, rotation_range_deg=rotation_range_deg,
            position_mm=position_mm, model=model, objective=objective,
            coarse_tilts=coarse_tilts, coarse_rotations=coarse_rotations,
            refine_evals=refine_evals, skin=skin, rim=rim)

    n_threads = min(len(chosen), fit_threads() if threads is None else max(int(threads), 1))
    outcomes = _run_staged([stages(c) for c in chosen],
                           sorted(range(len(chosen)), key=lambda i: _cost_rank(chosen[i])),
                           n_threads, progress)
    fits = [o for o in outcomes if isinstance(o, ContourFit)]
    unfitted = [(c.name, o) for c, o in zip(chosen, outcomes, strict=True)
                if isinstance(o, str)]
    if not fits:
        raise IastmError(f"{tool.name} on {site_obj.name}: no contact possible for any working "
                         f"edge ({unfitted[0][1]})")
    return rank_fits(fits, tool=tool.name, body=body.name, site=site_obj.name, force_n=force_n,
                     model=model, objective=objective,
                     angle_range_deg=tuple(float(a) for a in angle_range_deg),
                     seconds=time.perf_counter() - t0, tool_object=tool, body_object=body,
                     unfitted=tuple(unfitted))


def _run_staged(gens: list[Generator[None, None, ContourFit]], order: Sequence[int],
                n_threads: int, progress: Any = None) -> list[ContourFit | str]:
    """Run the stage generators of :func:`contour_stages` on ``n_threads`` threads; returns
    their results in input order (the message of an edge that cannot touch in its place).

    Each stage is a task.  The searches of all contours run first, costliest first
    (``order``), then the final stages, in the same order: whole contours as tasks left
    one thread idle at the end whenever three edges of about equal cost shared two
    threads (boomerang-small's concave crook and two arms), and a final stage taken as
    soon as its search ended did the same.  The contours are independent (the heavy parts,
    FFTs, numba kernels and sorts, release the GIL), so the results do not depend on the
    threads or the order.  Any other error stops the run and is raised in the caller's
    thread.
    """
    import heapq
    import threading

    from ..contact.kernels import fft_share

    done: dict[int, ContourFit | str] = {}

    def step(i: int) -> bool:
        """Advance contour i by one stage; True when it has finished."""
        try:
            next(gens[i])
            return False
        except StopIteration as stop:
            done[i] = stop.value
        except EdgeNotInContactError as exc:
            done[i] = str(exc)
        return True

    if n_threads <= 1:
        for i in range(len(gens)):
            while not step(i):
                pass
            if progress is not None:
                progress()
        return [done[i] for i in range(len(gens))]

    queue = [(0, rank, i) for rank, i in enumerate(order)]  # (stage, rank, contour)
    heapq.heapify(queue)
    cond = threading.Condition()
    progress_lock = threading.Lock()
    running = 0
    failure: list[BaseException] = []

    def worker() -> None:
        nonlocal running
        with fft_share():  # the FFT threads are shared with the other contour threads
            while True:
                with cond:
                    while not queue and running and not failure:
                        cond.wait()
                    if failure or not queue:
                        cond.notify_all()
                        return
                    _, rank, i = heapq.heappop(queue)
                    running += 1
                try:
                    finished = step(i)
                except BaseException as exc:  # raised in the caller's thread below
                    with cond:
                        failure.append(exc)
                        running -= 1
                        cond.notify_all()
                    return
                with cond:
                    running -= 1
                    if not finished:
                        heapq.heappush(queue, (1, rank, i))  # after every search
                    cond.notify_all()
                if finished and progress is not None:
                    with progress_lock:
                        progress()

    workers = [threading.Thread(target=worker, name=f"iastm-fit-{k}", daemon=True)
               for k in range(n_threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if failure:
        raise failure[0]
    return [done[i] for i in range(len(gens))]


#: Expected fit cost of an edge by its outline kind, most costly first (measured on the
#: calf at 8 N, layered, one thread: concave arcs 0.7-2.7 s, lines 1.2-1.5 s, convex arcs
#: 0.3-0.8 s, the knob 0.5 s, tips 0.1-0.6 s; e.g. gua-sha-heart's notch R7 0.93 s against
#: 0.35-0.60 s for its lobes, sides and point). Started in this order on 2 threads,
#: hook-j took 3.2 s instead of 3.6 s and gua-sha-heart 1.98 s instead of 2.03 s.
_KIND_COST_ORDER = ("concave_arc", "line", "convex_arc", "knob", "tip")


def _cost_rank(c: Contour) -> tuple[int, int]:
    """Sort key that starts the edges expected to cost most first (a single bevel, whose
    two plate faces are both searched, before a symmetric section of the same kind)."""
    kind = _KIND_COST_ORDER.index(c.kind) if c.kind in _KIND_COST_ORDER else 1
    return kind, 0 if not _symmetric(c) else 1


def fit_threads() -> int:
    """Threads :func:`fit` uses for a tool's contours by default: ``IASTM_FIT_THREADS`` if
    set (sweep workers set 1: they are already one process per core), else the number of
    cores."""
    env = os.environ.get("IASTM_FIT_THREADS", "").strip()
    if env:
        try:
            return max(int(env), 1)
        except ValueError:
            raise IastmError(f"IASTM_FIT_THREADS must be a whole number >= 1 (got {env!r})"
                             ) from None
    return os.cpu_count() or 1


def rank_fits(fits: Sequence[ContourFit], **meta: Any) -> FitResult:
    """Sort contour fits by objective value (best first) and number their ranks from 1."""
    from dataclasses import replace

    ordered = sorted(fits, key=lambda c: c.objective_value)
    ranked = tuple(replace(c, rank=i + 1) for i, c in enumerate(ordered))
    return FitResult(contours=ranked, **meta)
