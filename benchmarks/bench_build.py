"""Benchmark of building and exporting tools; prints its figures (no assertions).

1. Per library profile: median time (after import) of load profile + build solid + write
   STEP + STL (0.01 mm) + DXF, the machining core of ``iastm export``; target <= 1 s each
   on a 2-core machine. The drawing (PDF + SVG, about 0.3 s) is timed separately.
2. ``iastm list`` over the library, as a subprocess (includes interpreter start and
   imports); target <= 3 s.

Run: .venv/bin/python benchmarks/bench_build.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _core(path: Path, out: Path) -> dict[str, float]:
    """One cold build + STEP + STL + DXF of ``path``; returns the stage times (s)."""
    from iastm_tools import Tool
    from iastm_tools.export import mesh_tool, write_dxf, write_step, write_stl

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    tool = Tool.from_profile(path)
    _ = tool.solid
    t1 = time.perf_counter()
    write_step(tool, out / f"{tool.name}.step", force=True)
    t2 = time.perf_counter()
    write_stl(mesh_tool(tool, 0.01), out / f"{tool.name}.stl", force=True)
    t3 = time.perf_counter()
    write_dxf(tool, out / f"{tool.name}.dxf", force=True)
    t4 = time.perf_counter()
    times.update(build=t1 - t0, step=t2 - t1, stl=t3 - t2, dxf=t4 - t3, total=t4 - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per profile (median)")
    args = parser.parse_args()

    t_imp = time.perf_counter()
    import cadquery  # noqa: F401  (import cost is excluded from the per-tool figure)

    from iastm_tools import Tool
    from iastm_tools.drawing import write_drawing

    print(f"cpus: {os.cpu_count()}; import cadquery + iastm_tools: "
          f"{time.perf_counter() - t_imp:.2f} s (excluded below)")
    profiles = sorted((REPO / "profiles").glob("*.toml"))
    print(f"\nbuild + STEP + STL + DXF per profile, median of {args.repeat} (target <= 1 s)")
    cols = "".join(f" {c:>7s}" for c in ("build", "step", "stl", "dxf", "total"))
    header = f"{'profile':24s}{cols}  drawing"
    print(header)
    print("-" * len(header))
    totals = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for path in profiles:
            runs = [_core(path, out) for _ in range(args.repeat)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            totals.append(med["total"])
            tool = Tool.from_profile(path)
            _ = tool.solid
            t0 = time.perf_counter()
            write_drawing(tool, out / "d.pdf", out / "d.svg", force=True)
            t_draw = time.perf_counter() - t0
            flag = "" if med["total"] <= 1.0 else "  > 1 s"
            print(f"{path.stem:24s} {med['build']:7.3f} {med['step']:7.3f} {med['stl']:7.3f} "
                  f"{med['dxf']:7.3f} {med['total']:7.3f}  {t_draw:6.3f}{flag}")
    print(f"{'median over profiles':24s} {'':31s} {statistics.median(totals):7.3f}")
    print(f"{'max over profiles':24s} {'':31s} {max(totals):7.3f}")
    print(f"profiles within 1 s: {sum(t <= 1.0 for t in totals)} of {len(totals)}")

    print("\n`iastm list` over the library (subprocess, target <= 3 s)")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "iastm_tools.cli", "list"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"iastm list: not available (exit {proc.returncode}: {first})")
    else:
        n = max(0, len(proc.stdout.strip().splitlines()) - 2)
        print(f"iastm list: {elapsed:.2f} s for {n} tools")


if __name__ == "__main__":
    main()
