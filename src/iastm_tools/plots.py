"""Matplotlib charts of fit results (issue 6): pure functions that return Figures.

Every function takes fit results (:class:`~iastm_tools.fit.ContourFit` /
:class:`~iastm_tools.fit.FitResult`) and returns a :class:`matplotlib.figure.Figure` built
without ``pyplot`` (no global state, no display needed: the Agg canvas renders it), so the
same figure shows inline in Jupyter, goes into the HTML report as a PNG, or is saved with
:func:`save_figure` (atomic, never overwrites without ``force``).

Units: mm, N, kPa. The site's pressure-pain threshold (PPT, ``ContourFit.ppt_kpa``) is
drawn as a dashed red line wherever a pressure is shown; it is a 1 cm^2-probe threshold, so
a peak above it over a small area is not by itself painful (see docs/fit.md).

Charts:

* :func:`pressure_along_edge` - line load (N/mm) vs arc length, and the peak pressure
  across the edge (kPa) vs position along it, for each contour.
* :func:`cross_edge_profile` - pressure (kPa) across the edge through the most loaded
  station, with the undeformed gap (mm).
* :func:`force_vs_approach` - force (N) vs approach depth (mm) of the best pose (solves the
  contact at a few approaches with the fit's own model and tissue).
* :func:`pressure_map` - the pressure field (kPa) on the contact grid, PPT iso-line.
* :func:`comparison_chart` - best-edge contact area, peak and 1 cm^2 pressure across tools
  and sites.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import IastmError
from .fileio import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .fit import ContourFit, FitResult

#: Colours (matplotlib tab10) cycled over contours / sites, and the PPT line colour.
PPT_COLOR = "#d62728"
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
#: Pressure colour map used by every chart and the 3D preview (perceptually uniform).
PRESSURE_CMAP = "inferno"
#: Default figure size (inches) and resolution (dots per inch) of report PNGs.
FIGSIZE_IN = (6.4, 3.6)
DPI = 110
N_PER_KPA_MM2 = 1e-3


def _figure(figsize: tuple[float, float] = FIGSIZE_IN, ncols: int = 1, **kw: Any):
    """A pyplot-free Figure on an Agg canvas, with ``ncols`` axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False, **kw)[0]
    for ax in axes:
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    return fig, axes


def _axes(ax: Any, figsize: tuple[float, float] = FIGSIZE_IN):
    """(figure, axes): the given axes and their figure, or a new single-axes figure."""
    if ax is not None:
        return ax.figure, ax
    fig, (new,) = _figure(figsize)
    return fig, new


def _contours(fits: Any) -> list[ContourFit]:
    """A FitResult, one ContourFit or a sequence of them -> list of ContourFit."""
    if hasattr(fits, "contours"):
        return list(fits.contours)
    if hasattr(fits, "pose"):
        return [fits]
    out = list(fits)
    if not out:
        raise IastmError("plots: no contour fits given")
    return out


def _field(cf: ContourFit) -> tuple[np.ndarray, float, float]:
    """Pressure field (kPa) and grid spacing (mm) of a contour fit; needs the in-memory
    contact result (a fit loaded from JSON has none)."""
    if cf.contact is None:
        raise IastmError(f"contour {cf.contour}: no pressure field (a fit loaded from JSON "
                         "keeps only its summary); re-run the fit to plot it")
    p = np.asarray(cf.contact.pressure_kpa, dtype=float)
    dx, dy = (float(s) for s in cf.grid_spacing_mm)
    return p, dx, dy


def _ppt_line(ax, ppt_kpa: float | None, horizontal: bool = True) -> None:
    if ppt_kpa:
        (ax.axhline if horizontal else ax.axvline)(
            ppt_kpa, color=PPT_COLOR, linestyle="--", linewidth=1.2,
            label=f"PPT {ppt_kpa:.0f} kPa")


