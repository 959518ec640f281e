"""Treatment sites: a landmark on the skin with its outward normal, limb axis and patch.

Site names are shared with :mod:`iastm_tools.tissue` (:data:`SITE_NAMES`). For the built-in
bodies the landmarks are placed by rule from joint centres and the MakeHuman region data
(:func:`makehuman_sites`) or from the shape of the OpenLimbTT limb (:func:`openlimbtt_sites`);
they are test set-ups for tool design, not anatomical ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import IastmError
from .queries import SurfaceQuery

__all__ = [
    "MAX_SITE_OFFSET_MM",
    "SITE_NAMES",
    "Site",
    "make_site",
    "makehuman_sites",
    "openlimbtt_sites",
    "sites_from_json",
    "sites_to_json",
]

#: The treatment sites (same keys as the tissue table).
SITE_NAMES: tuple[str, ...] = (
    "forearm_flexor", "forearm_extensor", "calf", "posterior_thigh", "lateral_thigh",
    "lumbar_paraspinals", "upper_trapezius", "achilles", "patellar_tendon", "plantar_fascia",
)
#: A user-given site point farther than this from the surface is refused (mm).
MAX_SITE_OFFSET_MM = 10.0
#: Default patch radius (mm) used to mark each site's region faces.
REGION_RADIUS_MM: dict[str, float] = {
    "forearm_flexor": 40.0, "forearm_extensor": 40.0, "calf": 50.0, "posterior_thigh": 60.0,
    "lateral_thigh": 60.0, "lumbar_paraspinals": 50.0, "upper_trapezius": 40.0,
    "achilles": 25.0, "patellar_tendon": 25.0, "plantar_fascia": 35.0,
}


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(3)
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n < 1e-12:
        raise IastmError(f"site {what}: must be a finite non-zero 3-vector (got {v.tolist()})")
    return v / n


def _frozen(a: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Site:
    """One treatment site on a body (mm, body coordinates).

    name: site key (see SITE_NAMES for the built-in ones). point_mm: landmark on the skin.
    normal: unit outward skin normal there. limb_axis: unit proximal-to-distal direction of
    the limb (for the back: cranial-to-caudal along the spine; for the upper trapezius: neck
    to acromion), projected onto the skin tangent plane so it is a stroke direction.
    region_face_ids: faces of the body mesh that form the site's patch. description: how the
    landmark was placed.
    """

    name: str
    point_mm: np.ndarray
    normal: np.ndarray
    limb_axis: np.ndarray
    region_face_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise IastmError(f"site name: must be a non-empty string (got {self.name!r})")
        p = np.asarray(self.point_mm, dtype=np.float64).reshape(-1)
        if p.shape != (3,) or not np.isfinite(p).all():
            raise IastmError(f"site {self.name}.point_mm: must be 3 finite numbers (got {p})")
        n = _unit(self.normal, f"{self.name}.normal")
        axis = _unit(self.limb_axis, f"{self.name}.limb_axis")
        axis = axis - n * float(axis @ n)
        axis = _unit(axis, f"{self.name}.limb_axis (parallel to the normal)")
        object.__setattr__(self, "point_mm", _frozen(p))
        object.__setattr__(self, "normal", _frozen(n))
        object.__setattr__(self, "limb_axis", _frozen(axis))
        object.__setattr__(self, "region_face_ids",
                           _frozen(np.asarray(self.region_face_ids).reshape(-1), np.int64))

    @property
    def tissue(self):
        """The site's tissue model from the shipped table (:mod:`iastm_tools.tissue`)."""
        from ..tissue import get_site

        return get_site(self.name)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (without the face ids, which belong to one mesh)."""
        return {
            "name": self.name,
            "point_mm": [round(float(x), 3) for x in self.point_mm],
            "normal": [round(float(x), 5) for x in self.normal],
            "limb_axis": [round(float(x), 5) for x in self.limb_axis],
            "region_faces": len(self.region_face_ids),
            "description": self.description,
        }


def _region_faces(
    query: SurfaceQuery, face_normals: np.ndarray, centroids: np.ndarray, point: np.ndarray,
    normal: np.ndarray, radius: float, seed_face: int, allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Faces within ``radius`` of ``point`` facing the same way, connected to ``seed_face``."""
    import trimesh

    cand = np.flatnonzero(
        (np.linalg.norm(centroids - point, axis=1) <= radius) & (face_normals @ normal > 0.3)
    )
    if allowed is not None:
        restricted = cand[allowed[cand]]
        if len(restricted) >= 0.3 * len(cand):
            cand = restricted
    cand = np.union1d(cand, [seed_face])
    mask = np.zeros(len(face_normals), dtype=bool)
    mask[cand] = True
    adj = query.face_adjacency
    adj = adj[mask[adj[:, 0]] & mask[adj[:, 1]]]
    for comp in trimesh.graph.connected_components(adj, nodes=cand):
        if seed_face in comp:
            return np.sort(np.asarray(comp, dtype=np.int64))
    return np.asarray([seed_face], dtype=np.int64)


