"""Stainless steel grades an instrument can be made of, with densities and their sources."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Material:
    """A stainless grade: name as written in profiles, density in g/cm^3, and where from."""

    grade: str
    density_g_cm3: float
    description: str
    spec: str
    source: str

    @property
    def density_kg_m3(self) -> float:
        """Density in kg/m^3 (SI) for solvers."""
        return self.density_g_cm3 * 1000.0

    def mass_g(self, volume_mm3: float) -> float:
        """Mass in grams of ``volume_mm3`` cubic millimetres of this grade."""
        return volume_mm3 * 1e-3 * self.density_g_cm3


_DENSITY_SOURCE = (
    "stainless density tables (compraco.com.br, kalpatarupipings.com), as compiled in "
    "shared/reference/cad_recipes.md section 1; handbook values vary by about 1 %"
)

MATERIALS: dict[str, Material] = {
    m.grade: m
    for m in (
        Material(
            "304",
            7.93,
            "AISI 304 austenitic stainless (1.4301)",
            "AISI 304, plate to ASTM A240",
            _DENSITY_SOURCE,
        ),
        Material(
            "316L",
            7.98,
            "AISI 316L austenitic stainless, low carbon (1.4404)",
            "AISI 316L, plate to ASTM A240; surgical per ASTM F899",
            _DENSITY_SOURCE,
        ),
        Material(
            "420",
            7.74,
            "AISI 420 martensitic stainless, hardenable (1.4021)",
            "AISI 420 per ASTM F899",
            _DENSITY_SOURCE,
        ),
        Material(
            "17-4PH",
            7.75,
            "17-4PH precipitation-hardening stainless (1.4542)",
            "17-4PH (UNS S17400) per ASTM A693 / F899",
            _DENSITY_SOURCE,
        ),
    )
}


def material(grade: str) -> Material:
    """Look up a grade by name (case-insensitive); ``KeyError`` if unknown."""
    for key, value in MATERIALS.items():
        if key.lower() == str(grade).lower():
            return value
    raise KeyError(grade)
