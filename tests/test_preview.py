"""3D preview (iastm_tools.preview): scene geometry checks and image regression.

Image regression: off-screen screenshots (EGL, no display) of deterministic scenes at a
fixed 400 x 300 window are compared with ``tests/reference_images/*.png``. Tolerance: mean
absolute difference <= 3 grey levels (of 255) per channel AND at most 2 % of the pixels
differ by more than 40 levels in some channel (anti-aliasing-free rendering is exact on
one machine; the margins absorb Mesa/llvmpipe version differences and sub-pixel moves).

Refresh the references after an intended visual change (then look at them!)::

    IASTM_REFRESH_IMAGES=1 .venv/bin/python -m pytest tests/test_preview.py
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

from iastm_tools import preview
from iastm_tools.body import Body, Site
from iastm_tools.errors import IastmError
from iastm_tools.fit import fit
from iastm_tools.library import find_profile
from iastm_tools.tool import Tool

REFERENCE_DIR = Path(__file__).parent / "reference_images"
IMAGE_SIZE = (400, 300)
MAX_MEAN_ABS_DIFF = 3.0
PIXEL_DIFF_LEVEL = 40
MAX_DIFF_PIXEL_FRACTION = 0.02


def flat_body() -> Body:
    box = trimesh.creation.box((300.0, 300.0, 60.0))
    box.apply_translation([0.0, 0.0, -30.0])
    return Body("flat", box, sites={"calf": Site("calf", [0, 0, 0], [0, 0, 1], [1, 0, 0])})


@pytest.fixture(scope="module")
def tool():
    return Tool.from_profile(find_profile("blade-large-cc"))


@pytest.fixture(scope="module")
def result(tool):
    """The blade on the flat slab at a fixed pose (tilt 45 deg, stroke along the limb)."""
    return fit(tool, flat_body(), "calf", 8.0, (45.0, 45.0), model="halfspace",
               rotation_range_deg=(0.0, 0.0), coarse_tilts=2, coarse_rotations=2,
               refine_evals=0)


def compare_with_reference(img: np.ndarray, name: str) -> None:
    """Assert ``img`` matches ``reference_images/<name>.png`` (see the module docstring)."""
    from PIL import Image

    path = REFERENCE_DIR / f"{name}.png"
    if os.environ.get("IASTM_REFRESH_IMAGES"):
        REFERENCE_DIR.mkdir(exist_ok=True)
        Image.fromarray(img).save(path, optimize=True)
    assert path.exists(), (f"missing reference image {path}; create it with "
                           "IASTM_REFRESH_IMAGES=1 pytest tests/test_preview.py")
    ref = np.asarray(Image.open(path).convert("RGB"))
    assert ref.shape == img.shape, f"{name}: size {img.shape} != reference {ref.shape}"
    diff = np.abs(img.astype(np.int16) - ref.astype(np.int16))
    mean = float(diff.mean())
    frac = float((diff.max(axis=-1) > PIXEL_DIFF_LEVEL).mean())
    if mean > MAX_MEAN_ABS_DIFF or frac > MAX_DIFF_PIXEL_FRACTION:
        out = path.with_name(f"{name}.actual.png")
        Image.fromarray(img).save(out)
        pytest.fail(f"{name}: mean abs diff {mean:.2f} (max {MAX_MEAN_ABS_DIFF}), "
                    f"{frac:.2%} pixels off by > {PIXEL_DIFF_LEVEL} (max "
                    f"{MAX_DIFF_PIXEL_FRACTION:.0%}); actual image written to {out}")


def test_tool_screenshot_matches_reference(tool):
    img = preview.screenshot(preview.tool_scene(tool), window_size=IMAGE_SIZE)
    assert img.shape == (IMAGE_SIZE[1], IMAGE_SIZE[0], 3) and img.dtype == np.uint8
    compare_with_reference(img, "tool_blade_large_cc")


def test_fit_screenshot_matches_reference(result):
    img = preview.screenshot(preview.fit_scene(result), window_size=IMAGE_SIZE)
    compare_with_reference(img, "fit_blade_large_cc_flat")


@pytest.mark.skipif(bool(os.environ.get("IASTM_REFRESH_IMAGES")),
                    reason="refreshing the reference images: nothing to compare against")
def test_the_comparison_detects_a_changed_image(tool):
    """The regression check must fail for a visibly different scene (a 90 deg turn)."""
    scene = preview.tool_scene(tool)
    cam = scene.camera
    turned = preview.Camera((cam.position[1], -cam.position[0], cam.position[2]),
                            cam.focal_point, cam.view_up)
    from dataclasses import replace

    img = preview.screenshot(replace(scene, camera=turned), window_size=IMAGE_SIZE)
    with pytest.raises(pytest.fail.Exception):
        compare_with_reference(img, "tool_blade_large_cc")
    (REFERENCE_DIR / "tool_blade_large_cc.actual.png").unlink(missing_ok=True)


def test_fit_scene_geometry(result, tool):
    """Heat map on the skin (z = 0 slab) lifted by HEATMAP_LIFT_MM, carrying the solved
    pressures; the tool in the 'touching' pose rests on the skin (lowest point z = 0 to
    the mesh tolerance); the fitted edge is labelled."""
    scene = preview.fit_scene(result)
    meshes = {m.name: m for m in scene.meshes}
    heat = meshes["pressure"]
    np.testing.assert_allclose(heat.points[:, 2], preview.HEATMAP_LIFT_MM, atol=1e-9)
    assert float(heat.scalars.max()) == pytest.approx(result.best.peak_pressure_kpa)
    assert scene.colorbar.vmax >= result.best.ppt_kpa
    assert scene.colorbar.marks[0][0] == pytest.approx(result.best.ppt_kpa)
    tool_z = meshes["tool"].points[:, 2]
    assert abs(float(tool_z.min())) < 0.05
    loaded = preview.fit_scene(result, tool_pose="loaded")
    lz = {m.name: m for m in loaded.meshes}["tool"].points[:, 2]
    assert float(lz.min()) == pytest.approx(float(tool_z.min()) - result.best.approach_mm,
                                            abs=1e-9)
    # every working edge has a tube and a label; the fitted one says so
    assert {f"edge: {c.name}" for c in tool.contours} <= set(meshes)
    texts = [lb.text for lb in scene.labels]
    assert f"{result.best.contour} (fitted)" in texts
    # the heat map lies under the fitted edge: its centroid is within the edge's reach
    centre = heat.points.mean(axis=0)
    edge = meshes[f"edge: {result.best.contour}"].points
    assert float(np.min(np.linalg.norm(edge[:, :2] - centre[:2], axis=1))) < 10.0


def test_tube_volume_matches_prism():
    """A straight tube of radius r over length L with n sides encloses the prism volume
    (n/2) r^2 sin(2 pi / n) L (rel 1e-9)."""
    pts = np.column_stack([np.linspace(0, 10.0, 11), np.zeros(11), np.zeros(11)])
    v, f = preview._tube(pts, 0.5, sides=10)
    mesh = trimesh.Trimesh(v, f, process=True)
    assert mesh.is_watertight
    expected = 5.0 * 0.25 * np.sin(2 * np.pi / 10) * 10.0
    assert abs(mesh.volume) == pytest.approx(expected, rel=1e-9)


def test_scene_data_round_trips(result):
    scene = preview.fit_scene(result, coarse=True, max_heatmap_nodes=40)
    data = preview.scene_data(scene)
    lo, hi = scene.bounds()
    centre = 0.5 * (lo + hi)
    for m, d in zip(scene.meshes, data["meshes"], strict=True):
        p = np.frombuffer(base64.b64decode(d["p"]), "<f4").reshape(-1, 3)
        idx = np.frombuffer(base64.b64decode(d["i"]), "<u4" if d["wide"] else "<u2")
        assert idx.max() < len(p) and len(idx) % 3 == 0
        if m.name != "tool":  # the tool's sharp edges are split: more vertices
            np.testing.assert_allclose(p + centre, m.points, atol=1e-3)
    heat = next(m for m in scene.meshes if m.name == "pressure")
    assert heat.points.shape[0] <= 41 * 41 * 4
    html = preview.scene_html_page(scene)
    assert "http://" not in html and "https://" not in html
    assert html.count('class="scene3d"') == 1


def test_plot_methods_delegate(tool, result, tmp_path):
    img = tool.plot(screenshot=tmp_path / "t.png", window_size=(200, 150))
    assert img.shape == (150, 200, 3) and (tmp_path / "t.png").stat().st_size > 0
    pl = result.plot(show=False, off_screen=True, window_size=(200, 150))
    try:
        assert len(pl.renderer.actors) >= 4
    finally:
        pl.close()
    with pytest.raises(IastmError, match="no fitted edge"):
        result.plot("no-such-edge", show=False)


def test_fit_scene_needs_tool_and_body(result):
    from dataclasses import replace

    bare = replace(result, tool_object=None, body_object=None)
    with pytest.raises(IastmError, match="needs the Tool and Body"):
        preview.fit_scene(bare)
    scene = preview.fit_scene(bare, tool=result.tool_object, body=result.body_object)
    assert scene.meshes


def test_interactive_window_without_display_is_a_clear_error(tool, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(IastmError, match="no display"):
        tool.plot()
