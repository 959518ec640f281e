"""The plate outline as exact 2D geometry (lines and circular arcs), with corner blends.

Pure numpy: no CAD kernel here. The outline of a :class:`~iastm_tools.profile.Profile` is
resolved into an ordered, closed, counter-clockwise chain of :class:`Prim` pieces (mm):
each profile segment trimmed by the corner blends at its ends, and one blend arc per corner
that turns by more than :data:`TANGENT_TOL_DEG`. The solid builder, the contours, the DXF
writer and the drawing all use this one description, so they agree exactly.

Conventions: counter-clockwise traversal seen from +Z; the outward normal is the tangent
turned clockwise; signed curvature is +1/R on convex pieces and -1/R on concave pieces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from .errors import ProfileError
from .profile import EdgeSpec, Profile, Segment
from .section import EdgeSection, edge_section

#: Corners whose tangent direction changes by less than this are treated as smooth (deg).
TANGENT_TOL_DEG = 1.0
#: Closure tolerance of the outline chain (mm).
CLOSURE_TOL_MM = 1e-6
#: Largest outline extent (mm): hand-held instruments are 80-200 mm long
#: (shared/reference/tool_families.md); 300 mm leaves room for long prototypes.
MAX_EXTENT = 300.0

Owner = tuple[Literal["segment", "corner"], int]


@dataclass(frozen=True)
class Prim:
    """One piece of the resolved outline: a line (``radius_mm == 0``) or a circular arc.

    Lines run from ``p0`` to ``p1``. Arcs have ``center``, ``radius_mm``, start angle
    ``a0_rad`` and signed ``sweep_rad`` (positive = counter-clockwise = convex on a CCW
    outline). ``owner`` says which profile segment (or which corner blend, indexed by the
    segment it ends) the piece belongs to.
    """

    owner: Owner
    p0: tuple[float, float]
    p1: tuple[float, float]
    center: tuple[float, float] = (0.0, 0.0)
    radius_mm: float = 0.0
    a0_rad: float = 0.0
    sweep_rad: float = 0.0

    @property
    def is_arc(self) -> bool:
        return self.radius_mm > 0.0

    @property
    def length_mm(self) -> float:
        if self.is_arc:
            return abs(self.sweep_rad) * self.radius_mm
        return float(math.dist(self.p0, self.p1))

    @property
    def curvature_per_mm(self) -> float:
        """Signed curvature (1/mm): + convex, - concave, 0 for lines."""
        if not self.is_arc:
            return 0.0
        return math.copysign(1.0 / self.radius_mm, self.sweep_rad)

    def point(self, t: np.ndarray | float) -> np.ndarray:
        """Points at normalised parameter ``t`` in [0, 1] (shape (..., 2), mm)."""
        t = np.asarray(t, dtype=float)
        if self.is_arc:
            a = self.a0_rad + self.sweep_rad * t
            c = np.asarray(self.center)
            return np.stack(
                [c[0] + self.radius_mm * np.cos(a), c[1] + self.radius_mm * np.sin(a)], -1
            )
        p0, p1 = np.asarray(self.p0), np.asarray(self.p1)
        return p0 + (p1 - p0) * t[..., None]

    def tangent(self, t: np.ndarray | float) -> np.ndarray:
        """Unit tangents in the direction of travel at ``t``."""
        t = np.asarray(t, dtype=float)
        if self.is_arc:
            a = self.a0_rad + self.sweep_rad * t
            s = math.copysign(1.0, self.sweep_rad)
            return np.stack([-np.sin(a) * s, np.cos(a) * s], -1)
        d = np.asarray(self.p1) - np.asarray(self.p0)
        return np.broadcast_to(d / np.linalg.norm(d), (*t.shape, 2)).copy()

    def normal_out(self, t: np.ndarray | float) -> np.ndarray:
        """Unit outward normals (tangent turned clockwise) at ``t``."""
        tan = self.tangent(t)
        return np.stack([tan[..., 1], -tan[..., 0]], -1)

    def midpoint(self) -> np.ndarray:
        return self.point(0.5)

    @property
    def bulge(self) -> float:
        """DXF bulge: tan(sweep / 4), positive counter-clockwise; 0 for lines."""
        return math.tan(self.sweep_rad / 4.0) if self.is_arc else 0.0

    def area_term(self) -> float:
        """This piece's share of the enclosed area, 1/2 * integral(x dy - y dx) (mm^2)."""
        (x0, y0), (x1, y1) = self.p0, self.p1
        if not self.is_arc:
            return 0.5 * (x0 * y1 - x1 * y0)
        cx, cy = self.center
        return 0.5 * (self.radius_mm**2 * self.sweep_rad + cx * (y1 - y0) - cy * (x1 - x0))