def pressure_along_edge(fits: Any, *, title: str | None = None) -> Figure:
    """Load along each working edge: line load (N/mm) vs arc length (mm) on the left,
    peak pressure across the edge (kPa) vs position along it on the right.

    The line load is the fit's own read-out (every loaded pixel projected onto the edge,
    see docs/fit.md); the right panel is the maximum of the pressure field over each grid
    column across the edge, plotted against the column's position along the edge (mm from
    the contour's middle, the edge-frame y axis), with the site's PPT.
    """
    cfs = _contours(fits)
    fig, (ax_l, ax_p) = _figure((FIGSIZE_IN[0] * 1.5, FIGSIZE_IN[1]), ncols=2)
    ppt = None
    for i, cf in enumerate(cfs):
        col = _COLORS[i % len(_COLORS)]
        ax_l.plot(cf.arc_length_mm, cf.line_load_n_per_mm, color=col, linewidth=1.5,
                  label=cf.contour)
        if cf.contact is not None:
            p, _dx, dy = _field(cf)
            peak = p.max(axis=0)
            y = (np.arange(p.shape[1]) - (p.shape[1] - 1) / 2.0) * dy
            loaded = np.flatnonzero(peak > 0)
            if len(loaded):
                sl = slice(max(loaded[0] - 2, 0), min(loaded[-1] + 3, len(peak)))
                ax_p.plot(y[sl], peak[sl], color=col, linewidth=1.2, label=cf.contour)
        ppt = ppt or cf.ppt_kpa
    _ppt_line(ax_p, ppt)
    ax_l.set_xlabel("arc length along the edge (mm)")
    ax_l.set_ylabel("line load (N/mm)")
    ax_l.set_ylim(bottom=0)
    ax_p.set_xlabel("position along the edge, from the grid centre (mm)")
    ax_p.set_ylabel("peak pressure across the edge (kPa)")
    ax_p.set_ylim(bottom=0)
    ax_l.legend(fontsize=8, loc="best")
    if ppt or len(cfs) > 1:
        ax_p.legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def cross_edge_profile(cf: ContourFit, *, title: str | None = None, ax: Any = None) -> Figure:
    """Pressure (kPa) across the edge (the stroke direction, edge-frame x) through the grid
    column that carries the most load, with the undeformed gap (mm) on a second axis.
    ``ax``: draw into these axes (the figure returned is theirs)."""
    p, dx, _dy = _field(cf)
    j = int(np.argmax(p.sum(axis=0)))
    prof = p[:, j]
    x = (np.arange(p.shape[0]) - float(np.argmax(prof))) * dx
    loaded = np.flatnonzero(prof > 0)
    half = max(3.0 * (loaded[-1] - loaded[0] + 1) * dx if len(loaded) else 1.0, 4 * dx)
    keep = np.abs(x) <= half
    fig, ax = _axes(ax)
    ax.fill_between(x[keep], prof[keep], color="#f4a259", alpha=0.35, linewidth=0)
    ax.plot(x[keep], prof[keep], color="#c44e00", linewidth=1.6, label="pressure")
    _ppt_line(ax, cf.ppt_kpa)
    ax.set_xlabel("across the edge, from the pressure peak (mm)")
    ax.set_ylabel("pressure (kPa)")
    ax.set_ylim(bottom=0, top=max(float(prof.max()), cf.ppt_kpa or 0.0) * 1.15 or 1.0)
    gap = getattr(cf, "gap_mm", None)
    if gap is not None:
        g = np.asarray(gap, dtype=float)[:, j]
        ax2 = ax.twinx()
        ax2.plot(x[keep], g[keep], color="#555555", linewidth=1.0, linestyle=":",
                 label="undeformed gap")
        ax2.set_ylabel("undeformed gap (mm)")
        ax2.set_ylim(bottom=0)
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper right")
    else:
        ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title or f"{cf.contour}: pressure across the edge", fontsize=10)
    return fig


