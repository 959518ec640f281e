"""Contour fitting (issue 5): pose every working edge of a tool on a body site so that it
makes the most contact (or the lowest peak / PPT-relative pressure) at a given force.

    from iastm_tools.fit import fit
    result = fit(tool, "default", "calf", force_n=8.0, angle_range_deg=(30, 60))
    for c in result.contours:             # best first
        print(c.contour, c.pose.tilt_deg, c.contact_area_mm2, c.peak_pressure_kpa)
    result.to_json("fit.json")

Geometry: :mod:`.gap` (exact swept edge section vs the body surface under it);
optimisation: :mod:`.optimize`; results: :mod:`.result`.
"""

from __future__ import annotations

import sys
import types

from .gap import (
    Grid,
    Pose,
    PosedGap,
    SiteFrame,
    SkinMap,
    posed_gap,
    skin_map,
    swept_surface,
    tool_rim,
)
from .optimize import MAX_FORCE_N, OBJECTIVES, fit, fit_contour, rank_fits
from .result import ContourFit, FitResult
from .stroke import StrokeResult, fit_stroke

__all__ = [
    "MAX_FORCE_N",
    "OBJECTIVES",
    "ContourFit",
    "FitResult",
    "Grid",
    "Pose",
    "PosedGap",
    "SiteFrame",
    "SkinMap",
    "StrokeResult",
    "fit",
    "fit_contour",
    "fit_stroke",
    "posed_gap",
    "rank_fits",
    "skin_map",
    "swept_surface",
    "tool_rim",
]


class _CallableModule(types.ModuleType):
    """``iastm_tools.fit`` is both this subpackage and, called, the :func:`fit` function,
    so ``from iastm_tools import fit; fit(tool, body, "calf", 8.0)`` works whichever of
    the two the import finds (Python binds the subpackage to the package attribute)."""

    def __call__(self, *args: object, **kwargs: object) -> FitResult:
        return fit(*args, **kwargs)  # type: ignore[arg-type]


sys.modules[__name__].__class__ = _CallableModule
