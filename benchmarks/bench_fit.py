"""Benchmark of iastm_tools.fit; prints its figures (no assertions).

1. Accuracy: a 40 mm full-round edge (R = 5 mm) upright on a flat half-space (E = 100 kPa,
   nu = 0.49) at 0.05 N vs plane-strain Hertz for the middle line load (Johnson 4.45),
   and the load balance.
2. Timing: the skin map of a site, one gap evaluation (z-buffer of the swept edge) and one
   full fit of every edge of ``blade-large-cc`` on the default body's calf (8 N, default
   search, threads = cores): the fast preview (winkler), the layered model, and the
   layered model with 8 BEM refinement evaluations per edge, unless ``--quick``.
3. Scan size: the same fit on the default body and on a subdivided copy (> 1M faces),
   each with its skin map built afresh.
4. With ``--per-tool`` or ``--library``: every library tool on the calf at 8 N, with the
   preview and with the layered model (one process, one thread per core); with
   ``--library`` also ``iastm survey --library``: every tool on all 10 default sites at 5,
   8 and 12 N on 2 worker processes (preview model).

Run: .venv/bin/python benchmarks/bench_fit.py [--quick] [--per-tool] [--library]
"""

from __future__ import annotations

import sys
import time

import numpy as np


def _timed(label: str, fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{label:58s} wall {wall:7.2f} s   cpu {cpu:7.2f} s")
    return out


def accuracy() -> None:
    import trimesh

    from iastm_tools.body import Body, Site
    from iastm_tools.contact import TissueStack, reference
    from iastm_tools.contours import Contour
    from iastm_tools.fit import fit_contour
    from iastm_tools.profile import EdgeSpec
    from iastm_tools.section import edge_section

    sec = edge_section(EdgeSpec("full_round"), 10.0)
    n = 161
    x = np.linspace(0.0, 40.0, n)
    u, v = sec.apex
    c = Contour("straight", 0, "line", "straight",
                np.column_stack([x, np.full(n, -u), np.full(n, v)]),
                np.tile([0.0, -1.0, 0.0], (n, 1)), np.tile([1.0, 0.0, 0.0], (n, 1)),
                np.zeros(n), x, sec, (None, None))
    box = trimesh.creation.box((300.0, 300.0, 60.0))
    box.apply_translation([0.0, 0.0, -30.0])
    body = Body("flat", box, sites={"calf": Site("calf", [0, 0, 0], [0, 0, 1], [1, 0, 0])})
    e, nu, f = 100.0, 0.49, 0.05
    r = _timed("Hertz check: fit of one fixed pose (half-space)", lambda: fit_contour(
        c, body, body.sites["calf"], f, TissueStack.halfspace(e, nu), angle_range_deg=(90, 90),
        rotation_range_deg=(0, 0), model="halfspace"))
    p = np.asarray(r.contact.pressure_kpa)
    mid = p.shape[1] // 2
    q = p[:, mid].sum() * r.grid_spacing_mm[0] * 1e-3
    h = reference.hertz_cylinder(5.0, q, e / (1 - nu**2))
    print(f"  grid {r.grid_shape} spacing {tuple(round(s, 4) for s in r.grid_spacing_mm)} mm")
    print(f"  p0 mid {p[:, mid].max():.4f} kPa vs Hertz {h.peak_pressure_kpa:.4f} kPa: "
          f"{p[:, mid].max() / h.peak_pressure_kpa - 1:+.2%}")
    print(f"  width {r.contact_width_mm:.4f} mm vs 2b {2 * h.half_width_mm:.4f} mm: "
          f"{r.contact_width_mm / (2 * h.half_width_mm) - 1:+.2%}")
    print(f"  force from pressure {r.force_n:.6f} N vs applied {f} N: {r.force_n / f - 1:+.1e}")
    print(f"  middle line load / (F/L) = {q / (f / 40.0):.3f} (the cut ends carry the rest)")


def timing() -> None:
    from iastm_tools import Tool
    from iastm_tools.body import Body
    from iastm_tools.fit import Pose, SiteFrame, fit, posed_gap, skin_map, swept_surface
    from iastm_tools.library import find_profile

    body = _timed("default body load", lambda: Body.load("default"))
    print(f"  {len(body.mesh.faces)} faces")
    tool = Tool.from_profile(find_profile("blade-large-cc"))
    c = tool.contours[0]
    frame = SiteFrame.from_site(body.site("calf"))
    surf = swept_surface(c, 0.03)
    posed_gap(body, frame, surf, Pose(45.0, 0.0), 0.06, 0.5, 4.0)  # numba JIT
    skin = _timed("skin height map of the site (rasterised once per fit)",
                  lambda: skin_map(body, frame, 50.0))
    pg = _timed(f"one gap evaluation ({c.name}, 0.06 x 0.5 mm grid)",
                lambda: posed_gap(body, frame, surf, Pose(45.0, 0.0), 0.06, 0.5, 4.0,
                                  skin=skin))
    print(f"  grid {pg.gap_mm.shape}, swept surface {surf.shape[0]} x {surf.shape[1]} points")
    for model, refine in (("winkler", 0), ("layered", 0), ("layered", 8)):
        res = _timed(f"fit blade-large-cc on calf, 8 N, {model}, refine_evals={refine}",
                     lambda m=model, n=refine: fit(tool, body, "calf", 8.0, (30, 90), model=m,
                                                   refine_evals=n))
        for cf in res.contours:
            print(f"  {cf.rank} {cf.contour:12s} tilt {cf.pose.tilt_deg:5.1f} rot "
                  f"{cf.pose.rotation_deg:6.1f} {cf.pose.skin_face:6s} area "
                  f"{cf.contact_area_mm2:7.1f} mm2 peak {cf.peak_pressure_kpa:7.1f} kPa "
                  f"evals {cf.evaluations} converged {cf.converged}")


def scan_scaling() -> None:
    """The same fit on the default body and on a 4x-subdivided copy (> 1M faces)."""
    import trimesh

    from iastm_tools import Tool
    from iastm_tools.body import Body
    from iastm_tools.fit import fit, gap
    from iastm_tools.library import find_profile

    body = Body.load("default")
    tool = Tool.from_profile(find_profile("blade-large-cc"))
    v, f = trimesh.remesh.subdivide(body.mesh.vertices, body.mesh.faces)
    big = Body("default-x4", trimesh.Trimesh(v, f, process=False), sites=body.sites)
    kw = dict(model="winkler", coarse_tilts=3, coarse_rotations=4)
    fit(tool, body, "calf", 8.0, **kw)  # warm-up (kernels, JIT)

    def cold(b: Body) -> float:
        """One fit including its skin map (the per-body map cache emptied first)."""
        gap._SKIN_MAPS.clear()
        t0 = time.perf_counter()
        fit(tool, b, "calf", 8.0, **kw)
        return time.perf_counter() - t0

    t_small, t_big = cold(body), cold(big)
    print(f"scan scaling: {len(body.mesh.faces)} faces {t_small:.2f} s, {len(f)} faces "
          f"{t_big:.2f} s: ratio {t_big / t_small:.2f} (target <= 2)")


def per_tool(site: str = "calf", force_n: float = 8.0,
             models: tuple[str, ...] = ("winkler", "layered")) -> None:
    """Every library tool, all edges, on one site at one force (``fit`` defaults: 4 tilts
    x 8 rotations, one thread per core), with the fast preview (``winkler``) and the
    default layered model, in this process."""
    from iastm_tools import Tool
    from iastm_tools.body import Body
    from iastm_tools.errors import IastmError
    from iastm_tools.fit import fit
    from iastm_tools.library import library_paths

    body = Body.load("default")
    tools = [Tool.from_profile(p) for p in library_paths()]
    fit(tools[0], body, site, force_n, model="winkler")  # warm-up: JIT, kernels, skin map
    for model in models:
        times = []
        for tool in tools:
            t0 = time.perf_counter()
            try:
                res = fit(tool, body, site, force_n, model=model)
                info = f"{len(res.contours)} edges fitted, {len(res.unfitted)} cannot touch"
            except IastmError as exc:
                info = f"failed: {exc}"
            times.append(time.perf_counter() - t0)
            print(f"  {model:8s} {tool.name:24s} {times[-1]:6.2f} s  {info}", flush=True)
        t = np.array(times)
        print(f"per tool on {site} at {force_n:g} N ({model}): median {np.median(t):.2f} s, "
              f"max {t.max():.2f} s, {int((t <= 2.0).sum())} of {len(t)} <= 2 s "
              "(target <= 2 s)", flush=True)


def library(forces: tuple[float, ...] = (5.0, 8.0, 12.0), workers: int = 2) -> None:
    """``iastm survey --library``: every library tool on every default site at 3 forces,
    preview model, on ``workers`` local processes (the wall time includes their start)."""
    from iastm_tools.library import library_paths
    from iastm_tools.sweep.survey import run_survey

    t0 = time.perf_counter()
    out = run_survey([str(p) for p in library_paths()], "default", None, forces,
                     workers=workers)
    wall = time.perf_counter() - t0
    secs = np.array([r["seconds"] for r in out.rows])
    print(f"library survey: {len(out.rows)} fits ({out.failed} failed: tool larger than the "
          f"site, or no edge can touch) in {wall:.0f} s on {workers} workers; per fit median "
          f"{np.median(secs):.2f} s, max {secs.max():.2f} s; target <= 300 s")


def main() -> None:
    accuracy()
    if "--quick" in sys.argv:
        return
    timing()
    scan_scaling()
    if "--library" in sys.argv or "--per-tool" in sys.argv:
        per_tool()
    if "--library" in sys.argv:
        library()


if __name__ == "__main__":
    main()
