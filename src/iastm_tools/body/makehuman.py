"""Parametric adult body from the CC0 MakeHuman hm08 base mesh and its macro/measure targets.

The body is ``base + sum(weight_i * target_i)`` (MakeHuman 1.1 macro-modifier rules, see
``body_scans/makehuman/makehuman_macrodetails_adult/SOURCE.md``), converted to mm, then
refined: two Loop subdivisions of the whole body (about 2.5 mm mean edge overall) and a
local red-green refinement of the treatment-site regions to edges <= 3 mm. numpy only;
no MakeHuman install is needed. Axes: +Y up, +Z anterior, +X the subject's left.
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import IastmError
from .paths import body_scans_dir

__all__ = [
    "BODY_VERTEX_COUNT",
    "GIRTH_TARGETS",
    "BodyParams",
    "base_mesh_mm",
    "body_vertices_mm",
    "makehuman_dir",
    "regions",
]

#: Vertices of the MakeHuman ``body`` group; target indices >= this are helper geometry.
BODY_VERTEX_COUNT = 13380
#: MakeHuman target deltas are in decimetres; x100 gives mm.
DM_TO_MM = 100.0
#: Local girth/length sliders -> MakeHuman measure target stem.
GIRTH_TARGETS: dict[str, str] = {
    "calf": "measure-calf-circ",
    "thigh": "measure-thigh-circ",
    "knee": "measure-knee-circ",
    "ankle": "measure-ankle-circ",
    "wrist": "measure-wrist-circ",
    "neck": "measure-neck-circ",
    "upperarm": "measure-upperarm-circ",
    "lowerarm_length": "measure-lowerarm-length",
}


def makehuman_dir() -> Path:
    """``body_scans/makehuman``."""
    return body_scans_dir() / "makehuman"


@dataclass(frozen=True)
class BodyParams:
    """Parameters of a MakeHuman adult (MakeHuman 1.1 modifier semantics).

    sex: 0 = female ... 1 = male (MakeHuman "gender"). age_years: 25 ... 90 (adult range of
    the shipped targets). muscle, weight: 0 ... 1, 0.5 = average. race_african, race_asian,
    race_caucasian: mix weights >= 0 (normalised to sum 1; default equal). Girth sliders
    (calf, thigh, knee, ankle, wrist, neck, upperarm, lowerarm_length): -1 ... 1, MakeHuman
    measure targets, 0 = unchanged.
    """

    sex: float = 0.5
    age_years: float = 25.0
    muscle: float = 0.5
    weight: float = 0.5
    race_african: float = 1.0 / 3.0
    race_asian: float = 1.0 / 3.0
    race_caucasian: float = 1.0 / 3.0
    calf: float = 0.0
    thigh: float = 0.0
    knee: float = 0.0
    ankle: float = 0.0
    wrist: float = 0.0
    neck: float = 0.0
    upperarm: float = 0.0
    lowerarm_length: float = 0.0

    def __post_init__(self) -> None:
        def check(name: str, lo: float, hi: float) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise IastmError(f"body parameter {name}: must be a number (got {value!r})")
            if not (np.isfinite(value) and lo <= value <= hi):
                raise IastmError(
                    f"body parameter {name}: {value!r} is out of range; allowed {lo:g} .. {hi:g}"
                )

        check("sex", 0.0, 1.0)
        check("age_years", 25.0, 90.0)
        check("muscle", 0.0, 1.0)
        check("weight", 0.0, 1.0)
        for race in ("race_african", "race_asian", "race_caucasian"):
            check(race, 0.0, 1.0)
        if self.race_african + self.race_asian + self.race_caucasian <= 0:
            raise IastmError("body parameter race_*: at least one race weight must be > 0")
        for name in GIRTH_TARGETS:
            check(name, -1.0, 1.0)

    def as_dict(self) -> dict[str, float]:
        """Plain dict of all parameters."""
        return {k: float(v) for k, v in asdict(self).items()}

    def key(self) -> str:
        """Stable short hash of the parameters (cache file names)."""
        import hashlib

        text = json.dumps({k: round(v, 6) for k, v in self.as_dict().items()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def base_mesh_mm() -> tuple[np.ndarray, np.ndarray]:
    """The neutral hm08 body: ``(vertices (13380,3) mm, faces (26756,3))``, read-only."""
    path = makehuman_dir() / "makehuman_hm08_body_m.obj"
    verts, quads = [], []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("v "):
                verts.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                quads.append([int(t.split("/")[0]) - 1 for t in line.split()[1:]])
    v = np.asarray(verts) * 1000.0
    tris = []
    for q in quads:
        tris.extend([q[0], q[i], q[i + 1]] for i in range(1, len(q) - 1))
    f = np.asarray(tris, dtype=np.int64)
    if len(v) != BODY_VERTEX_COUNT:
        raise IastmError(f"{path}: expected {BODY_VERTEX_COUNT} vertices, found {len(v)}")
    v.setflags(write=False)
    f.setflags(write=False)
    return v, f


@functools.lru_cache(maxsize=128)
def _target(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A MakeHuman target as ``(indices, deltas_mm)`` restricted to the body vertices."""
    if not path.is_file():
        raise IastmError(f"{path}: MakeHuman target missing from body_scans/")
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 4 and not line.startswith("#"):
                rows.append((int(parts[0]), float(parts[1]), float(parts[2]), float(parts[3])))
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty((0, 3))
    arr = np.asarray(rows)
    keep = arr[:, 0] < BODY_VERTEX_COUNT
    return arr[keep, 0].astype(np.int64), arr[keep, 1:] * DM_TO_MM


