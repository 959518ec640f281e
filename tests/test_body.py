"""Built-in bodies (MakeHuman family, OpenLimbTT), their sites, tissue link and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from iastm_tools.body import SITE_NAMES, Body, BodyParams
from iastm_tools.body.body import _joints_mm
from iastm_tools.body.makehuman import base_mesh_mm, body_vertices_mm
from iastm_tools.body.measure import girth_mm, max_girth_mm
from iastm_tools.body.paths import body_scans_dir
from iastm_tools.errors import IastmError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def default_body(tmp_path_factory) -> Body:
    """The default MakeHuman body, built once into a test-only cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IASTM_CACHE_DIR", str(tmp_path_factory.mktemp("body_cache")))
        return Body.load("default")


@pytest.fixture(scope="session")
def openlimb() -> Body:
    return Body.load("openlimbtt_knee")


def test_default_body_watertight_and_fine_on_sites(default_body: Body) -> None:
    """Closed, one piece, ~1.66 m tall; site patches refined to a 1.5-3 mm mean edge."""
    m = default_body.mesh
    assert m.is_watertight and m.is_winding_consistent and m.volume > 0
    assert m.euler_number == 2  # genus 0, one closed piece (as the source mesh)
    assert np.ptp(m.vertices[:, 1]) == pytest.approx(1659, abs=5)  # SOURCE.md: 165.9 cm
    for name in SITE_NAMES:
        ids = default_body.site(name).region_face_ids
        edge = m.edges_unique_length[m.faces_unique_edges[ids]].mean()
        assert 1.3 <= edge <= 3.0, (name, edge)


def test_site_data_complete(default_body: Body) -> None:
    """Every site: on the skin (|d| < 0.5 mm), unit outward normal (a point 5 mm along it is
    5 mm outside), unit limb axis tangent to the skin, a patch containing its landmark,
    on the subject's right (-X) and facing the expected anatomical direction."""
    expected = {  # axis index, sign of the outward normal component (+Y up, +Z anterior)
        "calf": (2, -1), "posterior_thigh": (2, -1), "lateral_thigh": (0, -1),
        "lumbar_paraspinals": (2, -1), "achilles": (2, -1), "patellar_tendon": (2, +1),
        "plantar_fascia": (1, -1), "upper_trapezius": (1, +1),
    }
    assert set(default_body.sites) == set(SITE_NAMES)
    for name in SITE_NAMES:
        s = default_body.site(name)
        assert s.point_mm[0] < 0, name
        sd = default_body.signed_distance(np.vstack([s.point_mm, s.point_mm + 5 * s.normal]))
        assert abs(sd[0]) < 0.5 and sd[1] == pytest.approx(5.0, abs=0.5), name
        assert np.linalg.norm(s.normal) == pytest.approx(1.0)
        assert np.linalg.norm(s.limb_axis) == pytest.approx(1.0)
        assert abs(s.limb_axis @ s.normal) < 1e-9
        face = default_body.closest(s.point_mm[None]).face[0]
        assert face in set(s.region_face_ids.tolist())
        if name in expected:
            axis, sign = expected[name]
            assert sign * s.normal[axis] > 0.7, (name, s.normal)
    flex, ext = default_body.site("forearm_flexor"), default_body.site("forearm_extensor")
    assert flex.normal @ ext.normal < -0.5  # opposite sides of the forearm


def test_unknown_site_lists_available(default_body: Body) -> None:
    with pytest.raises(IastmError, match="available: forearm_flexor"):
        default_body.site("elbow")


def test_patch_is_local_and_connected(default_body: Body) -> None:
    """patch(site, 30 mm): every vertex within 30 mm + one edge of the landmark, one piece."""
    s = default_body.site("calf")
    patch = default_body.patch("calf", 30.0)
    assert len(patch.faces) > 100
    assert np.linalg.norm(patch.vertices - s.point_mm, axis=1).max() < 36.0
    assert len(trimesh.graph.connected_components(patch.face_adjacency,
                                                  nodes=np.arange(len(patch.faces)))) == 1


def test_site_tissue_link(default_body: Body) -> None:
    """Each site resolves to the tissue table of the same name, with a layered stack."""
    from iastm_tools.contact.tissue_stack import TissueStack

    for name in SITE_NAMES:
        t = default_body.tissue(name)
        assert isinstance(t.stack, TissueStack)
        assert t.ppt_kpa > 0
    assert default_body.site("calf").tissue.site == "calf"


def _girths(params: BodyParams) -> tuple[float, float, float]:
    _, f = base_mesh_mm()
    v = body_vertices_mm(params)
    m = trimesh.Trimesh(v, f, process=False)
    J = _joints_mm(v)
    calf = max_girth_mm(m, J["joint-r-knee"], J["joint-r-ankle"], fractions=(0.15, 0.5))
    thigh = girth_mm(m, 0.5 * (J["joint-r-upper-leg"] + J["joint-r-knee"]),
                     J["joint-r-knee"] - J["joint-r-upper-leg"], reach_mm=130.0)
    forearm = max_girth_mm(m, J["joint-r-elbow"], J["joint-r-hand"], fractions=(0.1, 0.5))
    return calf, thigh, forearm


