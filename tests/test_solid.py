"""Solid builder: validity, analytic volumes (area x thickness, Pappus), property tests."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iastm_tools.errors import ProfileError
from iastm_tools.outline import build_outline
from iastm_tools.profile import Profile
from iastm_tools.section import edge_section
from iastm_tools.solid import build
from profile_factory import blade_dict


def _one_valid_solid(solid) -> None:
    assert solid.isValid()
    assert len(solid.Solids()) == 1
    assert solid.Volume() > 0


def test_every_library_profile_builds_one_valid_solid(library_tools):
    assert len(library_tools) >= 1
    for tool in library_tools.values():
        _one_valid_solid(tool.solid)
        rep = tool.built.report
        assert rep.plate_volume_mm3 == pytest.approx(rep.analytic_plate_volume_mm3, rel=1e-9)


def test_plate_volume_is_plan_area_times_thickness():
    """Unmachined plate: volume = exact outline area x thickness (rel 1e-9)."""
    prof = Profile.from_dict(blade_dict(style="single_bevel", edge_break_radius_mm=0.0))
    built = build(prof)
    rep = built.report
    assert rep.plate_volume_mm3 == pytest.approx(build_outline(prof).area_mm2 * 4.0, rel=1e-9)


@pytest.mark.parametrize("style", ["single_bevel", "double_bevel", "full_round"])
def test_volume_equals_pappus_without_runouts(style):
    """Square bevel ends: V = A x T - sum(section area x centroid path), rel 1e-6."""
    prof = Profile.from_dict(blade_dict(style=style))
    built = build(prof, with_runouts=False)
    rep = built.report
    expected = rep.plate_volume_mm3 - rep.pappus_removed_mm3
    assert built.solid.Volume() == pytest.approx(expected, rel=1e-6)
    _one_valid_solid(built.solid)


def test_pappus_of_a_concave_edge_by_hand():
    """Hand check of one term: a 45 deg single bevel along the R80 concave arc.

    Removed section area T^2/2 + hone term, centroid at u_c inside the outline: for a
    concave arc the centroid path radius is R - u_c (the centre lies outside the plate).
    """
    prof = Profile.from_dict(blade_dict(edge_break_radius_mm=0.0))
    plain = build(
        prof.with_(
            **{"segments[1].edge": {"style": "square"}, "segments[5].edge": {"style": "square"}}
        )
    )
    only_concave = build(
        prof.with_(**{"segments[5].edge": {"style": "square"}}), with_runouts=False
    )
    sec = edge_section(prof.segments[1].edge, 4.0)
    from iastm_tools.solid import _removed_props

    area, u_c = _removed_props(sec)
    arc = build_outline(prof).for_segment(1)
    expected = area * abs(arc.sweep_rad) * (80.0 - u_c)
    removed = plain.solid.Volume() - only_concave.solid.Volume()
    assert removed == pytest.approx(expected, rel=1e-6)
    assert area == pytest.approx(
        8.0 + 0.25 * (1 / math.tan(math.radians(22.5)) - 3 * math.pi / 8), rel=1e-7
    )


def test_runouts_remove_material_smoothly_and_stay_bounded():
    """Run-outs only remove material, less than their full cutter, and keep one solid."""
    prof = Profile.from_dict(blade_dict())
    with_r = build(prof)
    without = build(prof, with_runouts=False)
    _one_valid_solid(with_r.solid)
    assert with_r.report.n_runouts == 4
    assert with_r.solid.Volume() < without.solid.Volume()
    assert without.solid.Volume() - with_r.solid.Volume() < with_r.report.runout_removed_mm3 + 1e-6


@settings(max_examples=12)
@given(
    length=st.floats(90.0, 200.0),
    width=st.floats(25.0, 60.0),
    thickness=st.floats(3.0, 6.0),
    concave=st.floats(25.0, 150.0),
    convex=st.floats(60.0, 300.0),
    style=st.sampled_from(["single_bevel", "double_bevel", "full_round"]),
    angle=st.floats(30.0, 60.0),
    apex=st.floats(0.2, 1.0),
    face=st.sampled_from(["top", "bottom"]),
)
def test_every_valid_profile_builds_a_valid_solid(
    length, width, thickness, concave, convex, style, angle, apex, face
):
    """Property: validation accepts it => the CAD kernel builds exactly one valid solid."""
    data = blade_dict(
        length_mm=length,
        width_mm=width,
        thickness_mm=thickness,
        concave_radius_mm=concave,
        convex_radius_mm=convex,
        style=style,
        angle_deg=angle,
        apex_radius_mm=apex,
        face=face,
    )
    try:
        prof = Profile.from_dict(data)
    except ProfileError:
        return
    built = build(prof)
    _one_valid_solid(built.solid)
    rep = built.report
    assert (
        rep.final_volume_mm3
        <= rep.plate_volume_mm3 - rep.pappus_removed_mm3 + 1e-6 * rep.plate_volume_mm3
    )


def test_closed_band_round_the_whole_outline():
    """Full round on every edge: one closed sweep; volume = A T - Pappus (rel 1e-6)."""
    data = {
        "name": "knob-all-round",
        "material": "304",
        "thickness_mm": 4.0,
        "corner_radius_mm": 3.0,
        "start": [0.0, -8.0],
        "default_edge": {"style": "full_round"},
        "segments": [
            {"kind": "line", "to": [80.0, -8.0]},
            {"kind": "knob", "to": [80.0, 8.0], "radius_mm": 15.0},
            {"kind": "line", "to": [0.0, 8.0]},
            {"kind": "tip", "to": [0.0, -8.0], "radius_mm": 8.0},
        ],
    }
    built = build(Profile.from_dict(data))
    _one_valid_solid(built.solid)
    rep = built.report
    assert rep.n_cutters == 1 and rep.n_runouts == 0
    assert built.solid.Volume() == pytest.approx(
        rep.plate_volume_mm3 - rep.pappus_removed_mm3, rel=1e-6
    )


DATA = __import__("pathlib").Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["kinked-chain.toml", "runout-next-to-tip.toml"])
def test_regressions_build_valid_with_contours_on_the_surface(name):
    """Former failures: a 0.003 deg kink inside a bevelled chain (invalid pipe sweep), and a
    bevel run-out that machined away the full-round tip beside it (contour 0.98 mm off)."""
    import cadquery as cq

    from iastm_tools import Tool

    tool = Tool.from_profile(DATA / name)
    _one_valid_solid(tool.solid)
    shell = cq.Compound.makeCompound(tool.solid.Faces())
    for contour in tool.contours:
        d = max(
            shell.distance(cq.Vertex.makeVertex(*map(float, p))) for p in contour.points_mm[::7]
        )
        assert d < 0.01, contour.name
