"""Tool API: variants, mass = volume x density, bounding box, summaries."""

from __future__ import annotations

import pytest

from iastm_tools import Tool
from iastm_tools.errors import IastmError, ProfileError
from profile_factory import blade_dict


@pytest.fixture(scope="module")
def blade() -> Tool:
    return Tool.from_dict(blade_dict())


def test_mass_is_volume_times_density(library_tools):
    """mass (g) = volume (mm^3) x 1e-3 x density (g/cm^3), rel 1e-12, for every profile."""
    for tool in library_tools.values():
        rho = tool.profile.material.density_g_cm3
        assert tool.mass_g == pytest.approx(tool.solid.Volume() * 1e-3 * rho, rel=1e-12)
        assert 10.0 < tool.mass_g < 600.0  # tens to a few hundred grams (tool_families.md)


def test_bounding_box_matches_outline_and_thickness(blade):
    bb = blade.bounding_box
    xmin, ymin, xmax, ymax = blade.outline.bbox_mm
    assert bb.zmin == pytest.approx(0.0, abs=1e-6)
    assert bb.zmax == pytest.approx(blade.profile.thickness_mm, abs=1e-6)
    # dimensions are to the theoretical sharp edge: a honed apex sits inside the nominal
    # outline by at most (apex inset) on each side
    inset = max(-c.section.apex[0] for c in blade.contours)
    assert xmax - xmin - 2 * inset - 0.01 <= bb.xmax - bb.xmin <= xmax - xmin + 0.01
    assert ymax - ymin - 2 * inset - 0.01 <= bb.ymax - bb.ymin <= ymax - ymin + 0.01


def test_with_returns_a_new_validated_tool(blade):
    thick = blade.with_(thickness_mm=5.0)
    assert thick.profile.thickness_mm == pytest.approx(5.0)
    assert thick.volume_mm3 > blade.volume_mm3
    grade = blade.with_(material="420")
    assert grade.mass_g / blade.mass_g == pytest.approx(7.74 / 7.98, rel=1e-9)
    with pytest.raises(ProfileError):
        blade.with_(material="unobtainium")


def test_contour_lookup(blade):
    assert blade.contour("concave").segment_index == 1
    assert blade.contour(5).name == "convex"
    with pytest.raises(IastmError, match="available"):
        blade.contour("nope")


def test_summary_has_units_in_keys(blade):
    s = blade.summary()
    for key in ("thickness_mm", "length_mm", "width_mm", "volume_mm3", "mass_g"):
        assert key in s


def test_cad_free_volume_matches_the_solid(library_tools):
    """massprops (plan area x T - Pappus - sliced run-outs) vs the CAD volume: rel 5e-4.

    Without run-outs the two must agree to the sampling of the sections (rel 2e-5).
    """
    from iastm_tools.massprops import mass_properties

    for tool in library_tools.values():
        mp = mass_properties(tool.profile)
        assert mp.volume_mm3 == pytest.approx(tool.volume_mm3, rel=5e-4), tool.name
        assert mp.pappus_removed_mm3 == pytest.approx(
            tool.built.report.pappus_removed_mm3, rel=2e-5
        ), tool.name
        assert mp.mass_g == pytest.approx(tool.mass_g, rel=5e-4)