def make_site(
    name: str, query: SurfaceQuery, point: np.ndarray, limb_axis: np.ndarray, *,
    radius_mm: float | None = None, allowed_faces: np.ndarray | None = None,
    description: str = "", max_offset_mm: float | None = MAX_SITE_OFFSET_MM, source: str = "",
) -> Site:
    """Snap ``point`` to the surface and build the Site (normal from the surface).

    Raises IastmError when the point is more than ``max_offset_mm`` from the surface.
    """
    cp = query.closest(np.asarray(point, dtype=np.float64)[None])
    if max_offset_mm is not None and cp.distance[0] > max_offset_mm:
        raise IastmError(
            f"{source or 'body'}: site {name!r} point {np.round(point, 1).tolist()} mm is "
            f"{cp.distance[0]:.1f} mm from the surface; allowed at most {max_offset_mm:g} mm "
            "(check the units and the coordinates)"
        )
    q, normal, face = cp.points[0], cp.normal[0], int(cp.face[0])
    centroids = query.face_centroids
    radius = radius_mm if radius_mm is not None else REGION_RADIUS_MM.get(name, 40.0)
    region = _region_faces(query, query.face_normals, centroids, q, normal, radius, face,
                           allowed_faces)
    # area-weighted patch normal: smoother than the single closest feature
    patch_n = (query.face_normals[region] * query.face_areas[region, None]).sum(axis=0)
    if np.linalg.norm(patch_n) > 0 and patch_n @ normal > 0:
        near = region[np.linalg.norm(centroids[region] - q, axis=1) <= 0.3 * radius]
        if len(near):
            normal = (query.face_normals[near] * query.face_areas[near, None]).sum(axis=0)
    return Site(name, q, normal, limb_axis, region, description)


def _axis_hit(
    query: SurfaceQuery, origin: np.ndarray, direction: np.ndarray, name: str
) -> np.ndarray:
    dist, _, point = query.ray_first_hit(origin[None], direction[None])
    if not np.isfinite(dist[0]):
        raise IastmError(f"built-in body: cannot place site {name!r} (ray from the limb axis "
                         "missed the surface); the body shape is out of the supported range")
    return point[0]


