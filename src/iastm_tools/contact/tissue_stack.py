"""Layered soft tissue as the contact solvers see it.

A :class:`TissueStack` is an ordered tuple of elastic :class:`Layer` objects, top (skin)
first, resting on a ``base`` that is either rigid (bone) or an elastic half-space equal to
the last layer. Units at this boundary: thickness in mm, Young's modulus in kPa.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..errors import IastmError

Base = Literal["rigid", "halfspace"]
Interface = Literal["bonded", "frictionless"]


@dataclass(frozen=True)
class Layer:
    """One isotropic, linear elastic tissue layer.

    thickness_mm: layer thickness (mm), > 0; ``math.inf`` only for a half-space.
    youngs_kpa: Young's modulus (kPa), > 0.
    poisson: Poisson ratio in (0, 0.5]; soft tissue is nearly incompressible (0.45-0.49).
    """

    thickness_mm: float
    youngs_kpa: float
    poisson: float
    name: str = ""

    def __post_init__(self) -> None:
        label = f"layer {self.name!r}" if self.name else "layer"
        if not (isinstance(self.thickness_mm, int | float) and self.thickness_mm > 0):
            raise IastmError(f"{label}: thickness_mm must be > 0 (got {self.thickness_mm!r})")
        if math.isnan(self.thickness_mm):
            raise IastmError(f"{label}: thickness_mm is NaN")
        if not (math.isfinite(self.youngs_kpa) and self.youngs_kpa > 0):
            raise IastmError(
                f"{label}: youngs_kpa must be finite and > 0 (got {self.youngs_kpa!r})"
            )
        if not (0.0 < self.poisson <= 0.5):
            raise IastmError(f"{label}: poisson must be in (0, 0.5] (got {self.poisson!r})")

    @property
    def shear_kpa(self) -> float:
        """Shear modulus G = E / (2 (1 + nu)) in kPa."""
        return self.youngs_kpa / (2.0 * (1.0 + self.poisson))

    @property
    def plane_strain_kpa(self) -> float:
        """Plane-strain (contact) modulus E* = E / (1 - nu^2) in kPa (rigid indenter)."""
        return self.youngs_kpa / (1.0 - self.poisson**2)


@dataclass(frozen=True)
class TissueStack:
    """Layers from the skin surface down, on a rigid or elastic base.

    base="rigid": the last layer is bonded (or frictionless, see ``interface``) to bone.
    base="halfspace": the last layer extends to infinite depth (its thickness is ignored
    and may be ``math.inf``).
    interface: condition at the bottom of the last layer on a rigid base.
    """

    layers: tuple[Layer, ...]
    base: Base = "rigid"
    interface: Interface = "bonded"

    def __post_init__(self) -> None:
        if not self.layers:
            raise IastmError("TissueStack needs at least one layer")
        object.__setattr__(self, "layers", tuple(self.layers))
        if self.base not in ("rigid", "halfspace"):
            raise IastmError(f"base must be 'rigid' or 'halfspace' (got {self.base!r})")
        if self.interface not in ("bonded", "frictionless"):
            raise IastmError(
                f"interface must be 'bonded' or 'frictionless' (got {self.interface!r})"
            )
        for layer in self.layers[:-1]:
            if not math.isfinite(layer.thickness_mm):
                raise IastmError("only the last layer of a stack may have infinite thickness")
        if self.base == "rigid" and not math.isfinite(self.layers[-1].thickness_mm):
            raise IastmError("a stack on a rigid base needs finite layer thicknesses")

    @classmethod
    def halfspace(cls, youngs_kpa: float, poisson: float) -> TissueStack:
        """Homogeneous elastic half-space."""
        return cls((Layer(math.inf, youngs_kpa, poisson, "halfspace"),), base="halfspace")

    @classmethod
    def layer_on_bone(
        cls,
        thickness_mm: float,
        youngs_kpa: float,
        poisson: float,
        interface: Interface = "bonded",
    ) -> TissueStack:
        """One elastic layer of ``thickness_mm`` on rigid bone."""
        return cls((Layer(thickness_mm, youngs_kpa, poisson, "tissue"),), "rigid", interface)

    @property
    def total_thickness_mm(self) -> float:
        """Depth from the skin to bone (mm); ``inf`` on a half-space base."""
        if self.base == "halfspace":
            return math.inf
        return float(sum(layer.thickness_mm for layer in self.layers))

    @property
    def surface(self) -> Layer:
        """The top (skin) layer."""
        return self.layers[0]
