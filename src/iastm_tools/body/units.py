"""Length units of scans: explicit conversion, or detection from the scan's size.

A body part is between 20 mm (a finger tip) and 3000 mm (a whole tall body) along its
largest extent; anything outside that after conversion is refused, because it almost
always means the wrong unit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from ..errors import IastmError

__all__ = [
    "MAX_BODY_EXTENT_MM",
    "MIN_BODY_EXTENT_MM",
    "UNIT_TO_MM",
    "BodyUnitsWarning",
    "UnitChoice",
    "resolve_units",
]

#: Millimetres per unit (1 in = 25.4 mm exactly, international yard and pound agreement 1959).
UNIT_TO_MM: dict[str, float] = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4}
#: Smallest plausible largest extent of a body part (mm).
MIN_BODY_EXTENT_MM = 20.0
#: Largest plausible largest extent of a body (mm).
MAX_BODY_EXTENT_MM = 3000.0


class BodyUnitsWarning(UserWarning):
    """Units were guessed from the size of the scan."""


@dataclass(frozen=True)
class UnitChoice:
    """The unit a scan was read in, its scale to mm and whether it was guessed."""

    units: str
    scale_to_mm: float
    detected: bool
    message: str


def resolve_units(extent: float, units: str | None, *, source: str) -> UnitChoice:
    """Pick the unit of a scan whose largest bounding-box extent is ``extent`` (file units).

    units: "mm", "cm", "m", "in" or None (detect). Detection rule (a warning says what was
    assumed): extent <= 3 -> metres; 3 < extent < 20 -> centimetres; 20 <= extent <= 3000 ->
    millimetres; anything else is refused. Inches are never guessed.
    Raises IastmError for an unknown unit or a size that is absurd for a body part.
    """
    allowed = f"{MIN_BODY_EXTENT_MM:g}-{MAX_BODY_EXTENT_MM:g} mm"
    if units is not None:
        key = str(units).strip().lower()
        if key not in UNIT_TO_MM:
            raise IastmError(
                f"{source}: unknown units {units!r}; allowed: {', '.join(UNIT_TO_MM)}"
            )
        size_mm = extent * UNIT_TO_MM[key]
        if not MIN_BODY_EXTENT_MM <= size_mm <= MAX_BODY_EXTENT_MM:
            raise IastmError(
                f"{source}: with units={key} the scan is {size_mm:.4g} mm across, which is "
                f"absurd for a body part (allowed {allowed}); check --units"
            )
        return UnitChoice(key, UNIT_TO_MM[key], False, f"units {key} (given)")
    if extent <= 0.0:
        raise IastmError(f"{source}: the scan has zero size (all vertices coincide)")
    if MIN_BODY_EXTENT_MM / 1000.0 <= extent <= 3.0:
        key = "m"
    elif 3.0 < extent < 20.0:
        key = "cm"
    elif 20.0 <= extent <= MAX_BODY_EXTENT_MM:
        key = "mm"
    else:
        raise IastmError(
            f"{source}: largest extent {extent:.4g} (file units) is absurd for a body part in "
            f"any of mm, cm, m (allowed {allowed}); pass --units mm|cm|m|in if the file is right"
        )
    scale = UNIT_TO_MM[key]
    message = (
        f"{source}: units not given; largest extent {extent:.4g} taken as {key} "
        f"({extent * scale:.0f} mm across); pass --units mm|cm|m|in to override"
    )
    warnings.warn(message, BodyUnitsWarning, stacklevel=3)
    return UnitChoice(key, scale, True, message)
