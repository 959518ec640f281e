"""Parametric blade profiles for property tests (plain dicts in the TOML structure)."""

from __future__ import annotations

from typing import Any


def blade_dict(
    length_mm: float = 140.0,
    width_mm: float = 40.0,
    thickness_mm: float = 4.0,
    concave_radius_mm: float = 80.0,
    convex_radius_mm: float = 120.0,
    end_radius_mm: float = 25.0,
    style: str = "single_bevel",
    angle_deg: float = 45.0,
    apex_radius_mm: float = 0.5,
    face: str = "top",
    corner_radius_mm: float = 3.0,
    edge_break_radius_mm: float = 0.5,
    material: str = "316L",
) -> dict[str, Any]:
    """A blade: straight/concave/straight bottom, convex end, straight/convex/straight top.

    The concave and convex edges span the middle 4/7 of the length and carry the edge
    ``style``; the rest of the outline is square with an edge break.
    """
    a = length_mm * 1.5 / 7.0
    b = length_mm - a
    if style in ("single_bevel", "double_bevel"):
        edge: dict[str, Any] = {
            "style": style,
            "angle_deg": angle_deg,
            "apex_radius_mm": apex_radius_mm,
        }
        if style == "single_bevel":
            edge["face"] = face
    else:
        edge = {"style": style}
    return {
        "name": "hyp-blade",
        "revision": "A",
        "material": material,
        "thickness_mm": thickness_mm,
        "corner_radius_mm": corner_radius_mm,
        "start": [0.0, 0.0],
        "default_edge": {"style": "square", "edge_break_radius_mm": edge_break_radius_mm},
        "segments": [
            {"kind": "line", "to": [a, 0.0]},
            {
                "kind": "arc",
                "to": [b, 0.0],
                "radius_mm": concave_radius_mm,
                "sense": "concave",
                "edge": edge,
                "label": "concave",
            },
            {"kind": "line", "to": [length_mm, 0.0]},
            {
                "kind": "arc",
                "to": [length_mm, width_mm],
                "radius_mm": end_radius_mm,
                "sense": "convex",
            },
            {"kind": "line", "to": [b, width_mm]},
            {
                "kind": "arc",
                "to": [a, width_mm],
                "radius_mm": convex_radius_mm,
                "sense": "convex",
                "edge": edge,
                "label": "convex",
            },
            {"kind": "line", "to": [0.0, width_mm]},
            {"kind": "arc", "to": [0.0, 0.0], "radius_mm": end_radius_mm, "sense": "convex"},
        ],
    }
