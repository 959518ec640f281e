"""Body surfaces (mm): built-in MakeHuman / OpenLimbTT bodies, scan loading and repair,
treatment sites, curvature, signed distance and ray queries (issue 3)."""

from __future__ import annotations

from .body import BUILTIN_BODIES, Body, BodyRepairWarning, build_makehuman, load_body
from .makehuman import BodyParams
from .mesh_io import MeshFileError
from .queries import SurfaceQuery
from .repair import RepairReport
from .sites import SITE_NAMES, Site
from .units import BodyUnitsWarning

__all__ = [
    "BUILTIN_BODIES",
    "SITE_NAMES",
    "Body",
    "BodyParams",
    "BodyRepairWarning",
    "BodyUnitsWarning",
    "MeshFileError",
    "RepairReport",
    "Site",
    "SurfaceQuery",
    "build_makehuman",
    "load_body",
]
