"""A small, fast sweep case for the sweep tests: a 70 mm full-round blade on a flat slab.

One row (upright-ish fixed pose, half-space tissue, 8 N) takes about 0.1 s, so a sweep of a
dozen rows runs in a couple of seconds, in this process or on workers.
"""

from __future__ import annotations

from pathlib import Path

import trimesh

from iastm_tools.body import Body, Site
from iastm_tools.profile import Profile
from iastm_tools.sweep import profile_toml
from profile_factory import blade_dict

#: A grid of 3 x 2 variants x 2 sites = 12 rows; the R15 concave is invalid (the chord is
#: 40 mm, so R >= 20 mm): 4 failed rows.
GRID_SPEC = """
[sweep]
profile = "small-fr.toml"
sampling = "grid"

[[parameters]]
name = "concave_radius_mm"
path = "segments[1].radius_mm"
values = [40.0, 60.0, 15.0]

[[parameters]]
path = "thickness_mm"
range = [3.0, 5.0]
steps = 2

[fit]
bodies = ["flat.ply"]
sites = ["calf", "forearm_flexor"]
forces_n = [8.0]
edges = ["concave"]
model = "halfspace"
angle_range_deg = [45.0, 45.0]
rotation_range_deg = [0.0, 0.0]
"""


def make_case(folder: Path) -> Path:
    """Write ``small-fr.toml`` (a 70 x 30 x 4 mm blade with full-round concave R40 and
    convex R60 edges) and ``flat.ply`` (a 300 x 300 x 60 mm slab, skin at z = 0, sites
    "calf" at the origin and "forearm_flexor" 50 mm along +x) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    d = blade_dict(length_mm=70.0, width_mm=30.0, concave_radius_mm=40.0,
                   convex_radius_mm=60.0, end_radius_mm=20.0, style="full_round")
    d["name"] = "small-fr"
    (folder / "small-fr.toml").write_text(profile_toml(Profile.from_dict(d)), encoding="utf-8")
    box = trimesh.creation.box((300.0, 300.0, 60.0))
    box.apply_translation([0.0, 0.0, -30.0])
    sites = {"calf": Site("calf", [0, 0, 0], [0, 0, 1], [1, 0, 0]),
             "forearm_flexor": Site("forearm_flexor", [50, 0, 0], [0, 0, 1], [1, 0, 0])}
    Body("flat", box, sites=sites).save(folder / "flat.ply", force=True)
    return folder


def write_spec(folder: Path, text: str = GRID_SPEC, name: str = "spec.toml") -> Path:
    """Write a spec file next to the case files."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def without_seconds(rows: list[dict]) -> list[dict]:
    """Table rows without the only non-deterministic column (wall time)."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
