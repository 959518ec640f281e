"""Machining bundle: every library profile exported and read back by independent readers.

References and tolerances (issue 2, item 6):
- STEP re-imported with CadQuery/OCCT's STEP reader: one valid solid, volume equal to the
  built volume within rel 1e-6; header carries the schema string and the product name.
- STL and 3MF read with trimesh: watertight, one body, volume within 0.5 % of the solid,
  and within the chordal bound |V_mesh - V| <= tolerance x surface area.
- DXF read with ezdxf: one closed LWPOLYLINE; its exact bulge area equals the analytic
  plan area (rel 1e-9), and ezdxf's own flattening gives it within rel 1e-3.
- mass = volume x density (g = mm^3 x 1e-3 x g/cm^3), rel 1e-9.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iastm_tools.errors import IastmError, OutputExistsError
from iastm_tools.export import (
    FORMATS,
    ExportOptions,
    TriangleMesh,
    bulge_polygon_area_mm2,
    bundle_filename,
    dxf_bulge_points,
    export_bundle,
    mesh_tool,
    write_step,
)


@pytest.fixture(scope="module")
def bundles(library_tools, tmp_path_factory):
    """The full bundle (all formats) of every library tool, written once."""
    out = tmp_path_factory.mktemp("bundles")
    return {name: export_bundle(tool, out) for name, tool in library_tools.items()}


def _failures(items):
    return [name for name, ok in items if not ok]


# --------------------------------------------------------------------------------------
# bundle content


def test_bundle_has_every_format_and_checksums(bundles):
    """Each bundle holds all formats, README.txt and a SHA256SUMS that verifies."""
    for name, res in bundles.items():
        assert res.directory.name == name
        assert set(res.paths) == set(FORMATS)
        names = sorted(p.name for p in res.directory.iterdir())
        expected = sorted([bundle_filename(name, f) for f in FORMATS]
                          + ["README.txt", "SHA256SUMS"])
        assert names == expected, name
        for line in (res.directory / "SHA256SUMS").read_text().splitlines():
            digest, fname = line.split("  ")
            assert hashlib.sha256((res.directory / fname).read_bytes()).hexdigest() == digest
        readme = (res.directory / "README.txt").read_text()
        assert "governs geometry" in readme and "GOVERNS TOLERANCES" in readme


def test_step_reimports_as_one_valid_solid_of_the_built_volume(library_tools, bundles):
    """OCCT's STEP reader (a different code path from the writer) gives 1 valid solid whose
    volume equals the built volume within rel 1e-6."""
    import cadquery as cq

    bad = []
    for name, tool in library_tools.items():
        shape = cq.importers.importStep(str(bundles[name].paths["step"]))
        solids = shape.solids().vals()
        vol = solids[0].Volume() if solids else 0.0
        ok = (len(solids) == 1 and solids[0].isValid()
              and math.isclose(vol, tool.volume_mm3, rel_tol=1e-6))
        if not ok:
            bad.append((name, len(solids), vol, tool.volume_mm3))
    assert not bad


def test_step_header_has_schema_product_name_and_mm(library_tools, bundles):
    for name, tool in library_tools.items():
        text = bundles[name].paths["step"].read_text(encoding="ascii", errors="replace")
        assert "FILE_SCHEMA(('AUTOMOTIVE_DESIGN" in text, name
        product = f"{name} rev {tool.profile.revision}"
        assert re.search(rf"PRODUCT\('{re.escape(product)}','{re.escape(product)}'", text), name
        assert f"FILE_NAME('{product}'" in text
        assert "SI_UNIT(.MILLI.,.METRE.)" in text
        assert "Open CASCADE STEP translator" not in text  # no per-process counter names


def test_step_ap242_and_schema_static_restored(library_tools, tmp_path):
    """AP242 on request; the global OCCT schema setting is back to what it was."""
    import cadquery as cq
    from OCP.Interface import Interface_Static
    from OCP.STEPControl import STEPControl_Controller

    tool = next(iter(library_tools.values()))
    STEPControl_Controller.Init_s()
    before = Interface_Static.CVal_s("write.step.schema")
    path = write_step(tool, tmp_path / "x.step", schema="ap242")
    assert Interface_Static.CVal_s("write.step.schema") == before
    text = path.read_text(encoding="ascii", errors="replace")
    assert "AP242_MANAGED_MODEL_BASED_3D_ENGINEERING_MIM_LF" in text
    assert "AUTOMOTIVE_DESIGN" not in text
    solid = cq.importers.importStep(str(path)).solids().vals()
    assert len(solid) == 1 and math.isclose(solid[0].Volume(), tool.volume_mm3, rel_tol=1e-6)
    # a failing write restores it too
    with pytest.raises(OutputExistsError):
        write_step(tool, path, schema="ap242")
    assert Interface_Static.CVal_s("write.step.schema") == before


def test_stl_watertight_one_body_volume(library_tools, bundles):
    """trimesh: watertight, one body, volume within 0.5 % and within tol x area."""
    import trimesh

    bad = []
    for name, tool in library_tools.items():
        path = bundles[name].paths["stl"]
        data = path.read_bytes()
        n_tri = int.from_bytes(data[80:84], "little")
        assert len(data) == 84 + 50 * n_tri, "not a binary STL"
        assert not data.startswith(b"solid")
        mesh = trimesh.load(path, file_type="stl")
        rel = abs(mesh.volume / tool.volume_mm3 - 1.0)
        bound = 0.01 * tool.solid.Area()  # default tolerance 0.01 mm x surface area
        ok = (mesh.is_watertight and mesh.body_count == 1 and mesh.is_winding_consistent
              and rel < 0.005 and abs(mesh.volume - tool.volume_mm3) <= bound)
        if not ok:
            bad.append((name, mesh.is_watertight, mesh.body_count, rel))
    assert not bad


def test_3mf_reads_back_watertight_in_mm(library_tools, bundles):
    import zipfile

    import trimesh

    bad = []
    for name, tool in library_tools.items():
        path = bundles[name].paths["3mf"]
        with zipfile.ZipFile(path) as zf:
            model = zf.read("3D/3dmodel.model").decode()
        assert 'unit="millimeter"' in model
        scene = trimesh.load(path, file_type="3mf")
        mesh = (scene.to_geometry() if hasattr(scene, "to_geometry")
                else scene.dump(concatenate=True))
        rel = abs(mesh.volume / tool.volume_mm3 - 1.0)
        if not (mesh.is_watertight and mesh.body_count == 1 and rel < 0.005):
            bad.append((name, mesh.is_watertight, rel))
    assert not bad


def test_dxf_outline_area_equals_plan_area(library_tools, bundles):
    """One closed LWPOLYLINE on CUT_OUTER, mm; exact bulge area = plan area (rel 1e-9);
    ezdxf's independent flattening agrees within rel 1e-3."""
    import ezdxf
    from ezdxf import path as ezpath

    for name, tool in library_tools.items():
        doc = ezdxf.readfile(bundles[name].paths["dxf"])
        assert doc.header["$INSUNITS"] == 4
        entities = list(doc.modelspace())
        assert len(entities) == 1 and entities[0].dxftype() == "LWPOLYLINE", name
        pl = entities[0]
        assert pl.closed and pl.dxf.layer == "CUT_OUTER"
        pts = [(x, y, b) for x, y, _, _, b in pl.get_points("xyseb")]
        assert math.isclose(bulge_polygon_area_mm2(pts), tool.plan_area_mm2, rel_tol=1e-9), name
        flat = np.array([(v.x, v.y) for v in ezpath.make_path(pl).flattening(0.001)])
        x, y = flat[:, 0], flat[:, 1]
        shoelace = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
        assert math.isclose(shoelace, tool.plan_area_mm2, rel_tol=1e-3), name


