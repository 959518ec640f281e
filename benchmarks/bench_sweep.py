"""Sweep throughput: rows per second with 1 and 2 local worker processes, and the wall
time of a 500-row sweep of fast-preview fits (issue 7 targets: >= 1.7x from 1 to 2 workers
on a 2-core machine; 500 fast-preview rows <= 2 min). Prints figures, asserts nothing.

    python benchmarks/bench_sweep.py                       # default body, as the issue
    python benchmarks/bench_sweep.py --rows 12 --big-rows 0 # throughput only
    python benchmarks/bench_sweep.py --body flat            # synthetic slab: machinery only

Rows are fast-preview fits (``fit.preview = true``: Winkler model, 3 tilts x 6 rotations,
no refinement) of the concave edge of ``blade-large-cc`` with a Latin hypercube over its
radius and hone radius, on the calf and the flexor forearm at 8 N. "steady" throughput
counts rows between the first and the last finished row (worker start-up excluded);
"wall" includes starting the workers. Both 1 and 2 workers run in a process pool, so
they pay the same per-row costs; the in-process (``--workers 1``) figure is printed too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SPEC = """
[sweep]
name = "bench"
profile = "{profile}"
sampling = "lhs"
samples = {samples}
seed = {seed}

[[parameters]]
path = "segments[1].radius_mm"
range = [50.0, 110.0]

[[parameters]]
path = "segments[1].edge.apex_radius_mm"
range = [0.3, 1.0]

[fit]
bodies = ["{body}"]
sites = ["calf", "forearm_flexor"]
forces_n = [8.0]
edges = [1]
preview = true
"""


def _flat_body(folder: Path) -> str:
    import trimesh

    from iastm_tools.body import Body, Site

    box = trimesh.creation.box((300.0, 300.0, 60.0))
    box.apply_translation([0.0, 0.0, -30.0])
    sites = {"calf": Site("calf", [0, 0, 0], [0, 0, 1], [1, 0, 0]),
             "forearm_flexor": Site("forearm_flexor", [50, 0, 0], [0, 0, 1], [1, 0, 0])}
    Body("flat", box, sites=sites).save(folder / "flat.ply", force=True)
    return "flat.ply"


def _run(folder: Path, body: str, rows: int, seed: int, executor) -> dict:
    from iastm_tools.sweep import load_spec, run_sweep

    spec_path = folder / f"bench-{seed}.toml"
    spec_path.write_text(SPEC.format(profile=REPO / "profiles" / "blade-large-cc.toml",
                                     samples=max(1, rows // 2), seed=seed, body=body))
    spec = load_spec(spec_path)
    stamps: list[float] = []
    t0 = time.perf_counter()
    out = run_sweep(spec, folder / f"out-{seed}", executor=executor, plots=False,
                    on_record=lambda t, r: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else float("nan")
    if out.failed:
        from collections import Counter

        from iastm_tools.sweep.store import read_table

        reasons = Counter(r["reason"] for r in read_table(out.tables["parquet"])
                          if r["status"] != "ok")
        for reason, n in reasons.most_common(3):
            print(f"  {n} failed: {reason}")
    return {"rows": out.computed, "failed": out.failed, "wall_s": wall,
            "wall_rows_per_s": out.computed / wall, "steady_rows_per_s": steady,
            "first_row_s": stamps[0] - t0 if stamps else float("nan")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=16, help="rows per throughput run")
    ap.add_argument("--big-rows", type=int, default=500, help="rows of the big sweep (0: skip)")
    ap.add_argument("--body", default="default", help="'default' (real body) or 'flat'")
    args = ap.parse_args()

    from iastm_tools.sweep.rows import load_body_cached
    from iastm_tools.sweep.run import LocalProcessExecutor, SerialExecutor

    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        folder = Path(tmp)
        body = _flat_body(folder) if args.body == "flat" else args.body
        if args.body != "flat":
            t = time.perf_counter()
            load_body_cached(body)  # builds the body cache on a first run
            print(f"body {body}: loaded in {time.perf_counter() - t:.1f} s")
        results = {}
        for label, make, seed in (("1 process (pool)", lambda: LocalProcessExecutor(1), 1),
                                  ("2 processes (pool)", lambda: LocalProcessExecutor(2), 1),
                                  ("1 in-process", SerialExecutor, 1)):
            ex = make()
            try:
                # same seed, fresh folder: the same rows each time
                sub = folder / label.replace(" ", "_").replace("(", "").replace(")", "")
                sub.mkdir()
                if body == "flat.ply":
                    (sub / "flat.ply").write_bytes((folder / "flat.ply").read_bytes())
                    (sub / "flat.ply.sites.json").write_bytes(
                        (folder / "flat.ply.sites.json").read_bytes())
                results[label] = r = _run(sub, body, args.rows, seed, ex)
            finally:
                ex.close()
            print(f"{label:20s} {r['rows']:4d} rows ({r['failed']} failed)  wall "
                  f"{r['wall_s']:7.1f} s  {r['wall_rows_per_s']:6.3f} rows/s  steady "
                  f"{r['steady_rows_per_s']:6.3f} rows/s  (first row after "
                  f"{r['first_row_s']:.1f} s)", flush=True)
        one, two = results["1 process (pool)"], results["2 processes (pool)"]
        steady = two["steady_rows_per_s"] / one["steady_rows_per_s"]
        wall = two["wall_rows_per_s"] / one["wall_rows_per_s"]
        print(f"speed-up 1 -> 2 workers: steady {steady:.2f}x, wall {wall:.2f}x "
              "(target >= 1.7x)")
        if args.big_rows > 0:
            ex = LocalProcessExecutor(2)
            try:
                sub = folder / "big"
                sub.mkdir()
                if body == "flat.ply":
                    (sub / "flat.ply").write_bytes((folder / "flat.ply").read_bytes())
                    (sub / "flat.ply.sites.json").write_bytes(
                        (folder / "flat.ply.sites.json").read_bytes())
                r = _run(sub, body, args.big_rows, 7, ex)
            finally:
                ex.close()
            print(f"{r['rows']}-row fast-preview sweep, 2 workers: {r['wall_s']:.1f} s "
                  f"({r['failed']} failed; target <= 120 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
