"""Sweep plots (matplotlib, Agg): a metric against a parameter, and the Pareto front of two
competing metrics. Written as PNG into ``OUT/plots/`` by :func:`write_sweep_plots`.

:func:`pareto_mask` and :func:`worst_case_by_variant` are plain functions over rows, so
they can be tested and reused without drawing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import write_atomic
from .spec import PlotSpec, SweepSpec

#: Metrics of the default plots (when the spec has no ``[[plots]]``) and their senses.
DEFAULT_METRICS = (("contact_area_mm2", "max"), ("peak_pressure_kpa", "min"))
#: Most parameters given default metric plots.
MAX_DEFAULT_PARAMETERS = 4

_LABELS = {
    "contact_area_mm2": "contact area (mm²)",
    "peak_pressure_kpa": "peak pressure (kPa)",
    "mean_pressure_kpa": "mean pressure (kPa)",
    "window_mean_pressure_kpa": "1 cm² window-mean pressure (kPa)",
    "ppt_ratio": "1 cm² window mean / PPT",
    "line_load_cv": "line-load CV (0 = even)",
    "edge_contact_fraction": "edge fraction in contact",
    "contact_width_mm": "contact width (mm)",
    "contact_length_mm": "contact length (mm)",
    "mass_g": "mass (g)",
}


def _label(name: str) -> str:
    return _LABELS.get(name, name)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def pareto_mask(values: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n, k).

    senses: "min" or "max" per column. A row is dominated when another row is at least as
    good in every column and strictly better in one. Ties (equal rows) are all kept.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[1] != len(senses):
        raise ValueError("values must be (n, k) with one sense per column")
    sign = np.array([1.0 if s == "min" else -1.0 for s in senses])
    w = v * sign  # all minimised
    keep = np.ones(len(w), dtype=bool)
    for i in range(len(w)):
        le = (w <= w[i]).all(axis=1)
        lt = (w < w[i]).any(axis=1)
        if (le & lt).any():
            keep[i] = False
    return keep


def worst_case_by_variant(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str],
                          senses: Sequence[str]) -> list[dict[str, Any]]:
    """One point per variant: each metric at its worst over the variant's rows (the lowest
    of a maximised metric, the highest of a minimised one). Variants with a failed row or
    a missing metric are left out (a design must work on every target)."""
    by: dict[int, list[Mapping[str, Any]]] = {}
    for r in rows:
        by.setdefault(int(r["variant"]), []).append(r)
    out = []
    for var, rs in sorted(by.items()):
        if any(r.get("status") != "ok" for r in rs):
            continue
        point: dict[str, Any] = {"variant": var}
        ok = True
        for m, s in zip(metrics, senses, strict=True):
            vals = [r.get(m) for r in rs]
            if not all(_finite(v) for v in vals):
                ok = False
                break
            point[m] = min(vals) if s == "max" else max(vals)
        if ok:
            out.append(point)
    return out


def _target(r: Mapping[str, Any]) -> str:
    return f"{r['body']}/{r['site']} {r['force_n']:g} N"


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7.0, 4.8), dpi=110)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p), force=True)
    plt.close(fig)
    return path


def plot_metric(rows: Sequence[Mapping[str, Any]], x: str, y: str, path: Path,
                title: str = "") -> Path | None:
    """``y`` against ``x`` for every finished row, one colour per body/site/force, with
    the mean over the other parameters per x value. None when there is nothing to draw."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get(x) is not None
          and _finite(r.get(y))]
    if not ok:
        return None
    categorical = not all(_finite(r[x]) for r in ok)
    cats = sorted({str(r[x]) for r in ok}) if categorical else []
    fig, ax = _figure()
    targets = sorted({_target(r) for r in ok})
    lines = False
    for tgt in targets:
        rs = [r for r in ok if _target(r) == tgt]
        xs = np.array([cats.index(str(r[x])) if categorical else float(r[x]) for r in rs])
        ys = np.array([float(r[y]) for r in rs])
        ux = np.unique(xs)
        # a line of means only where x values repeat (a grid); scattered samples stay dots
        grid_like = len(ux) < len(xs) and len(ux) <= 60
        pts = ax.scatter(xs, ys, s=14, alpha=0.45 if grid_like else 0.8,
                         label=None if grid_like else tgt)
        if grid_like:
            lines = True
            ax.plot(ux, [ys[xs == u].mean() for u in ux], "-", color=pts.get_facecolor()[0],
                    alpha=1.0, lw=1.5, label=tgt)
    if categorical:
        ax.set_xticks(range(len(cats)), cats)
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    failed = sum(1 for r in rows if r.get("status") != "ok")
    note = f" ({failed} failed rows not shown)" if failed else ""
    ax.set_title((title or f"{_label(y)} vs {_label(x)}") + note, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="line: mean over the other parameters" if lines else None,
              title_fontsize=8)
    return _save(fig, path)


