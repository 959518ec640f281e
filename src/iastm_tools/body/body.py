"""``Body``: a triangle surface in mm with named treatment sites and per-site tissue.

Load a built-in body by name (:data:`BUILTIN_BODIES`) or any scan file::

    body = Body.load("default")                # MakeHuman adult, built once then cached
    body = Body.load("scan.stl", units="mm")   # a user scan, repaired, report in body.repairs
    k1, k2, d1, d2 = body.curvature_at(body.site("calf").point_mm)

Built MakeHuman bodies are cached as ``.npz`` under :func:`.paths.body_cache_dir`.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IastmError
from ..fileio import write_text_atomic
from .makehuman import BodyParams, base_mesh_mm, body_vertices_mm, regions
from .mesh_io import read_mesh_arrays, write_mesh
from .queries import SurfaceQuery
from .refine import loop_subdivide, refine_region
from .repair import DEFAULT_MAX_HOLE_PERIMETER_MM, RepairReport, repair_mesh, resample_mesh
from .sites import (
    MAX_SITE_OFFSET_MM,
    Site,
    makehuman_sites,
    openlimbtt_sites,
    sites_from_json,
    sites_to_json,
)
from .units import resolve_units

__all__ = [
    "BUILTIN_BODIES",
    "RESAMPLE_ABOVE_FACES",
    "RESAMPLE_TARGET_FACES",
    "Body",
    "BodyRepairWarning",
    "build_makehuman",
    "load_body",
]

#: Built-in bodies: name -> description.
BUILTIN_BODIES: dict[str, str] = {
    "default": "MakeHuman hm08 neutral adult (sex 0.5, 25 y, average muscle/weight), CC0",
    "female": "MakeHuman hm08 adult female (sex 0), CC0",
    "male": "MakeHuman hm08 adult male (sex 1), CC0",
    "openlimbtt_knee": "OpenLimbTT mean transtibial residual-limb skin (real-data mean of 33 "
                       "MRI/CT limbs), CC BY-SA 4.0",
}
_NAMED_PARAMS = {"default": BodyParams(), "female": BodyParams(sex=0.0),
                 "male": BodyParams(sex=1.0)}
#: Scans with at least this many faces are resampled (contact needs ~1-2 mm edges).
RESAMPLE_ABOVE_FACES = 2_000_000
#: Most faces a resampled scan keeps.
RESAMPLE_TARGET_FACES = 1_000_000
#: Edge length (mm) a resampled scan is brought to (at most RESAMPLE_TARGET_FACES faces).
#: A design choice, not a sourced constant: finer than the 2-3 mm site resolution of the
#: built-in bodies, which the contact fit is written for.
RESAMPLE_EDGE_MM = 1.0
#: Target edge length (mm) on the treatment-site regions of MakeHuman bodies.
SITE_MAX_EDGE_MM = 4.0
#: Bump when the build changes so stale cache files are not reused.
BUILD_VERSION = 4
#: Site regions refined to SITE_MAX_EDGE_MM (MakeHuman region names, right side).
_REFINED_REGIONS = ("forearm_r", "thigh_r", "lower_leg_r", "knee_anterior_patellar_r",
                    "achilles_posterior_ankle_r", "neck", "upper_back", "mid_back",
                    "lower_back")


class BodyRepairWarning(UserWarning):
    """A scan was repaired or resampled on loading."""


@dataclass(eq=False)
class Body:
    """A body surface (mm) with treatment sites.

    name: body name or file stem. mesh: trimesh.Trimesh in mm (do not edit in place; build
    a new Body instead). sites: name -> Site. units: unit the source was read in. source:
    file or generator. repairs: what loading changed. notes: unit assumptions, licence and
    other messages for reports. params: MakeHuman parameters for generated bodies.
    """

    name: str
    mesh: Any
    sites: dict[str, Site] = field(default_factory=dict)
    units: str = "mm"
    source: str = ""
    repairs: RepairReport = field(default_factory=RepairReport)
    notes: list[str] = field(default_factory=list)
    params: BodyParams | None = None
    license: str = ""
    _query: SurfaceQuery | None = field(default=None, repr=False)
    _vtree: Any = field(default=None, repr=False)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        name_or_path: str | Path,
        units: str | None = None,
        *,
        sites: Mapping[str, Any] | str | Path | None = None,
        max_hole_perimeter_mm: float = DEFAULT_MAX_HOLE_PERIMETER_MM,
        resample_above_faces: int = RESAMPLE_ABOVE_FACES,
        target_faces: int = RESAMPLE_TARGET_FACES,
    ) -> Body:
        """A built-in body by name, or a scan file (STL, OBJ, PLY, OFF, GLB/GLTF).

        units: "mm", "cm", "m", "in" or None (detected from the size, with a warning).
        sites: a mapping or JSON file {name: {point_mm, limb_axis}}; default: the sidecar
        ``<file>.sites.json`` if present. Repairs are listed in ``body.repairs`` and warned.
        """
        key = str(name_or_path)
        if key in BUILTIN_BODIES and not Path(key).suffix:
            if units not in (None, "mm"):
                raise IastmError(f"body {key!r}: built-in bodies are in mm; do not pass units")
            if key == "openlimbtt_knee":
                return load_openlimbtt()
            body = build_makehuman(_NAMED_PARAMS[key])
            body.name = key
            return body
        path = Path(name_or_path)
        if not path.exists():
            raise IastmError(
                f"{path}: no such file and not a built-in body; built-in bodies: "
                f"{', '.join(BUILTIN_BODIES)}"
            )
        return load_scan(path, units=units, sites=sites,
                         max_hole_perimeter_mm=max_hole_perimeter_mm,
                         resample_above_faces=resample_above_faces, target_faces=target_faces)

    @classmethod
    def make(cls, params: BodyParams) -> Body:
        """Build (or fetch from the cache) a MakeHuman body with ``params``."""
        return build_makehuman(params)

    # ------------------------------------------------------------------ queries
    @property
    def query(self) -> SurfaceQuery:
        """The spatial index (built on first use)."""
        if self._query is None:
            self._query = SurfaceQuery(self.mesh.vertices, self.mesh.faces)
        return self._query

    def site(self, name: str) -> Site:
        """The site ``name``; IastmError listing the available sites otherwise."""
        try:
            return self.sites[name]
        except KeyError:
            avail = ", ".join(self.sites) or "none (pass sites= or a <scan>.sites.json)"
            raise IastmError(f"body {self.name!r}: unknown site {name!r}; available: {avail}") \
                from None

    def tissue(self, site_name: str):
        """Tissue model (``SiteTissue``) of a site name, from the shipped tissue table."""
        try:
            from ..tissue import get_site
        except ImportError as exc:
            raise IastmError(f"tissue model unavailable ({exc})") from exc
        return get_site(site_name)

    def closest(self, points_mm: np.ndarray):
        """Closest surface points (see :class:`.queries.ClosestPoints`)."""
        return self.query.closest(points_mm)

    def signed_distance(self, points_mm: np.ndarray) -> np.ndarray:
        """Signed distance (mm) of points: + outside the skin (gap), - inside (penetration)."""
        return self.query.signed_distance(points_mm)

    def ray_cast(
        self, origins_mm: np.ndarray, directions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hits: ``(distance_mm, face, point_mm)``; misses give inf, -1, NaN."""
        return self.query.ray_first_hit(origins_mm, directions)

    def curvature_at(
        self, point_mm: np.ndarray, radius_mm: float | None = None
    ) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Principal curvatures (1/mm, k1 >= k2, convex positive) and unit directions.

        point_mm: a point on or within MAX_SITE_OFFSET_MM of the surface (it is projected).
        radius_mm: fit neighbourhood; default 4x the local edge length, grown until at least
        60 vertices are inside. See :mod:`.curvature`.
        """
        from scipy.spatial import cKDTree

        from .curvature import MIN_FIT_POINTS, fit_principal_curvatures

        p = np.asarray(point_mm, dtype=np.float64).reshape(3)
        cp = self.query.closest(p[None])
        if cp.distance[0] > MAX_SITE_OFFSET_MM:
            raise IastmError(
                f"body {self.name!r}: point {np.round(p, 1).tolist()} mm is "
                f"{cp.distance[0]:.1f} mm from the surface; allowed at most "
                f"{MAX_SITE_OFFSET_MM:g} mm"
            )
        q, n, face = cp.points[0], cp.normal[0], int(cp.face[0])
        if self._vtree is None:
            self._vtree = cKDTree(self.mesh.vertices)
        v = self.mesh.vertices
        if radius_mm is None:
            tri = v[self.mesh.faces[face]]
            edge = float(np.linalg.norm(tri - np.roll(tri, 1, axis=0), axis=1).mean())
            r = 4.0 * edge
            for _ in range(12):
                idx = self._vtree.query_ball_point(q, r)
                if len(idx) >= 1.5 * MIN_FIT_POINTS:
                    break
                r *= 1.5
        else:
            r = float(radius_mm)
            if not (np.isfinite(r) and r > 0):
                raise IastmError(f"curvature radius_mm must be > 0 (got {radius_mm!r})")
        idx = np.asarray(self._vtree.query_ball_point(q, r), dtype=np.int64)
        # keep the sheet the point is on (not the other side of a thin part)
        idx = idx[(v[idx] - q) @ n > -0.5 * r]
        k1, k2, d1, d2, _ = fit_principal_curvatures(v[idx], q, n, r)
        return k1, k2, d1, d2

    def patch(self, site: str | Site, radius_mm: float):
        """The surface within ``radius_mm`` of a site, connected to it (trimesh, mm)."""
        s = site if isinstance(site, Site) else self.site(site)
        return self.crop(s.point_mm, radius_mm)

    def crop(self, center_mm: np.ndarray, radius_mm: float):
        """Faces whose centroid is within ``radius_mm`` of the surface point nearest
        ``center_mm`` and connected to it; returns a new trimesh.Trimesh (mm)."""
        import trimesh

        if not (np.isfinite(radius_mm) and radius_mm > 0):
            raise IastmError(f"patch radius_mm must be > 0 (got {radius_mm!r})")
        cp = self.query.closest(np.asarray(center_mm, dtype=np.float64).reshape(1, 3))
        seed = int(cp.face[0])
        cand = np.flatnonzero(
            np.linalg.norm(self.query.face_centroids - cp.points[0], axis=1) <= radius_mm
        )
        cand = np.union1d(cand, [seed])
        mask = np.zeros(len(self.mesh.faces), dtype=bool)
        mask[cand] = True
        adj = self.query.face_adjacency
        adj = adj[mask[adj[:, 0]] & mask[adj[:, 1]]]
        keep = next(c for c in trimesh.graph.connected_components(adj, nodes=cand) if seed in c)
        return self.mesh.submesh([np.sort(np.asarray(keep))], append=True, repair=False)

    # ------------------------------------------------------------------ reporting
    def info(self, *, with_tissue: bool = True, with_curvature: bool = True) -> dict[str, Any]:
        """Summary for ``iastm body info``: size, units, repairs, sites, curvature, tissue."""
        m = self.mesh
        edges = m.edges_unique_length
        out: dict[str, Any] = {
            "name": self.name,
            "source": self.source,
            "license": self.license,
            "units": self.units,
            "vertices": len(m.vertices),
            "faces": len(m.faces),
            "extent_mm": [round(float(x), 1) for x in np.ptp(m.vertices, axis=0)],
            "mean_edge_mm": round(float(edges.mean()), 3),
            "watertight": bool(m.is_watertight),
            "area_mm2": round(float(m.area), 1),
            "volume_ml": round(float(m.volume) / 1000.0, 1) if m.is_watertight else None,
            "repairs": self.repairs.lines(),
            "open_boundaries_mm": list(self.repairs.open_boundaries_mm),
            "notes": list(self.notes),
            "params": None if self.params is None else self.params.as_dict(),
            "sites": {},
        }
        for name, s in self.sites.items():
            d = s.as_dict()
            region = s.region_face_ids
            if len(region):
                d["region_mean_edge_mm"] = round(float(
                    m.edges_unique_length[m.faces_unique_edges[region]].mean()), 3)
            if with_curvature:
                k1, k2, d1, _ = self.curvature_at(s.point_mm)
                d["curvature_per_mm"] = [round(k1, 6), round(k2, 6)]
                d["radius_of_curvature_mm"] = [
                    round(1.0 / k, 1) if abs(k) > 1e-9 else None for k in (k1, k2)]
                d["dir1"] = [round(float(x), 4) for x in d1]
            if with_tissue:
                d["tissue"] = _tissue_summary(self, name)
            out["sites"][name] = d
        return out

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the mesh (format by suffix, mm) and ``<path>.sites.json`` with the sites."""
        path = Path(path)
        write_mesh(path, self.mesh.vertices, self.mesh.faces, force=force)
        sidecar = {"units": "mm", "name": self.name, "source": self.source,
                   "params": None if self.params is None else self.params.as_dict(),
                   "sites": sites_to_json(self.sites)}
        write_text_atomic(Path(f"{path}.sites.json"), json.dumps(sidecar, indent=1), force=force)
        return path