@pytest.mark.parametrize("sex", [0.0, 0.5, 1.0])
def test_girths_within_reference_ranges(sex: float) -> None:
    """Average-muscle, average-weight adults against anthropometric references:

    - maximal calf girth: NHANES 1999-2006 normal-BMI adults 18-39 y (Gonzalez et al., Am J
      Clin Nutr 113:1679, 2021): cut-offs at -1 SD / -2 SD of 34 / 32 cm (men) and 33 / 31 cm
      (women) imply mean ~36 / 35 cm, SD ~2 cm; band mean +- 3 SD = 29-42 cm.
    - mid-thigh girth: NHANES adult means ~50-55 cm (McDowell et al., Natl Health Stat Report
      10, 2008); broad band 42-65 cm.
    - forearm girth (relaxed, max): ANSUR II forearm circumference means ~25 cm (women) to
      ~30 cm (men, flexed) (Gordon et al., NATICK/TR-15/007, 2014); band 20-34 cm.
    The thigh and forearm bands are approximate (values as recalled, not re-read from the
    tables); the calf band follows from the cited cut-offs.
    """
    calf, thigh, forearm = _girths(BodyParams(sex=sex))
    assert 290 <= calf <= 420
    assert 420 <= thigh <= 650
    assert 200 <= forearm <= 340


def test_girth_parameters_act() -> None:
    """Weight and the calf slider change the girths in the expected direction; male limbs
    are larger than female ones at the same settings (NHANES/ANSUR sex differences)."""
    c0, t0, _ = _girths(BodyParams(weight=0.0))
    c1, t1, _ = _girths(BodyParams(weight=1.0))
    assert c1 > c0 and t1 > t0 + 50
    assert _girths(BodyParams(calf=1.0))[0] > _girths(BodyParams())[0] + 50
    f, m = _girths(BodyParams(sex=0.0)), _girths(BodyParams(sex=1.0))
    assert all(mv > fv for mv, fv in zip(m, f, strict=True))


def test_body_params_validated() -> None:
    with pytest.raises(IastmError, match="weight"):
        BodyParams(weight=1.5)
    with pytest.raises(IastmError, match="age_years"):
        BodyParams(age_years=12)


def test_openlimbtt(openlimb: Body) -> None:
    """Real-data-derived limb: mm, open at the proximal cut only, sites it covers, and its
    CC BY-SA licence kept with the data."""
    assert openlimb.units == "mm"
    assert not openlimb.mesh.is_watertight
    assert len(openlimb.repairs.open_boundaries_mm) == 1
    assert set(openlimb.sites) == {"patellar_tendon", "calf"}
    assert openlimb.site("patellar_tendon").normal[1] < -0.7  # anterior is -Y
    assert openlimb.site("calf").normal[1] > 0.7
    assert "CC BY-SA" in openlimb.license
    folder = body_scans_dir() / "openlimbtt"
    assert (folder / "LICENSE").is_file() and (folder / "ATTRIBUTION.md").is_file()
    assert "ShareAlike" in (folder / "LICENSE").read_text()


def test_body_scans_sources_present() -> None:
    """Every shipped data file has its SOURCE note and licence; nothing over 5 MB."""
    root = body_scans_dir()
    for f in root.rglob("*"):
        if f.is_file():
            assert f.stat().st_size < 5_000_000, f
    mh = root / "makehuman"
    for name in ("makehuman_hm08_body_m.SOURCE.md", "makehuman_hm08_regions.SOURCE.md",
                 "LICENSE-CC0-1.0.md", "makehuman_macrodetails_adult/SOURCE.md",
                 "makehuman_measure_targets/SOURCE.md"):
        assert (mh / name).is_file(), name


def test_cli_list_info_make(tmp_path: Path, capsys) -> None:
    """`iastm body list|info|make`: exit 0 on good input, 2 on bad input; make writes a
    watertight variant with all sites (reloaded through its sidecar)."""
    from iastm_tools.cli import main

    assert main(["body", "list", "--json"]) == 0
    assert "openlimbtt_knee" in json.loads(capsys.readouterr().out)
    assert main(["body", "info", "openlimbtt_knee", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sites"]["calf"]["curvature_per_mm"][0] > 0
    assert "tissue" in info["sites"]["calf"]
    bad = tmp_path / "bad.stl"
    bad.write_bytes(b"")
    assert main(["body", "info", str(bad)]) == 2
    assert "empty" in capsys.readouterr().err
    out = tmp_path / "f.ply"
    assert main(["body", "make", str(out), "--sex", "f", "--weight", "0.7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["watertight"] is True
    body = Body.load(out)
    assert body.mesh.is_watertight and set(body.sites) == set(SITE_NAMES)
    assert main(["body", "make", str(out), "--sex", "f"]) == 2  # exists, no --force
    assert main(["body", "make", str(tmp_path / "x.ply"), "--weight", "2"]) == 2


@settings(max_examples=10)
@given(sex=st.floats(0, 1), age=st.floats(25, 90), muscle=st.floats(0, 1),
       weight=st.floats(0, 0.7))
def test_thigh_girth_grows_with_weight(sex: float, age: float, muscle: float,
                                       weight: float) -> None:
    """Across the parameter space, +0.3 weight gives a larger mid-thigh girth, and the base
    topology stays closed (targets move vertices only)."""
    lighter = _girths(BodyParams(sex=sex, age_years=age, muscle=muscle, weight=weight))
    heavier = _girths(BodyParams(sex=sex, age_years=age, muscle=muscle, weight=weight + 0.3))
    assert heavier[1] > lighter[1]
    _, f = base_mesh_mm()
    v = body_vertices_mm(BodyParams(sex=sex, age_years=age, muscle=muscle, weight=weight))
    assert np.isfinite(v).all()
    assert trimesh.Trimesh(v, f, process=False).volume > 0
