"""Fit results: one :class:`ContourFit` per working edge, ranked in a :class:`FitResult`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import write_text_atomic
from .gap import Pose


def _r(x: float | None, nd: int = 4) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


@dataclass(frozen=True, eq=False)
class ContourFit:
    """Best pose of one edge on a site and the contact it makes there.

    pose: the optimised :class:`Pose` (tilt_deg, rotation_deg, skin_face, position_mm).
    force_n: integral of the pressure field (N) (equals the applied force to the solver
        tolerance). contact_area_mm2: pixel-count contact area.
    contact_length_mm / contact_width_mm: interpolated contact extents along the edge (its
        middle tangent) and across it (the stroke direction), through the pressure centroid.
    edge_contact_fraction: share of the contour's arc length that carries load.
    peak_pressure_kpa, mean_pressure_kpa (force / contact area).
    window_mean_pressure_kpa: largest mean over a 1 cm^2 disc (the PPT probe area).
    ppt_kpa: the site's pressure-pain threshold (None if unknown);
    area_above_ppt_mm2 / fraction_above_ppt: contact area where the 1 cm^2 window mean
        exceeds the PPT, and its share of the contact area.
    dermal_depth_mm / dermal_max_shear_kpa / dermal_von_mises_kpa: stimulation at dermal
        depth (the base of the skin layer): the largest Tresca shear and von Mises stress
        there under the pressure field (indentation, no friction; see
        ``iastm_tools.contact.subsurface_stress``); NaN when the grid cannot resolve it.
    arc_length_mm / line_load_n_per_mm: the load carried per unit length of edge vs arc
        length along the contour.
    regime flags (a_over_r, approach_over_r, a_over_h, small_strain_valid), approach_mm,
    warnings from the contact solver and the fit; objective value; optimiser convergence.
    """

    contour: str
    rank: int
    pose: Pose
    model: str
    objective: str
    objective_value: float
    force_n: float
    applied_force_n: float
    contact_area_mm2: float
    contact_length_mm: float
    contact_width_mm: float
    edge_length_mm: float
    edge_contact_fraction: float
    peak_pressure_kpa: float
    mean_pressure_kpa: float
    window_mean_pressure_kpa: float
    ppt_kpa: float | None
    area_above_ppt_mm2: float | None
    fraction_above_ppt: float | None
    dermal_depth_mm: float
    dermal_max_shear_kpa: float
    dermal_von_mises_kpa: float
    approach_mm: float
    a_over_r: float
    approach_over_r: float
    a_over_h: float
    small_strain_valid: bool
    arc_length_mm: np.ndarray
    line_load_n_per_mm: np.ndarray
    grid_spacing_mm: tuple[float, float]
    grid_shape: tuple[int, int]
    converged: bool
    evaluations: int
    warnings: tuple[str, ...] = ()
    contact: Any = field(default=None, repr=False)
    posed: Any = field(default=None, repr=False)
    tool_frame: np.ndarray | None = field(default=None, repr=False)
    stack: Any = field(default=None, repr=False)

    @property
    def gap_mm(self) -> np.ndarray:
        """(nx, ny) undeformed gap (mm) of the best pose on its contact grid."""
        return self.posed.gap_mm

    @property
    def pressure_kpa(self) -> np.ndarray:
        """(nx, ny) contact pressure (kPa) of the best pose on its contact grid."""
        return np.asarray(self.contact.pressure_kpa)

    def skin_points_mm(self) -> np.ndarray:
        """(nx, ny, 3) undeformed skin points (body coordinates, mm) under the contact grid
        nodes (NaN where the body is absent); ``pressure_kpa`` is the pressure there."""
        return self.posed.skin_points_mm()

    def tool_transform(self) -> np.ndarray:
        """4x4 matrix taking tool model coordinates (mm; the solid, STEP and STL) to body
        coordinates at the fitted pose, pushed ``approach_mm`` into the undeformed skin."""
        from .gap import pose_matrix

        rot = np.eye(4)
        rot[:3, :3] = pose_matrix(self.pose)
        return self.posed.edge_to_body(self.approach_mm) @ rot @ self.tool_frame

    def summary(self) -> dict[str, Any]:
        """Scalars (units in keys) and the line load as plain data for JSON."""
        return {
            "contour": self.contour,
            "rank": self.rank,
            "pose": self.pose.as_dict(),
            "model": self.model,
            "objective": self.objective,
            "objective_value": _r(self.objective_value, 6),
            "force_n": _r(self.force_n, 6),
            "applied_force_n": _r(self.applied_force_n, 6),
            "contact_area_mm2": _r(self.contact_area_mm2, 3),
            "contact_length_mm": _r(self.contact_length_mm, 3),
            "contact_width_mm": _r(self.contact_width_mm, 4),
            "edge_length_mm": _r(self.edge_length_mm, 3),
            "edge_contact_fraction": _r(self.edge_contact_fraction, 4),
            "peak_pressure_kpa": _r(self.peak_pressure_kpa, 3),
            "mean_pressure_kpa": _r(self.mean_pressure_kpa, 3),
            "window_mean_pressure_kpa": _r(self.window_mean_pressure_kpa, 3),
            "ppt_kpa": _r(self.ppt_kpa, 3),
            "area_above_ppt_mm2": _r(self.area_above_ppt_mm2, 3),
            "fraction_above_ppt": _r(self.fraction_above_ppt, 4),
            "dermal_depth_mm": _r(self.dermal_depth_mm, 3),
            "dermal_max_shear_kpa": _r(self.dermal_max_shear_kpa, 3),
            "dermal_von_mises_kpa": _r(self.dermal_von_mises_kpa, 3),
            "approach_mm": _r(self.approach_mm, 5),
            "a_over_r": _r(self.a_over_r),
            "approach_over_r": _r(self.approach_over_r),
            "a_over_h": _r(self.a_over_h),
            "small_strain_valid": bool(self.small_strain_valid),
            "grid_spacing_mm": [_r(s, 5) for s in self.grid_spacing_mm],
            "grid_shape": list(self.grid_shape),
            "converged": bool(self.converged),
            "evaluations": int(self.evaluations),
            "warnings": list(self.warnings),
            "pressure_along_contour": {
                "arc_length_mm": [round(float(s), 3) for s in self.arc_length_mm],
                "line_load_n_per_mm": [float(f"{v:.6g}") for v in self.line_load_n_per_mm],
            },
        }


@dataclass(frozen=True, eq=False)
class FitResult:
    """Every working edge of one tool fitted on one site, best first (``contours[0]``)."""

    tool: str
    body: str
    site: str
    force_n: float
    model: str
    objective: str
    angle_range_deg: tuple[float, float]
    contours: tuple[ContourFit, ...]
    seconds: float = 0.0
    tool_object: Any = field(default=None, repr=False)
    body_object: Any = field(default=None, repr=False)
    #: (edge name, reason) of working edges that cannot touch the skin at this site
    unfitted: tuple[tuple[str, str], ...] = ()

    @property
    def best(self) -> ContourFit:
        return self.contours[0]

    def summary(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "body": self.body,
            "site": self.site,
            "force_n": self.force_n,
            "model": self.model,
            "objective": self.objective,
            "angle_range_deg": list(self.angle_range_deg),
            "seconds": round(self.seconds, 2),
            "contours": [c.summary() for c in self.contours],
            "unfitted": [{"contour": n, "reason": r} for n, r in self.unfitted],
        }

    def to_json(self, path: str | Path | None = None, *, force: bool = False) -> str:
        """The result as JSON text; also written atomically to ``path`` if given."""
        text = json.dumps(self.summary(), indent=1)
        if path is not None:
            write_text_atomic(Path(path), text + "\n", force=force)
        return text

    def plot(self, contour: str | int | None = None, **kw: Any) -> Any:
        """3D preview of the best (or the named) edge's pose: see preview.plot_fit."""
        from ..preview import plot_fit

        return plot_fit(self, contour, **kw)