def _tissue_summary(body: Body, name: str) -> dict[str, Any]:
    try:
        t = body.tissue(name)
    except IastmError as exc:
        return {"error": str(exc)}
    return {
        "layers": [{"name": getattr(layer, "name", ""),
                    "thickness_mm": getattr(layer, "thickness_mm", None),
                    "youngs_kpa": getattr(layer, "youngs_kpa", None)} for layer in t.layers],
        "depth_to_bone_mm": t.depth_to_bone_mm,
        "ppt_kpa": t.ppt_kpa,
        "friction": t.friction,
    }


def load_body(name_or_path: str | Path, units: str | None = None, **kwargs: Any) -> Body:
    """Same as :meth:`Body.load`."""
    return Body.load(name_or_path, units, **kwargs)


# ---------------------------------------------------------------------- scans
def load_scan(
    path: Path,
    *,
    units: str | None,
    sites: Mapping[str, Any] | str | Path | None = None,
    max_hole_perimeter_mm: float = DEFAULT_MAX_HOLE_PERIMETER_MM,
    resample_above_faces: int = RESAMPLE_ABOVE_FACES,
    target_faces: int = RESAMPLE_TARGET_FACES,
) -> Body:
    """Read, scale to mm, repair (and resample if huge) a scan; attach its sites."""
    import trimesh

    source = str(path)
    raw_v, raw_f = read_mesh_arrays(path)
    sidecar_path = Path(f"{path}.sites.json")
    sidecar: dict[str, Any] = {}
    if sites is None and sidecar_path.is_file():
        try:
            sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise IastmError(f"{sidecar_path}: not valid JSON ({exc})") from None
        if units is None and sidecar.get("units"):
            units = str(sidecar["units"])
    finite = np.isfinite(raw_v).all(axis=1)
    if not finite.any():
        raise IastmError(f"{source}: every vertex is NaN or infinite")
    extent = float(np.ptp(raw_v[finite], axis=0).max())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        choice = resolve_units(extent, units, source=source)
    notes = [str(w.message) for w in caught]
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=3)
    mesh, report = repair_mesh(raw_v * choice.scale_to_mm, raw_f, source=source,
                               max_hole_perimeter_mm=max_hole_perimeter_mm)
    if path.suffix.lower() == ".stl":  # STL stores every triangle's corners: welding is normal
        report.welded_stl_corners, report.merged_vertices = report.merged_vertices, 0
    if len(mesh.faces) >= resample_above_faces:
        # enough faces for RESAMPLE_EDGE_MM equilateral triangles, at most target_faces
        needed = int(mesh.area / (np.sqrt(3.0) / 4.0 * RESAMPLE_EDGE_MM**2))
        goal = max(1000, min(target_faces, needed))
        if goal < 0.9 * len(mesh.faces):
            mesh, report.resample = resample_mesh(mesh, target_faces=goal, source=source)
    if report.changed:
        msg = f"{source}: repaired on load: " + "; ".join(report.lines())
        notes.append(msg)
        warnings.warn(msg, BodyRepairWarning, stacklevel=3)
    body = Body(name=path.stem, mesh=trimesh.Trimesh(mesh.vertices, mesh.faces, process=False),
                units=choice.units, source=source, repairs=report, notes=notes)
    spec: Any = sites
    if isinstance(sites, str | Path):
        try:
            spec = json.loads(Path(sites).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise IastmError(f"{sites}: cannot read sites JSON ({exc})") from None
        spec = spec.get("sites", spec) if isinstance(spec, dict) else spec
    elif sites is None and sidecar:
        spec = sidecar.get("sites", {})
    if spec:
        body.sites = sites_from_json(spec, body.query, source=source)
    return body


def load_openlimbtt() -> Body:
    """The OpenLimbTT knee/shank (CC BY-SA 4.0 data) with its sites."""
    from .paths import body_scans_dir

    folder = body_scans_dir() / "openlimbtt"
    path = folder / "openlimbtt_2025-04_mean_skin_fullsize_mm.stl"
    body = load_scan(path, units="mm")
    body.name = "openlimbtt_knee"
    body.license = ("CC BY-SA 4.0 (data): OpenLimbTT mean residual-limb skin shape, Sunderland "
                    "et al. 2024 (abel-research/OpenLimb); winding of 19 faces corrected")
    body.notes.append("open surface: proximal cut of the thigh is a real boundary (not filled)")
    body.sites = openlimbtt_sites(body.query)
    return body


# ---------------------------------------------------------------------- MakeHuman
def _joints_mm(body_v: np.ndarray) -> dict[str, np.ndarray]:
    """Joint centres (mm) carried along with the body: each joint is the mean of its 40
    nearest neutral-body vertices plus the neutral offset (MakeHuman joints are vertex
    anchored in the same spirit: its joint helper cubes move with the targets)."""
    from scipy.spatial import cKDTree

    base, _ = base_mesh_mm()
    tree = cKDTree(base)
    out = {}
    for name, c in regions()["joint_centers_m"].items():
        c = np.asarray(c) * 1000.0
        _, idx = tree.query(c, k=40)
        out[name] = body_v[idx].mean(axis=0) + (c - base[idx].mean(axis=0))
    return out


def _refined_geometry(params: BodyParams) -> dict[str, np.ndarray]:
    from scipy.spatial import cKDTree

    bv = body_vertices_mm(params)
    _, bf = base_mesh_mm()
    reg = regions()["regions"]
    joints = _joints_mm(bv)
    v, f = loop_subdivide(bv, bf, 2)
    btree = cKDTree(bv)
    _, near = btree.query(v[f].mean(axis=1), workers=-1)
    wanted = np.zeros(len(bv), dtype=bool)
    for name in _REFINED_REGIONS:
        wanted[np.asarray(reg[name], dtype=np.int64)] = True
    ankle = joints["joint-r-ankle"]
    wanted |= (bv[:, 0] < 0) & (bv[:, 1] < ankle[1] + 30.0)  # right foot (plantar fascia)
    v, f, _ = refine_region(v, f, wanted[near], max_edge_mm=SITE_MAX_EDGE_MM, max_passes=3)
    return {"vertices": v, "faces": f.astype(np.int32), "base_vertices": bv,
            "joints": np.array([joints[k] for k in sorted(joints)]),
            "joint_names": np.array(sorted(joints))}


def _sites_to_arrays(sites: Mapping[str, Site]) -> dict[str, np.ndarray]:
    names = list(sites)
    ids = [sites[n].region_face_ids for n in names]
    return {
        "site_names": np.array(names),
        "site_points": np.array([sites[n].point_mm for n in names]),
        "site_normals": np.array([sites[n].normal for n in names]),
        "site_axes": np.array([sites[n].limb_axis for n in names]),
        "site_offsets": np.cumsum([0] + [len(i) for i in ids]),
        "site_faces": np.concatenate(ids),
        "site_descriptions": np.array([sites[n].description for n in names]),
    }


def _sites_from_arrays(d: Mapping[str, np.ndarray]) -> dict[str, Site]:
    out = {}
    off = d["site_offsets"]
    for i, n in enumerate(d["site_names"]):
        out[str(n)] = Site(str(n), d["site_points"][i], d["site_normals"][i], d["site_axes"][i],
                           d["site_faces"][off[i]:off[i + 1]], str(d["site_descriptions"][i]))
    return out


def build_makehuman(params: BodyParams, *, use_cache: bool = True) -> Body:
    """A MakeHuman body for ``params``: built once (~seconds), then read from the cache."""
    import trimesh
    from scipy.spatial import cKDTree

    from .paths import body_cache_dir

    cache = body_cache_dir() / f"makehuman_v{BUILD_VERSION}_{params.key()}.npz"
    t0 = time.perf_counter()
    data: dict[str, np.ndarray] | None = None
    if use_cache and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError):
            data = None  # a corrupt cache file is rebuilt
    built = data is None
    body = Body(name="makehuman", mesh=None, units="mm", params=params,
                source=f"MakeHuman hm08 + CC0 targets, {params.as_dict()}",
                license="CC0 1.0 (MakeHuman base mesh hm08 and targets, makehumancommunity.org)")
    if data is None:
        data = _refined_geometry(params)
        body.mesh = trimesh.Trimesh(data["vertices"], data["faces"].astype(np.int64),
                                    process=False)
        joints = dict(zip((str(n) for n in data["joint_names"]), data["joints"], strict=True))
        bv = data["base_vertices"]
        _, near = cKDTree(bv).query(body.query.face_centroids, workers=-1)
        body.sites = makehuman_sites(body.query, bv, near, regions()["regions"], joints)
        data.update(_sites_to_arrays(body.sites))
        if use_cache:
            tmp = cache.with_name(f".{cache.stem}.{np.random.default_rng().integers(1 << 30)}.npz")
            np.savez(tmp, **data)
            tmp.replace(cache)
    else:
        body.mesh = trimesh.Trimesh(data["vertices"], data["faces"].astype(np.int64),
                                    process=False)
        body.sites = _sites_from_arrays(data)
    body.notes.append(
        f"{'built' if built else 'loaded from cache'} in {time.perf_counter() - t0:.2f} s "
        f"({cache})")
    return body