def plot_pareto(points: Sequence[Mapping[str, Any]], x: str, y: str,
                senses: Sequence[str], path: Path, title: str = "") -> Path | None:
    """Scatter of ``points`` (x, y) with their Pareto front (for ``senses``) drawn and the
    front's variants labelled. None when there are no points."""
    pts = [p for p in points if _finite(p.get(x)) and _finite(p.get(y))]
    if not pts:
        return None
    v = np.array([[float(p[x]), float(p[y])] for p in pts])
    front = pareto_mask(v, senses)
    fig, ax = _figure()
    ax.scatter(v[~front, 0], v[~front, 1], s=16, color="0.6", label="dominated")
    f = v[front]
    order = np.argsort(f[:, 0])
    ax.plot(f[order, 0], f[order, 1], "o-", color="C3", ms=5, label="Pareto front")
    for i in np.flatnonzero(front)[:20]:
        ax.annotate(f"v{pts[i].get('variant', i)}", v[i], fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"{_label(x)} ({'max' if senses[0] == 'max' else 'min'})")
    ax.set_ylabel(f"{_label(y)} ({'max' if senses[1] == 'max' else 'min'})")
    ax.set_title(title or "Pareto front", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def default_plots(spec: SweepSpec) -> tuple[PlotSpec, ...]:
    """Contact area and peak pressure against each parameter (at most four), and their
    Pareto front (area maximised, peak minimised) at the worst case over the targets."""
    out = [PlotSpec("metric", p.name, m) for p in spec.parameters[:MAX_DEFAULT_PARAMETERS]
           for m, _ in DEFAULT_METRICS]
    (mx, sx), (my, sy) = DEFAULT_METRICS
    out.append(PlotSpec("pareto", mx, my, (sx, sy), "worst"))
    return tuple(out)


def _fname(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts)).strip("_") + ".png"


def write_sweep_plots(spec: SweepSpec, rows: Sequence[Mapping[str, Any]],
                      folder: Path) -> list[Path]:
    """Draw the spec's plots (or :func:`default_plots`) into ``folder``; returns the files
    written (plots without data are skipped)."""
    folder = Path(folder)
    written = []
    for ps in spec.plots or default_plots(spec):
        if ps.kind == "metric":
            p = plot_metric(rows, ps.x, ps.y, folder / _fname("metric", ps.y, "vs", ps.x),
                            f"{spec.name}: {_label(ps.y)} vs {_label(ps.x)}")
        else:
            if ps.aggregate == "worst":
                pts = worst_case_by_variant(rows, (ps.x, ps.y), ps.sense)
                title = f"{spec.name}: worst case over bodies x sites x forces"
            else:
                pts = [r for r in rows if r.get("status") == "ok"]
                title = f"{spec.name}: every row"
            p = plot_pareto(pts, ps.x, ps.y, ps.sense,
                            folder / _fname("pareto", ps.x, ps.y), title)
        if p is not None:
            written.append(p)
    return written


def plot_optimization(outcome: Any, candidates: Sequence[Mapping[str, Any]],
                      rows: Sequence[Mapping[str, Any]], settings: Any,
                      folder: Path) -> dict[str, Path]:
    """Plots of an optimisation: the objective of every feasible candidate and the best so
    far against the candidate number (infeasible ones marked at the bottom), and the Pareto
    front of the objective against the worst-case contact area of every candidate."""
    from .optimize import ROW_OBJECTIVES

    folder = Path(folder)
    out: dict[str, Path] = {}
    fig, ax = _figure()
    feas = [c for c in candidates if c["feasible"]]
    if feas:
        ax.plot([c["candidate"] for c in feas], [c["objective"] for c in feas], ".",
                color="0.5", label="feasible candidate")
        best, xs, ys = math.inf, [], []
        for c in candidates:
            if c["feasible"] and c["objective"] < best:
                best = c["objective"]
            if math.isfinite(best):
                xs.append(c["candidate"])
                ys.append(best)
        ax.step(xs, ys, where="post", color="C3", label="best so far")
    bad = [c["candidate"] for c in candidates if not c["feasible"]]
    if bad:
        lo = ax.get_ylim()[0] if feas else 0.0
        ax.plot(bad, [lo] * len(bad), "x", color="C1", label="infeasible / failed")
    metric, sign = ROW_OBJECTIVES[settings.objective]
    ax.set_xlabel("candidate")
    ax.set_ylabel(f"{settings.objective}: {settings.aggregate} of "
                  f"{'-' if sign < 0 else ''}{_label(metric)}")
    ax.set_title(f"optimisation ({outcome.candidates} candidates)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out["plot_convergence"] = _save(fig, folder / "convergence.png")
    sense = "max" if sign < 0 else "min"
    if metric != "contact_area_mm2":
        pts = worst_case_by_variant(rows, ("contact_area_mm2", metric), ("max", sense))
        p = plot_pareto(pts, "contact_area_mm2", metric, ("max", sense),
                        folder / _fname("pareto", "contact_area_mm2", metric),
                        "candidates at their worst case over the targets")
        if p is not None:
            out["plot_pareto"] = p
    return out