def test_params_json_mass_is_volume_times_density(library_tools, bundles):
    """mass_g = volume_mm3 x 1e-3 x density_g_cm3 for the profile's grade and every grade;
    sha256 of each listed file matches; the profile round-trips."""
    from iastm_tools.materials import MATERIALS
    from iastm_tools.profile import Profile

    for name, tool in library_tools.items():
        path = bundles[name].paths["json"]
        text = path.read_text()
        data = json.loads(text)
        assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        dens = tool.profile.material.density_g_cm3
        assert data["material"]["density_g_cm3"] == dens
        assert data["material"]["density_source"]
        assert math.isclose(data["mass_g"], data["volume_mm3"] * 1e-3 * dens, rel_tol=1e-9)
        assert math.isclose(data["volume_mm3"], tool.volume_mm3, rel_tol=1e-12)
        for grade, mass in data["mass_by_grade_g"].items():
            expect = data["volume_mm3"] * 1e-3 * MATERIALS[grade].density_g_cm3
            assert math.isclose(mass, expect, rel_tol=1e-9)
        for fmt, entry in data["files"].items():
            file = bundles[name].paths[fmt]
            assert entry["file"] == file.name
            assert entry["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
        assert set(data["files"]) == set(FORMATS) - {"json"}
        assert Profile.from_dict(data["profile"]) == tool.profile
        assert data["software"]["iastm_tools"] and data["software"]["cadquery"]
        assert len(data["contours"]) == len(tool.contours)


# --------------------------------------------------------------------------------------
# atomicity and overwrite protection


def test_no_overwrite_without_force(library_tools, tmp_path):
    tool = next(iter(library_tools.values()))
    first = export_bundle(tool, tmp_path, formats=["dxf", "json"])
    before = {p.name: p.read_bytes() for p in first.directory.iterdir()}
    with pytest.raises(OutputExistsError, match="force"):
        export_bundle(tool, tmp_path, formats=["dxf"])
    assert {p.name: p.read_bytes() for p in first.directory.iterdir()} == before
    second = export_bundle(tool, tmp_path, formats=["dxf"], force=True)
    assert sorted(p.name for p in second.directory.iterdir()) == sorted(
        [bundle_filename(tool.name, "dxf"), "README.txt", "SHA256SUMS"])
    assert sorted(os.listdir(tmp_path)) == [tool.name]  # no temp or backup dirs left


def test_no_half_written_files_after_failure(library_tools, tmp_path, monkeypatch):
    """A failure after some files are written leaves no bundle and no temp directory; with
    force, the previous bundle survives intact."""
    import iastm_tools.export as export

    tool = next(iter(library_tools.values()))

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure while writing the DXF")

    monkeypatch.setattr(export, "write_dxf", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        export_bundle(tool, tmp_path, formats=["step", "dxf"])
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    good = export_bundle(tool, tmp_path, formats=["dxf"])
    before = {p.name: p.read_bytes() for p in good.directory.iterdir()}
    monkeypatch.setattr(export, "write_dxf", boom)
    with pytest.raises(RuntimeError):
        export_bundle(tool, tmp_path, formats=["step", "dxf"], force=True)
    assert {p.name: p.read_bytes() for p in good.directory.iterdir()} == before
    assert os.listdir(tmp_path) == [tool.name]


def test_subset_of_formats(library_tools, tmp_path):
    tool = next(iter(library_tools.values()))
    res = export_bundle(tool, tmp_path, formats="DXF, json")
    assert set(res.paths) == {"dxf", "json"}
    data = json.loads(res.paths["json"].read_text())
    assert set(data["files"]) == {"dxf"}


def test_export_leaves_the_tool_solid_unmeshed(library_tools):
    """Meshing works on a copy: the tool's own faces gain no triangulation."""
    from OCP.BRep import BRep_Tool
    from OCP.TopLoc import TopLoc_Location

    tool = next(iter(library_tools.values()))

    def meshed() -> int:
        return sum(BRep_Tool.Triangulation_s(f.wrapped, TopLoc_Location()) is not None
                   for f in tool.solid.Faces())

    before = meshed()
    mesh_tool(tool, 0.05)
    assert meshed() == before


# --------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("formats, bad", [(["step", "iges"], "iges"), ("pdf,png", "png"),
                                          ([], "empty")])
