"""Finished cross-sections of outline edges, as exact 2D geometry (pure numpy).

Local section frame (mm): ``u`` along the outward normal of the outline (the nominal
outline, i.e. the theoretical sharp edge, is ``u = 0``; the plate is ``u <= 0``), ``v`` up
the plate thickness (bottom face ``v = 0``, top face ``v = T``). The finished edge is the
curve from the point where it leaves the top face to the point where it meets the bottom
face, made of lines and circular arcs. Everything outward of that curve is machined away.

Bevel angle convention: the angle between the bevel face and the opposite plate face
(the included angle at a single-bevel apex; each face's angle for a double bevel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .profile import EdgeSpec

Pt = tuple[float, float]

#: Margins of a machining cutter beyond the plate (mm): outward of the outline and
#: above/below the faces, so cutter faces never coincide with plate faces.
CUTTER_OUT_MM = 0.6
CUTTER_Z_MM = 0.6


@dataclass(frozen=True)
class SectionPiece:
    """A line (``center`` is None) or circular arc from ``a`` through ``mid`` to ``b``."""

    a: Pt
    b: Pt
    mid: Pt | None = None
    center: Pt | None = None
    radius_mm: float = 0.0

    def sample(self, n: int) -> np.ndarray:
        """``n`` + 1 points from ``a`` to ``b`` (exact on the arc)."""
        t = np.linspace(0.0, 1.0, n + 1)
        if self.center is None:
            return np.asarray(self.a) + (np.asarray(self.b) - np.asarray(self.a)) * t[:, None]
        c = np.asarray(self.center)
        a0 = math.atan2(self.a[1] - c[1], self.a[0] - c[0])
        am = math.atan2(self.mid[1] - c[1], self.mid[0] - c[0])  # type: ignore[index]
        a1 = math.atan2(self.b[1] - c[1], self.b[0] - c[0])
        ccw = (am - a0) % (2 * math.pi) < (a1 - a0) % (2 * math.pi)
        sweep = (a1 - a0) % (2 * math.pi) if ccw else -((a0 - a1) % (2 * math.pi))
        ang = a0 + sweep * t
        return np.stack(
            [c[0] + self.radius_mm * np.cos(ang), c[1] + self.radius_mm * np.sin(ang)], -1
        )


@dataclass(frozen=True)
class EdgeSection:
    """The finished section of one edge style on a plate of ``thickness_mm``.

    pieces: the finished curve from the top face to the bottom face (empty when nothing
    is machined: a square edge without edge break).
    inward_reach_mm: how far inside the nominal outline the machining reaches (bevel width).
    apex: the outermost point of the finished edge (u, v), where a contour runs.
    """

    style: str
    thickness_mm: float
    angle_deg: float
    apex_radius_mm: float
    face: str
    pieces: tuple[SectionPiece, ...]
    inward_reach_mm: float
    apex: Pt

    @property
    def bevel_width_mm(self) -> float:
        """Width of the bevel measured in the plate plane (mm); 0 for square edges."""
        return self.inward_reach_mm

    def polyline(self, n_arc: int = 24) -> np.ndarray:
        """The full section boundary near the edge as an (N, 2) polyline (u, v), top to bottom.

        Starts on the top face at ``u = -(reach + 1)`` and ends on the bottom face there, so
        a plot or a gap computation sees the faces next to the edge too.
        """
        t = self.thickness_mm
        w = self.inward_reach_mm + 1.0
        if not self.pieces:
            return np.array([(-w, t), (0.0, t), (0.0, 0.0), (-w, 0.0)])
        pts = [np.array([[-w, t]])]
        for piece in self.pieces:
            pts.append(piece.sample(n_arc if piece.center is not None else 1))
        pts.append(np.array([[-w, 0.0]]))
        out = np.concatenate(pts)
        keep = np.ones(len(out), bool)
        keep[1:] = np.linalg.norm(np.diff(out, axis=0), axis=1) > 1e-12
        return out[keep]

    def removed_area_mm2(self) -> float:
        """Area machined away from the nominal rectangle (mm^2), from a fine polyline."""
        if not self.pieces:
            return 0.0
        curve = np.concatenate([p.sample(2000 if p.center is not None else 1) for p in self.pieces])
        top, bottom = curve[0], curve[-1]
        ring = np.concatenate(
            [
                curve,
                [
                    [bottom[0], 0.0],
                    [0.0, 0.0],
                    [0.0, self.thickness_mm],
                    [top[0], self.thickness_mm],
                ],
            ]
        )
        x, y = ring[:, 0], ring[:, 1]
        return float(abs(0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)))


def _fillet(apex: np.ndarray, e1: np.ndarray, e2: np.ndarray, r: float):
    """Round the corner at ``apex`` between unit directions e1, e2 with radius ``r``.

    Returns (tangent point on e1, arc midpoint, tangent point on e2, centre).
    """
    half = 0.5 * math.acos(float(np.clip(e1 @ e2, -1.0, 1.0)))
    bis = (e1 + e2) / np.linalg.norm(e1 + e2)
    center = apex + bis * (r / math.sin(half))
    t1 = apex + e1 * (r / math.tan(half))
    t2 = apex + e2 * (r / math.tan(half))
    mid = center - bis * r
    return t1, mid, t2, center


def _tp(p: np.ndarray) -> Pt:
    return (float(p[0]), float(p[1]))


@lru_cache(maxsize=512)
def edge_section(spec: EdgeSpec, thickness_mm: float) -> EdgeSection:
    """The exact finished section of ``spec`` on a plate ``thickness_mm`` thick."""
    t = thickness_mm
    s = spec.style
    if s == "square":
        r = spec.edge_break_radius_mm
        if r <= 0:
            return EdgeSection(s, t, 90.0, 0.0, "", (), 0.0, (0.0, 0.5 * t))
        pieces = (
            SectionPiece(
                (-r, t),
                (0.0, t - r),
                _tp(np.array([-r, t - r]) + r * np.array([math.sqrt(0.5)] * 2)),
                (-r, t - r),
                r,
            ),
            SectionPiece((0.0, t - r), (0.0, r)),
            SectionPiece(
                (0.0, r),
                (-r, 0.0),
                _tp(np.array([-r, r]) + r * np.array([math.sqrt(0.5), -math.sqrt(0.5)])),
                (-r, r),
                r,
            ),
        )
        return EdgeSection(s, t, 90.0, r, "", pieces, r, (0.0, 0.5 * t))
    if s == "full_round":
        r = 0.5 * t
        pieces = (SectionPiece((-r, t), (-r, 0.0), (0.0, r), (-r, r), r),)
        return EdgeSection(s, t, 0.0, r, "", pieces, r, (0.0, r))
    a = math.radians(spec.angle_deg)
    r = spec.apex_radius_mm
    if s == "single_bevel":
        b = t / math.tan(a)
        apex = np.array([0.0, 0.0])
        e_face = np.array([-1.0, 0.0])  # along the unbevelled face, inward
        e_bevel = np.array([-math.cos(a), math.sin(a)])  # up the bevel to the top face
        t1, mid, t2, c = _fillet(apex, e_face, e_bevel, r)
        pieces = (
            SectionPiece((-b, t), _tp(t2)),
            SectionPiece(_tp(t2), _tp(t1), _tp(mid), _tp(c), r),
            SectionPiece(_tp(t1), (float(t1[0]), 0.0)),
        )
        apex_pt = (float(c[0] + r), float(c[1]))
        if spec.face == "bottom":  # mirror v -> T - v and reverse so it still runs top->bottom
            pieces = tuple(
                SectionPiece(
                    _mirror(p.b, t),
                    _mirror(p.a, t),
                    None if p.mid is None else _mirror(p.mid, t),
                    None if p.center is None else _mirror(p.center, t),
                    p.radius_mm,
                )
                for p in reversed(pieces)
            )
            apex_pt = _mirror(apex_pt, t)
        pieces = tuple(p for p in pieces if math.dist(p.a, p.b) > 1e-12)
        return EdgeSection(s, t, spec.angle_deg, r, spec.face, pieces, b, apex_pt)
    if s == "double_bevel":
        b = 0.5 * t / math.tan(a)
        apex = np.array([0.0, 0.5 * t])
        e_up = np.array([-math.cos(a), math.sin(a)])
        e_down = np.array([-math.cos(a), -math.sin(a)])
        t_up, mid, t_down, c = _fillet(apex, e_up, e_down, r)
        pieces = (
            SectionPiece((-b, t), _tp(t_up)),
            SectionPiece(_tp(t_up), _tp(t_down), _tp(mid), _tp(c), r),
            SectionPiece(_tp(t_down), (-b, 0.0)),
        )
        return EdgeSection(s, t, spec.angle_deg, r, "", pieces, b, (float(c[0] + r), 0.5 * t))
    raise ValueError(f"unknown edge style {s!r}")


def _mirror(p: Pt, t: float) -> Pt:
    return (p[0], t - p[1])
