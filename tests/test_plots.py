"""Matplotlib charts of fits (iastm_tools.plots): what each chart draws, with references.

The fits run on a synthetic flat slab (skin z = 0) with the half-space model and a fixed
pose, so they are fast and deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from iastm_tools import plots
from iastm_tools.body import Body, Site
from iastm_tools.errors import IastmError, OutputExistsError
from iastm_tools.fit import fit
from iastm_tools.library import find_profile
from iastm_tools.tool import Tool


def flat_body() -> Body:
    box = trimesh.creation.box((300.0, 300.0, 60.0))
    box.apply_translation([0.0, 0.0, -30.0])
    sites = {"calf": Site("calf", [0, 0, 0], [0, 0, 1], [1, 0, 0]),
             "forearm_flexor": Site("forearm_flexor", [10, 0, 0], [0, 0, 1], [0, 1, 0])}
    return Body("flat", box, sites=sites)


def quick_fit(tool: Tool, body: Body, site: str = "calf"):
    return fit(tool, body, site, 8.0, (45.0, 45.0), model="halfspace",
               rotation_range_deg=(0.0, 0.0), coarse_tilts=2, coarse_rotations=2,
               refine_evals=0)


@pytest.fixture(scope="module")
def results():
    body = flat_body()
    tools = [Tool.from_profile(find_profile(n)) for n in ("blade-large-cc", "scanner-straight")]
    return [quick_fit(t, body, s) for t in tools for s in ("calf", "forearm_flexor")]


def _ppt_lines(ax, ppt):
    return [ln for ln in ax.get_lines()
            if np.allclose(ln.get_ydata(), ppt) and ln.get_linestyle() == "--"]


def test_pressure_along_edge_draws_the_fit_line_load_and_the_ppt(results):
    r = results[0]
    fig = plots.pressure_along_edge(r)
    ax_load, ax_peak = fig.axes[:2]
    assert ax_load.get_xlabel() == "arc length along the edge (mm)"
    assert ax_load.get_ylabel() == "line load (N/mm)"
    assert len(ax_load.get_lines()) == len(r.contours)
    for line, cf in zip(ax_load.get_lines(), r.contours, strict=True):
        np.testing.assert_array_equal(line.get_ydata(), cf.line_load_n_per_mm)
    # right panel: the peak over each column equals the field's overall peak somewhere
    peaks = [float(np.max(ln.get_ydata())) for ln in ax_peak.get_lines()
             if ln.get_linestyle() != "--"]
    assert max(peaks) == pytest.approx(max(c.peak_pressure_kpa for c in r.contours), rel=1e-9)
    assert r.best.ppt_kpa and len(_ppt_lines(ax_peak, r.best.ppt_kpa)) == 1


def test_cross_edge_profile_passes_through_the_peak_and_shows_the_gap(results):
    cf = results[0].best
    fig = plots.cross_edge_profile(cf)
    ax = fig.axes[0]
    p = np.asarray(cf.contact.pressure_kpa)
    col = p[:, int(np.argmax(p.sum(axis=0)))]
    line = ax.get_lines()[0]
    assert float(np.max(line.get_ydata())) == pytest.approx(float(col.max()))
    # x = 0 at the profile's peak
    assert line.get_xdata()[int(np.argmax(line.get_ydata()))] == pytest.approx(0.0)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "undeformed gap (mm)"
    assert len(_ppt_lines(ax, cf.ppt_kpa)) == 1


def test_force_vs_approach_reproduces_the_fitted_point(results):
    """Solving the best pose's gap at the fitted approach must give back the fitted force
    (same gap, tissue and model: load control and displacement control agree, 2 %), and
    the force grows with the approach."""
    cf = results[0].best
    d, f = plots.approach_curve(cf, n_points=3, max_factor=1.0)
    assert d[0] == 0.0 and f[0] == 0.0
    assert d[-1] == pytest.approx(cf.approach_mm)
    assert f[-1] == pytest.approx(cf.force_n, rel=0.02)
    assert np.all(np.diff(f) > 0)
    fig = plots.force_vs_approach(cf, curve=(d, f))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "approach depth (mm)" and ax.get_ylabel() == "normal force (N)"
    star = ax.get_lines()[1]
    assert star.get_xdata()[0] == pytest.approx(cf.approach_mm)


def test_pressure_map_and_panel(results):
    cf = results[0].best
    fig = plots.pressure_map(cf)
    im = fig.axes[0].get_images()[0]
    assert float(np.max(im.get_array())) == pytest.approx(cf.peak_pressure_kpa)
    assert im.norm.vmax >= cf.ppt_kpa  # the colour bar reaches the PPT mark
    panel = plots.contour_panel(cf, n_points=2)
    assert len(panel.axes) >= 3


def test_comparison_chart_has_one_bar_per_tool_and_site(results):
    fig = plots.comparison_chart(results)
    n = len({r.tool for r in results}) * len({r.site for r in results})
    for ax, (attr, _label) in zip(fig.axes, plots.COMPARISON_METRICS, strict=False):
        bars = ax.patches
        assert len(bars) == n
        widths = sorted(b.get_width() for b in bars)
        assert widths == pytest.approx(sorted(getattr(r.best, attr) for r in results))


def test_figures_are_repeatable_bytes_and_saved_atomically(results, tmp_path):
    cf = results[0].best
    a = plots.figure_png(plots.cross_edge_profile(cf))
    b = plots.figure_png(plots.cross_edge_profile(cf))
    assert a == b and a[:8] == b"\x89PNG\r\n\x1a\n"
    assert plots.figure_png(plots.cross_edge_profile(cf), palette=True)[:8] == a[:8]
    path = tmp_path / "x.png"
    plots.save_figure(plots.cross_edge_profile(cf), path)
    assert path.read_bytes()[:8] == a[:8]
    with pytest.raises(OutputExistsError):
        plots.save_figure(plots.cross_edge_profile(cf), path)
    with pytest.raises(IastmError, match="unknown figure format"):
        plots.save_figure(plots.cross_edge_profile(cf), tmp_path / "x.gif")
    assert not list(tmp_path.glob(".*tmp*"))


def test_charts_need_the_in_memory_fit(results):
    from dataclasses import replace

    bare = replace(results[0].best, contact=None)
    with pytest.raises(IastmError, match="re-run the fit"):
        plots.pressure_map(bare)
    with pytest.raises(IastmError, match="re-run the fit"):
        plots.approach_curve(bare)