def test_unknown_format_names_it_and_the_allowed_list(formats, bad):
    with pytest.raises(IastmError) as err:
        ExportOptions(formats=formats)
    assert bad in str(err.value) and "step, stl, 3mf, dxf, pdf, svg, json" in str(err.value)


@pytest.mark.parametrize("schema", ["ap203", "AP214IS", "", None])
def test_bad_step_schema(schema):
    with pytest.raises(IastmError, match=r"step_schema.*ap214 \| ap242"):
        ExportOptions(step_schema=schema)


def test_schema_names_are_case_insensitive():
    assert ExportOptions(step_schema="AP242").step_schema == "ap242"


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                 st.text(max_size=3)))
def test_stl_tolerance_range(value):
    """Accepted exactly when a number in [0.001, 1] mm; otherwise IastmError naming the field."""
    valid = (isinstance(value, float) and math.isfinite(value) and 0.001 <= value <= 1.0)
    if valid:
        assert ExportOptions(stl_tolerance_mm=value).stl_tolerance_mm == value
    else:
        with pytest.raises(IastmError, match="stl_tolerance_mm"):
            ExportOptions(stl_tolerance_mm=value)


def test_export_bundle_validates_before_writing(library_tools, tmp_path):
    tool = next(iter(library_tools.values()))
    with pytest.raises(IastmError, match="stl_tolerance_mm"):
        export_bundle(tool, tmp_path, stl_tolerance_mm=5.0)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------