def approach_curve(cf: ContourFit, n_points: int = 6,
                   max_factor: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Force (N) at ``n_points`` approach depths (mm) up to ``max_factor`` x the fitted
    approach, solved on the best pose's gap with the fit's own model and tissue.

    Returns (approach_mm, force_n), the origin included. Winkler fits reuse the fitted
    foundation stiffness k = p_peak / approach (exact for a Winkler solve). Needs the
    in-memory fit (``cf.gap_mm`` and ``cf.stack``).
    """
    from .contact import solve

    gap = getattr(cf, "gap_mm", None)
    stack = getattr(cf, "stack", None)
    if gap is None or stack is None or cf.contact is None:
        raise IastmError(f"contour {cf.contour}: force vs approach needs the in-memory fit "
                         "(gap and tissue stack); re-run the fit")
    if not (isinstance(n_points, int) and 2 <= n_points <= 50):
        raise IastmError(f"n_points must be an integer in [2, 50] (got {n_points!r})")
    d_fit = float(cf.approach_mm)
    if not (d_fit > 0 and math.isfinite(d_fit)):
        raise IastmError(f"contour {cf.contour}: fitted approach {d_fit!r} mm is not positive")
    k = None
    if cf.model == "winkler":
        k = float(cf.contact.peak_pressure_kpa) / d_fit
    depths = np.linspace(0.0, max_factor * d_fit, n_points + 1)
    forces = [0.0]
    for d in depths[1:]:
        r = solve(np.asarray(gap, dtype=float), tuple(cf.grid_spacing_mm), stack,
                  approach_mm=float(d), model=cf.model, check_grid=False,
                  winkler_k_kpa_per_mm=k)
        forces.append(float(r.force_n))
    return depths, np.asarray(forces)


def force_vs_approach(cf: ContourFit, *, n_points: int = 6, curve: Any = None,
                      title: str | None = None, ax: Any = None) -> Figure:
    """Force (N) vs approach depth (mm) of the best pose of one edge, the fitted point
    marked. ``curve``: a precomputed ``(approach_mm, force_n)`` from :func:`approach_curve`.
    """
    d, f = curve if curve is not None else approach_curve(cf, n_points)
    fig, ax = _axes(ax)
    ax.plot(d, f, color="#1f77b4", marker="o", markersize=4, linewidth=1.5,
            label=f"{cf.model} model")
    ax.plot([cf.approach_mm], [cf.force_n], marker="*", markersize=12, color=PPT_COLOR,
            linestyle="none", label=f"fit: {cf.force_n:.3g} N at {cf.approach_mm:.3g} mm")
    ax.set_xlabel("approach depth (mm)")
    ax.set_ylabel("normal force (N)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title or f"{cf.contour}: force vs approach", fontsize=10)
    return fig


def pressure_map(cf: ContourFit, *, title: str | None = None, ax: Any = None) -> Figure:
    """The pressure field (kPa) on the contact grid around the contact (x across the edge,
    y along it, mm), with the PPT iso-line when the peak exceeds it."""
    from matplotlib.colors import Normalize

    p, dx, dy = _field(cf)
    ii, jj = np.nonzero(p > 0)
    if len(ii):
        pad_i = max(3, (ii.max() - ii.min()) // 2)
        pad_j = max(3, (jj.max() - jj.min()) // 10)
        i0, i1 = max(ii.min() - pad_i, 0), min(ii.max() + pad_i + 1, p.shape[0])
        j0, j1 = max(jj.min() - pad_j, 0), min(jj.max() + pad_j + 1, p.shape[1])
    else:
        i0, i1, j0, j1 = 0, p.shape[0], 0, p.shape[1]
    sub = p[i0:i1, j0:j1]
    xc = (p.shape[0] - 1) / 2.0
    yc = (p.shape[1] - 1) / 2.0
    extent = ((j0 - 0.5 - yc) * dy, (j1 - 0.5 - yc) * dy,
              (i0 - 0.5 - xc) * dx, (i1 - 0.5 - xc) * dx)
    vmax = max(float(sub.max()), cf.ppt_kpa or 0.0, 1e-9)
    fig, ax = _axes(ax, (FIGSIZE_IN[0] * 1.5, FIGSIZE_IN[1] * 0.9))
    ax.grid(False)
    im = ax.imshow(sub, origin="lower", aspect="auto", extent=extent, cmap=PRESSURE_CMAP,
                   norm=Normalize(0.0, vmax), interpolation="nearest")
    cb = fig.colorbar(im, ax=ax, pad=0.01)
    cb.set_label("pressure (kPa)")
    if cf.ppt_kpa:
        cb.ax.axhline(cf.ppt_kpa, color="#00e5ff", linewidth=2.0)
        cb.ax.text(1.6, cf.ppt_kpa, "PPT", transform=cb.ax.get_yaxis_transform(),
                   va="center", fontsize=7, color="#007c8a")
        if sub.max() > cf.ppt_kpa and min(sub.shape) >= 2:
            y = extent[0] + (np.arange(sub.shape[1]) + 0.5) * dy
            x = extent[2] + (np.arange(sub.shape[0]) + 0.5) * dx
            ax.contour(y, x, sub, levels=[cf.ppt_kpa], colors="#00e5ff", linewidths=0.8)
    ax.set_xlabel("along the edge (mm)")
    ax.set_ylabel("across the edge (mm)")
    ax.set_title(title or f"{cf.contour}: pressure on the skin (peak "
                 f"{cf.peak_pressure_kpa:.0f} kPa)", fontsize=10)
    return fig


def contour_panel(cf: ContourFit, *, n_points: int = 5, curve: Any = None) -> Figure:
    """One figure per edge for reports: the pressure map on top, the cross-edge profile
    and force vs approach below (one PNG instead of three: a third of the render time).
    Force vs approach is left out (with a note) when the fit lacks the gap or tissue."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(FIGSIZE_IN[0] * 1.6, FIGSIZE_IN[1] * 1.9), dpi=DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(2, 2, height_ratios=(1.0, 1.1))
    ax_map = fig.add_subplot(gs[0, :])
    ax_cross = fig.add_subplot(gs[1, 0])
    ax_force = fig.add_subplot(gs[1, 1])
    for ax in (ax_cross, ax_force):
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    pressure_map(cf, ax=ax_map)
    cross_edge_profile(cf, ax=ax_cross, title="pressure across the edge")
    try:
        force_vs_approach(cf, n_points=n_points, curve=curve, ax=ax_force,
                          title="force vs approach")
    except IastmError as exc:
        ax_force.text(0.5, 0.5, f"force vs approach not available:\n{exc}", ha="center",
                      va="center", fontsize=8, wrap=True, transform=ax_force.transAxes)
        ax_force.set_axis_off()
    return fig


#: Quantities of :func:`comparison_chart`: (ContourFit attribute, axis label).
COMPARISON_METRICS = (
    ("contact_area_mm2", "contact area (mm²)"),
    ("peak_pressure_kpa", "peak pressure (kPa)"),
    ("window_mean_pressure_kpa", "1 cm² mean pressure (kPa)"),
)


def comparison_chart(results: Sequence[FitResult], *, title: str | None = None,
                     metrics: Sequence[tuple[str, str]] = COMPARISON_METRICS) -> Figure:
    """Grouped horizontal bars of the best edge of every tool (rows) on every site (one
    colour per site), one panel per metric; PPT marked on pressure panels."""
    results = list(results)
    if not results:
        raise IastmError("comparison_chart: no fit results given")
    tools = list(dict.fromkeys(r.tool for r in results))
    sites = list(dict.fromkeys(r.site for r in results))
    by = {(r.tool, r.site): r for r in results}
    height = max(2.4, 0.32 * len(tools) * max(len(sites), 1) + 1.2)
    fig, axes = _figure((3.3 * len(metrics) + 1.4, height), ncols=len(metrics), sharey=True)
    bar = 0.8 / len(sites)
    y = np.arange(len(tools))
    for ax, (attr, label) in zip(axes, metrics, strict=True):
        for k, site in enumerate(sites):
            vals = [getattr(by[(t, site)].best, attr) if (t, site) in by else np.nan
                    for t in tools]
            ax.barh(y - 0.4 + bar * (k + 0.5), vals, height=bar * 0.9,
                    color=_COLORS[k % len(_COLORS)], label=site)
        if "pressure" in attr:
            ppts = {s: by[(t, s)].best.ppt_kpa for (t, s) in by if by[(t, s)].best.ppt_kpa}
            for k, site in enumerate(sites):
                if site in ppts:
                    ax.axvline(ppts[site], color=_COLORS[k % len(_COLORS)], linestyle="--",
                               linewidth=1.0)
        ax.set_xlabel(label)
        ax.grid(True, axis="x", color="#dddddd")
        ax.grid(False, axis="y")
    axes[0].set_yticks(y, tools, fontsize=8)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(sites), 6),
               fontsize=8, title="site (dashed: its PPT)", title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def figure_png(fig: Figure, dpi: int = DPI, *, palette: bool = False) -> bytes:
    """The figure as PNG bytes (Agg; no metadata timestamp, so the bytes are repeatable).

    palette: reduce to a 256-colour palette PNG (about 3x smaller; charts and heat maps
    stay visually identical), as the HTML report does.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    if not palette:
        return buf.getvalue()
    from PIL import Image

    buf.seek(0)
    img = Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT,
                                                   dither=Image.Dither.NONE)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def save_figure(fig: Figure, path: str | Path, *, force: bool = False,
                dpi: int = DPI) -> Path:
    """Save ``fig`` atomically; the format follows the suffix (.png, .svg, .pdf)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise IastmError(f"{path}: unknown figure format {fmt!r}; allowed: .png, .svg, .pdf")
    meta: dict[str, Any] = {"png": {"Software": None}, "svg": {"Date": None},
                            "pdf": {"CreationDate": None}}[fmt]
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi,
                                                      metadata=meta), force=force)
