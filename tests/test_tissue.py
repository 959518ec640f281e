"""Tests for the per-site tissue table (iastm_tools.tissue, data/tissues.toml).

Physical references and tolerances are stated per test. Conversions are checked against
hand-computed values: 1 kgf/cm^2 = 9.80665 N / 1e-4 m^2 = 98066.5 Pa; E = 3 rho c^2 with
rho = 1000 kg/m^3; E = 3 G; E = 6 C10.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iastm_tools.contact.tissue_stack import TissueStack
from iastm_tools.errors import IastmError
from iastm_tools.tissue import (
    KGF_PER_CM2_IN_KPA,
    PPT_DISC_DIAMETER_MM,
    PPT_PROBE_AREA_MM2,
    PPT_WINDOW_SIDE_MM,
    SITES,
    SiteTissue,
    TissueError,
    TissueLayer,
    default_tissue_path,
    get_site,
    kgf_per_cm2_to_kpa,
    load_tissue_table,
    neo_hookean_c10_to_youngs_kpa,
    parse_override,
    parse_overrides,
    shear_modulus_to_youngs_kpa,
    shear_wave_speed_to_youngs_kpa,
)

SOURCE_RE = re.compile(r"^([a-z0-9_+]+):\s*\S")


@pytest.fixture(scope="module")
def table() -> dict[str, SiteTissue]:
    return load_tissue_table()


# ------------------------------------------------------------------ completeness


def test_every_site_present(table: dict[str, SiteTissue]) -> None:
    assert set(table) == set(SITES)
    assert len(SITES) == 10
    for site in SITES:
        assert table[site].site == site


def test_every_numeric_value_has_a_source(table: dict[str, SiteTissue]) -> None:
    """Each number has a source '<ref key>: where' or 'estimate:', 'derived:', 'quoted:'."""
    raw_refs = _raw_reference_keys()
    count = 0
    for site in table.values():
        for path, value, source in site.value_sources():
            count += 1
            assert isinstance(value, float), path
            assert source.strip(), f"{path} has no source"
            match = SOURCE_RE.match(source)
            assert match, f"{path}: source {source!r} has no 'kind:' prefix"
            head = match.group(1)
            if head not in ("estimate", "derived", "quoted"):
                for key in head.split("+"):
                    assert key in raw_refs, f"{path}: unknown reference key {key!r}"
        assert site.sources, f"{site.site} cites no reference"
        for ref in site.sources:
            assert ref.split(":", 1)[0] in raw_refs
        assert site.friction_condition.strip()
        assert site.description.strip()
    # 10 sites, >= 2 layers each (3 values) + 4 site values: at least 100 sourced numbers.
    assert count >= 100


def _raw_reference_keys() -> set[str]:
    import tomllib

    with default_tissue_path().open("rb") as fh:
        return set(tomllib.load(fh)["references"])


def test_values_in_range(table: dict[str, SiteTissue]) -> None:
    for site in table.values():
        for layer in site.layers:
            assert layer.is_halfspace or 0.05 <= layer.thickness_mm <= 200.0
            assert 1.0 <= layer.youngs_kpa <= 1.0e6
            assert 0.0 < layer.poisson <= 0.5
        for ppt in (site.ppt_female_kpa, site.ppt_male_kpa, site.ppt_kpa):
            assert 50.0 <= ppt <= 2000.0
        assert 0.01 <= site.friction <= 3.0
        # Men's PPT is higher or equal (Fischer 1987 abstract; Chesterton 2003).
        assert site.ppt_female_kpa <= site.ppt_male_kpa
        # Skin (epidermis + dermis) is 1-3 mm (shared/reference/tissue_and_clinical.md).
        assert site.layers[0].name == "skin"
        assert 1.0 <= site.skin_thickness_mm <= 3.0


def test_default_ppt_is_the_mean(table: dict[str, SiteTissue]) -> None:
    """Default PPT = (female + male) / 2 to 1e-9 kPa; ppt_for picks the right one."""
    for site in table.values():
        assert site.ppt_kpa == pytest.approx(
            0.5 * (site.ppt_female_kpa + site.ppt_male_kpa), abs=1e-9
        )
        assert site.ppt_for() == site.ppt_kpa
        assert site.ppt_for("female") == site.ppt_female_kpa
        assert site.ppt_for("male") == site.ppt_male_kpa
        assert site.ppt_probe_area_mm2 == pytest.approx(100.0, abs=1e-12)
    with pytest.raises(TissueError, match="sex"):
        table["calf"].ppt_for("other")  # type: ignore[arg-type]


def test_stack_thickness_consistency(table: dict[str, SiteTissue]) -> None:
    """On bone the layers sum to depth_to_bone_mm (to 1e-9 mm) and the base is rigid;
    otherwise the last layer is an infinite half-space."""
    rigid = 0
    for site in table.values():
        stack = site.stack
        assert isinstance(stack, TissueStack)
        assert stack.interface == "bonded"
        assert [layer.name for layer in stack.layers] == [layer.name for layer in site.layers]
        if site.depth_to_bone_mm is not None:
            rigid += 1
            assert stack.base == "rigid"
            total = sum(layer.thickness_mm for layer in site.layers)
            assert total == pytest.approx(site.depth_to_bone_mm, abs=1e-9)
            assert stack.total_thickness_mm == pytest.approx(site.depth_to_bone_mm, abs=1e-9)
        else:
            assert stack.base == "halfspace"
            assert math.isinf(site.layers[-1].thickness_mm)
            assert all(math.isfinite(layer.thickness_mm) for layer in site.layers[:-1])
    assert rigid >= 2  # forearm sites sit on bone


# ------------------------------------------------------------------ unit conversions


def test_fischer_kgf_per_cm2_to_kpa_hand_computed() -> None:
    """1 kgf/cm^2 = 9.80665 N / 1e-4 m^2 = 98 066.5 Pa (exact by definition)."""
    assert pytest.approx(98.0665, abs=1e-12) == KGF_PER_CM2_IN_KPA
    assert kgf_per_cm2_to_kpa(1.0) == pytest.approx(98.07, abs=0.005)
    # A Fischer-style reading of 4.0 kgf/cm^2: 4 * 9.80665 / 1e-4 Pa = 392.266 kPa.
    assert kgf_per_cm2_to_kpa(4.0) == pytest.approx(392.266, abs=1e-9)


def test_upper_trapezius_ppt_converted_from_kgf(table: dict[str, SiteTissue]) -> None:
    """Bordachar 2019: 4.31 kgf/cm^2 -> 4.31 * 98.0665 = 422.666615 kPa (tolerance 1e-6 kPa)."""
    site = table["upper_trapezius"]
    assert site.ppt_female_kpa == pytest.approx(422.666615, abs=1e-6)
    assert site.ppt_male_kpa == pytest.approx(422.666615, abs=1e-6)


def test_modulus_conversions_hand_computed(table: dict[str, SiteTissue]) -> None:
    """E = 3 rho c^2 (rho 1000 kg/m^3), E = 3 G, E = 6 C10; tolerance 1e-9 kPa."""
    assert shear_wave_speed_to_youngs_kpa(3.20) == pytest.approx(30.72, abs=1e-9)
    assert shear_wave_speed_to_youngs_kpa(2.0, density_kg_m3=1100.0) == pytest.approx(
        13.2, abs=1e-9
    )
    assert shear_modulus_to_youngs_kpa(18.55) == pytest.approx(55.65, abs=1e-9)
    assert neo_hookean_c10_to_youngs_kpa(149.0) == pytest.approx(894.0, abs=1e-9)
    assert table["upper_trapezius"].layer("trapezius").youngs_kpa == pytest.approx(30.72, abs=1e-9)
    assert table["lumbar_paraspinals"].layer("muscle").youngs_kpa == pytest.approx(55.65, abs=1e-9)
    assert table["calf"].layer("skin").youngs_kpa == pytest.approx(894.0, abs=1e-9)
    # Achilles: mean SWV 9.13 m/s -> 3 * 1000 * 9.13^2 Pa = 250.0707 kPa.
    assert table["achilles"].layer("tendon").youngs_kpa == pytest.approx(250.0707, abs=1e-9)


def test_ppt_probe_constants() -> None:
    """1 cm^2 probe: 100 mm^2, square window 10 mm, disc diameter 2 sqrt(100/pi) = 11.2838 mm."""
    assert pytest.approx(100.0, abs=1e-12) == PPT_PROBE_AREA_MM2
    assert pytest.approx(10.0, abs=1e-12) == PPT_WINDOW_SIDE_MM
    assert pytest.approx(11.2838, abs=1e-4) == PPT_DISC_DIAMETER_MM


# ------------------------------------------------------------------ loading, cache


def test_shipped_file_is_package_data() -> None:
    path = default_tissue_path()
    assert path.is_file()
    assert path.parent.name == "data" and path.parent.parent.name == "iastm_tools"
    assert path.stat().st_size < 200_000


def test_default_table_cached_and_isolated() -> None:
    first = load_tissue_table()
    first.pop("calf")
    second = load_tissue_table()
    assert "calf" in second
    assert second["achilles"] is load_tissue_table()["achilles"]


def test_explicit_path_loads_same_values(table: dict[str, SiteTissue]) -> None:
    again = load_tissue_table(default_tissue_path())
    assert again == table


def test_get_site(table: dict[str, SiteTissue]) -> None:
    assert get_site("calf") == table["calf"]
    with pytest.raises(TissueError, match="unknown site") as exc:
        get_site("elbow")
    assert "forearm_flexor" in str(exc.value)


# ------------------------------------------------------------------ overrides


def test_override_layer_by_name_and_ppt(table: dict[str, SiteTissue]) -> None:
    out = load_tissue_table(overrides={"calf.layers.fat.thickness_mm": 12.0, "calf.ppt_kpa": 400})
    calf = out["calf"]
    assert calf.layer("fat").thickness_mm == 12.0
    assert calf.layer("fat").thickness_source.startswith("override:")
    assert calf.ppt_kpa == 400.0
    assert calf.ppt_source.startswith("override:")
    assert calf.ppt_female_kpa == table["calf"].ppt_female_kpa
    assert any(s.startswith("override:") for s in calf.sources)
    # Other sites and the cached default are untouched.
    assert out["achilles"] == table["achilles"]
    assert (
        load_tissue_table()["calf"].layer("fat").thickness_mm
        == table["calf"].layer("fat").thickness_mm
    )


def test_override_by_index_modulus_and_poisson(table: dict[str, SiteTissue]) -> None:
    out = load_tissue_table(
        overrides={"achilles.layers[2].youngs_kpa": 600.0, "achilles.layers.2.poisson": 0.45}
    )
    tendon = out["achilles"].layers[2]
    assert tendon.youngs_kpa == 600.0 and tendon.youngs_source.startswith("override:")
    assert tendon.poisson == 0.45


def test_override_sex_ppt_updates_derived_default(table: dict[str, SiteTissue]) -> None:
    out = load_tissue_table(overrides={"upper_trapezius.ppt_female_kpa": 300.0})
    site = out["upper_trapezius"]
    assert site.ppt_female_kpa == 300.0
    assert site.ppt_kpa == pytest.approx(
        0.5 * (300.0 + table["upper_trapezius"].ppt_male_kpa), abs=1e-9
    )


def test_override_wildcard_friction() -> None:
    out = load_tissue_table(overrides={"*.friction": 0.15})
    assert {site.friction for site in out.values()} == {0.15}


def test_thickness_override_on_bone_moves_bone(table: dict[str, SiteTissue]) -> None:
    """Changing a layer of a site on bone moves the bone with the layers (sum kept exact)."""
    base = table["forearm_flexor"]
    out = load_tissue_table(overrides={"forearm_flexor.layers.fat.thickness_mm": 6.0})
    site = out["forearm_flexor"]
    assert site.depth_to_bone_mm == pytest.approx(base.depth_to_bone_mm + 2.0, abs=1e-9)
    assert site.depth_to_bone_source.startswith("derived:")


def test_depth_override_adjusts_deepest_layer(table: dict[str, SiteTissue]) -> None:
    out = load_tissue_table(overrides={"forearm_flexor.depth_to_bone_mm": 30.0})
    site = out["forearm_flexor"]
    assert site.depth_to_bone_mm == 30.0
    assert site.layers[-1].thickness_mm == pytest.approx(30.0 - 1.2 - 4.0, abs=1e-9)
    # A half-space site given a depth gets bone under its last layer.
    calf = load_tissue_table(overrides={"calf.depth_to_bone_mm": 40.0})["calf"]
    assert calf.stack.base == "rigid"
    assert calf.layers[-1].thickness_mm == pytest.approx(40.0 - 1.3 - 6.0, abs=1e-9)
    # ... and 'none' turns a site on bone into a half-space.
    path, value = parse_override("forearm_flexor.depth_to_bone_mm=none")
    soft = load_tissue_table(overrides={path: value})["forearm_flexor"]
    assert soft.stack.base == "halfspace" and math.isinf(soft.layers[-1].thickness_mm)


def test_depth_and_thickness_overrides_must_agree() -> None:
    with pytest.raises(TissueError, match=r"forearm_flexor\.depth_to_bone_mm.*layers sum to"):
        load_tissue_table(
            overrides={
                "forearm_flexor.depth_to_bone_mm": 50.0,
                "forearm_flexor.layers.fat.thickness_mm": 6.0,
            }
        )
    ok = load_tissue_table(
        overrides={
            "forearm_flexor.depth_to_bone_mm": 27.2,
            "forearm_flexor.layers.fat.thickness_mm": 6.0,
        }
    )
    assert ok["forearm_flexor"].depth_to_bone_mm == 27.2


def test_parse_override_cli_forms() -> None:
    assert parse_override("calf.layers.fat.thickness_mm=12") == (
        "calf.layers.fat.thickness_mm",
        12.0,
    )
    assert parse_override(" calf.ppt_kpa = 4.5e2 ") == ("calf.ppt_kpa", 450.0)
    assert parse_overrides(["calf.friction=0.2", "calf.friction=0.25"]) == {"calf.friction": 0.25}


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("calf.friction", "PATH=VALUE"),
        ("=3", "empty path"),
        ("calf.friction=abc", r"calf\.friction: must be a number"),
        ("calf.friction=none", "only depth_to_bone_mm accepts"),
    ],
)
def test_parse_override_errors(text: str, pattern: str) -> None:
    with pytest.raises(TissueError, match=pattern):
        parse_override(text)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (
            {"elbow.friction": 0.2},
            r"elbow\.friction: unknown site 'elbow'.*allowed: forearm_flexor",
        ),
        ({"calf.colour": 1.0}, r"calf\.colour: unknown override path; allowed:"),
        ({"calf.layers.bone.poisson": 0.3}, r"no layer named 'bone'.*allowed: skin, fat, muscle"),
        ({"calf.layers[7].poisson": 0.3}, r"layer index 7 out of range"),
        ({"calf.layers.fat.density": 1.0}, r"unknown override path"),
        ({"calf.layers.muscle.thickness_mm": 30.0}, r"half-space and has no thickness"),
        ({"forearm_flexor.depth_to_bone_mm": 3.0}, r"leaves no room for layer 'muscle'"),
        ({"calf.friction": True}, r"calf\.friction: must be a number"),
        ({"calf.ppt_kpa": 5000.0}, r"override calf\.ppt_kpa\).*calf\.ppt_kpa: is out of range"),
        (
            {"calf.layers.fat.poisson": 0.6},
            r"calf\.layers\[1\]\.poisson: is out of range.*\(0, 0\.5\]",
        ),
        (
            {"calf.layers.fat.thickness_mm": -1.0},
            r"calf\.layers\[1\]\.thickness_mm: is out of range",
        ),
        ({"calf.layers.fat.youngs_kpa": float("nan")}, r"calf\.layers\[1\]\.youngs_kpa: is NaN"),
    ],
)
def test_bad_overrides_raise_clear_errors(overrides: dict[str, object], pattern: str) -> None:
    with pytest.raises(TissueError, match=pattern) as exc:
        load_tissue_table(overrides=overrides)
    assert isinstance(exc.value, IastmError) and isinstance(exc.value, ValueError)


_FIELDS = {
    # path: (lo, hi) of the allowed range
    "calf.layers.fat.thickness_mm": (0.05, 200.0),
    "calf.layers.muscle.youngs_kpa": (1.0, 1.0e6),
    "calf.ppt_male_kpa": (50.0, 2000.0),
    "calf.friction": (0.01, 3.0),
}


@settings(max_examples=40, deadline=None)
@given(
    path=st.sampled_from(sorted(_FIELDS)),
    fraction=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)
def test_override_in_range_accepted(path: str, fraction: float) -> None:
    lo, hi = _FIELDS[path]
    value = lo + fraction * (hi - lo)
    site = load_tissue_table(overrides={path: value})["calf"]
    got = {path: v for p, v, _ in site.value_sources() for path in [p]}
    key = {
        "calf.layers.fat.thickness_mm": "calf.layers[1].thickness_mm",
        "calf.layers.muscle.youngs_kpa": "calf.layers[2].youngs_kpa",
    }.get(path, path)
    assert got[key] == pytest.approx(value, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    path=st.sampled_from(sorted(_FIELDS)),
    factor=st.floats(min_value=1.001, max_value=1e3, allow_nan=False),
    below=st.booleans(),
)
def test_override_out_of_range_rejected(path: str, factor: float, below: bool) -> None:
    lo, hi = _FIELDS[path]
    value = lo / factor if below else hi * factor
    field = path.rsplit(".", 1)[-1]
    with pytest.raises(TissueError, match=rf"{re.escape(field)}: is out of range.*allowed"):
        load_tissue_table(overrides={path: value})


@settings(max_examples=30, deadline=None)
@given(poisson=st.floats(min_value=1e-6, max_value=0.5, allow_nan=False))
def test_override_poisson_in_range(poisson: float) -> None:
    site = load_tissue_table(overrides={"achilles.layers.tendon.poisson": poisson})["achilles"]
    assert site.layer("tendon").poisson == poisson


@settings(max_examples=30, deadline=None)
@given(
    poisson=st.one_of(
        st.floats(max_value=0.0, allow_nan=False, allow_infinity=False),
        st.floats(min_value=0.5000001, max_value=1e6, allow_nan=False),
    )
)
def test_override_poisson_out_of_range(poisson: float) -> None:
    with pytest.raises(TissueError, match=r"achilles\.layers\[2\]\.poisson: is out of range"):
        load_tissue_table(overrides={"achilles.layers.tendon.poisson": poisson})


# ------------------------------------------------------------------ malformed files

MINIMAL = """
[meta]
schema_version = 1
ppt_probe_area_cm2 = 1.0
ppt_probe_source = "ref1: abstract"

