"""Contact mechanics: pressure under a rigid tool edge on layered soft tissue.

Conventions (gap sign, approach, units, non-periodic grids) are stated once in
:mod:`iastm_tools.contact.solver`.  Public API::

    from iastm_tools.contact import solve, TissueStack
    result = solve(gap_mm, spacing_mm, TissueStack.layer_on_bone(10.0, 50.0, 0.49), force_n=5)

Models: "layered" (default), "halfspace", "winkler".  Analytic references live in
:mod:`iastm_tools.contact.reference`.
"""

from __future__ import annotations

from . import reference
from .layered import compliance_ratio
from .solver import (
    ContactInputError,
    ContactResult,
    LineContactResult,
    contact_extents,
    solve,
    solve_line,
    window_mean_pressure_kpa,
)
from .stress import SubsurfaceStress, subsurface_stress
from .tissue_stack import Layer, TissueStack
from .winkler import calibrate_winkler

__all__ = [
    "ContactInputError",
    "ContactResult",
    "Layer",
    "LineContactResult",
    "SubsurfaceStress",
    "TissueStack",
    "calibrate_winkler",
    "compliance_ratio",
    "contact_extents",
    "reference",
    "solve",
    "solve_line",
    "subsurface_stress",
    "window_mean_pressure_kpa",
]
