"""Working-edge contours: each treatment edge as a sampled 3D curve with its cross-section.

A contour runs along the apex of the finished edge (the outermost point of its section:
the honed apex of a bevel, the crown of a full round, mid-height of a square edge), over the
part of the edge that carries the full section (bevel run-outs excluded). Each sample
carries the outward normal in the plate plane, the unit tangent, the signed curvature of
the apex line (1/mm, + convex, - concave) and the arc length from the contour start (mm).
These are the inputs of fitting: pose search places this curve and its section on skin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .outline import Outline, runout_plan
from .profile import Profile
from .section import EdgeSection, edge_section

#: Default sample spacing along a contour (mm): finer than the ~2-3 mm skin mesh used in
#: fitting and than any contact half-width of interest.
DEFAULT_SPACING_MM = 0.5


@dataclass(frozen=True, eq=False)
class Contour:
    """One working edge as sampled 3D geometry (mm; plate from z = 0 to thickness).

    segment_index: the profile segment (``segments[i]``) this edge belongs to.
    points_mm, normals, tangents: (N, 3) arrays; normals are outward, in the plate plane.
    curvature_per_mm: (N,) signed curvature of the apex line (+ convex, - concave).
    arc_length_mm: (N,) distance along the contour from its first sample.
    section: the finished cross-section (style, angle, apex radius, exact geometry).
    ends: how the edge ends at its start and end: None (continues into the same edge),
    "beyond" or "within" (bevel runs out), see :class:`iastm_tools.outline.EdgeEnds`.
    """

    name: str
    segment_index: int
    kind: str
    label: str
    points_mm: np.ndarray
    normals: np.ndarray
    tangents: np.ndarray
    curvature_per_mm: np.ndarray
    arc_length_mm: np.ndarray
    section: EdgeSection
    ends: tuple[str | None, str | None]

    @property
    def length_mm(self) -> float:
        return float(self.arc_length_mm[-1])

    @property
    def mean_curvature_per_mm(self) -> float:
        return float(np.mean(self.curvature_per_mm))

    @property
    def radius_mm(self) -> float:
        """Signed radius of the apex line (mm): + convex, - concave, inf for straight."""
        k = self.mean_curvature_per_mm
        return math.inf if abs(k) < 1e-12 else 1.0 / k

    def summary(self) -> dict[str, object]:
        """Plain-data description (units in keys) for tables and JSON."""
        sec = self.section
        return {
            "name": self.name,
            "segment": self.segment_index,
            "kind": self.kind,
            "label": self.label,
            "length_mm": round(self.length_mm, 3),
            "radius_mm": None if math.isinf(self.radius_mm) else round(self.radius_mm, 3),
            "style": sec.style,
            "angle_deg": sec.angle_deg,
            "apex_radius_mm": sec.apex_radius_mm,
            "face": sec.face or None,
            "bevel_width_mm": round(sec.bevel_width_mm, 3),
            "n_samples": len(self.arc_length_mm),
            "ends": list(self.ends),
        }


def _curve_kind(profile: Profile, index: int) -> str:
    seg = profile.segments[index]
    if seg.kind == "arc":
        return f"{seg.sense}_arc"
    return seg.kind


def working_contours(
    profile: Profile, outline: Outline, spacing_mm: float = DEFAULT_SPACING_MM
) -> tuple[Contour, ...]:
    """Contours of every working edge of ``profile``, in segment order."""
    if not spacing_mm > 0:
        raise ValueError(f"spacing_mm must be > 0 (got {spacing_mm!r})")
    plan = runout_plan(profile, outline)
    out: list[Contour] = []
    for i in profile.working_segments:
        seg = profile.segments[i]
        prim = outline.for_segment(i)
        ends = plan.get(i)
        if ends is not None:
            prim = ends.full_section(prim)
        sec = edge_section(seg.edge, profile.thickness_mm)
        u, v = sec.apex
        apex_len = prim.length_mm
        if prim.is_arc:  # the apex line is the outline offset by u: radius R + u or R - u
            apex_len = abs(prim.sweep_rad) * (prim.radius_mm + (u if prim.sweep_rad > 0 else -u))
        n = max(2, math.ceil(apex_len / spacing_mm)) + 1
        t = np.linspace(0.0, 1.0, n)
        base = prim.point(t)
        nrm = prim.normal_out(t)
        tan = prim.tangent(t)
        pts = np.column_stack([base + u * nrm, np.full(n, v)])
        k = prim.curvature_per_mm
        k_apex = k / (1.0 + k * u) if k else 0.0
        seglen = np.linalg.norm(np.diff(pts[:, :2], axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seglen)])
        if prim.is_arc:  # exact arc length of the apex line
            arc = t * apex_len
        zeros = np.zeros((n, 1))
        out.append(
            Contour(
                name=seg.label or f"edge{i}",
                segment_index=i,
                kind=_curve_kind(profile, i),
                label=seg.label,
                points_mm=pts,
                normals=np.hstack([nrm, zeros]),
                tangents=np.hstack([tan, zeros]),
                curvature_per_mm=np.full(n, k_apex),
                arc_length_mm=arc,
                section=sec,
                ends=(None, None) if ends is None else (ends.start, ends.end),
            )
        )
    return tuple(out)