[references]
ref1 = "Author A. A paper. Journal 2000;1:1-2."

[sites.test_site]
description = "test site"
depth_to_bone_mm = 11.0
depth_to_bone_source = "derived: sum of layers"
ppt_female_kpa = 300.0
ppt_female_source = "ref1: table 1"
ppt_male_kgf_cm2 = 4.0
ppt_male_source = "ref1: table 1"
friction = 0.3
friction_condition = "lubricated"
friction_source = "estimate: test"

[[sites.test_site.layers]]
name = "skin"
thickness_mm = 1.0
thickness_source = "ref1: fig 2"
youngs_kpa = 100.0
youngs_source = "ref1: fig 2"
poisson = 0.49
poisson_source = "quoted: notes"

[[sites.test_site.layers]]
name = "muscle"
thickness_mm = 10.0
thickness_source = "ref1: fig 3"
shear_wave_speed_m_s = 3.0
youngs_source = "ref1: table 2"
poisson = 0.49
poisson_source = "quoted: notes"
"""


def _write(tmp_path: Path, text: str, name: str = "tissues_test.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_loads(tmp_path: Path) -> None:
    site = load_tissue_table(_write(tmp_path, MINIMAL))["test_site"]
    assert site.ppt_male_kpa == pytest.approx(392.266, abs=1e-9)  # 4.0 kgf/cm^2
    assert site.layer("muscle").youngs_kpa == pytest.approx(27.0, abs=1e-9)  # 3*1000*3^2 Pa
    assert site.sources == ("ref1: Author A. A paper. Journal 2000;1:1-2.",)


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        # unknown keys
        ("friction = 0.3\n", 'friction = 0.3\ncolour = "red"\n', r"test_site\.colour: unknown key"),
        (
            'name = "skin"\n',
            'name = "skin"\ndensity = 1.1\n',
            r"test_site\.layers\[0\]\.density: unknown key",
        ),
        ("[meta]\n", "bogus = 1\n[meta]\n", r"bogus: unknown key"),
        # missing fields
        ("friction = 0.3\n", "", r"test_site\.friction: is missing"),
        (
            'poisson = 0.49\npoisson_source = "quoted: notes"\n\n[[sites.test_site.layers]]',
            'poisson_source = "quoted: notes"\n\n[[sites.test_site.layers]]',
            r"test_site\.layers\[0\]\.poisson: is missing",
        ),
        (
            'thickness_source = "ref1: fig 2"\n',
            "",
            r"test_site\.layers\[0\]\.thickness_source: is missing",
        ),
        # NaN, inf, negative, out of range, wrong type
        ("youngs_kpa = 100.0", "youngs_kpa = nan", r"test_site\.layers\[0\]\.youngs_kpa: is NaN"),
        (
            "thickness_mm = 1.0",
            "thickness_mm = inf",
            r"test_site\.layers\[0\]\.thickness_mm: is infinite",
        ),
        (
            "thickness_mm = 1.0",
            "thickness_mm = -1.0",
            r"test_site\.layers\[0\]\.thickness_mm: is out of range \(got -1\.0\); "
            r"allowed: \[0\.05, 200\] mm",
        ),
        ("friction = 0.3", "friction = 30.0", r"test_site\.friction: is out of range"),
        (
            "ppt_female_kpa = 300.0",
            'ppt_female_kpa = "300"',
            r"test_site\.ppt_female_kpa: must be a number",
        ),
        (
            "ppt_male_kgf_cm2 = 4.0",
            "ppt_male_kgf_cm2 = 40.0",
            r"test_site\.ppt_male_kgf_cm2: is out of range",
        ),
        (
            "shear_wave_speed_m_s = 3.0",
            "shear_wave_speed_m_s = 0.001",
            r"test_site\.layers\[1\]\.shear_wave_speed_m_s: gives E = .* kPa, out of range",
        ),
        # structure and consistency
        (
            "depth_to_bone_mm = 11.0",
            "depth_to_bone_mm = 12.0",
            r"test_site\.depth_to_bone_mm: the layers sum to 11 mm but depth_to_bone_mm is 12 mm",
        ),
        (
            "ppt_female_kpa = 300.0",
            "ppt_female_kpa = 300.0\nppt_female_kgf_cm2 = 3.0",
            r"test_site\.ppt_female_kpa: give exactly one of",
        ),
        (
            "shear_wave_speed_m_s = 3.0",
            "shear_wave_speed_m_s = 3.0\nyoungs_kpa = 27.0",
            r"test_site\.layers\[1\]\.youngs_kpa: give exactly one modulus",
        ),
        (
            'youngs_source = "ref1: fig 2"',
            'youngs_source = "Smith 2010"',
            r"test_site\.layers\[0\]\.youngs_source: must start with a reference key",
        ),
        (
            'youngs_source = "ref1: fig 2"',
            'youngs_source = "ref9: fig 2"',
            r"test_site\.layers\[0\]\.youngs_source: must start with a reference key",
        ),
        (
            'youngs_source = "ref1: fig 2"',
            'youngs_source = ""',
            r"test_site\.layers\[0\]\.youngs_source: must be a non-empty string",
        ),
        (
            "schema_version = 1",
            "schema_version = 2",
            r"meta\.schema_version: unsupported schema version",
        ),
        ('name = "muscle"', 'name = "skin"', r"test_site\.layers\[1\]\.name: duplicate layer name"),
        (
            "[sites.test_site]",
            "[sites.Test-Site]",
            r"Test-Site: site names must be lower_snake_case",
        ),
    ],
)
def test_malformed_file_names_the_field(tmp_path: Path, old: str, new: str, pattern: str) -> None:
    assert old in MINIMAL, old
    path = _write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(TissueError, match=pattern) as exc:
        load_tissue_table(path)
    assert str(path) in str(exc.value)  # the message names the file


def test_halfspace_last_layer_must_not_have_thickness(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'depth_to_bone_mm = 11.0\ndepth_to_bone_source = "derived: sum of layers"\n', ""
    )
    with pytest.raises(
        TissueError, match=r"test_site\.layers\[1\]\.thickness_mm: the last layer .* half-space"
    ):
        load_tissue_table(_write(tmp_path, text))
    text = text.replace('thickness_mm = 10.0\nthickness_source = "ref1: fig 3"\n', "")
    site = load_tissue_table(_write(tmp_path, text, "ok.toml"))["test_site"]
    assert site.stack.base == "halfspace" and math.isinf(site.layers[-1].thickness_mm)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "\n[[[broken\n")
    with pytest.raises(TissueError, match=r"is not valid TOML"):
        load_tissue_table(path)
    with pytest.raises(TissueError, match=r"cannot be read"):
        load_tissue_table(tmp_path / "absent.toml")


def test_direct_construction_validates() -> None:
    """The frozen dataclasses validate themselves too (API users, not only the loader)."""
    skin = TissueLayer("skin", 1.0, 100.0, 0.49, "estimate: a", "estimate: b", "estimate: c")
    muscle = TissueLayer("muscle", 10.0, 30.0, 0.49, "estimate: a", "estimate: b", "estimate: c")
    kwargs = dict(
        site="s",
        description="d",
        layers=(skin, muscle),
        depth_to_bone_mm=11.0,
        depth_to_bone_source="derived: sum",
        ppt_female_kpa=300.0,
        ppt_male_kpa=400.0,
        ppt_kpa=350.0,
        ppt_female_source="estimate: x",
        ppt_male_source="estimate: x",
        ppt_source="derived: mean",
        friction=0.3,
        friction_condition="lubricated",
        friction_source="estimate: y",
    )
    assert SiteTissue(**kwargs).stack.total_thickness_mm == pytest.approx(11.0, abs=1e-12)
    with pytest.raises(TissueError, match=r"s\.depth_to_bone_mm: the layers sum to 11 mm"):
        SiteTissue(**{**kwargs, "depth_to_bone_mm": 12.0})
    with pytest.raises(TissueError, match=r"needs an infinite last layer"):
        SiteTissue(**{**kwargs, "depth_to_bone_mm": None})
    with pytest.raises(TissueError, match=r"s\.friction: is out of range"):
        SiteTissue(**{**kwargs, "friction": 0.0})
    with pytest.raises(TissueError, match=r"layer 'skin'\.poisson: is out of range"):
        TissueLayer("skin", 1.0, 100.0, 0.6, "estimate: a", "estimate: b", "estimate: c")
    with pytest.raises(TissueError, match=r"layer 'skin'\.thickness_mm: is NaN"):
        TissueLayer("skin", math.nan, 100.0, 0.4, "estimate: a", "estimate: b", "estimate: c")
