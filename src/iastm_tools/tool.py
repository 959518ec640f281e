"""``Tool``: the scripting face of one instrument (profile + solid + contours).

>>> from iastm_tools import Tool
>>> tool = Tool.from_profile("profiles/blade-large-cc.toml")
>>> thicker = tool.with_(thickness_mm=5.0)
>>> round(tool.mass_g), [c.name for c in tool.contours]

The solid is built on first use and kept; a ``Tool`` never changes after construction
(``with_`` returns a new, validated one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .contours import DEFAULT_SPACING_MM, Contour, working_contours
from .outline import Outline, validate_outline
from .profile import Profile, load_profile

if TYPE_CHECKING:
    import cadquery as cq

    from .solid import Built


@dataclass(frozen=True)
class BoundingBox:
    """Axis-aligned bounds of the solid (mm)."""

    xmin: float
    ymin: float
    zmin: float
    xmax: float
    ymax: float
    zmax: float

    @property
    def size_mm(self) -> tuple[float, float, float]:
        return (self.xmax - self.xmin, self.ymax - self.ymin, self.zmax - self.zmin)


@dataclass(frozen=True, eq=False)
class Tool:
    """One instrument. Build with :meth:`from_profile` or from a :class:`Profile`."""

    profile: Profile
    contour_spacing_mm: float = field(default=DEFAULT_SPACING_MM)

    @classmethod
    def from_profile(cls, path: str | Path) -> Tool:
        """Load a profile TOML file (raises ProfileError on any problem)."""
        return cls(load_profile(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tool:
        return cls(Profile.from_dict(data))

    def with_(self, **changes: Any) -> Tool:
        """A new validated variant, e.g. ``tool.with_(thickness_mm=5)`` or
        ``tool.with_(**{"segments[1].edge.apex_radius_mm": 0.8})``."""
        return Tool(self.profile.with_(**changes), self.contour_spacing_mm)

    @property
    def name(self) -> str:
        return self.profile.name

    @cached_property
    def outline(self) -> Outline:
        """The exact resolved outline (lines and arcs, mm)."""
        return validate_outline(self.profile)

    @cached_property
    def built(self) -> Built:
        """The built solid and its build report (built on first access)."""
        from .solid import build

        return build(self.profile, self.outline)

    @property
    def solid(self) -> cq.Solid:
        """The CadQuery solid (mm)."""
        return self.built.solid

    @property
    def volume_mm3(self) -> float:
        return float(self.built.report.final_volume_mm3)

    @property
    def mass_g(self) -> float:
        """Mass (g) = volume x density of the profile's stainless grade."""
        return self.profile.material.mass_g(self.volume_mm3)

    @property
    def plan_area_mm2(self) -> float:
        return self.outline.area_mm2

    @cached_property
    def bounding_box(self) -> BoundingBox:
        bb = self.solid.BoundingBox()
        return BoundingBox(bb.xmin, bb.ymin, bb.zmin, bb.xmax, bb.ymax, bb.zmax)

    @cached_property
    def contours(self) -> tuple[Contour, ...]:
        """Every working edge as a sampled 3D contour (no CAD build needed)."""
        return working_contours(self.profile, self.outline, self.contour_spacing_mm)

    def contour(self, name_or_index: str | int) -> Contour:
        """A contour by name (label) or by segment index."""
        for c in self.contours:
            if name_or_index in (c.name, c.segment_index):
                return c
        from .errors import IastmError

        names = ", ".join(f"{c.name} (segment {c.segment_index})" for c in self.contours)
        raise IastmError(f"{self.name}: no working edge {name_or_index!r}; available: {names}")

    def plot(self, **kw: Any) -> Any:
        """3D view of the tool with its working edges labelled: see preview.plot_tool."""
        from .preview import plot_tool

        return plot_tool(self, **kw)

    def summary(self) -> dict[str, Any]:
        """Key figures as plain data (units in the keys)."""
        xmin, ymin, xmax, ymax = self.outline.bbox_mm
        return {
            "name": self.name,
            "revision": self.profile.revision,
            "family": self.profile.family,
            "material": self.profile.material.grade,
            "thickness_mm": self.profile.thickness_mm,
            "length_mm": round(xmax - xmin, 3),
            "width_mm": round(ymax - ymin, 3),
            "plan_area_mm2": round(self.plan_area_mm2, 3),
            "volume_mm3": round(self.volume_mm3, 3),
            "mass_g": round(self.mass_g, 2),
            "working_edges": len(self.contours),
        }