# pure helpers against analytic references


@given(st.floats(0.5, 100.0), st.floats(0.5, 100.0))
def test_bulge_area_of_a_stadium(w, r):
    """Rectangle w x 2r with semicircular ends (bulge 1 = half circle): area 2rw + pi r^2;
    clockwise gives the negative."""
    pts = [(0.0, 0.0, 0.0), (w, 0.0, 1.0), (w, 2 * r, 0.0), (0.0, 2 * r, 1.0)]
    expect = 2 * r * w + math.pi * r * r
    assert math.isclose(bulge_polygon_area_mm2(pts), expect, rel_tol=1e-12)
    cw = [(0.0, 2 * r, 0.0), (w, 2 * r, -1.0), (w, 0.0, 0.0), (0.0, 0.0, -1.0)]
    assert math.isclose(bulge_polygon_area_mm2(cw), -expect, rel_tol=1e-12)


def test_bulge_points_follow_the_outline(library_tools):
    for tool in library_tools.values():
        pts = dxf_bulge_points(tool.outline)
        assert len(pts) == len(tool.outline.prims)
        for (x, y, b), prim in zip(pts, tool.outline.prims, strict=True):
            assert (x, y) == prim.p0
            assert math.isclose(4 * math.atan(b), prim.sweep_rad, abs_tol=1e-12)


def test_triangle_mesh_closed_and_volume():
    """Unit right tetrahedron: volume 1/6; removing a face opens it; flipping one face
    makes the orientation inconsistent."""
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    mesh = TriangleMesh(v, f, 0.01, 10.0)
    assert math.isclose(mesh.volume_mm3, 1.0 / 6.0, rel_tol=1e-12)
    assert mesh.is_closed()
    assert not TriangleMesh(v, f[:3], 0.01, 10.0).is_closed()
    flipped = f.copy()
    flipped[0] = flipped[0][::-1]
    assert not TriangleMesh(v, flipped, 0.01, 10.0).is_closed()


def test_finer_tolerance_gives_closer_volume(library_tools):
    """The chordal tolerance is absolute: 0.1 mm -> 0.005 mm shrinks the volume error."""
    tool = next(iter(library_tools.values()))
    errs = [abs(mesh_tool(tool, tol, 10.0).volume_mm3 - tool.volume_mm3) for tol in (0.1, 0.005)]
    assert errs[1] < errs[0]
    assert errs[0] <= 0.1 * tool.solid.Area()


