"""Benchmark: iastm_tools.contact vs tamaas and ContactMechanics on non-periodic Hertz cases.

Cases (units mm, N, kPa; tissue E = 50 kPa, nu = 0.49 as in
/work/shared/reference/contact_mechanics.md):

* sphere: R = 5 mm, 5 N, grid N x N over a 4a x 4a box, apex on a node;
* crowned 40 mm edge: long ellipsoid Rx = 1.5 mm, Ry = 24.6 mm, 10 N, 4b x 4a box.

For each N in (128, 256, 512) it prints, for every solver: p0 error, contact half-width
error (ours: interpolated boundary; peers: pixel count and pressure second moment), the
solve time (best of 5, best of 3 at 512^2; kernel set-up timed separately), and our time
over the faster peer's.  Peers are optional (``pip install -e .[bench]``); a missing one
prints "not installed".  Times are wall clock; we also print our CPU time (the FFTs use
``IASTM_FFT_WORKERS`` threads, default 1; both peers are single-threaded).

A second section compares the plain Polonsky-Keer iteration with the preconditioned
solver (``solve(..., precondition=False / True)``, see ``iastm_tools.contact._pk``) on
synthetic layered cases like the fits' (skin 1.3 mm 894 kPa / fat 6 mm 26.1 kPa / muscle
15.2 kPa, 8 N, tol 1e-8, 1:4-1:6 pixels): an arc-shaped bevel edge on a cylinder (thin
curved contact strip, the hard case) and a tilted flat face (punch-like).  It prints
iterations and wall time both ways, the speed-up, the largest pressure difference over
the peak and both peaks.

Run: ``.venv/bin/python benchmarks/bench_contact.py [--sizes 128 256 512]
[--precond-sizes 128 256 384] [--sections hertz precond]``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np

from iastm_tools.contact import Layer, TissueStack, kernels, solve
from iastm_tools.contact import reference as ref

E_KPA, NU = 50.0, 0.49
E_STAR = E_KPA / (1.0 - NU**2)


def case_grid(case: str, n: int):
    """(gap mm, (dx, dy), (Lx, Ly), force N, Hertz reference, (a_x, a_y))."""
    if case == "sphere":
        h = ref.hertz_sphere(5.0, 5.0, E_STAR)
        ax = ay = h.half_width_mm
        force, rx, ry = 5.0, 5.0, 5.0
    else:
        h = ref.hertz_ellipse(1.5, 24.6, 10.0, E_STAR)
        ax, ay = h.half_width_mm, h.half_length_mm
        force, rx, ry = 10.0, 1.5, 24.6
    lx, ly = 4 * ax, 4 * ay
    dx, dy = lx / n, ly / n
    x = (np.arange(n) - n // 2) * dx
    y = (np.arange(n) - n // 2) * dy
    X, Y = np.meshgrid(x, y, indexing="ij")
    gap = X**2 / (2 * rx) + Y**2 / (2 * ry)
    return gap, (dx, dy), (lx, ly), force, h, (ax, ay)


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """(best wall s, cpu s of that run, result)."""
    best, cpu, out = math.inf, math.nan, None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        t, c = time.perf_counter() - t0, time.process_time() - c0
        if t < best:
            best, cpu = t, c
    return best, cpu, out


def moment_half_widths(p: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float]:
    """Semi-axes from <x^2> = a^2 / 5 of an elliptical Hertz pressure."""
    nx, ny = p.shape
    x = (np.arange(nx) - nx // 2) * spacing[0]
    y = (np.arange(ny) - ny // 2) * spacing[1]
    w = p / p.sum()
    return math.sqrt(5 * (w.sum(1) @ x**2)), math.sqrt(5 * (w.sum(0) @ y**2))


def count_half_widths(
    p: np.ndarray, spacing: tuple[float, float], aspect: float
) -> tuple[float, float]:
    """Semi-axes from the pixel-count area A = pi a b with the Hertz aspect a/b known."""
    area = np.count_nonzero(p > 0) * spacing[0] * spacing[1]
    b = math.sqrt(area / (math.pi * aspect))
    return aspect * b, b


def run_tamaas(gap, lengths, force):
    try:
        import tamaas as tm
    except ImportError:
        return None
    n = gap.shape
    tm.set_log_level(tm.LogLevel.error) if hasattr(tm, "set_log_level") else None

    def build():
        m = tm.ModelFactory.createModel(tm.model_type.basic_2d, list(lengths), list(n))
        m.E, m.nu = E_KPA, NU  # before registerNonPeriodic (trap in the reference note)
        s = tm.PolonskyKeerRey(m, -gap, 1e-8)
        tm.ModelFactory.registerNonPeriodic(m, "dcfft")
        s.setIntegralOperator("dcfft")
        return m, s

    t0 = time.perf_counter()
    build()
    setup = time.perf_counter() - t0

    def go():
        m, s = build()
        s.solve(force * 1e3 / (lengths[0] * lengths[1]))
        return np.array(m.traction).reshape(n)

    return setup, go


def run_cm(gap, lengths, force, delta_scale):
    try:
        from ContactMechanics import FreeFFTElasticHalfSpace
        from ContactMechanics.Systems import NonSmoothContactSystem
        from SurfaceTopography import Topography
    except ImportError:
        return None
    n = gap.shape
    t0 = time.perf_counter()
    FreeFFTElasticHalfSpace(n, E_STAR, lengths)
    setup = time.perf_counter() - t0

    def go():
        sub = FreeFFTElasticHalfSpace(n, E_STAR, lengths)
        topo = Topography(-gap, lengths, periodic=False)
        sysm = NonSmoothContactSystem(sub, topo)
        r = sysm.minimize_proxy(external_force=force * 1e3, pentol=1e-8 * delta_scale)
        return np.asarray(r.jac).reshape(n) / sub.area_per_pt

    return setup, go


# calf-like stack of the fits: stiff skin on soft fat on muscle (kPa, mm)
CALF = TissueStack(
    (Layer(1.3, 894.0, 0.49, "skin"), Layer(6.0, 26.1, 0.49, "fat"),
     Layer(math.inf, 15.2, 0.49, "muscle")),
    base="halfspace",
)


def layered_case(case: str, n: int) -> tuple[np.ndarray, tuple[float, float]]:
    """(gap mm, (dx, dy) mm) of a synthetic layered case on an n x (3n/4) grid.

    arc: bevel edge along an arc of radius 40 mm with a 1 mm edge radius, on a cylinder of
    radius 50 mm (the calf) and tilted 0.01 rad; 12 x 60 mm box (a thin curved strip of
    contact, like the dumped fits).  face: 3 x 20 mm flat face with 0.5 mm edge radii,
    tilted 0.002 rad; 8 x 48 mm box (punch-like).
    """
    ny = 3 * n // 4
    lx, ly = (12.0, 60.0) if case == "arc" else (8.0, 48.0)
    dx, dy = lx / n, ly / ny
    x = (np.arange(n) - n // 2) * dx
    y = (np.arange(ny) - ny // 2) * dy
    X, Y = np.meshgrid(x, y, indexing="ij")
    if case == "arc":
        gap = (np.hypot(X + 36.0, Y) - 40.0) ** 2 / 2.0 + Y**2 / 100.0 + 0.01 * X
    else:
        rim = np.maximum(np.abs(X) - 1.5, 0.0) ** 2 + np.maximum(np.abs(Y) - 10.0, 0.0) ** 2
        gap = rim / 1.0 + 0.002 * X
    return gap, (dx, dy)


def bench_preconditioner(sizes: list[int]) -> None:
    """Print iterations and wall time, plain vs preconditioned, on the layered cases."""
    hdr = (f"{'case':5s} {'grid':>9s} {'plain its':>9s} {'plain s':>8s} {'pre its':>8s} "
           f"{'pre s':>7s} {'speed-up':>8s} {'max|dp|/peak':>12s} {'peak plain':>10s} "
           f"{'peak pre':>10s}")
    print("\nPreconditioned vs plain Polonsky-Keer (layered calf stack, 8 N, tol 1e-8; "
          "best of 2 after a warm-up that builds the kernels)")
    print(hdr)
    print("-" * len(hdr))
    for case in ("arc", "face"):
        for n in sizes:
            gap, spacing = layered_case(case, n)
            kw = dict(force_n=8.0, tol=1e-8, check_grid=False)
            solve(gap, spacing, CALF, **kw)  # kernel set-up, not timed
            t_pl, _, plain = best_time(
                lambda gap=gap, spacing=spacing, kw=kw: solve(
                    gap, spacing, CALF, precondition=False, **kw), 2)
            t_pre, _, pre = best_time(
                lambda gap=gap, spacing=spacing, kw=kw: solve(gap, spacing, CALF, **kw), 2)
            dp = np.abs(pre.pressure_kpa - plain.pressure_kpa).max() / plain.peak_pressure_kpa
            grid = f"{gap.shape[0]}x{gap.shape[1]}"
            flag = "" if plain.converged and pre.converged else "  (not converged)"
            print(f"{case:5s} {grid:>9s} {plain.iterations:9d} {t_pl:8.2f} {pre.iterations:8d} "
                  f"{t_pre:7.2f} {t_pl / t_pre:8.1f} {dp:12.1e} {plain.peak_pressure_kpa:10.1f} "
                  f"{pre.peak_pressure_kpa:10.1f}{flag}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--cases", nargs="+", default=["sphere", "edge"])
    ap.add_argument("--precond-sizes", type=int, nargs="+", default=[128, 256, 384])
    ap.add_argument("--sections", nargs="+", choices=["hertz", "precond"],
                    default=["hertz", "precond"])
    args = ap.parse_args()
    if "hertz" in args.sections:
        bench_peers(args)
    if "precond" in args.sections:
        bench_preconditioner(args.precond_sizes)


def bench_peers(args: argparse.Namespace) -> None:
    """Hertz cases: ours vs tamaas and ContactMechanics (the first section)."""
    tissue = TissueStack.halfspace(E_KPA, NU)
    hdr = (f"{'case':7s} {'N':>4s} {'solver':16s} {'p0 err':>9s} {'a err':>9s} {'b err':>9s} "
           f"{'a err(mom)':>10s} {'F err':>8s} {'setup s':>8s} {'solve s':>8s} {'cpu s':>7s} "
           f"{'wall/peer':>9s} {'cpu/peer':>8s}")
    print(hdr)
    print("-" * len(hdr))
    for case in args.cases:
        for n in args.sizes:
            gap, spacing, lengths, force, h, (ax, ay) = case_grid(case, n)
            reps = 3 if n >= 512 else 5
            # ours: first call builds and caches the kernel spectra (set-up)
            kernels.kernel_spectrum.cache_clear()
            kernels.kernel_spectrum32.cache_clear()
            t0 = time.perf_counter()
            solve(gap, spacing, tissue, force_n=force, model="halfspace", check_grid=False)
            first = time.perf_counter() - t0
            t_ours, cpu_ours, r = best_time(
                lambda gap=gap, spacing=spacing, force=force: solve(
                    gap, spacing, tissue, force_n=force, model="halfspace"), reps)
            setup_ours = max(first - t_ours, 0.0)
            rows = []
            dA = spacing[0] * spacing[1]
            rows.append((
                "iastm_tools", r.peak_pressure_kpa / h.peak_pressure_kpa - 1,
                r.contact_extent_x_mm / 2 / ax - 1, r.contact_extent_y_mm / 2 / ay - 1,
                moment_half_widths(np.asarray(r.pressure_kpa), spacing)[0] / ax - 1,
                r.pressure_kpa.sum() * dA * 1e-3 / force - 1, setup_ours, t_ours, cpu_ours,
            ))
            peer_times, peer_cpu = [], []
            for name, runner in (
                ("tamaas", run_tamaas(gap, lengths, force)),
                ("ContactMechanics", run_cm(gap, lengths, force, h.approach_mm)),
            ):
                if runner is None:
                    print(f"{case:7s} {n:4d} {name:16s} not installed")
                    continue
                setup, go = runner
                t, cpu, p = best_time(go, reps)
                cx, cy = count_half_widths(p, spacing, ax / ay)
                mx, _ = moment_half_widths(p, spacing)
                rows.append((name, p.max() / h.peak_pressure_kpa - 1, cx / ax - 1, cy / ay - 1,
                             mx / ax - 1, p.sum() * dA * 1e-3 / force - 1, setup, t, cpu))
                peer_times.append(t)
                peer_cpu.append(cpu)
            fastest = min(peer_times) if peer_times else math.nan
            fastest_cpu = min(peer_cpu) if peer_cpu else math.nan
            for row in rows:
                name, e_p, e_a, e_b, e_m, e_f, setup, t, cpu = row
                print(f"{case:7s} {n:4d} {name:16s} {e_p:+9.2e} {e_a:+9.2e} {e_b:+9.2e} "
                      f"{e_m:+10.2e} {e_f:+8.1e} {setup:8.3f} {t:8.3f} {cpu:7.3f} "
                      f"{t / fastest:9.2f} {cpu / fastest_cpu:8.2f}")
    print("\na/b err: ours = interpolated boundary (solve()); peers = pixel-count area with the"
          " Hertz aspect ratio.\na err(mom): from the pressure second moment <x^2> = a^2/5 (all"
          " solvers; exact only for Hertz-shaped pressure).\nwall/peer, cpu/peer: time over the"
          " faster peer's on the same case and grid (our FFTs use IASTM_FFT_WORKERS threads,"
          " default 1; the peers are single-threaded; on a loaded machine compare the cpu"
          " column).")


if __name__ == "__main__":
    main()
