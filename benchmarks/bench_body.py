"""Benchmarks for iastm_tools.body; prints its figures (no assertions).

1. 100k signed-distance queries and 100k rays against a ~430k-face body mesh (the MakeHuman
   body after two Loop subdivisions); target <= 1 s each on a 2-core machine.
2. Default body build time: cold (empty cache) and cached.

Run: .venv/bin/python benchmarks/bench_body.py
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np


def _timed(label: str, fn):
    """Run fn; print wall time and process CPU time (all threads; less sensitive to other
    load on a shared machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{label:50s} wall {wall:7.3f} s   cpu {cpu:7.3f} s")
    return out


def main() -> None:
    import trimesh

    from iastm_tools.body import SurfaceQuery
    from iastm_tools.body.body import build_makehuman
    from iastm_tools.body.makehuman import BodyParams, base_mesh_mm, body_vertices_mm
    from iastm_tools.body.refine import loop_subdivide

    print(f"cpus: {os.cpu_count()}")
    _, f = base_mesh_mm()
    v, f = loop_subdivide(body_vertices_mm(BodyParams()), f, 2)
    mesh = trimesh.Trimesh(v, f, process=False)
    print(f"mesh: {len(f)} faces, {len(v)} vertices")
    rng = np.random.default_rng(0)
    pts, fid = trimesh.sample.sample_surface(mesh, 100_000, seed=1)
    pts = pts + mesh.face_normals[fid] * rng.uniform(-20.0, 20.0, (len(pts), 1))

    q = _timed("index build (k-d tree, pseudo-normals)", lambda: SurfaceQuery(v, f))
    print(f"load average: {os.getloadavg()[0]:.2f}")
    sd = _timed("100k signed-distance queries", lambda: q.signed_distance(pts))
    print(f"    mean |d| {np.abs(sd).mean():.2f} mm, inside {np.mean(sd < 0):.1%}")
    sub = np.arange(0, len(pts), 50)
    ex = q.signed_distance(pts[sub], exact=True)
    print(f"    max difference to the certified-exact answer on {len(sub)} points: "
          f"{np.abs(ex - sd[sub]).max():.2e} mm")
    dirs = rng.normal(size=(100_000, 3))
    _timed(f"ray index build ({q.ray_engine}, first ray)",
           lambda: q.ray_first_hit(pts[:1], dirs[:1]))
    _, face, _ = _timed("100k rays (first hit)", lambda: q.ray_first_hit(pts, dirs))
    print(f"    hits {np.mean(face >= 0):.1%}")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["IASTM_CACHE_DIR"] = tmp
        b = _timed("default body build, cold (empty cache)",
                   lambda: build_makehuman(BodyParams()))
        print(f"    {len(b.mesh.faces)} faces, watertight {b.mesh.is_watertight}")
        _timed("default body load, cached", lambda: build_makehuman(BodyParams()))


if __name__ == "__main__":
    main()