def _perp(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    v = v - axis * float(v @ axis)
    return v / np.linalg.norm(v)


def makehuman_sites(
    query: SurfaceQuery, base_vertices: np.ndarray, refined_to_base: np.ndarray,
    region_sets: Mapping[str, list[int]], joints: Mapping[str, np.ndarray],
) -> dict[str, Site]:
    """All SITE_NAMES on a MakeHuman body (subject's right side, -X).

    base_vertices: the 13380 body vertices (mm) of this body; refined_to_base: for each face
    of the refined mesh, the nearest base vertex (region membership); joints: joint centres
    (mm) for this body. Rules (A-pose, +Y up, +Z anterior, +X subject's left):
    forearm: 35 % from elbow to wrist, flexor = palmar side (the hand's flat normal, medial-
    inferior in the MakeHuman rest pose), extensor = opposite; calf: 30 % from knee to
    ankle, posterior; posterior / lateral thigh: mid hip-knee, posterior / lateral; lumbar
    paraspinals: 35 mm right of the midline midway between spine joints 3 and 4, posterior;
    upper trapezius: midway neck-shoulder, superior; Achilles: 50 mm above the ankle centre,
    posterior; patellar tendon: 12 % from knee to ankle, anterior; plantar fascia: centre of
    the downward-facing sole vertices in the middle third of the foot (the arch).
    """
    J = {k: np.asarray(v, dtype=np.float64) for k, v in joints.items()}
    right = np.array([-1.0, 0.0, 0.0])
    post = np.array([0.0, 0.0, -1.0])
    up = np.array([0.0, 1.0, 0.0])

    def in_region(*names: str) -> np.ndarray:
        verts = np.zeros(len(base_vertices), dtype=bool)
        for n in names:
            verts[np.asarray(region_sets[n], dtype=np.int64)] = True
        return verts[refined_to_base]

    sites: dict[str, Site] = {}
    # forearm
    elbow, wrist = J["joint-r-elbow"], J["joint-r-hand"]
    fa_axis = (wrist - elbow) / np.linalg.norm(wrist - elbow)
    s = (base_vertices - wrist) @ fa_axis
    hand = base_vertices[(s > 0) & (np.linalg.norm(base_vertices - wrist, axis=1) < 250.0)
                         & (base_vertices[:, 0] < wrist[0] + 60.0)]
    _, _, vt = np.linalg.svd(hand - hand.mean(axis=0), full_matrices=False)
    # Palmar side: the hand's flat normal, medial-inferior in the MakeHuman rest pose. Checked
    # on the mesh: the thumb lies anterior, and for a right hand palm = thumb x fingers
    # (anatomical position: (-X) x (-Y) = +Z, palm forward), which points medial-inferior.
    palm = vt[2] if vt[2] @ np.array([1.0, -1.0, 0.0]) > 0 else -vt[2]
    flex = _perp(palm, fa_axis)
    o = elbow + 0.35 * (wrist - elbow)
    forearm = in_region("forearm_r")
    sides = (("forearm_flexor", flex, "palmar"), ("forearm_extensor", -flex, "dorsal"))
    for name, d, text in sides:
        p = _axis_hit(query, o, d, name)
        sites[name] = make_site(name, query, p, fa_axis, allowed_faces=forearm,
                                description=f"{text} forearm, 35% elbow->wrist")
    knee, ankle, hip = J["joint-r-knee"], J["joint-r-ankle"], J["joint-r-upper-leg"]
    shank = (ankle - knee) / np.linalg.norm(ankle - knee)
    thigh_axis = (knee - hip) / np.linalg.norm(knee - hip)
    p = _axis_hit(query, knee + 0.3 * (ankle - knee), _perp(post, shank), "calf")
    sites["calf"] = make_site("calf", query, p, shank, allowed_faces=in_region("calf_posterior_r"),
                              description="posterior calf (gastrocnemius), 30% knee->ankle")
    mid = hip + 0.5 * (knee - hip)
    thigh = in_region("thigh_r")
    p = _axis_hit(query, mid, _perp(post, thigh_axis), "posterior_thigh")
    sites["posterior_thigh"] = make_site(
        "posterior_thigh", query, p, thigh_axis, allowed_faces=thigh,
        description="posterior mid-thigh (hamstrings), 50% hip->knee")
    p = _axis_hit(query, mid, _perp(right, thigh_axis), "lateral_thigh")
    sites["lateral_thigh"] = make_site(
        "lateral_thigh", query, p, thigh_axis, allowed_faces=thigh,
        description="lateral mid-thigh (iliotibial band), 50% hip->knee")
    s3, s4, s2 = J["joint-spine-3"], J["joint-spine-4"], J["joint-spine-2"]
    lumbar = 0.5 * (s3 + s4) + np.array([-35.0, 0.0, 0.0])
    spine = (J["joint-pelvis"] - s2) / np.linalg.norm(J["joint-pelvis"] - s2)
    p = _axis_hit(query, lumbar, post, "lumbar_paraspinals")
    sites["lumbar_paraspinals"] = make_site(
        "lumbar_paraspinals", query, p, spine, allowed_faces=in_region("lower_back", "mid_back"),
        description="right lumbar erector spinae, 35 mm from the midline, between spine joints 3-4")
    neck, shoulder = J["joint-neck"], J["joint-r-shoulder"]
    p = _axis_hit(query, 0.5 * (neck + shoulder), up, "upper_trapezius")
    sites["upper_trapezius"] = make_site(
        "upper_trapezius", query, p, shoulder - neck,
        description="upper trapezius, top of the shoulder midway neck->acromion")
    p = _axis_hit(query, ankle + np.array([0.0, 50.0, 0.0]), post, "achilles")
    sites["achilles"] = make_site(
        "achilles", query, p, shank, allowed_faces=in_region("achilles_posterior_ankle_r"),
        description="Achilles tendon, 50 mm above the ankle joint centre")
    p = _axis_hit(query, knee + 0.12 * (ankle - knee), _perp(-post, shank), "patellar_tendon")
    sites["patellar_tendon"] = make_site(
        "patellar_tendon", query, p, shank,
        allowed_faces=in_region("knee_anterior_patellar_r"),
        description="patellar tendon, 12% knee->ankle, anterior")
    # plantar fascia: downward-facing vertices near the ground under the right foot
    bv = base_vertices
    ground = float(bv[:, 1].min())
    foot = (bv[:, 0] < 0) & (bv[:, 1] < ground + 25.0) & (np.abs(bv[:, 0] - ankle[0]) < 80.0)
    fv = bv[foot]
    heel_toe = np.array([0.0, 0.0, 1.0])
    z = fv[:, 2]
    zlo, zhi = np.quantile(z, [0.02, 0.98])
    arch = fv[(z > zlo + (zhi - zlo) / 3.0) & (z < zlo + 2.0 * (zhi - zlo) / 3.0)]
    centre = np.array([np.median(arch[:, 0]), ground, np.median(arch[:, 2])])
    p = _axis_hit(query, centre + np.array([0.0, 30.0, 0.0]), -up, "plantar_fascia")
    sites["plantar_fascia"] = make_site(
        "plantar_fascia", query, p, heel_toe,
        description="sole under the arch: middle third heel->toe of the ground-contact vertices")
    return sites


def openlimbtt_sites(query: SurfaceQuery) -> dict[str, Site]:
    """Sites on the OpenLimbTT residual limb (mm; +Z proximal, -Y anterior, inferred).

    patellar_tendon: anterior surface 30 mm below the patellar prominence (the most anterior
    point above z = 0); calf: posterior surface at z = -20 mm (proximal posterior shank).
    The limb axis is -Z (proximal to distal).
    """
    v = query.vertices
    distal = np.array([0.0, 0.0, -1.0])
    upper = v[(v[:, 2] > 0) & (v[:, 2] < 90)]
    apex = upper[np.argmin(upper[:, 1])]
    level = apex[2] - 30.0
    ring = v[np.abs(v[:, 2] - level) < 5.0]
    centre = np.array([ring[:, 0].mean(), ring[:, 1].mean(), level])
    p = _axis_hit(query, centre, np.array([0.0, -1.0, 0.0]), "patellar_tendon")
    sites = {"patellar_tendon": make_site(
        "patellar_tendon", query, p, distal,
        description="anterior knee 30 mm below the patellar prominence")}
    ring = v[np.abs(v[:, 2] + 20.0) < 5.0]
    centre = np.array([ring[:, 0].mean(), ring[:, 1].mean(), -20.0])
    p = _axis_hit(query, centre, np.array([0.0, 1.0, 0.0]), "calf")
    sites["calf"] = make_site("calf", query, p, distal,
                              description="proximal posterior shank at z = -20 mm")
    return sites


def sites_to_json(sites: Mapping[str, Site]) -> dict[str, Any]:
    """Sidecar form: {name: {point_mm, limb_axis, normal, description}}."""
    return {n: {k: v for k, v in s.as_dict().items() if k != "region_faces"}
            for n, s in sites.items()}


def sites_from_json(
    data: Mapping[str, Any], query: SurfaceQuery, *, source: str
) -> dict[str, Site]:
    """Build sites from a sidecar mapping; each needs ``point_mm`` and ``limb_axis``.

    Points are snapped to the surface (refused beyond MAX_SITE_OFFSET_MM); normals are
    recomputed from the surface.
    """
    if not isinstance(data, Mapping):
        raise IastmError(f"{source}: sites must be a JSON object name -> {{point_mm, limb_axis}}")
    out = {}
    for name, spec in data.items():
        if not isinstance(spec, Mapping) or "point_mm" not in spec or "limb_axis" not in spec:
            raise IastmError(
                f"{source}: site {name!r} needs 'point_mm' [x, y, z] and 'limb_axis' [x, y, z]"
            )
        try:
            point = np.asarray(spec["point_mm"], dtype=np.float64).reshape(3)
            axis = np.asarray(spec["limb_axis"], dtype=np.float64).reshape(3)
        except (TypeError, ValueError) as exc:
            raise IastmError(f"{source}: site {name!r}: point_mm and limb_axis must be "
                             f"3 numbers each ({exc})") from None
        if not (np.isfinite(point).all() and np.isfinite(axis).all()):
            raise IastmError(f"{source}: site {name!r}: point_mm/limb_axis must be finite")
        out[str(name)] = make_site(str(name), query, point, axis,
                                   description=str(spec.get("description", "user site")),
                                   source=source)
    return out
