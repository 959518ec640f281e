"""HTML report (iastm_tools.report) and the ``iastm report`` / ``iastm preview`` commands.

Fits run on a synthetic flat slab with the half-space model at a fixed pose (fast,
deterministic). The browser checks (console, WebGL scene, images) are in
test_report_browser.py.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest
import trimesh

from iastm_tools import report
from iastm_tools.body import Body, Site
from iastm_tools.cli import main
from iastm_tools.errors import OutputExistsError
from iastm_tools.fit import fit
from iastm_tools.library import find_profile
from iastm_tools.tool import Tool

TOOLS = ("blade-large-cc", "scanner-straight")


def flat_body() -> Body:
    box = trimesh.creation.box((300.0, 300.0, 60.0))
    box.apply_translation([0.0, 0.0, -30.0])
    sites = {"calf": Site("calf", [0, 0, 0], [0, 0, 1], [1, 0, 0]),
             "forearm_flexor": Site("forearm_flexor", [10, 0, 0], [0, 0, 1], [0, 1, 0])}
    return Body("flat", box, sites=sites)


@pytest.fixture(scope="module")
def results():
    body = flat_body()
    out = []
    for name in TOOLS:
        tool = Tool.from_profile(find_profile(name))
        for site in ("calf", "forearm_flexor")[: 2 if name == TOOLS[0] else 1]:
            out.append(fit(tool, body, site, 8.0, (45.0, 45.0), model="halfspace",
                           rotation_range_deg=(0.0, 0.0), coarse_tilts=2,
                           coarse_rotations=2, refine_evals=0))
    return out


@pytest.fixture(scope="module")
def written(results, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "report"
    calls = []
    # screenshots (the static scene images) are covered by test_preview/test_report_browser
    res = report.write_report(results, out, bundle_formats=("dxf", "json"),
                              approach_points=2, screenshots=False,
                              progress=lambda: calls.append(1))
    return res, calls


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.srcs, self.ids, self.scripts = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if "src" in a:
            self.srcs.append(a["src"])
        if tag == "script":
            self.scripts.append(a)


def test_report_folder_layout_and_links(written, results):
    res, calls = written
    assert res.index == res.directory / "index.html" and res.index.is_file()
    assert len(calls) == len(TOOLS) + len(results)  # one per bundle and per section
    page = res.index.read_text(encoding="utf-8")
    p = _Links()
    p.feed(page)
    # every relative link resolves to a written file; every anchor to an element
    for href in p.hrefs:
        if href.startswith("#"):
            assert href[1:] in p.ids, href
        else:
            assert not re.match(r"^[a-z]+:", href), f"external link {href}"
            assert (res.directory / href).is_file(), href
    for name in TOOLS:
        assert f"bundles/{name}/{name}.dxf" in p.hrefs
        assert f"bundles/{name}/params.json" in p.hrefs
        assert (res.bundles[name] / "SHA256SUMS").is_file()
    for f in res.fit_files:
        data = json.loads(f.read_text())
        assert data["contours"] and data["site"] in ("calf", "forearm_flexor")
    # self-contained: images are data URIs that decode, scripts are inline
    from PIL import Image

    assert p.srcs and all(s.startswith("data:image/") for s in p.srcs)
    for s in p.srcs:
        img = Image.open(BytesIO(base64.b64decode(s.split(",", 1)[1])))
        assert img.size[0] > 50 and img.size[1] > 50
    assert all("src" not in a for a in p.scripts)
    assert "http://" not in page and "https://" not in page
    # one section per tool and site, one sub-section per edge, one 3D scene per section
    assert page.count('<section class="result"') == len(results)
    assert page.count('<div class="contour"') == sum(len(r.contours) for r in results)
    assert page.count('class="scene3d"') == len(results)
    assert not list(res.directory.parent.glob(".report.*"))


def test_report_tables_have_units_and_ppt_status(written, results):
    page = written[0].index.read_text(encoding="utf-8")
    for header in ("contact area (mm²)", "peak (kPa)", "1 cm² mean (kPa)", "PPT (kPa)",
                   "tilt (deg)", "approach (mm)"):
        assert f"<th>{header}</th>" in page
    for r in results:
        cls, text = report.ppt_status(r.best.window_mean_pressure_kpa, r.best.ppt_kpa)
        assert f'<span class="pill {cls}">{text}</span>' in page


def test_skipped_fits_are_listed(results):
    page = report.report_html(results[:1], scenes=False, approach_points=2,
                              skipped=[("big-blade", "forearm_flexor", "no contact possible")])
    assert "Not fitted" in page and "no contact possible" in page


def test_ppt_status_bands():
    assert report.ppt_status(100.0, None) == ("st-none", "no PPT")
    assert report.ppt_status(79.0, 100.0)[0] == "st-below"
    assert report.ppt_status(80.0, 100.0)[0] == "st-near"
    assert report.ppt_status(100.0, 100.0)[0] == "st-above"


def test_regime_warnings_are_shown(results):
    from dataclasses import replace

    cf = replace(results[0].best, small_strain_valid=False, warnings=("edge-end singularity",))
    notes = report._regime_notes(cf)
    assert any("outside small-strain theory" in t for _lvl, t in notes)
    assert ("info", "edge-end singularity") in notes


def test_report_refuses_to_overwrite_and_replaces_with_force(results, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(OutputExistsError):
        report.write_report(results[:1], out, bundle_formats=(), scenes=False)
    assert (out / "keep.txt").exists()
    report.write_report(results[:1], out, force=True, bundle_formats=(), scenes=False,
                        approach_points=2)
    assert not (out / "keep.txt").exists() and (out / "index.html").exists()


def test_failure_leaves_nothing_behind(results, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(report, "report_html", boom)
    with pytest.raises(RuntimeError):
        report.write_report(results[:1], tmp_path / "r", bundle_formats=("json",))
    assert list(tmp_path.iterdir()) == []


def test_report_links_existing_bundles(results, tmp_path):
    from iastm_tools.export import export_bundle

    exports = tmp_path / "exports"
    export_bundle(results[0].tool_object, exports, formats=("json",))
    res = report.write_report(results[:1], exports / "report", existing_bundles=exports,
                              scenes=False, approach_points=2)
    page = res.index.read_text(encoding="utf-8")
    assert f'href="../{results[0].tool}/params.json"' in page
    assert not (res.directory / "bundles").exists()


# ------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def flat_scan(tmp_path_factory):
    """The flat slab as an STL scan with a sites sidecar (what --body PATH reads)."""
    d = tmp_path_factory.mktemp("scan")
    path = d / "slab.stl"
    box = trimesh.creation.box((300.0, 300.0, 60.0))
    box.apply_translation([0.0, 0.0, -30.0])
    box.export(path)
    Path(f"{path}.sites.json").write_text(json.dumps(
        {"units": "mm", "sites": {"calf": {"point_mm": [0, 0, 0], "limb_axis": [1, 0, 0]}}}))
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_report_end_to_end(capsys, tmp_path, flat_scan):
    out = tmp_path / "rep"
    args = ["report", "scanner-straight", "--body", flat_scan, "--site", "calf",
            "--model", "halfspace", "--angle", "45", "--rotation", "0", "--search", "quick",
            "--no-bundles", "--out", out]
    code, stdout, err = run(capsys, *args)
    assert code == 0, err
    assert "wrote" in stdout and (out / "index.html").is_file()
    code, _, err = run(capsys, *args)
    assert code == 2 and "--force-write" in err and len(err.strip().splitlines()) == 1


def test_cli_report_fit_failure_is_one_line(capsys, tmp_path, flat_scan):
    """A fit that cannot be made (the only one: no skin under the site) is exit 2 with
    its reason on one line, and nothing is written."""
    sidecar = Path(f"{flat_scan}.sites.json")
    spec = json.loads(sidecar.read_text())
    far = tmp_path / "far.stl"
    far.write_bytes(flat_scan.read_bytes())
    spec["sites"]["forearm_flexor"] = {"point_mm": [149.9, 149.9, 0], "limb_axis": [1, 0, 0]}
    Path(f"{far}.sites.json").write_text(json.dumps(spec))
    code, _, err = run(capsys, "report", "blade-thigh-xl", "--body", far,
                       "--site", "forearm_flexor",
                       "--model", "halfspace", "--angle", "45", "--rotation", "0",
                       "--out", tmp_path / "r")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:")
    assert "site" not in err.split(":")[1]  # the fit failed, not the site lookup
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--site", "no_such_site"], "no_such_site"),
    (["--model", "bogus"], "--model"),
    (["--objective", "best"], "--objective"),
    (["--force", "500"], "--force"),
    (["--search", "slow"], "--search"),
    (["--angle", "95"], "--angle"),
])
def test_cli_report_bad_input_exits_2(capsys, tmp_path, flat_scan, extra, fragment):
    code, _, err = run(capsys, "report", "scanner-straight", "--body", flat_scan,
                       "--out", tmp_path / "r", *extra)
    assert code == 2, err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_cli_preview_screenshot_and_html(capsys, tmp_path, flat_scan):
    png, page = tmp_path / "p.png", tmp_path / "p.html"
    code, _out, err = run(capsys, "preview", "scanner-straight", "--body", flat_scan,
                         "--model", "halfspace", "--angle", "45", "--rotation", "0",
                         "--search", "quick", "--screenshot", png, "--html", page,
                         "--window-size", "320x240")
    assert code == 0, err
    from PIL import Image

    assert Image.open(png).size == (320, 240)
    assert 'class="scene3d"' in page.read_text(encoding="utf-8")
    code, _, err = run(capsys, "preview", "scanner-straight", "--tool-only",
                       "--screenshot", png)
    assert code == 2 and "--force-write" in err


def test_cli_preview_without_display_needs_screenshot(capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = run(capsys, "preview", "scanner-straight", "--tool-only")
    assert code == 2 and "--screenshot" in err
