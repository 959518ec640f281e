"""Regenerate src/iastm_tools/data/large_deformation_calibration.json from the FE reference.

Runs felupe (optional extra ``calibration``: ``pip install -e .[calibration]``): for each shape
(axisymmetric sphere, plane-strain cylinder) and layer thickness h/R it indents a nearly
incompressible neo-Hookean layer on a rigid base with the rigid edge (large deformation) and
the same model in its small-strain limit (linear references: the same edge profile, "exact",
and the Hertz paraboloid), on two meshes
(fine for delta/R <= 0.2, wide for larger approaches), then tabulates the correction factors
on the linear state (delta_lin/R, a_lin/h). Prints progress and the Hertz check.
Takes about 10-20 minutes on 2 cores.

Usage: python scripts/calibrate_large_deformation.py [--out PATH] [--force] [--workers N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from iastm_tools.contact import large_deformation as ld
from iastm_tools.fileio import write_text_atomic

THICKNESS_OVER_R = (50.0, 10.0, 5.0, 2.5, 1.25, 0.6, 0.3)
ROWS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
SMALL_ROW_MAX = 0.2  # rows <= this come from the fine mesh
MESH_SMALL = ld.FeMesh(fine_extent_over_r=0.9, fine_elements=45)
MESH_LARGE = ld.FeMesh(fine_extent_over_r=3.5, fine_elements=70)
DELTAS_SMALL = (0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3)
DELTAS_SMALL_LIN = (*DELTAS_SMALL, 0.35, 0.45, 0.6)
DELTAS_LARGE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5)
DELTAS_LARGE_LIN = (*DELTAS_LARGE, 2.75, 3.0, 3.5, 4.0)


KINDS = ("fe", *ld.LINEAR_GAPS)  # large-deformation run, then the linear references


def _job(args: tuple[str, float, str, str]) -> dict:
    shape, h, which, kind = args
    linear = kind != "fe"
    mesh = MESH_SMALL if which == "small" else MESH_LARGE
    deltas = (DELTAS_SMALL_LIN if linear else DELTAS_SMALL) if which == "small" else (
        DELTAS_LARGE_LIN if linear else DELTAS_LARGE)
    if not linear:
        cap = ld.MAX_APPROACH_OVER_H * h * 1.05
        deltas = tuple(d for d in deltas if d <= cap)
    t0 = time.time()
    if not deltas:
        return {"key": args, "curve": None, "seconds": 0.0}
    curve = ld.fe_indentation_curve(shape, h, deltas, linear=linear, mesh=mesh,
                                    linear_gap=kind if linear else "exact")
    return {"key": args, "curve": curve, "seconds": time.time() - t0}


def _loginterp(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """Interpolate y(x) on a log-log scale (power-law curves); NaN outside [xs0, xs-1]."""
    ok = (xs > 0) & (ys > 0) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    if xs.size < 2 or x < xs[0] * (1 - 1e-12) or x > xs[-1] * (1 + 1e-12):
        return math.nan
    return float(np.exp(np.interp(math.log(x), np.log(xs), np.log(ys))))


def factors_at(delta_lin: float, nl: ld.FeCurve, lin: ld.FeCurve, h: float) -> dict:
    """Correction factors at the linear state delta_lin (definitions: module docstring)."""
    f_lin = _loginterp(delta_lin, lin.approach_over_r, lin.force)
    a_lin = _loginterp(delta_lin, lin.approach_over_r, lin.a_over_r)
    p_lin = _loginterp(delta_lin, lin.approach_over_r, lin.peak_pressure_over_e)
    f_nl_same_d = _loginterp(delta_lin, nl.approach_over_r, nl.force)
    # same force: delta_FE where F_FE = F_lin (F_FE increases with delta)
    d_nl = _loginterp(f_lin, nl.force, nl.approach_over_r) if math.isfinite(f_lin) else math.nan
    a_nl = _loginterp(d_nl, nl.approach_over_r, nl.a_over_r) if math.isfinite(d_nl) else math.nan
    p_nl = (_loginterp(d_nl, nl.approach_over_r, nl.peak_pressure_over_e)
            if math.isfinite(d_nl) else math.nan)
    return {
        "a_over_h": a_lin / h,
        "force_factor": f_nl_same_d / f_lin,
        "pressure_factor": p_nl / p_lin,
        "width_factor": a_nl / a_lin,
        "approach_factor": d_nl / delta_lin,
        "force_linear": f_lin,
    }


def _clean(v: float) -> float | None:
    return None if not math.isfinite(v) else round(float(v), 5)


def _curve_json(c: ld.FeCurve | None) -> dict | None:
    if c is None:
        return None
    return {"approach_over_r": [round(float(x), 6) for x in c.approach_over_r],
            "force": [float(f"{x:.6g}") for x in c.force],
            "a_over_r": [round(float(x), 6) for x in c.a_over_r],
            "peak_pressure_over_e": [round(float(x), 6) for x in c.peak_pressure_over_e],
            "n_cells": c.n_cells, "fine_element_over_r": round(c.fine_element_over_r, 6),
            "completed": c.completed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ld.data_path())
    ap.add_argument("--force", action="store_true", help="overwrite an existing file")
    ap.add_argument("--workers", type=int, default=2)
    ns = ap.parse_args(argv)
    import felupe

    t_start = time.time()
    print("Hertz check (thick layer h/R=50, small approach, large-deformation FE):", flush=True)
    hertz = {}
    for shape in ld.SHAPES:
        chk = ld.fe_hertz_check(shape)
        hertz[shape] = {"approach_over_r": [float(x) for x in chk["curve"].approach_over_r],
                        "relative_errors": chk["errors"]}
        for k, v in chk["errors"].items():
            print(f"  {shape:8s} {k:14s} " + " ".join(f"{100 * e:+.2f}%" for e in v), flush=True)
    jobs = [(shape, h, which, kind) for shape in ld.SHAPES for h in THICKNESS_OVER_R
            for which in ("small", "large") for kind in KINDS]
    results: dict[tuple, dict] = {}
    with ProcessPoolExecutor(max_workers=ns.workers) as pool:
        for i, res in enumerate(pool.map(_job, jobs), 1):
            results[res["key"]] = res
            c = res["curve"]
            last = "-" if c is None or not len(c.approach_over_r) else (
                f"{c.approach_over_r[-1]:.3f}")
            print(f"[{i:2d}/{len(jobs)}] {res['key']}: reached delta/R={last} "
                  f"{'' if c is None or c.completed else '(stopped early) '}"
                  f"in {res['seconds']:.1f} s", flush=True)
    rows = np.array(ROWS)
    tables: dict[str, dict[str, list]] = {gap: {} for gap in ld.LINEAR_GAPS}
    raw_out: dict[str, list] = {}
    for gap, shape in ((g, sh) for g in ld.LINEAR_GAPS for sh in ld.SHAPES):
        cols = []
        for h in THICKNESS_OVER_R:
            col = {k: [] for k in ("a_over_h", *ld.FACTOR_NAMES)}
            for d in rows:
                if d == 0.0:
                    vals = {k: 1.0 for k in ld.FACTOR_NAMES}
                    vals["a_over_h"] = 0.0
                else:
                    which = "small" if d <= SMALL_ROW_MAX + 1e-12 else "large"
                    nl = results[(shape, h, which, "fe")]["curve"]
                    lin = results[(shape, h, which, gap)]["curve"]
                    if nl is None or lin is None or len(nl.approach_over_r) < 2:
                        vals = {k: math.nan for k in col}
                    else:
                        vals = factors_at(float(d), nl, lin, h)
                    if not all(math.isfinite(vals[k]) for k in ("a_over_h", *ld.FACTOR_NAMES)):
                        vals = {k: math.nan for k in col}
                for k in col:
                    col[k].append(_clean(vals[k]))
            cols.append({"thickness_over_r": h, **col})
        tables[gap][shape] = cols
    for shape in ld.SHAPES:
        raw_out[shape] = [
            {"thickness_over_r": h, **{
                f"{which}_{kind}": _curve_json(results[(shape, h, which, kind)]["curve"])
                for which in ("small", "large") for kind in KINDS}}
            for h in THICKNESS_OVER_R]
    data = {
        "schema_version": ld.SCHEMA_VERSION,
        "description": "Large-deformation correction factors at a linear state "
                       "(delta_lin/R, a_lin/h); see docs/large_deformation.md.",
        "approach_over_r": list(ROWS),
        "tables": tables,
        "provenance": {
            "generator": "scripts/calibrate_large_deformation.py",
            "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "felupe_version": felupe.__version__,
            "numpy_version": np.__version__,
            "python": platform.python_version(),
            "poisson": ld.CALIBRATION_POISSON,
            "material": "neo-Hookean, mu=E/(2(1+nu)), bulk K=E/(3(1-2nu)), felupe "
                        "SolidBodyNearlyIncompressible (Q1/P0 Hu-Washizu)",
            "indenter": f"rigid, frictionless; apex circle radius R plus tangent flanks at "
                        f"{ld.FLANK_HALF_ANGLE_DEG} deg half-angle; node-to-rigid penalty",
            "linear_reference": "same mesh, small-strain limit (displacements x1e-3), "
                                "linearised contact (vertical normal, gap at the undeformed "
                                "radius); tables.exact: the same edge profile; "
                                "tables.paraboloid: the Hertz gap r^2/(2R)",
            "layer": "bonded to a rigid base; symmetric half model; lateral roller at "
                     "max(6h, 15R)",
            "thickness_over_r": list(THICKNESS_OVER_R),
            "max_approach_over_h": ld.MAX_APPROACH_OVER_H,
            "mesh_small": asdict(MESH_SMALL), "mesh_large": asdict(MESH_LARGE),
            "rows_from_small_mesh_up_to": SMALL_ROW_MAX,
            "hertz_check": hertz,
            "runtime_s": round(time.time() - t_start, 1),
        },
        "raw_curves": raw_out,
    }
    text = json.dumps(data, indent=1)
    write_text_atomic(ns.out, text + "\n", force=ns.force)
    ns.out.chmod(0o644)  # package data: readable by all (the atomic temp file is 0600)
    print(f"wrote {ns.out} ({len(text) / 1024:.0f} KiB) in {time.time() - t_start:.0f} s")
    for gap, shape in ((g, sh) for g in ld.LINEAR_GAPS for sh in ld.SHAPES):
        print(f"\n{shape} vs linear {gap}: force / pressure / width factor (thickest layer "
              f"h/R={THICKNESS_OVER_R[0]:g})")
        col = tables[gap][shape][0]
        for i, d in enumerate(ROWS):
            print(f"  delta/R={d:5.2f}  a/h={col['a_over_h'][i]}  F {col['force_factor'][i]}  "
                  f"p {col['pressure_factor'][i]}  a {col['width_factor'][i]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