def test_bundle_paths_are_inside_the_directory(bundles):
    for res in bundles.values():
        for p in (*res.paths.values(), *res.support_files):
            assert p.parent == res.directory and p.exists()
            assert isinstance(p, Path)


def test_reproducible_files_with_source_date_epoch(library_tools, tmp_path, monkeypatch):
    """With SOURCE_DATE_EPOCH set, every file of a bundle (STEP, STL, 3MF, DXF, PDF, SVG and
    params.json with their checksums) is byte-identical across runs, and ezdxf's global
    fixed-metadata option is left as it was."""
    import ezdxf

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    tool = library_tools["blade-large-cc"]
    formats = ["step", "stl", "3mf", "dxf", "pdf", "svg", "json"]
    before = ezdxf.options.write_fixed_meta_data_for_testing
    a = export_bundle(tool, tmp_path / "a", formats=formats)
    b = export_bundle(tool, tmp_path / "b", formats=formats)
    for fmt in formats:
        assert a.paths[fmt].read_bytes() == b.paths[fmt].read_bytes(), fmt
    assert ezdxf.options.write_fixed_meta_data_for_testing == before
    assert "'2023-11-14T22:13:20'" in a.paths["step"].read_text(encoding="ascii", errors="replace")


@settings(max_examples=4, deadline=None)
@given(angle=st.floats(30.0, 60.0), apex=st.floats(0.2, 0.8), thickness=st.floats(3.0, 6.0))
def test_bevel_variants_roundtrip_through_step_and_stl(library_tools, tmp_path_factory, angle,
                                                       apex, thickness):
    """Variants of blade-large-cc (bevel angle, apex radius, thickness): STEP re-import is
    one valid solid of the built volume (rel 1e-6); the mesh is closed within 0.5 %."""
    import cadquery as cq

    tool = library_tools["blade-large-cc"].with_(**{
        "segments[1].edge.angle_deg": angle, "segments[1].edge.apex_radius_mm": apex,
        "thickness_mm": thickness})
    path = write_step(tool, tmp_path_factory.mktemp("variant") / "v.step")
    solids = cq.importers.importStep(str(path)).solids().vals()
    assert len(solids) == 1 and solids[0].isValid()
    assert math.isclose(solids[0].Volume(), tool.volume_mm3, rel_tol=1e-6)
    mesh = mesh_tool(tool)
    assert mesh.is_closed() and abs(mesh.volume_mm3 / tool.volume_mm3 - 1) < 0.005


@given(corner=st.floats(1.0, 8.0), r_end=st.floats(21.0, 60.0))
def test_dxf_area_over_outline_variants(library_tools, tmp_path_factory, corner, r_end):
    """Corner blend radius and end radius varied (no solid build): the DXF read back by
    ezdxf is one closed polyline whose exact area equals the analytic plan area (1e-9) and
    whose vertices are the outline's piece starts (no gaps)."""
    import ezdxf

    from iastm_tools.export import write_dxf

    tool = library_tools["blade-large-cc"].with_(**{
        "corner_radius_mm": corner, "segments[3].radius_mm": r_end,
        "segments[7].radius_mm": r_end})
    path = write_dxf(tool, tmp_path_factory.mktemp("dxf") / "v.dxf")
    (pl,) = list(ezdxf.readfile(path).modelspace())
    pts = [(x, y, b) for x, y, _, _, b in pl.get_points("xyseb")]
    assert pl.closed and len(pts) == len(tool.outline.prims)
    assert math.isclose(bulge_polygon_area_mm2(pts), tool.plan_area_mm2, rel_tol=1e-9)
    for (x, y, _), prim in zip(pts, tool.outline.prims, strict=True):
        assert math.hypot(x - prim.p0[0], y - prim.p0[1]) < 1e-9
