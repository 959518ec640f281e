"""Solid builder: the one place that turns a profile into a CadQuery (OCCT) solid.

Recipe (shared/reference/cad_recipes.md, R1, R2 and R7): extrude the exact outline (lines
and arcs with corner blends) to the plate thickness, then machine every edge by cutting a
*cutter* swept from its finished 2D cross-section: extruded along straight pieces and
revolved about the centre of arcs. No 3D fillet or chamfer is used: OCCT's fillet/chamfer
fail at knife edges, double bevels and full rounds and propagate along tangent chains.

Where an edge meets a corner blend the blend takes the same section if both neighbours
share it, otherwise the plain (square) section of the neighbour; a bevel that ends there
*runs out*: its cutter continues along a circle that leaves the outline tangentially
(radius ``RUNOUT_RADIUS_FACTOR`` x bevel width), as a grinding wheel lifts off, so the
bevel face fades out smoothly instead of ending in a step.

After every step the result is gated: valid, exactly one solid, positive volume, and the
volume equals the analytic one: plan area x thickness for the plate, minus the Pappus
volume (removed section area x path length of its centroid) of every cutter.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cadquery as cq
import numpy as np

from .errors import ProfileError
from .outline import Cut, Outline, Prim, build_outline, machining_plan, runout_sweep_rad
from .profile import Profile
from .section import CUTTER_OUT_MM, CUTTER_Z_MM, EdgeSection, edge_section

#: Relative tolerance of the analytic (Pappus) volume checks.
VOLUME_RTOL = 1e-6


@dataclass(frozen=True)
class BuildReport:
    """What the builder checked: volumes (mm^3) before and after machining, and counts."""

    plate_volume_mm3: float
    analytic_plate_volume_mm3: float
    pappus_removed_mm3: float
    runout_removed_mm3: float
    final_volume_mm3: float
    n_cutters: int
    n_runouts: int


@dataclass(frozen=True)
class Built:
    """A built instrument: the solid, its outline face at z = 0, and the build report."""

    solid: cq.Solid
    outline_face: cq.Face
    report: BuildReport


def _v(p2: np.ndarray | tuple[float, float], z: float = 0.0) -> cq.Vector:
    return cq.Vector(float(p2[0]), float(p2[1]), float(z))


def outline_wire(outline: Outline, z: float = 0.0) -> cq.Wire:
    """The outline as an OCCT wire of exact lines and circles at height ``z`` (mm)."""
    edges = []
    for p in outline.prims:
        if p.is_arc:
            edges.append(cq.Edge.makeThreePointArc(_v(p.p0, z), _v(p.midpoint(), z), _v(p.p1, z)))
        else:
            edges.append(cq.Edge.makeLine(_v(p.p0, z), _v(p.p1, z)))
    return cq.Wire.assembleEdges(edges)


def _cutter_points(sec: EdgeSection):
    """Closed 2D cutter boundary in (u, v): finished curve plus closure outside the plate.

    Returns a list of items ('line', a, b) or ('arc', a, mid, b).
    """
    t = sec.thickness_mm
    items: list[tuple] = []
    for piece in sec.pieces:
        if piece.center is None:
            items.append(("line", piece.a, piece.b))
        else:
            items.append(("arc", piece.a, piece.mid, piece.b))
    top = sec.pieces[0].a
    bottom = sec.pieces[-1].b
    corners = [
        bottom,
        (bottom[0], -CUTTER_Z_MM),
        (CUTTER_OUT_MM, -CUTTER_Z_MM),
        (CUTTER_OUT_MM, t + CUTTER_Z_MM),
        (top[0], t + CUTTER_Z_MM),
        top,
    ]
    for a, b in itertools.pairwise(corners):
        items.append(("line", a, b))
    return items


def _wire_from(items, to3d) -> cq.Wire:
    edges = []
    for item in items:
        if item[0] == "line":
            edges.append(cq.Edge.makeLine(to3d(item[1]), to3d(item[2])))
        else:
            edges.append(cq.Edge.makeThreePointArc(to3d(item[1]), to3d(item[2]), to3d(item[3])))
    return cq.Wire.assembleEdges(edges)


def _removed_props(sec: EdgeSection) -> tuple[float, float]:
    """Area (mm^2) and centroid u (mm) of the part of the cutter section inside the plate."""
    wire = _wire_from(_cutter_points(sec), lambda p: cq.Vector(p[0], p[1], 0.0))
    face = cq.Face.makeFromWires(wire)
    w = sec.inward_reach_mm + 2.0
    rect = cq.Face.makeFromWires(
        cq.Wire.makePolygon(
            [
                cq.Vector(-w, 0, 0),
                cq.Vector(0, 0, 0),
                cq.Vector(0, sec.thickness_mm, 0),
                cq.Vector(-w, sec.thickness_mm, 0),
            ],
            close=True,
        )
    )
    inside = face.intersect(rect)
    area = inside.Area()
    if area <= 0:
        return 0.0, 0.0
    return area, inside.Center().x


def _frame(point: np.ndarray, normal: np.ndarray):
    """Map section coordinates (u, v) at an outline point with outward ``normal`` to 3D."""

    def to3d(p):
        q = point + p[0] * normal
        return cq.Vector(float(q[0]), float(q[1]), float(p[1]))

    return to3d


def _sweep(prim: Prim, sec: EdgeSection) -> cq.Solid:
    """The cutter of ``sec`` swept along the whole piece ``prim``."""
    p0 = prim.point(0.0)
    n0 = prim.normal_out(0.0)
    wire = _wire_from(_cutter_points(sec), _frame(p0, n0))
    if not prim.is_arc:
        d = prim.point(1.0) - p0
        return cq.Solid.extrudeLinear(wire, [], cq.Vector(float(d[0]), float(d[1]), 0.0))
    c = prim.center
    axis_end = (c[0], c[1], 1.0 if prim.sweep_rad > 0 else -1.0)
    return cq.Solid.revolve(
        wire, [], math.degrees(abs(prim.sweep_rad)), (c[0], c[1], 0.0), axis_end
    )


def _runout(prim: Prim, sec: EdgeSection, at_end: bool, rho_mm: float) -> cq.Solid:
    """Cutter continuing past one end of ``prim`` on a circle of ``rho_mm`` leaving the outline.

    The circle is tangent to the piece at that end and bends outward, so the section lifts
    off the plate like a grinding wheel and the bevel fades without a step. The sweep angle
    is the one at which the whole section has left the plate.
    """
    t = 1.0 if at_end else 0.0
    p = prim.point(t)
    n = prim.normal_out(t)
    phi = math.degrees(runout_sweep_rad(sec, rho_mm))
    axis = p + rho_mm * n
    wire = _wire_from(_cutter_points(sec), _frame(p, n))
    # rotating about +Z moves the section backwards along the outline (Z x n = tangent)
    zdir = -1.0 if at_end else 1.0
    return cq.Solid.revolve(wire, [], phi, (axis[0], axis[1], 0.0), (axis[0], axis[1], zdir))


def _chains(pieces: list[Cut | Prim]):
    """Group consecutive machined pieces with the same section into chains (cyclically).

    Yields lists of :class:`Cut`. Sweeping one chain instead of each piece cuts the number
    of boolean tools, which dominate the build time. Only G1 joints are chained.
    """
    m = len(pieces)
    specs = [pc.spec if isinstance(pc, Cut) else None for pc in pieces]
    prims = [pc.path if isinstance(pc, Cut) else pc for pc in pieces]
    closed_g1 = all(_joined(prims[k - 1], prims[k]) for k in range(m))
    if all(sp == specs[0] for sp in specs) and (closed_g1 or specs[0] is None):
        if specs[0] is not None:  # one closed band round the whole outline
            yield list(pieces)
        return
    # start at a boundary between different sections so no chain wraps unseen
    start = next(
        (k for k in range(m) if specs[k] != specs[k - 1] or not _joined(prims[k - 1], prims[k])),
        0,
    )
    chain: list[int] = []
    for k in [(start + j) % m for j in range(m)]:
        if chain and (specs[k] != specs[chain[-1]] or not _joined(prims[chain[-1]], prims[k])):
            if specs[chain[0]] is not None:
                yield [pieces[j] for j in chain]
            chain = []
        chain.append(k)
    if chain and specs[chain[0]] is not None:
        yield [pieces[j] for j in chain]


def _joined(a: Prim, b: Prim) -> bool:
    """True where ``b`` continues ``a`` with the same position and tangent (G1).

    A pipe along a path with even a 0.003 deg kink comes out invalid, so slightly kinked
    joints (below the corner-blend threshold) get separate sweeps instead.
    """
    ta, tb = a.tangent(1.0), b.tangent(0.0)
    return math.dist(a.p1, b.p0) < 1e-7 and float(ta[0] * tb[1] - ta[1] * tb[0]) ** 2 < 1e-16


def _pipe(chain: list[Prim], sec: EdgeSection) -> cq.Solid:
    """The cutter of ``sec`` swept along a chain of pieces with a fixed +Z binormal.

    Planar path, binormal mode: analytic CYLINDER/TORUS/PLANE faces and a valid solid
    (cad_recipes.md R2/R3; cq's ``mode=Vector`` would be a fixed trihedron instead).
    """
    from OCP.BRepOffsetAPI import BRepOffsetAPI_MakePipeShell
    from OCP.gp import gp_Dir

    edges = []
    for q in chain:
        if q.is_arc:
            edges.append(cq.Edge.makeThreePointArc(_v(q.p0), _v(q.midpoint()), _v(q.p1)))
        else:
            edges.append(cq.Edge.makeLine(_v(q.p0), _v(q.p1)))
    path = cq.Wire.assembleEdges(edges)
    wire = _wire_from(_cutter_points(sec), _frame(chain[0].point(0.0), chain[0].normal_out(0.0)))
    builder = BRepOffsetAPI_MakePipeShell(path.wrapped)
    builder.SetMode(gp_Dir(0, 0, 1))
    builder.Add(wire.wrapped, False, False)
    builder.Build()
    if not builder.IsDone():
        raise RuntimeError("pipe sweep failed")
    builder.MakeSolid()
    return cq.Solid(builder.Shape())


def _cut(solid: cq.Solid, tools: list[cq.Solid]) -> cq.Shape:
    """Boolean cut of several tools at once, in parallel, with oriented bounding boxes."""
    from OCP.BRepAlgoAPI import BRepAlgoAPI_Cut
    from OCP.TopTools import TopTools_ListOfShape

    args = TopTools_ListOfShape()
    args.Append(solid.wrapped)
    tls = TopTools_ListOfShape()
    for tool in tools:
        tls.Append(tool.wrapped)
    op = BRepAlgoAPI_Cut()
    op.SetArguments(args)
    op.SetTools(tls)
    op.SetRunParallel(True)
    op.SetUseOBB(True)
    op.Build()
    if not op.IsDone():
        raise RuntimeError("boolean cut failed")
    return cq.Shape.cast(op.Shape())


def _checked_cut(solid: cq.Solid, tools: list[cq.Solid], step: str, src: str | None) -> cq.Solid:
    try:
        result = _cut(solid, tools)
    except Exception as exc:
        raise ProfileError(
            "segments",
            f"the CAD kernel failed at step '{step}': {exc}",
            allowed="a geometry whose edges fit the plate; try smaller bevels "
            "or larger corner radii",
            source=src,
        ) from exc
    return _gate(result, step, "segments", src)


def _gate(shape: cq.Shape, step: str, field: str, src: str | None) -> cq.Solid:
    solids = shape.Solids()
    if len(solids) != 1 or not shape.isValid() or solids[0].Volume() <= 0:
        raise ProfileError(
            field,
            f"the CAD kernel could not build a valid solid at step "
            f"'{step}' ({len(solids)} solids, valid={shape.isValid()})",
            allowed="a geometry whose edges fit the plate; try smaller bevels "
            "or larger corner radii",
            source=src,
        )
    return solids[0]


def build(profile: Profile, outline: Outline | None = None, *, with_runouts: bool = True) -> Built:
    """Build and check the solid of ``profile`` (mm, plate from z = 0 to thickness).

    ``with_runouts=False`` leaves bevel ends square (a step); its volume is then exactly
    plan area x thickness minus the Pappus volumes, which tests use as a reference.
    """
    src = profile.source or None
    outline = outline or build_outline(profile)
    t = profile.thickness_mm
    try:
        face = cq.Face.makeFromWires(outline_wire(outline))
        plate = cq.Solid.extrudeLinear(outline_wire(outline), [], cq.Vector(0, 0, t))
    except Exception as exc:  # OCCT raises its own types; keep them away from users
        raise ProfileError(
            "segments", f"the CAD kernel rejected the outline: {exc}", source=src
        ) from exc
    plate = _gate(plate, "plate", "segments", src)
    v_plate = plate.Volume()
    v_analytic = outline.area_mm2 * t
    if abs(v_plate - v_analytic) > VOLUME_RTOL * v_analytic:
        raise ProfileError(
            "segments",
            f"plate volume {v_plate:.6f} mm^3 differs from the analytic {v_analytic:.6f} mm^3",
            source=src,
        )

    pieces, plan_runouts = machining_plan(profile, outline)
    runouts: list[cq.Solid] = []
    for ro in plan_runouts:
        try:
            runouts.append(_runout(ro.path, edge_section(ro.spec, t), ro.at_end, ro.rho_mm))
        except Exception as exc:
            raise ProfileError(
                ro.field, f"could not build the bevel run-out: {exc}", source=src
            ) from exc

    cutters: list[cq.Solid] = []
    removed = 0.0
    for chain in _chains(pieces):
        sec = edge_section(chain[0].spec, t)
        paths = [c.path for c in chain]
        try:
            cutters.append(_sweep(paths[0], sec) if len(paths) == 1 else _pipe(paths, sec))
        except Exception as exc:
            raise ProfileError(
                chain[0].field, f"could not sweep the edge section: {exc}", source=src
            ) from exc
        area, u_c = _removed_props(sec)
        for prim in paths:
            if prim.is_arc:
                r_c = prim.radius_mm + (u_c if prim.sweep_rad > 0 else -u_c)
                removed += area * abs(prim.sweep_rad) * r_c
            else:
                removed += area * prim.length_mm

    # run-outs first: on the plain plate that boolean is cheap, and the main cut's volume
    # is still pinned by Pappus from both sides:
    #   V_plate - Pappus >= V_final >= V_after_runouts - Pappus   (equal without run-outs)
    solid = plate
    if runouts and with_runouts:
        solid = _checked_cut(plate, runouts, "bevel run-outs", src)
    v_runout = solid.Volume()
    if cutters:
        solid = _checked_cut(solid, cutters, "edge sections", src)
    v_final = solid.Volume()
    tol = VOLUME_RTOL * v_plate
    if not (v_runout - removed - tol <= v_final <= v_plate - removed + tol):
        raise ProfileError(
            "segments",
            "edge sections overlap or were not machined: volume "
            f"{v_final:.4f} mm^3 is outside the Pappus bounds "
            f"[{v_runout - removed:.4f}, {v_plate - removed:.4f}] mm^3",
            allowed="bevels narrower than the plate and its corner blends",
            source=src,
        )
    report = BuildReport(
        v_plate,
        v_analytic,
        removed,
        v_plate - v_runout,
        v_final,
        len(cutters),
        len(runouts) if with_runouts else 0,
    )
    return Built(solid, face, report)
