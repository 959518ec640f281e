"""Profile format: parsing, validation errors naming the field, round trips, variants."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iastm_tools.errors import ProfileError
from iastm_tools.materials import MATERIALS
from iastm_tools.profile import Profile, load_profile, max_apex_radius_mm
from profile_factory import blade_dict


def _mutate(path: str, value):
    data = blade_dict()
    node = data
    keys = path.replace("]", "").replace("[", ".").split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return data


_DELETE = object()


def test_blade_factory_is_valid():
    prof = Profile.from_dict(blade_dict())
    assert prof.working_segments == (1, 5)
    assert prof.material.grade == "316L"


@pytest.mark.parametrize(
    ("path", "value", "field", "fragment"),
    [
        ("thickness_mm", -4.0, "thickness_mm", "out of range"),
        ("thickness_mm", "4", "thickness_mm", "must be a number"),
        ("thickness_mm", float("nan"), "thickness_mm", "finite"),
        ("thickness_mm", _DELETE, "thickness_mm", "missing"),
        ("material", "301", "material", "unknown stainless grade"),
        ("name", "Bad Name!", "name", "invalid"),
        ("colour", "red", "colour", "unknown key"),
        ("segments[1].radius_mm", 10.0, "segments[1].radius_mm", "radius too small"),
        ("segments[1].sense", "inward", "segments[1].sense", "invalid choice"),
        ("segments[1].kind", "spline", "segments[1].kind", "invalid choice"),
        ("segments[1].edge.apex_radius_mm", 3.5, "segments[1].edge.apex_radius_mm", "too large"),
        ("segments[1].edge.angle_deg", 85.0, "segments[1].edge.angle_deg", "out of range"),
        ("segments[1].edge.style", "chisel", "segments[1].edge.style", "invalid choice"),
        (
            "segments[1].edge.edge_break_radius_mm",
            0.3,
            "segments[1].edge.edge_break_radius_mm",
            "not used",
        ),
        ("segments[1].edge.angle_deg", _DELETE, "segments[1].edge.angle_deg", "missing"),
        ("segments[0].to", [30.0], "segments[0].to", "point"),
        ("segments[7].to", [0.0, 5.0], "segments[7].to", "not closed"),
        ("segments[0].radius_mm", 5.0, "segments[0].radius_mm", "not used by a line"),
        ("corner_radius_mm", 0.2, "corner_radius_mm", "out of range"),
        (
            "default_edge.edge_break_radius_mm",
            3.0,
            "default_edge.edge_break_radius_mm",
            "out of range",
        ),
    ],
)
def test_invalid_fields_name_the_field(path, value, field, fragment):
    """Each bad field raises ProfileError with the field path, the value and what is allowed."""
    with pytest.raises(ProfileError) as info:
        Profile.from_dict(_mutate(path, value))
    assert info.value.field == field
    assert fragment in str(info.value)


def test_bevel_wider_than_plate_is_rejected():
    """A 15 deg single bevel on a 6 mm plate is 22 mm wide: more than a 20 mm blade allows."""
    with pytest.raises(ProfileError) as info:
        Profile.from_dict(
            blade_dict(
                width_mm=20.0,
                thickness_mm=6.0,
                angle_deg=15.0,
                concave_radius_mm=150,
                convex_radius_mm=150,
            )
        )
    assert info.value.field.startswith("segments[")
    assert "bevel" in str(info.value)


def test_bevel_wider_than_convex_radius_is_rejected():
    """A 25 deg bevel on 5 mm is 10.7 mm wide: too wide to run round an R10.5 end."""
    data = blade_dict(width_mm=20.0, thickness_mm=5.0, angle_deg=25.0, end_radius_mm=10.5)
    data["segments"][3]["edge"] = data["segments"][1]["edge"]  # bevel the R10.5 end too
    with pytest.raises(ProfileError, match="wider than the radius") as info:
        Profile.from_dict(data)
    assert info.value.field == "segments[3].edge"


def test_self_intersecting_outline_is_rejected():
    data = blade_dict(width_mm=30.0)
    data["segments"][1]["radius_mm"] = 48.0  # concave sagitta 41 mm > 30 mm width
    data["segments"][1]["to"] = [100.0, 0.0]
    data["segments"][0]["to"] = [5.0, 0.0]
    with pytest.raises(ProfileError) as info:
        Profile.from_dict(data)
    assert info.value.field in ("segments", "segments[1].edge")


def test_clockwise_outline_is_rejected():
    data = {
        "name": "cw",
        "material": "304",
        "thickness_mm": 4.0,
        "corner_radius_mm": 2.0,
        "start": [0.0, 0.0],
        "default_edge": {"style": "square"},
        "segments": [
            {"kind": "line", "to": [0.0, 40.0]},
            {"kind": "line", "to": [100.0, 40.0]},
            {"kind": "line", "to": [100.0, 0.0]},
            {"kind": "line", "to": [0.0, 0.0]},
        ],
    }
    with pytest.raises(ProfileError, match="clockwise"):
        Profile.from_dict(data)


def test_corner_blends_that_consume_a_segment_are_rejected():
    """R45 blends at both ends of a 30 mm line need about 12 + 22 mm of it."""
    data = blade_dict()
    data["segments"][0]["corner_radius_mm"] = 45.0
    data["segments"][7]["corner_radius_mm"] = 45.0
    with pytest.raises(ProfileError, match=r"used up|does not fit") as info:
        Profile.from_dict(data)
    assert info.value.field in ("segments[0]", "segments[7].corner_radius_mm")


def test_load_profile_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "missing.toml")
    with pytest.raises(ProfileError, match="directory"):
        load_profile(tmp_path)
    ok = tmp_path / "ok.toml"
    ok.write_text('name = "x"\n')
    with pytest.raises(ProfileError) as info:
        load_profile(ok)
    assert str(ok) in str(info.value)


def test_round_trip_through_to_dict():
    prof = Profile.from_dict(blade_dict())
    again = Profile.from_dict(prof.to_dict())
    assert again == prof


def test_with_applies_paths_and_revalidates():
    prof = Profile.from_dict(blade_dict())
    v = prof.with_(thickness_mm=5.0, **{"segments[1].edge.apex_radius_mm": 0.8})
    assert v.thickness_mm == pytest.approx(5.0)
    assert v.segments[1].edge.apex_radius_mm == pytest.approx(0.8)
    assert prof.thickness_mm == pytest.approx(4.0)  # the original is unchanged
    with pytest.raises(ProfileError):
        prof.with_(thickness_mm=50.0)
    with pytest.raises(ProfileError, match="no such field"):
        prof.with_(**{"segments[42].edge.angle_deg": 40.0})


def test_every_library_material_has_density_and_source():
    """Densities (g/cm^3) of the published grades (cad_recipes.md s1), each with a source."""
    expected = {"304": 7.93, "316L": 7.98, "420": 7.74, "17-4PH": 7.75}
    assert set(MATERIALS) == set(expected)
    for grade, rho in expected.items():
        assert MATERIALS[grade].density_g_cm3 == pytest.approx(rho, abs=1e-9)
        assert MATERIALS[grade].source


@pytest.mark.parametrize("style", ["single_bevel", "double_bevel"])
def test_max_apex_radius_leaves_a_flat_bevel_face(style):
    """At the limit the hone's tangent point sits at 95 % of the bevel face length."""
    t, angle = 4.0, 45.0
    r = max_apex_radius_mm(style, angle, t)
    a = math.radians(angle)
    if style == "single_bevel":
        tangent = r / math.tan(a / 2)
        face = t / math.sin(a)
    else:
        tangent = r / math.tan(a)
        face = 0.5 * t / math.sin(a)
    assert tangent / face == pytest.approx(0.95, rel=1e-12)


@given(
    thickness=st.floats(1.0, 12.0),
    angle=st.floats(5.0, 85.0),
    apex=st.floats(0.0, 4.0),
    length=st.floats(40.0, 320.0),
    width=st.floats(10.0, 80.0),
    concave=st.floats(15.0, 200.0),
)
def test_any_parameter_combination_is_accepted_or_rejected_cleanly(
    thickness, angle, apex, length, width, concave
):
    """Across (and beyond) the parameter space: a Profile or a ProfileError, nothing else."""
    data = blade_dict(
        length_mm=length,
        width_mm=width,
        thickness_mm=thickness,
        angle_deg=angle,
        apex_radius_mm=apex,
        concave_radius_mm=concave,
    )
    try:
        prof = Profile.from_dict(copy.deepcopy(data))
    except ProfileError as exc:
        assert exc.field
        return
    assert prof.thickness_mm == pytest.approx(thickness)
