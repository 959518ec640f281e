"""Large-deformation correction of the linear (small-strain) contact answer, calibrated by FE.

At clinical IASTM loads (6-9 N, J Athl Train 58(1):60, 2023) on soft tissue (E ~ 20-100 kPa)
the approach of the tool edge is 1-2 times the edge radius (contact_mechanics.md, section 0),
far outside small-strain Hertz theory. This module ships correction factors computed offline
with a finite-element reference (felupe: nearly incompressible neo-Hookean layer of thickness
h bonded to a rigid base, frictionless rigid indenter with the real edge cross-section) and
applies them to a linear solution.

Conventions (one place):

* ``shape="sphere"``: axisymmetric; ``shape="cylinder"``: plane strain (the edge apex seen in
  its cross-section). The indenter cross-section is the real edge: an apex circle of radius R
  continued by straight flanks tangent to it at a half-angle of ``FLANK_HALF_ANGLE_DEG``
  (45 deg, i.e. a 90 deg included angle: the double 45 deg bevel with a rounded apex of
  cad_recipes.md); the sphere is the same profile revolved (a sphere-tipped cone).
* The linear reference is small-strain linear elasticity with the same E and nu, on the same
  layer and the same FE mesh, computed with the same FE code in its small-strain limit, so
  mesh errors cancel in the ratios; it is itself checked against Hertz (``fe_hertz_check``,
  the tests and the provenance of the data file). Two linear references are tabulated
  (``linear_gap``):

  - ``"exact"`` (default): the linear answer for the *same* edge profile (apex circle plus
    flanks), i.e. what a linear BEM with the real CAD gap computes. The factors then isolate
    the finite-strain effect and do not count the geometry twice.
  - ``"paraboloid"``: the Hertz gap r^2/(2R), for a linear answer from Hertz-type closed
    forms; these factors also contain the difference between the real edge and the
    paraboloid.
* A *linear state* is (delta_lin, F_lin, a_lin, p_lin): approach, force, contact half-width and
  peak pressure of the linear solution. The table is indexed by delta_lin / R and
  a_lin / h (0 for a half-space). For that state:

  - ``force_factor``    = F_FE(delta_lin) / F_lin(delta_lin)   (same approach)
  - ``pressure_factor`` = p_FE(F_lin) / p_lin                  (same force)
  - ``width_factor``    = a_FE(F_lin) / a_lin                  (same force; a_FE is the
    half-width of the contact in the deformed configuration)
  - ``approach_factor`` = delta_FE(F_lin) / delta_lin          (same force)

  All factors tend to 1 as delta/R -> 0 (the small-strain limit of neo-Hookean is linear
  elasticity); the table stores that limit as its first row.

Runtime needs only numpy and json: the FE reference (felupe) is imported lazily by
:func:`fe_indentation_curve`, used by ``scripts/calibrate_large_deformation.py`` and the tests.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import IastmError

Shape = Literal["sphere", "cylinder"]
LinearGap = Literal["exact", "paraboloid"]
LINEAR_GAPS: tuple[str, ...] = ("exact", "paraboloid")
Regime = Literal["hertz", "intermediate", "deep"]

SHAPES: tuple[str, ...] = ("sphere", "cylinder")
DATA_FILE = "large_deformation_calibration.json"
SCHEMA_VERSION = 2

#: Half-angle of the straight flanks of the edge cross-section (deg), measured from the load
#: axis: a double 45 deg bevel with a rounded apex (cad_recipes.md, "double 45 deg bevel").
FLANK_HALF_ANGLE_DEG = 45.0
#: Poisson ratio of the calibration (soft tissue is nearly incompressible, 0.45-0.49;
#: tissue_and_clinical.md).
CALIBRATION_POISSON = 0.49

#: Calibrated range (the shipped table covers it; :func:`correction` returns None outside).
APPROACH_OVER_R_MIN = 0.0
APPROACH_OVER_R_MAX = 2.0
A_OVER_H_MAX = 1.0
#: The FE layer is never compressed by more than this fraction of its thickness.
MAX_APPROACH_OVER_H = 0.5

#: Regime thresholds. Shojaeifard & Bacca (Soft Matter 2025, d5sm00502g) classify
#: indentation as Hertzian (D << R), intermediate (D ~ R) and parabolic/deep (D >> R).
#: Numeric bounds chosen here: Hertz needs delta/R <= 0.1 (Hertz is acceptable for an
#: incompressible neo-Hookean half-space up to 0.1 R: "Contact Model for Incompressible
#: Neo-Hookean Materials Under Finite Spherical Indentation", J Appl Mech 87(5):051003, 2020)
#: and a/R <= 0.3 (the linear-Hertz limit used in contact_mechanics.md, section 0); deep is
#: delta/R >= 1 (the edge flanks carry most of the load there in our FE reference);
#: intermediate in between.
HERTZ_MAX_APPROACH_OVER_R = 0.1
HERTZ_MAX_A_OVER_R = 0.3
DEEP_MIN_APPROACH_OVER_R = 1.0


def regime(approach_over_r: float, a_over_r: float) -> Regime:
    """Classify an indentation state: "hertz", "intermediate" or "deep".

    approach_over_r: approach (indentation depth) / indenter radius, >= 0.
    a_over_r: contact half-width / indenter radius, >= 0.
    Thresholds: module constants ``HERTZ_MAX_*`` and ``DEEP_MIN_APPROACH_OVER_R`` (source in
    their comment).
    """
    _check_nonneg("approach_over_r", approach_over_r)
    _check_nonneg("a_over_r", a_over_r)
    if approach_over_r >= DEEP_MIN_APPROACH_OVER_R:
        return "deep"
    if approach_over_r <= HERTZ_MAX_APPROACH_OVER_R and a_over_r <= HERTZ_MAX_A_OVER_R:
        return "hertz"
    return "intermediate"


@dataclass(frozen=True)
class LargeDeformationCorrection:
    """Factors that turn a linear (small-strain) answer into the large-deformation one.

    force_factor: F_FE / F_linear at the same approach.
    pressure_factor: peak p_FE / peak p_linear at the same force.
    width_factor: contact half-width a_FE / a_linear at the same force.
    in_range: True inside the calibrated table; False when the answer is the nearest
      calibrated value used as a stand-in (see ``note``).
    note: regime, range and provenance in one line, for reports.
    approach_factor: approach delta_FE / delta_linear at the same force.
    regime: "hertz", "intermediate" or "deep" (see :func:`regime`).
    """

    force_factor: float
    pressure_factor: float
    width_factor: float
    in_range: bool
    note: str
    approach_factor: float = 1.0
    regime: str = "hertz"

    def __post_init__(self) -> None:
        for name in ("force_factor", "pressure_factor", "width_factor", "approach_factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise IastmError(f"LargeDeformationCorrection.{name}: must be finite and > 0 "
                                 f"(got {value!r})")


def _check_nonneg(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise IastmError(f"{name}: must be a finite number >= 0 (got {value!r})")


# --------------------------------------------------------------------------------------------
# Shipped table
# --------------------------------------------------------------------------------------------

FACTOR_NAMES: tuple[str, ...] = (
    "force_factor", "pressure_factor", "width_factor", "approach_factor",
)


def data_path() -> Path:
    """Path of the shipped calibration table (``iastm_tools/data/``)."""
    return Path(__file__).resolve().parent.parent / "data" / DATA_FILE


@functools.cache
def load_calibration() -> dict[str, Any]:
    """Load and validate the shipped calibration table (cached; read-only use)."""
    text = data_path().read_text("utf-8")
    data = json.loads(text)
    validate_calibration(data)
    return data


def validate_calibration(data: dict[str, Any]) -> None:
    """Check the documented schema of the calibration data; raise IastmError if broken."""
    if data.get("schema_version") != SCHEMA_VERSION:
        raise IastmError(f"calibration: schema_version must be {SCHEMA_VERSION} "
                         f"(got {data.get('schema_version')!r})")
    for key in ("provenance", "approach_over_r", "tables"):
        if key not in data:
            raise IastmError(f"calibration: missing key {key!r}")
    rows = np.asarray(data["approach_over_r"], dtype=float)
    if rows.ndim != 1 or rows[0] != 0.0 or np.any(np.diff(rows) <= 0):
        raise IastmError("calibration: approach_over_r must start at 0 and increase")
    for gap, shape in ((g, sh) for g in LINEAR_GAPS for sh in SHAPES):
        cols = data["tables"].get(gap, {}).get(shape)
        if not cols:
            raise IastmError(f"calibration: no columns for {gap!r} / {shape!r}")
        for col in cols:
            if not (col["thickness_over_r"] > 0):
                raise IastmError(f"calibration: {shape}: thickness_over_r must be > 0")
            for key in ("a_over_h", *FACTOR_NAMES):
                arr = np.asarray([np.nan if v is None else v for v in col[key]], dtype=float)
                if arr.shape != rows.shape:
                    raise IastmError(f"calibration: {shape}: {key} has {arr.size} rows, "
                                     f"expected {rows.size}")


def _column_arrays(shape: str, gap: str) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    data = load_calibration()
    rows = np.asarray(data["approach_over_r"], dtype=float)
    cols = []
    for col in data["tables"][gap][shape]:
        arrs = {k: np.asarray([np.nan if v is None else v for v in col[k]], dtype=float)
                for k in ("a_over_h", *FACTOR_NAMES)}
        arrs["thickness_over_r"] = np.asarray(col["thickness_over_r"], dtype=float)
        cols.append(arrs)
    return rows, cols


@functools.cache
def _columns(shape: str, gap: str) -> tuple[np.ndarray, tuple[dict[str, np.ndarray], ...]]:
    rows, cols = _column_arrays(shape, gap)
    # thickest layer first (smallest a/h): the half-space stand-in
    cols.sort(key=lambda c: -float(c["thickness_over_r"]))
    return rows, tuple(cols)


def _interp_row(rows: np.ndarray, values: np.ndarray, x: float) -> float:
    """Linear interpolation of a column at approach x; NaN if a bracketing value is NaN."""
    j = int(np.searchsorted(rows, x, side="right"))
    if j <= 0:
        return float(values[0])
    if j >= rows.size:
        return float(values[-1]) if math.isclose(x, rows[-1]) else math.nan
    x0, x1 = rows[j - 1], rows[j]
    v0, v1 = values[j - 1], values[j]
    t = (x - x0) / (x1 - x0)
    if t == 0.0:
        return float(v0)
    return float(v0 + t * (v1 - v0))


def correction(shape: str, approach_over_r: float, a_over_h: float, *,
               linear_gap: str = "exact") -> LargeDeformationCorrection | None:
    """Large-deformation correction for a linear solution state.

    shape: "sphere" (axisymmetric) or "cylinder" (plane strain, the edge apex).
    approach_over_r: linear-theory approach delta_lin / R (dimensionless), >= 0.
    a_over_h: linear-theory contact half-width / layer thickness (0 for a half-space), >= 0.
    Returns None outside the calibrated range (approach_over_r > APPROACH_OVER_R_MAX,
    a_over_h > A_OVER_H_MAX, or a_over_h above the thinnest calibrated layer at that
    approach). Cheap: two 1-D linear interpolations on the cached table. Meaning of the
    factors: see the module docstring.
    linear_gap: which linear answer is corrected: "exact" (same edge profile, default) or
    "paraboloid" (Hertz gap).
    """
    if shape not in SHAPES:
        raise IastmError(f"correction: shape must be one of {SHAPES} (got {shape!r})")
    if linear_gap not in LINEAR_GAPS:
        raise IastmError(f"correction: linear_gap must be one of {LINEAR_GAPS} "
                         f"(got {linear_gap!r})")
    _check_nonneg("approach_over_r", approach_over_r)
    _check_nonneg("a_over_h", a_over_h)
    if approach_over_r > APPROACH_OVER_R_MAX or a_over_h > A_OVER_H_MAX:
        return None
    rows, cols = _columns(shape, linear_gap)
    pts: list[tuple[float, dict[str, float], float]] = []
    for col in cols:
        ah = _interp_row(rows, col["a_over_h"], approach_over_r)
        facs = {k: _interp_row(rows, col[k], approach_over_r) for k in FACTOR_NAMES}
        if math.isnan(ah) or any(math.isnan(v) for v in facs.values()):
            continue
        pts.append((ah, facs, float(col["thickness_over_r"])))
    if not pts:
        return None
    pts.sort(key=lambda p: p[0])
    in_range = True
    note_extra = ""
    if a_over_h <= pts[0][0]:
        facs = pts[0][1]
        if shape == "cylinder" and a_over_h == 0.0:
            # a plane-strain approach is undefined on a half-space (log term): the thickest
            # calibrated layer stands in
            in_range = False
            note_extra = (f"; half-space cylinder: factors of the thickest layer "
                          f"h/R={pts[0][2]:g} used")
    elif a_over_h > pts[-1][0] * (1 + 1e-9):
        return None
    else:
        ahs = np.array([p[0] for p in pts])
        facs = {k: float(np.interp(a_over_h, ahs, [p[1][k] for p in pts]))
                for k in FACTOR_NAMES}
    a_over_r_est = _estimate_a_over_r(shape, approach_over_r)
    reg = regime(approach_over_r, a_over_r_est)
    prov = load_calibration()["provenance"]
    note = (f"{reg} regime (delta/R={approach_over_r:.3g}); FE-calibrated neo-Hookean "
            f"nu={prov['poisson']}, {FLANK_HALF_ANGLE_DEG:g} deg flanks, vs linear "
            f"{linear_gap} gap, felupe {prov['felupe_version']}{note_extra}")
    return LargeDeformationCorrection(
        force_factor=facs["force_factor"],
        pressure_factor=facs["pressure_factor"],
        width_factor=facs["width_factor"],
        in_range=in_range,
        note=note,
        approach_factor=facs["approach_factor"],
        regime=reg,
    )


def _estimate_a_over_r(shape: str, approach_over_r: float) -> float:
    """Linear contact half-width / R used for the regime flag: Hertz sphere a = sqrt(R delta)
    (Johnson, Contact Mechanics, eq. 4.23); for a cylinder the geometric chord half-width
    sqrt(2 R delta) (an upper bound on a thick layer)."""
    factor = 1.0 if shape == "sphere" else 2.0
    return math.sqrt(factor * approach_over_r)


# --------------------------------------------------------------------------------------------
# Closed-form references (Hertz), nondimensional
# --------------------------------------------------------------------------------------------

def hertz_sphere(approach_over_r: np.ndarray | float, poisson: float) -> dict[str, Any]:
    """Hertz rigid sphere on an elastic half-space (Johnson 1985, eqs. 4.22-4.23).

    Returns F/(E R^2), a/R and p0/E for delta/R, with E* = E/(1 - nu^2):
    F = 4/3 E* R^1/2 delta^3/2, a = sqrt(R delta), p0 = 2 E* a / (pi R).
    """
    d = np.asarray(approach_over_r, dtype=float)
    es = 1.0 / (1.0 - poisson**2)
    a = np.sqrt(d)
    return {"force": 4.0 / 3.0 * es * d**1.5, "a": a, "p0": 2.0 * es * a / math.pi}


def hertz_cylinder(force_per_length: np.ndarray | float, poisson: float) -> dict[str, Any]:
    """Hertz rigid cylinder on an elastic half-space, plane strain (Johnson 1985, eq. 4.43).

    Input F'/(E R); returns b/R = sqrt(4 F' R / (pi E*)) and p0/E = sqrt(F' E* / (pi R)).
    """
    f = np.asarray(force_per_length, dtype=float)
    es = 1.0 / (1.0 - poisson**2)
    return {"b": np.sqrt(4.0 * f / (math.pi * es)), "p0": np.sqrt(f * es / math.pi)}


# --------------------------------------------------------------------------------------------
# FE reference (felupe, imported lazily)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeMesh:
    """Mesh controls of the FE reference (lengths in units of R).

    fine_extent_over_r: size of the uniform fine zone under the indenter (laterally and in
      depth); fine_elements: elements across it; growth: geometric growth of the element size
      outside it; penalty: contact penalty in E / (fine element size).
    """

    fine_extent_over_r: float = 3.5
    fine_elements: int = 60
    growth: float = 1.2
    penalty: float = 100.0

    def __post_init__(self) -> None:
        if not self.fine_extent_over_r > 0:
            raise IastmError(f"FeMesh.fine_extent_over_r: must be > 0 "
                             f"(got {self.fine_extent_over_r!r})")
        if not (isinstance(self.fine_elements, int) and self.fine_elements >= 4):
            raise IastmError(f"FeMesh.fine_elements: must be an int >= 4 "
                             f"(got {self.fine_elements!r})")
        if not self.growth >= 1.0:
            raise IastmError(f"FeMesh.growth: must be >= 1 (got {self.growth!r})")
        if not self.penalty > 0:
            raise IastmError(f"FeMesh.penalty: must be > 0 (got {self.penalty!r})")


@dataclass(frozen=True)
class FeCurve:
    """Nondimensional FE indentation curve (E = 1, R = 1).

    approach_over_r: delta/R reached; force: F/(E R^2) (sphere, whole ring) or F'/(E R)
    (cylinder, both halves); a_over_r: contact half-width / R (deformed configuration for the
    large-deformation run, reference configuration for the linear one); peak_pressure_over_e:
    peak contact pressure / E (Cauchy, on the current area). linear_gap: the gap of a linear
    run ("exact" edge profile or "paraboloid"); ignored when ``linear`` is False.
    """

    shape: str
    thickness_over_r: float
    linear: bool
    approach_over_r: np.ndarray
    force: np.ndarray
    a_over_r: np.ndarray
    peak_pressure_over_e: np.ndarray
    n_cells: int
    fine_element_over_r: float
    completed: bool
    linear_gap: str = "exact"


def _graded(fine_len: float, fine_n: int, total: float, growth: float) -> np.ndarray:
    """Node coordinates: fine_n uniform elements on [0, fine_len], then geometric growth."""
    x = list(np.linspace(0.0, fine_len, fine_n + 1))
    step = fine_len / fine_n
    while x[-1] < total - 1e-12:
        step *= growth
        x.append(min(x[-1] + step, total))
    if len(x) > fine_n + 2 and total - x[-2] < 0.3 * step:
        x.pop(-2)
    return np.asarray(x)


def _newton_check(dx: Any, x: Any, f: Any, xtol: float, ftol: float, dof1: Any = None,
                  dof0: Any = None, items: Any = None) -> tuple[float, float, bool]:
    """Convergence: residual of free dofs relative to the reactions, or a vanishing update."""
    fnorm = float(np.linalg.norm(f[dof1]) / (1e-300 + np.linalg.norm(f[dof0])))
    xnorm = float(np.linalg.norm(dx))
    return xnorm, fnorm, bool((fnorm < ftol and xnorm < 1e3 * xtol) or xnorm < 1e-11)


def _safe_solve(A: Any, b: Any, **kwargs: Any) -> Any:
    """Sparse solve that refuses non-finite input (SuperLU may crash on NaN entries, which
    appear when a trial increment inverts an element); the caller cuts the increment back."""
    from scipy.sparse.linalg import spsolve

    data = A.data if hasattr(A, "data") else np.asarray(A)
    rhs = b.toarray() if hasattr(b, "toarray") else np.asarray(b)
    if not (np.all(np.isfinite(data)) and np.all(np.isfinite(rhs))):
        raise ArithmeticError("non-finite stiffness or residual")
    x = spsolve(A, b, **kwargs)
    if not np.all(np.isfinite(x)):
        raise ArithmeticError("non-finite solution")
    return x


def fe_indentation_curve(
    shape: str,
    thickness_over_r: float,
    approaches_over_r: Sequence[float],
    *,
    linear: bool = False,
    linear_gap: str = "exact",
    poisson: float = CALIBRATION_POISSON,
    flank_half_angle_deg: float = FLANK_HALF_ANGLE_DEG,
    mesh: FeMesh | None = None,
    linear_scale: float = 1e-3,
    log: Callable[[str], None] | None = None,
) -> FeCurve:
    """Indent a neo-Hookean layer on a rigid base with a rigid edge; return the curve.

    Model (E = 1, R = 1, lengths in R): layer 0 <= z <= h bonded to a rigid base at z = 0,
    symmetric half model (axis r = 0), lateral roller at r = max(6 h, 15 R); nearly
    incompressible neo-Hookean (felupe ``SolidBodyNearlyIncompressible``: Q1/P0 three-field
    Hu-Washizu, mu = E/(2(1+nu)), K = E/(3(1-2nu))). Frictionless rigid indenter: apex circle
    of radius R plus tangent flanks at ``flank_half_angle_deg``; node-to-rigid penalty contact
    (felupe ``ContactRigidBase``) with a per-node penalty proportional to the node's tributary
    area; displacement control with automatic cut-back.

    ``linear=True``: the small-strain reference: the same mesh and material in its
    small-strain limit (all displacements scaled by ``linear_scale``, results scaled back),
    linearised contact (vertical normal, gap at the undeformed radius) with the edge profile
    (``linear_gap="exact"``) or the Hertz paraboloid r^2/(2R) (``"paraboloid"``). Stops early
    (``completed=False``) if Newton fails.
    """
    import felupe as fem  # lazy: optional extra "calibration"

    if shape not in SHAPES:
        raise IastmError(f"fe_indentation_curve: shape must be one of {SHAPES} (got {shape!r})")
    if not thickness_over_r > 0:
        raise IastmError(f"fe_indentation_curve: thickness_over_r must be > 0 "
                         f"(got {thickness_over_r!r})")
    deltas = [float(d) for d in approaches_over_r]
    if not deltas or any(d <= 0 for d in deltas) or any(np.diff(deltas) <= 0):
        raise IastmError("fe_indentation_curve: approaches_over_r must be > 0 and increasing")
    if linear_gap not in LINEAR_GAPS:
        raise IastmError(f"fe_indentation_curve: linear_gap must be one of {LINEAR_GAPS} "
                         f"(got {linear_gap!r})")
    if not (0.0 < poisson < 0.5):
        raise IastmError(f"fe_indentation_curve: poisson must be in (0, 0.5) (got {poisson!r})")
    m = mesh or FeMesh()
    axi = shape == "sphere"
    R = 1.0
    E = 1.0
    h = float(thickness_over_r)
    mu = E / (2.0 * (1.0 + poisson))
    bulk = E / (3.0 * (1.0 - 2.0 * poisson))
    fine = m.fine_extent_over_r * R
    lateral_len = max(6.0 * h, 15.0 * R, 1.5 * fine)
    xr = _graded(fine, m.fine_elements, lateral_len, m.growth)
    dx = fine / m.fine_elements
    depth_fine = min(h, fine)
    nzf = max(2, math.ceil(depth_fine / dx - 1e-9))
    z = np.sort(h - _graded(depth_fine, nzf, h, m.growth))
    # felupe axisymmetric fields use x = axial, y = radial
    lat, ver = (1, 0) if axi else (0, 1)
    grid = fem.Grid(z, xr) if axi else fem.Grid(xr, z)
    centre = np.zeros(2)
    centre[ver] = h + R
    grid.update(points=np.vstack([grid.points, centre]), cells=grid.cells)
    cp = grid.npoints - 1
    P = grid.points
    region = fem.RegionQuad(grid)
    u = (fem.FieldAxisymmetric if axi else fem.FieldPlaneStrain)(region, dim=2)
    field = fem.FieldContainer([u])
    solid = fem.SolidBodyNearlyIncompressible(fem.NeoHooke(mu=mu), field, bulk=bulk)
    idx = np.arange(grid.npoints)
    top = idx[np.isclose(P[:, ver], h) & (idx != cp)]
    top = top[np.argsort(P[top, lat])]
    r_top = P[top, lat]
    w_ref = _tributary(r_top, np.zeros_like(r_top), axi)
    sqrt_w = np.sqrt(w_ref)
    theta_t = math.pi / 2 - math.radians(flank_half_angle_deg)
    r_tangent = R * math.sin(theta_t)

    def profile(r: np.ndarray) -> np.ndarray:
        """Height of the indenter surface above its apex at radius r (linear reference)."""
        if linear_gap == "paraboloid":
            return r**2 / (2 * R)
        rc = np.minimum(r, r_tangent)
        circle = R - np.sqrt(np.maximum(R**2 - rc**2, 0.0))
        return circle + np.maximum(r - r_tangent, 0.0) * math.tan(theta_t)

    s = linear_scale if linear else 1.0
    perm = [lat, ver]
    inv = np.argsort(perm)

    class _Indenter(fem.mechanics.ContactRigidBase):
        """Rigid edge (apex circle + tangent flanks), or its linearised form."""

        def raw(self, dx_global: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            d2 = dx_global[:, perm]
            if linear:
                r0 = np.abs(self.dX[:, lat])
                gap = -R + s * profile(r0) - d2[:, 1]
                n = np.zeros_like(d2)
                n[:, 1] = -1.0
                return gap, n, np.zeros((len(d2), 2, 2))
            d = np.maximum(np.linalg.norm(d2, axis=1), 1e-12)
            theta = np.arctan2(np.abs(d2[:, 0]), -d2[:, 1])
            on_circle = theta <= theta_t
            sg = np.where(d2[:, 0] >= 0, 1.0, -1.0)
            nf = np.stack([sg * math.sin(theta_t), -math.cos(theta_t) * np.ones_like(sg)], 1)
            n = np.where(on_circle[:, None], d2 / d[:, None], nf)
            gap = np.where(on_circle, d - R, np.einsum("ai,ai->a", nf, d2) - R)
            H = (np.eye(2) - np.einsum("ai,aj->aij", n, n)) / d[:, None, None]
            H[~on_circle] = 0.0
            return gap, n, H

        def _kinematics(self, dx_global: np.ndarray) -> tuple[Any, Any, Any]:
            gap, n, H = self.raw(dx_global)
            n = n[:, inv]
            H = H[:, inv][:, :, inv]
            # penalty energy 1/2 lam w g^2 per node: scale g, n, H by sqrt(w)
            return gap * sqrt_w, n * sqrt_w[:, None], H * sqrt_w[:, None, None]

    lam = m.penalty * E / dx
    contact = _Indenter(field, top, cp, multiplier=lam, curvature="trial")
    sk_lat = (0, 1) if lat == 0 else (1, 0)
    sk_ver = (1, 0) if lat == 0 else (0, 1)
    bounds = {
        "bottom": fem.Boundary(u, mask=np.isclose(P[:, ver], 0.0), skip=(0, 0)),
        "axis": fem.Boundary(u, mask=np.isclose(P[:, lat], 0.0), skip=sk_lat),
        "side": fem.Boundary(u, mask=np.isclose(P[:, lat], xr[-1]), skip=sk_lat),
        "centre_lat": fem.Boundary(u, mask=idx == cp, skip=sk_lat),
        "centre_ver": fem.Boundary(u, mask=idx == cp, skip=sk_ver),
    }
    sym = 1.0 if axi else 2.0  # plane strain: the half model carries half the line load
    out: list[tuple[float, float, float, float]] = []
    t0 = time.time()
    current = 0.0
    step = deltas[0]
    completed = True
    for target in deltas:
        while current < target - 1e-12:
            trial = min(target, current + step)
            ck_solid, ck_contact = solid.checkpoint(), contact.checkpoint()
            bounds["centre_ver"].update(-s * trial)
            dof0, dof1 = fem.dof.partition(field, bounds)
            ext0 = fem.dof.apply(field, bounds, dof0)
            try:
                with np.errstate(all="ignore"):
                    fem.newtonraphson(items=[solid, contact], x0=field, dof1=dof1, dof0=dof0,
                                      ext0=ext0, tol=1e-5, maxiter=25, verbose=0,
                                      check=_newton_check, solver=_safe_solve)
                current = trial
                step = min(step * 1.5, target)
            except Exception as exc:  # felupe raises several types on divergence
                solid.restore(ck_solid)
                contact.restore(ck_contact)
                step *= 0.5
                if step < 1e-3 * target:
                    completed = False
                    if log:
                        log(f"    stopped at delta/R={current:.4f}: {type(exc).__name__}")
                    break
        if not completed:
            break
        gap, n, _ = contact.raw(contact._gap_vectors())
        x_cur = P[top] + (0.0 if linear else field[0].values[top])
        active = gap < 0
        fmag = lam * w_ref * np.maximum(-gap, 0.0)
        force = sym * float(np.sum(fmag * (-n[:, 1]))) / s
        rc = x_cur[:, lat]
        w_cur = w_ref if linear else _tributary(rc, x_cur[:, ver], axi)
        pressure = fmag / w_cur / s
        a = _contact_edge(rc, gap, active)
        out.append((target, force, a, float(pressure.max())))
        if log:
            log(f"    delta/R={target:.3f} force={force:.5g} a/R={a:.4f} "
                f"p_max/E={pressure.max():.4f} ({time.time() - t0:.1f} s)")
    arr = np.array(out, dtype=float).reshape(-1, 4)
    return FeCurve(
        shape=shape, thickness_over_r=h, linear=linear, approach_over_r=arr[:, 0],
        force=arr[:, 1], a_over_r=arr[:, 2], peak_pressure_over_e=arr[:, 3],
        n_cells=int(grid.ncells), fine_element_over_r=dx, completed=completed,
        linear_gap=linear_gap,
    )


def _tributary(r: np.ndarray, z: np.ndarray, axi: bool) -> np.ndarray:
    """Integral of each node's linear shape function over the surface polyline (area for
    axisymmetric rings 2 pi r ds, length for plane strain): exact nodal weights of a uniform
    pressure."""
    w = np.zeros(len(r))
    seg = np.hypot(np.diff(r), np.diff(z))
    if axi:
        w[:-1] += 2 * math.pi * seg * (2 * r[:-1] + r[1:]) / 6
        w[1:] += 2 * math.pi * seg * (r[:-1] + 2 * r[1:]) / 6
    else:
        w[:-1] += seg / 2
        w[1:] += seg / 2
    return w


def _contact_edge(r: np.ndarray, gap: np.ndarray, active: np.ndarray) -> float:
    """Contact half-width from the first two open gaps, assuming the Hertz-like edge shape
    g ~ (r - a)^(3/2); clamped between the last closed and the first open node."""
    if not active.any():
        return 0.0
    k = int(np.max(np.nonzero(active)[0]))
    if k >= len(r) - 2:
        return float(r[k])
    g1, g2 = gap[k + 1], gap[k + 2]
    r1, r2 = r[k + 1], r[k + 2]
    q = (g1 / g2) ** (2.0 / 3.0) if (g1 > 0 and g2 > 0) else 0.0
    a = (r1 - q * r2) / (1.0 - q) if q < 1.0 else r1
    return float(np.clip(a, r[k], r1))


def fe_hertz_check(shape: str, approaches_over_r: Sequence[float] = (0.02, 0.035, 0.05),
                   *, thickness_over_r: float = 50.0, mesh: FeMesh | None = None,
                   poisson: float = CALIBRATION_POISSON) -> dict[str, Any]:
    """Run the large-deformation FE at small approach on a thick layer and compare with Hertz.

    Sphere: force at the given approach vs Hertz (relative error). Cylinder: the plane-strain
    approach on a half-space is undefined (log term), so the contact half-width and peak
    pressure at the FE force are compared with Hertz. Returns the curve and the errors.
    """
    m = mesh or FeMesh(fine_extent_over_r=0.8, fine_elements=50)
    curve = fe_indentation_curve(shape, thickness_over_r, approaches_over_r,
                                 poisson=poisson, mesh=m)
    if shape == "sphere":
        ref = hertz_sphere(curve.approach_over_r, poisson)
        errors = {"force": curve.force / ref["force"] - 1.0,
                  "a": curve.a_over_r / ref["a"] - 1.0,
                  "peak_pressure": curve.peak_pressure_over_e / ref["p0"] - 1.0}
    else:
        ref = hertz_cylinder(curve.force, poisson)
        errors = {"a": curve.a_over_r / ref["b"] - 1.0,
                  "peak_pressure": curve.peak_pressure_over_e / ref["p0"] - 1.0}
    return {"curve": curve, "errors": {k: [float(x) for x in v] for k, v in errors.items()}}