@dataclass(frozen=True)
class Outline:
    """The resolved closed outline of a profile (mm, CCW)."""

    prims: tuple[Prim, ...]

    @cached_property
    def area_mm2(self) -> float:
        """Enclosed plan area (mm^2), exact for lines and arcs."""
        return float(sum(p.area_term() for p in self.prims))

    @cached_property
    def perimeter_mm(self) -> float:
        return float(sum(p.length_mm for p in self.prims))

    def for_segment(self, index: int) -> Prim:
        """The trimmed piece of profile segment ``index``."""
        for p in self.prims:
            if p.owner == ("segment", index):
                return p
        raise KeyError(index)

    def corner(self, index: int) -> Prim | None:
        """The blend arc at the end of segment ``index``, or ``None`` if the joint is smooth."""
        for p in self.prims:
            if p.owner == ("corner", index):
                return p
        return None

    def polygon(self, max_chord_err_mm: float = 0.005) -> np.ndarray:
        """Dense closed polygon (N, 2) without the repeated first point, for checks."""
        pts: list[np.ndarray] = []
        for p in self.prims:
            if p.is_arc:
                # chord error e = R (1 - cos(dphi / 2))  =>  dphi = 2 acos(1 - e / R)
                dphi = 2.0 * math.acos(max(-1.0, 1.0 - max_chord_err_mm / p.radius_mm))
                n = max(2, math.ceil(abs(p.sweep_rad) / dphi))
            else:
                n = 1
            t = np.linspace(0.0, 1.0, n + 1)[:-1]
            pts.append(p.point(t))
        return np.concatenate(pts, axis=0)

    @cached_property
    def bbox_mm(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the outline (mm)."""
        poly = self.polygon(0.001)
        return (
            float(poly[:, 0].min()),
            float(poly[:, 1].min()),
            float(poly[:, 0].max()),
            float(poly[:, 1].max()),
        )


# --------------------------------------------------------------------------------------
# building


def _f2(p: np.ndarray) -> tuple[float, float]:
    return (float(p[0]), float(p[1]))


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def _left(v: np.ndarray) -> np.ndarray:
    return np.array([-v[1], v[0]])


def _raw_prim(seg: Segment, p0: np.ndarray, index: int, source: str) -> Prim:
    """The untrimmed piece for one segment from ``p0`` to ``seg.to``."""
    p1 = np.asarray(seg.to, dtype=float)
    chord = p1 - p0
    d = float(np.linalg.norm(chord))
    where = f"segments[{index}]"
    if d < 1e-6:
        raise ProfileError(
            f"{where}.to",
            "zero-length segment (ends where it starts)",
            value=list(seg.to),
            allowed="a point different from the previous one",
            source=source or None,
        )
    owner: Owner = ("segment", index)
    if seg.kind == "line":
        return Prim(owner, _f2(p0), _f2(p1))
    r = seg.radius_mm
    if d > 2.0 * r * (1.0 + 1e-9):
        raise ProfileError(
            f"{where}.radius_mm",
            "radius too small for the distance between the segment's end points",
            value=r,
            allowed=f">= {d / 2.0:.4f} mm (half the chord)",
            source=source or None,
        )
    half = min(1.0, d / (2.0 * r))
    beta = math.asin(half)
    h = math.sqrt(max(0.0, r * r - (d / 2.0) ** 2))
    mid = 0.5 * (p0 + p1)
    nl = _left(chord / d)
    if seg.kind == "knob":
        center = mid - h * nl
        sweep = 2.0 * math.pi - 2.0 * beta
    elif seg.kind == "tip" or seg.sense == "convex":
        center = mid + h * nl
        sweep = 2.0 * beta
    else:  # concave
        center = mid - h * nl
        sweep = -2.0 * beta
    a0 = math.atan2(p0[1] - center[1], p0[0] - center[0])
    return Prim(owner, _f2(p0), _f2(p1), _f2(center), r, a0, sweep)


def _offset_curve(p: Prim, side: float, r: float) -> tuple[str, np.ndarray, float | np.ndarray]:
    """Offset of a piece's carrier curve by ``r`` to the left (side=+1) or right (-1).

    Returns ('line', point, direction) or ('circle', center, radius).
    """
    if not p.is_arc:
        d = np.asarray(p.p1) - np.asarray(p.p0)
        d = d / np.linalg.norm(d)
        return "line", np.asarray(p.p0) + side * r * _left(d), d
    # an arc travelled CCW has its centre on the left: offsetting left shrinks the radius
    ccw = 1.0 if p.sweep_rad > 0 else -1.0
    return "circle", np.asarray(p.center), p.radius_mm - side * ccw * r


def _intersections(a, b) -> list[np.ndarray]:
    ka, pa, qa = a
    kb, pb, qb = b
    if ka == "line" and kb == "line":
        den = _cross(qa, qb)
        if abs(den) < 1e-12:
            return []
        s = _cross(pb - pa, qb) / den
        return [pa + s * qa]
    if ka == "circle" and kb == "line":
        return _intersections(b, a)
    if ka == "line" and kb == "circle":
        c, rad = pb, float(qb)
        if rad <= 0:
            return []
        f = pa - c
        bq = 2.0 * float(f @ qa)
        cq = float(f @ f) - rad * rad
        disc = bq * bq - 4.0 * cq
        if disc < 0:
            return []
        sq = math.sqrt(disc)
        return [pa + ((-bq + s * sq) / 2.0) * qa for s in (-1.0, 1.0)]
    c1, r1, c2, r2 = pa, float(qa), pb, float(qb)
    if r1 <= 0 or r2 <= 0:
        return []
    dv = c2 - c1
    d = float(np.linalg.norm(dv))
    if d < 1e-12 or d > r1 + r2 or d < abs(r1 - r2):
        return []
    a_ = (r1 * r1 - r2 * r2 + d * d) / (2.0 * d)
    h = math.sqrt(max(0.0, r1 * r1 - a_ * a_))
    base = c1 + a_ * dv / d
    perp = _left(dv / d)
    return [base + h * perp, base - h * perp]


def _foot(p: Prim, x: np.ndarray) -> np.ndarray:
    """Closest point of the carrier curve of ``p`` to ``x``."""
    if not p.is_arc:
        p0, p1 = np.asarray(p.p0), np.asarray(p.p1)
        d = (p1 - p0) / np.linalg.norm(p1 - p0)
        return p0 + float((x - p0) @ d) * d
    c = np.asarray(p.center)
    v = x - c
    return c + p.radius_mm * v / np.linalg.norm(v)


def _param_of(p: Prim, x: np.ndarray) -> float:
    """Normalised parameter of point ``x`` (on the carrier) along ``p`` (may be outside [0,1])."""
    if not p.is_arc:
        p0, p1 = np.asarray(p.p0), np.asarray(p.p1)
        d = p1 - p0
        return float((x - p0) @ d) / float(d @ d)
    ang = math.atan2(x[1] - p.center[1], x[0] - p.center[0])
    rel = (ang - p.a0_rad) * math.copysign(1.0, p.sweep_rad)
    rel = rel % (2.0 * math.pi)
    if rel > abs(p.sweep_rad) + 0.5 * (2.0 * math.pi - abs(p.sweep_rad)):
        rel -= 2.0 * math.pi  # just before the start
    return rel / abs(p.sweep_rad)


def _trim(p: Prim, t0: float, t1: float) -> Prim:
    """The sub-piece of ``p`` between normalised parameters ``t0`` < ``t1``."""
    q0, q1 = p.point(t0), p.point(t1)
    if not p.is_arc:
        return Prim(p.owner, _f2(q0), _f2(q1))
    return Prim(
        p.owner,
        _f2(q0),
        _f2(q1),
        p.center,
        p.radius_mm,
        p.a0_rad + p.sweep_rad * t0,
        p.sweep_rad * (t1 - t0),
    )


def build_outline(profile: Profile) -> Outline:
    """Resolve a profile's segments and corner blends into an exact closed outline.

    Raises ProfileError for an open chain, a corner blend that does not fit, or a segment
    consumed by its blends.
    """
    src = profile.source or None
    segs = profile.segments
    n = len(segs)
    end = np.asarray(segs[-1].to, dtype=float)
    start = np.asarray(profile.start, dtype=float)
    if float(np.linalg.norm(end - start)) > CLOSURE_TOL_MM:
        raise ProfileError(
            f"segments[{n - 1}].to",
            "outline is not closed: the last segment must end at 'start'",
            value=list(segs[-1].to),
            allowed=f"{list(profile.start)}",
            source=src,
        )
    raw: list[Prim] = []
    p = start
    for i, seg in enumerate(segs):
        raw.append(_raw_prim(seg, p, i, profile.source))
        p = np.asarray(seg.to, dtype=float)

    t_start = [0.0] * n
    t_end = [1.0] * n
    corners: dict[int, Prim] = {}
    for i in range(n):
        a, b = raw[i], raw[(i + 1) % n]
        ta, tb = a.tangent(1.0), b.tangent(0.0)
        turn = math.degrees(math.atan2(_cross(ta, tb), float(ta @ tb)))
        if abs(turn) < TANGENT_TOL_DEG:
            continue
        r = segs[i].corner_radius_mm
        side = 1.0 if turn > 0 else -1.0
        field = f"segments[{i}].corner_radius_mm"
        cands = _intersections(_offset_curve(a, side, r), _offset_curve(b, side, r))
        vertex = np.asarray(a.p1)
        best = None
        for c in cands:
            fa, fb = _foot(a, c), _foot(b, c)
            ua, ub = _param_of(a, fa), _param_of(b, fb)
            if not (-1e-9 <= ua <= 1.0 + 1e-9 and -1e-9 <= ub <= 1.0 + 1e-9):
                continue
            score = float(np.linalg.norm(c - vertex))
            if best is None or score < best[0]:
                best = (score, c, fa, fb, ua, ub)
        if best is None:
            raise ProfileError(
                field,
                "corner blend does not fit between the neighbouring "
                f"segments {i} and {(i + 1) % n}",
                value=r,
                allowed="a smaller radius",
                source=src,
            )
        _, c, fa, fb, ua, ub = best
        t_end[i] = ua
        t_start[(i + 1) % n] = ub
        a0 = math.atan2(fa[1] - c[1], fa[0] - c[0])
        a1 = math.atan2(fb[1] - c[1], fb[0] - c[0])
        sweep = (a1 - a0) % (2.0 * math.pi) if side > 0 else -((a0 - a1) % (2.0 * math.pi))
        corners[i] = Prim(("corner", i), _f2(fa), _f2(fb), _f2(c), r, a0, sweep)

    prims: list[Prim] = []
    for i in range(n):
        if t_end[i] - t_start[i] < 1e-6 or (t_end[i] - t_start[i]) * raw[i].length_mm < 0.05:
            raise ProfileError(
                f"segments[{i}]",
                "segment is used up by the corner blends at its ends",
                value=f"{raw[i].length_mm:.3f} mm long",
                allowed="a longer segment or smaller corner_radius_mm on it and "
                "on the previous segment",
                source=src,
            )
        prims.append(_trim(raw[i], t_start[i], t_end[i]))
        if i in corners:
            prims.append(corners[i])
    return Outline(tuple(prims))


# --------------------------------------------------------------------------------------
# bevel run-outs

#: Run-out circle radius as a multiple of the bevel width: the bevel fades over about
#: 2.8 bevel widths of outline length (sqrt(1 - (1 - 1/4.5)^2) x 4.5).
RUNOUT_RADIUS_FACTOR = 4.5


@dataclass(frozen=True)
class EdgeEnds:
    """How a machined working edge ends at its start and its end.

    ``None``: the same section continues (round a corner blend or into a tangent segment).
    ``"beyond"``: the section runs out past the end, on a circle of ``rho_mm`` tangent to
    the outline there (the outline falls away after a convex corner, so nothing is gouged).
    ``"within"``: the section runs out before the end (the outline rises after a concave
    corner, or the neighbour is another working edge whose section must stay intact);
    the full section then stops ``trim_*_mm`` before that end.
    """

    start: str | None
    end: str | None
    rho_mm: float
    trim_start_mm: float
    trim_end_mm: float

    def full_section(self, prim: Prim) -> Prim:
        """The part of ``prim`` that carries the full section."""
        length = prim.length_mm
        return _trim(prim, self.trim_start_mm / length, 1.0 - self.trim_end_mm / length)


def runout_sweep_rad(sec: EdgeSection, rho_mm: float) -> float:
    """Angle (rad) a run-out circle of ``rho_mm`` turns until the whole section has lifted
    off the outline (0.1 mm clearance)."""
    return math.acos(max(-1.0, 1.0 - (sec.inward_reach_mm + 0.1) / rho_mm))


def runout_plan(profile: Profile, outline: Outline) -> dict[int, EdgeEnds]:
    """Decide, for every machined non-square edge, how each of its ends runs out."""
    segs = profile.segments
    n = len(segs)
    m = len(outline.prims)
    plan: dict[int, EdgeEnds] = {}
    for i, seg in enumerate(segs):
        sec = edge_section(seg.edge, profile.thickness_mm)
        if seg.edge.style == "square" or not sec.pieces:
            continue
        prim = outline.for_segment(i)
        k = outline.prims.index(prim)
        reach = sec.inward_reach_mm
        rho = RUNOUT_RADIUS_FACTOR * (reach + 0.1)
        if prim.curvature_per_mm < 0:  # a concave edge: the run-out circle must bend harder
            rho = min(rho, 0.5 * prim.radius_mm)
        phi = runout_sweep_rad(sec, rho)
        run_len = rho * math.sin(phi) if phi < math.pi / 2 else rho
        modes: list[str | None] = []
        for nb, k_next in ((segs[(i - 1) % n], (k - 1) % m), (segs[(i + 1) % n], (k + 1) % m)):
            if nb.edge == seg.edge:
                modes.append(None)
            elif nb.edge.style == "square" and outline.prims[k_next].curvature_per_mm >= 0:
                # the outline falls away past a convex corner into a plain edge
                modes.append("beyond")
            else:
                modes.append("within")
        trims = [run_len + 0.2 if mode == "within" else 0.0 for mode in modes]
        plan[i] = EdgeEnds(modes[0], modes[1], rho, trims[0], trims[1])
    return plan


@dataclass(frozen=True)
class Cut:
    """One piece of outline machined with one section (``field`` names it for errors)."""

    path: Prim
    spec: EdgeSpec
    field: str


@dataclass(frozen=True)
class Runout:
    """A bevel run-out: section ``spec`` leaving ``path`` at one end on a circle of ``rho_mm``."""

    path: Prim
    spec: EdgeSpec
    at_end: bool
    rho_mm: float
    field: str


def corner_spec(left: EdgeSpec, right: EdgeSpec) -> EdgeSpec | None:
    """Section of a corner blend between edges ``left`` and ``right`` (None = as cut)."""
    if left == right:
        return left
    for spec in (left, right):
        if spec.style == "square":
            return spec
    return None


def machining_plan(profile: Profile, outline: Outline) -> tuple[list[Cut | Prim], list[Runout]]:
    """What is machined where: for every outline piece (in order) a :class:`Cut`, or the bare
    :class:`Prim` where nothing is machined; and every bevel :class:`Runout`.

    Pure geometry shared by the solid builder and the CAD-free volume (:mod:`.massprops`).
    """
    t = profile.thickness_mm
    n = len(profile.segments)
    plan = runout_plan(profile, outline)
    pieces: list[Cut | Prim] = []
    runouts: list[Runout] = []
    for prim in outline.prims:
        kind, idx = prim.owner
        path = prim
        if kind == "segment":
            spec: EdgeSpec | None = profile.segments[idx].edge
            field = f"segments[{idx}].edge"
            ends = plan.get(idx)
            if ends is not None:
                path = ends.full_section(prim)
                for at_end, mode in ((False, ends.start), (True, ends.end)):
                    if mode is not None:
                        runouts.append(Runout(path, spec, at_end, ends.rho_mm, field))
        else:
            spec = corner_spec(profile.segments[idx].edge, profile.segments[(idx + 1) % n].edge)
            field = f"segments[{idx}].corner_radius_mm"
        if spec is None or not edge_section(spec, t).pieces:
            pieces.append(path)
        else:
            pieces.append(Cut(path, spec, field))
    return pieces, runouts


# --------------------------------------------------------------------------------------
# whole-outline validation


def validate_outline(profile: Profile) -> Outline:
    """All geometric checks that need the resolved outline; returns it.

    Checks: closed, counter-clockwise, not self-intersecting, within size limits, each
    working edge's bevel narrower than the plate is wide there and than the radius of a
    convex piece it follows, and corner blends compatible with the edges on both sides.
    """
    from shapely.geometry import Point, Polygon

    src = profile.source or None
    outline = build_outline(profile)
    poly = outline.polygon()
    ring = Polygon(poly)
    if not ring.is_valid:
        raise ProfileError(
            "segments",
            "outline intersects itself",
            allowed="a simple closed outline (check the order of the points and the arc senses)",
            source=src,
        )
    if outline.area_mm2 <= 0:
        raise ProfileError(
            "segments",
            "outline runs clockwise",
            value=f"area {outline.area_mm2:.1f} mm^2",
            allowed="counter-clockwise order seen from +Z (interior on the left)",
            source=src,
        )
    xmin, ymin, xmax, ymax = outline.bbox_mm
    if max(xmax - xmin, ymax - ymin) > MAX_EXTENT:
        raise ProfileError(
            "segments",
            "outline larger than a hand-held instrument",
            value=f"{xmax - xmin:.1f} x {ymax - ymin:.1f} mm",
            allowed=f"at most {MAX_EXTENT:g} mm in each direction",
            source=src,
        )
    boundary = ring.exterior
    t = profile.thickness_mm
    for i, seg in enumerate(profile.segments):
        sec = edge_section(seg.edge, t)
        reach = sec.inward_reach_mm
        if reach <= 0:
            continue
        prim = outline.for_segment(i)
        if prim.is_arc and prim.curvature_per_mm > 0 and reach >= 0.9 * prim.radius_mm:
            raise ProfileError(
                f"segments[{i}].edge",
                "bevel is wider than the radius of the convex segment it follows",
                value=f"bevel width {reach:.2f} mm",
                allowed=f"< {0.9 * prim.radius_mm:.2f} mm (steeper angle_deg, "
                "thinner plate or larger radius_mm)",
                source=src,
            )
        # the band of material the edge occupies must not reach the far side of the plate
        ts = np.linspace(0.2, 0.8, 7) if prim.length_mm > 4 * reach else np.array([0.5])
        for q in prim.point(ts) - (reach + 0.5) * prim.normal_out(ts):
            pt = Point(q)
            if not ring.contains(pt) or boundary.distance(pt) < 0.5:
                raise ProfileError(
                    f"segments[{i}].edge",
                    "bevel is wider than the plate allows here: it would reach the opposite edge",
                    value=f"bevel width {reach:.2f} mm",
                    allowed="a narrower bevel (steeper angle_deg or thinner "
                    "plate) or a wider outline",
                    source=src,
                )
        for j in (i - 1) % len(profile.segments), i:  # corners at the start and end
            corner = outline.corner(j)
            if corner is None:
                continue
            other = (
                profile.segments[(j + 1) % len(profile.segments)] if j == i else profile.segments[j]
            )
            if (
                other.edge == seg.edge
                and corner.curvature_per_mm > 0
                and reach >= 0.9 * corner.radius_mm
            ):
                raise ProfileError(
                    f"segments[{j}].corner_radius_mm",
                    "corner blend is tighter than the bevel that runs round it",
                    value=corner.radius_mm,
                    allowed=f"> {reach / 0.9:.2f} mm (the bevel width / 0.9)",
                    source=src,
                )
    for i, ends in runout_plan(profile, outline).items():
        full = outline.for_segment(i).length_mm - ends.trim_start_mm - ends.trim_end_mm
        if full < 1.0:
            raise ProfileError(
                f"segments[{i}]",
                "working edge too short for its bevel to run "
                "out before the concave corners at its ends",
                value=f"{outline.for_segment(i).length_mm:.2f} mm long",
                allowed=f"at least {ends.trim_start_mm + ends.trim_end_mm + 1:.2f} mm "
                "(or a narrower bevel, or the same edge on the neighbour)",
                source=src,
            )
    return outline