def _macro_weights(p: BodyParams) -> list[tuple[str, float]]:
    """(target stem, weight) pairs of the macro targets (SOURCE.md rules)."""
    gender = {"female": 1.0 - p.sex, "male": p.sex}
    a = 0.5 + 0.5 * (p.age_years - 25.0) / 65.0
    old = 2.0 * a - 1.0
    age = {"young": 1.0 - old, "old": old}

    def tri(x: float, names: tuple[str, str, str]) -> dict[str, float]:
        lo = max(0.0, 1.0 - 2.0 * x)
        hi = max(0.0, 2.0 * x - 1.0)
        return {names[0]: lo, names[1]: 1.0 - lo - hi, names[2]: hi}

    muscle = tri(p.muscle, ("minmuscle", "averagemuscle", "maxmuscle"))
    weight = tri(p.weight, ("minweight", "averageweight", "maxweight"))
    total = p.race_african + p.race_asian + p.race_caucasian
    race = {"african": p.race_african / total, "asian": p.race_asian / total,
            "caucasian": p.race_caucasian / total}
    out = []
    for g, wg in gender.items():
        for ag, wa in age.items():
            for m, wm in muscle.items():
                for w, ww in weight.items():
                    out.append((f"universal-{g}-{ag}-{m}-{w}", wg * wa * wm * ww))
            for r, wr in race.items():
                out.append((f"{r}-{g}-{ag}", wr * wg * wa))
    return [(stem, wt) for stem, wt in out if wt > 1e-9]


def body_vertices_mm(params: BodyParams) -> np.ndarray:
    """Vertices (13380, 3) in mm of the body with ``params`` (same faces as the base)."""
    base, _ = base_mesh_mm()
    v = base.copy()
    folder = makehuman_dir()
    for stem, wt in _macro_weights(params):
        idx, delta = _target(folder / "makehuman_macrodetails_adult" / f"{stem}.target.gz")
        np.add.at(v, idx, wt * delta)
    for name, stem in GIRTH_TARGETS.items():
        value = getattr(params, name)
        if value == 0:
            continue
        suffix, wt = ("incr", value) if value > 0 else ("decr", -value)
        idx, delta = _target(folder / "makehuman_measure_targets" / f"{stem}-{suffix}.target.gz")
        np.add.at(v, idx, wt * delta)
    return v


@functools.lru_cache(maxsize=1)
def regions() -> dict:
    """The region JSON (vertex index sets and joint centres in metres)."""
    path = makehuman_dir() / "makehuman_hm08_regions.json"
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)
