"""The manufacturing drawing: content, scale, determinism, atomic output.

References: ISO 216 A3 = 420 x 297 mm (1190.55 x 841.89 pt); the notes the drawing must
carry come from shared/reference/cad_recipes.md sections 4-5 (ISO 2768-mK, ASTM A967 /
B912 / F1089, burr-free edge rule, Ra limits, do not scale); outline extents are checked
against hand-computed values for blade-large-cc (sagitta of the R25 ends: 25 - 15 = 10 mm).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iastm_tools.drawing import (
    SHEET_MM,
    apex_radius_tolerance_mm,
    distinct_sections,
    drawing_notes,
    exact_bbox_mm,
    fmt_mm,
    layout_drawing,
    render_drawing,
    write_drawing,
)
from iastm_tools.errors import OutputExistsError
from iastm_tools.section import edge_section


@pytest.fixture(scope="module")
def svgs(library_tools, tmp_path_factory):
    """The SVG drawing of every library tool and its text content (all text nodes)."""
    out = tmp_path_factory.mktemp("drawings")
    texts = {}
    for name, tool in library_tools.items():
        path = write_drawing(tool, svg_path=out / f"{name}.svg")["svg"]
        root = ET.parse(path).getroot()
        texts[name] = " ".join(t.strip() for t in root.itertext() if t.strip())
    return texts


def test_distinct_sections_partition_the_segments(library_tools):
    """Every segment is in exactly one group; groups differ; working groups come first."""
    for tool in library_tools.values():
        groups = distinct_sections(tool)
        members = sorted(i for g in groups for i in g.segments)
        assert members == list(range(len(tool.profile.segments)))
        secs = [g.section for g in groups]
        assert all(a != b for k, a in enumerate(secs) for b in secs[k + 1:])
        for g in groups:
            for i in g.segments:
                sec = edge_section(tool.profile.segments[i].edge, tool.profile.thickness_mm)
                assert sec == g.section
        flags = [g.working for g in groups]
        assert flags == sorted(flags, reverse=True)
        assert [g.letter for g in groups] == [chr(65 + k) for k in range(len(groups))]


def test_blade_large_cc_sections_and_extent(library_tools):
    tool = library_tools["blade-large-cc"]
    groups = distinct_sections(tool)
    assert [(g.letter, g.section.style, g.segments) for g in groups] == [
        ("A", "single_bevel", (1, 5)), ("B", "square", (0, 2, 3, 4, 6, 7))]
    xmin, ymin, xmax, _ = exact_bbox_mm(tool.outline)
    # R25 convex ends on a 40 mm chord bulge 25 - sqrt(25^2 - 20^2) = 10 mm beyond x = 0 / 140
    assert math.isclose(xmin, -10.0, abs_tol=1e-9) and math.isclose(xmax, 150.0, abs_tol=1e-9)
    assert math.isclose(ymin, 0.0, abs_tol=1e-9)


def test_exact_bbox_contains_and_matches_dense_polygon(library_tools):
    for tool in library_tools.values():
        ex = np.array(exact_bbox_mm(tool.outline))
        poly = tool.outline.polygon(0.0005)
        dense = np.array([poly[:, 0].min(), poly[:, 1].min(), poly[:, 0].max(), poly[:, 1].max()])
        assert np.all(dense[:2] >= ex[:2] - 1e-9) and np.all(dense[2:] <= ex[2:] + 1e-9)
        assert np.allclose(dense, ex, atol=0.001)


def test_svg_carries_the_required_notes_and_title_block(library_tools, svgs):
    for name, tool in library_tools.items():
        text = svgs[name]
        p = tool.profile
        for needed in ("ISO 2768-mK", "ASTM A967", "ASTM B912", "ASTM F1089", "DO NOT SCALE",
                       "burr-free", "break sharp edges 0.2-0.5 unless specified",
                       "Ra <= 0.4 µm", "Ra <= 0.8 µm", "theoretical sharp edge", p.material.spec,
                       f"{p.material.density_g_cm3:g} g/cm³", name, f"{tool.mass_g:.1f} g",
                       "SECTION A-A", "TOP VIEW", "mm"):
            assert needed in text, (name, needed)
        assert re.search(rf"REVISION\s+{re.escape(p.revision)}", text)
        for g in distinct_sections(tool):
            assert f"SECTION {g.letter}-{g.letter}" in text
            sec = g.section
            if sec.style in ("single_bevel", "double_bevel"):
                r = sec.apex_radius_mm
                assert f"R{fmt_mm(r)} ±{fmt_mm(apex_radius_tolerance_mm(r))}" in text, name
                assert f"{fmt_mm(sec.angle_deg)}° ±1°" in text, name
                assert f"({fmt_mm(sec.bevel_width_mm)})" in text, name
            assert fmt_mm(sec.thickness_mm) in text
        for prim in tool.outline.prims:
            if prim.owner[0] == "segment" and prim.is_arc:
                assert f"R{fmt_mm(prim.radius_mm)}" in text, (name, prim.radius_mm)
        xmin, ymin, xmax, ymax = exact_bbox_mm(tool.outline)
        assert fmt_mm(xmax - xmin) in text and fmt_mm(ymax - ymin) in text


def test_paper_coordinates_are_millimetres_on_a3(library_tools):
    """One data unit is one paper millimetre, so the top view scale printed is exact."""
    tool = library_tools["blade-large-cc"]
    fig = render_drawing(tool)
    w_in, h_in = fig.get_size_inches()
    assert math.isclose(w_in * 25.4, SHEET_MM[0]) and math.isclose(h_in * 25.4, SHEET_MM[1])
    ax = fig.axes[0]
    p0, p1 = ax.transData.transform([(0.0, 0.0), (100.0, 100.0)])
    mm = (p1 - p0) / fig.dpi * 25.4
    assert np.allclose(mm, [100.0, 100.0], rtol=1e-9)
    assert layout_drawing(tool).top_scale == 1.0 and layout_drawing(tool).section_scale == 5.0


def test_layout_fits_the_frame(library_tools):
    W, H = SHEET_MM
    for tool in library_tools.values():
        lay = layout_drawing(tool)
        s = lay.top_scale
        xmin, ymin, xmax, ymax = exact_bbox_mm(tool.outline)
        ox, oy = lay.top_origin_mm
        assert ox + s * xmin > 20.0 and ox + s * xmax < W - 10.0
        assert oy + s * ymin > 10.0 + 66.0 and oy + s * ymax < H - 10.0
        for x, y, w, h in lay.section_cells:
            assert x >= 20.0 - 1e-9 and x + w <= W - 10.0 + 1e-9 and y >= 76.0 - 1e-9
            assert y + h <= oy + s * ymin  # below the top view


def test_pdf_and_svg_are_deterministic(library_tools, tmp_path):
    """Same tool -> same bytes; no creation dates; A3 landscape media box."""
    tool = library_tools["blade-large-cc"]
    a = write_drawing(tool, tmp_path / "a.pdf", tmp_path / "a.svg")
    b = write_drawing(tool, tmp_path / "b.pdf", tmp_path / "b.svg")
    assert a["pdf"].read_bytes() == b["pdf"].read_bytes()
    assert a["svg"].read_bytes() == b["svg"].read_bytes()
    pdf = a["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and b"/CreationDate" not in pdf
    box = re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ([\d.]+) *\]", pdf)
    assert box and math.isclose(float(box.group(1)), 420 / 25.4 * 72, abs_tol=0.01)
    assert math.isclose(float(box.group(2)), 297 / 25.4 * 72, abs_tol=0.01)
    assert b"<dc:date>" not in a["svg"].read_bytes()


def test_write_drawing_never_overwrites_without_force(library_tools, tmp_path):
    tool = library_tools["blade-large-cc"]
    path = tmp_path / "d.svg"
    path.write_text("keep me")
    with pytest.raises(OutputExistsError):
        write_drawing(tool, svg_path=path)
    assert path.read_text() == "keep me"
    write_drawing(tool, svg_path=path, force=True)
    assert path.read_text().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.svg"]  # no temp files left


def test_notes_state_explicit_tolerances(library_tools):
    tool = library_tools["blade-large-cc"]
    notes = drawing_notes(tool)
    joined = "\n".join(notes)
    assert "apex radii R0.5 ±0.1" in joined and "bevel angles ±1°" in joined
    assert "Passivate per ASTM A967 or electropolish per ASTM B912; verify per ASTM F1089." in notes
    assert tool.profile.material.source in joined
    assert "Corner blends not dimensioned: R3." in notes


@given(st.floats(0.1, 5.0))
def test_apex_radius_tolerance_rule(r):
    """20 % of R rounded to 0.05, within [0.05, 0.2] mm; never looser than ISO 2768-m
    (+-0.2 for external radii 0.5-3 mm); R0.5 -> 0.1 exactly."""
    tol = apex_radius_tolerance_mm(r)
    assert 0.05 - 1e-12 <= tol <= 0.2 + 1e-12
    assert math.isclose(tol / 0.05, round(tol / 0.05), abs_tol=1e-9)
    assert apex_radius_tolerance_mm(r + 0.3) >= tol
    assert math.isclose(apex_radius_tolerance_mm(0.5), 0.1)


@pytest.mark.parametrize("value, text", [(160.0, "160"), (46.8619, "46.86"), (0.5, "0.5"),
                                          (4.7674, "4.77"), (-0.0001, "0")])
def test_fmt_mm(value, text):
    assert fmt_mm(value) == text
