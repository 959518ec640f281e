"""Tests of the FE-calibrated large-deformation correction (iastm_tools.contact.large_deformation).

Physical references: Hertz (Johnson, Contact Mechanics 1985, eqs. 4.22-4.23 sphere, 4.43
cylinder). Only the Hertz checks run the FE (felupe, < 20 s together); everything else reads
the shipped table.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iastm_tools.contact import large_deformation as ld
from iastm_tools.errors import IastmError


@pytest.fixture(scope="module")
def hertz_sphere_check() -> dict:
    return ld.fe_hertz_check("sphere")


@pytest.fixture(scope="module")
def hertz_cylinder_check() -> dict:
    return ld.fe_hertz_check("cylinder")


@pytest.fixture(scope="module")
def table() -> dict:
    return ld.load_calibration()


# ------------------------------------------------------------------ FE vs Hertz (runs felupe)


def test_fe_sphere_reproduces_hertz_within_3_percent(hertz_sphere_check: dict) -> None:
    """Large-deformation FE, rigid sphere on a thick neo-Hookean layer (h/R = 50, nu = 0.49),
    delta/R = 0.02-0.05: force, contact radius and peak pressure within 3 % of Hertz."""
    errors = hertz_sphere_check["errors"]
    assert hertz_sphere_check["curve"].completed
    for key in ("force", "a", "peak_pressure"):
        assert max(abs(e) for e in errors[key]) < 0.03, (key, errors[key])


def test_fe_cylinder_reproduces_hertz(hertz_cylinder_check: dict) -> None:
    """Plane-strain cylinder, same layer: peak pressure at the FE line load within 3 % of
    Hertz; contact half-width within 5 % (only ~6 fine elements across b at delta/R = 0.02)."""
    errors = hertz_cylinder_check["errors"]
    assert max(abs(e) for e in errors["peak_pressure"]) < 0.03, errors
    assert max(abs(e) for e in errors["a"]) < 0.05, errors


def test_linear_fe_reference_reproduces_hertz() -> None:
    """The small-strain FE reference (the denominator of every factor) gives the Hertz force
    within 3 % at delta/R = 0.02 and 0.05 on a thick layer (h/R = 50)."""
    deltas = (0.02, 0.05)
    curve = ld.fe_indentation_curve("sphere", 50.0, deltas, linear=True,
                                    linear_gap="paraboloid",
                                    mesh=ld.FeMesh(fine_extent_over_r=0.8, fine_elements=50))
    ref = ld.hertz_sphere(np.array(deltas), ld.CALIBRATION_POISSON)
    np.testing.assert_allclose(curve.force, ref["force"], rtol=0.03)
    np.testing.assert_allclose(curve.a_over_r, ref["a"], rtol=0.03)


def test_fe_rejects_bad_input() -> None:
    with pytest.raises(IastmError, match="shape"):
        ld.fe_indentation_curve("cone", 1.0, (0.1,))
    with pytest.raises(IastmError, match="increasing"):
        ld.fe_indentation_curve("sphere", 1.0, (0.2, 0.1))
    with pytest.raises(IastmError, match="fine_elements"):
        ld.FeMesh(fine_elements=2)


# ------------------------------------------------------------------ shipped data


def test_data_schema_and_provenance(table: dict) -> None:
    """The data file has the documented schema and says how it was made."""
    ld.validate_calibration(table)
    prov = table["provenance"]
    for key in ("felupe_version", "date_utc", "mesh_small", "mesh_large", "poisson",
                "thickness_over_r", "hertz_check", "generator", "indenter", "material"):
        assert key in prov, key
    assert prov["poisson"] == ld.CALIBRATION_POISSON
    assert table["approach_over_r"][-1] >= ld.APPROACH_OVER_R_MAX
    for gap, shape in ((g, sh) for g in ld.LINEAR_GAPS for sh in ld.SHAPES):
        hs = sorted(c["thickness_over_r"] for c in table["tables"][gap][shape])
        assert hs[0] <= 0.5 and hs[-1] >= 20.0  # thin (a/h ~ 1) to thick (a/h ~ 0)
        assert len(table["raw_curves"][shape]) == len(hs)


def test_shipped_hertz_check_within_3_percent(table: dict) -> None:
    """The calibration run itself recorded the Hertz check before trusting large loads."""
    chk = table["provenance"]["hertz_check"]
    assert max(abs(e) for e in chk["sphere"]["relative_errors"]["force"]) < 0.03
    assert max(abs(e) for e in chk["cylinder"]["relative_errors"]["peak_pressure"]) < 0.03


def test_table_covers_the_requested_range(table: dict) -> None:
    """Both shapes: thick layer calibrated from delta/R = 0.02 to 2; some layer reaches
    a/h >= 1 at small approach."""
    rows = np.array(table["approach_over_r"])
    for gap, shape in ((g, sh) for g in ld.LINEAR_GAPS for sh in ld.SHAPES):
        cols = table["tables"][gap][shape]
        thick = max(cols, key=lambda c: c["thickness_over_r"])
        ff = np.array([np.nan if v is None else v for v in thick["force_factor"]])
        assert np.all(np.isfinite(ff[(rows > 0) & (rows <= 2.0)])), shape
        max_ah = max(max(v for v in c["a_over_h"] if v is not None) for c in cols)
        assert max_ah >= 0.9, (shape, max_ah)


def test_a_over_h_is_consistent(table: dict) -> None:
    """a_lin/h grows with the approach in every column and with a thinner layer at a fixed
    approach (needed for the interpolation in a/h to be single-valued)."""
    for gap, shape in ((g, sh) for g in ld.LINEAR_GAPS for sh in ld.SHAPES):
        cols = sorted(table["tables"][gap][shape], key=lambda c: -c["thickness_over_r"])
        grid = np.array([[np.nan if v is None else v for v in c["a_over_h"]] for c in cols])
        for row in grid:
            finite = row[np.isfinite(row)]
            assert np.all(np.diff(finite) > 0)
        for j in range(1, grid.shape[1]):
            finite = grid[:, j][np.isfinite(grid[:, j])]
            assert np.all(np.diff(finite) > 0)


# ------------------------------------------------------------------ correction()


@pytest.mark.parametrize("gap", ld.LINEAR_GAPS)
@pytest.mark.parametrize("shape", ld.SHAPES)
def test_factors_tend_to_one_at_small_approach(shape: str, gap: str) -> None:
    """Small-strain limit: every factor -> 1 as delta/R -> 0 (within 1e-3 at delta/R=1e-4,
    within 5 % at the first calibrated row delta/R = 0.02)."""
    for d, tol in ((1e-4, 1e-3), (0.02, 0.05)):
        c = ld.correction(shape, d, 0.0 if shape == "sphere" else 0.001, linear_gap=gap)
        assert c is not None
        for name in ld.FACTOR_NAMES:
            assert abs(getattr(c, name) - 1.0) < tol, (d, name, getattr(c, name))


@pytest.mark.parametrize("shape", ld.SHAPES)
def test_none_outside_calibrated_range(shape: str) -> None:
    assert ld.correction(shape, ld.APPROACH_OVER_R_MAX * 1.01, 0.0) is None
    assert ld.correction(shape, 0.5, 50.0) is None  # layer far thinner than calibrated
    assert ld.correction(shape, 2.0, 0.9) is None  # deep indentation of a thin layer
    assert ld.correction(shape, 0.05, ld.A_OVER_H_MAX * 1.01) is None  # beyond A_OVER_H_MAX


def test_correction_reproduces_table_nodes(table: dict) -> None:
    """At a table node (thick column, a/h at that node) the interpolation returns the node."""
    rows = table["approach_over_r"]
    col = max(table["tables"]["exact"]["sphere"], key=lambda c: c["thickness_over_r"])
    for i in (2, 5, 8):
        c = ld.correction("sphere", rows[i], col["a_over_h"][i])
        assert c is not None
        assert math.isclose(c.force_factor, col["force_factor"][i], rel_tol=1e-6)
        assert math.isclose(c.pressure_factor, col["pressure_factor"][i], rel_tol=1e-6)


def test_linear_references_are_consistent(table: dict) -> None:
    """force_factor(paraboloid) / force_factor(exact) = F_lin,exact / F_lin,paraboloid at the
    same approach: checked against the stored raw linear curves (thick sphere, delta/R = 1),
    within 1e-3. At delta/R = 1 the circle lies above its paraboloid, so the exact-profile
    linear force is the smaller one (ratio < 1)."""
    raw = max(table["raw_curves"]["sphere"], key=lambda c: c["thickness_over_r"])
    ex, par = raw["large_exact"], raw["large_paraboloid"]
    i = ex["approach_over_r"].index(1.0)
    expected = ex["force"][i] / par["force"][i]
    cp = ld.correction("sphere", 1.0, 0.0, linear_gap="paraboloid")
    ce = ld.correction("sphere", 1.0, 0.0, linear_gap="exact")
    assert cp is not None and ce is not None
    assert math.isclose(cp.force_factor / ce.force_factor, expected, rel_tol=1e-3)
    assert expected < 1.0


def test_half_space_flags() -> None:
    """Sphere on a half-space is calibrated; a plane-strain approach on a half-space is not
    defined, so the cylinder answer is flagged in_range=False with a note."""
    s = ld.correction("sphere", 1.0, 0.0)
    c = ld.correction("cylinder", 1.0, 0.0)
    assert s is not None and s.in_range
    assert c is not None and not c.in_range and "half-space" in c.note
    assert s.regime == "deep" and "deep" in s.note


def test_correction_rejects_bad_input() -> None:
    with pytest.raises(IastmError, match="shape"):
        ld.correction("cone", 0.1, 0.0)
    with pytest.raises(IastmError, match="approach_over_r"):
        ld.correction("sphere", -0.1, 0.0)
    with pytest.raises(IastmError, match="a_over_h"):
        ld.correction("sphere", 0.1, float("nan"))
    with pytest.raises(IastmError, match="linear_gap"):
        ld.correction("sphere", 0.1, 0.0, linear_gap="cone")


@settings(max_examples=200, deadline=None)
@given(shape=st.sampled_from(ld.SHAPES), gap=st.sampled_from(ld.LINEAR_GAPS),
       d=st.floats(0.0, 2.0), ah=st.floats(0.0, 1.2))
def test_correction_is_finite_and_bounded(shape: str, gap: str, d: float, ah: float) -> None:
    """Anywhere in (or near) the range: None, or finite factors within a physical band."""
    c = ld.correction(shape, d, ah, linear_gap=gap)
    if c is None:
        return
    for name in ld.FACTOR_NAMES:
        v = getattr(c, name)
        assert math.isfinite(v) and 0.2 < v < 5.0, (name, v)


@settings(max_examples=100, deadline=None)
@given(shape=st.sampled_from(ld.SHAPES), d=st.floats(0.0, 1.99), ah=st.floats(0.0, 0.3))
def test_correction_is_continuous_in_approach(shape: str, d: float, ah: float) -> None:
    """Piecewise-linear interpolation: a 1e-4 step in delta/R moves no factor by > 1e-2."""
    c0, c1 = ld.correction(shape, d, ah), ld.correction(shape, d + 1e-4, ah)
    if c0 is None or c1 is None:
        return
    for name in ld.FACTOR_NAMES:
        assert abs(getattr(c0, name) - getattr(c1, name)) < 1e-2


# ------------------------------------------------------------------ regime()


def test_regime_thresholds() -> None:
    assert ld.regime(0.05, 0.2) == "hertz"
    assert ld.regime(0.05, 0.5) == "intermediate"  # wide contact already leaves Hertz
    assert ld.regime(0.5, 0.7) == "intermediate"
    assert ld.regime(1.0, 1.0) == "deep"
    assert ld.regime(2.0, 1.5) == "deep"
    with pytest.raises(IastmError):
        ld.regime(-1.0, 0.0)


@given(d0=st.floats(0, 5), dd=st.floats(0, 5), a=st.floats(0, 5))
def test_regime_is_monotone_in_approach(d0: float, dd: float, a: float) -> None:
    order = {"hertz": 0, "intermediate": 1, "deep": 2}
    assert order[ld.regime(d0, a)] <= order[ld.regime(d0 + dd, a)]
