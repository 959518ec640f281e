"""The HTML report in a real headless Chromium (Debian's chromium + chromedriver, driven
by Selenium with the driver path given, so Selenium Manager downloads nothing).

``make test`` installs the browser first (scripts/install_browser.sh, as root with apt);
these tests skip, saying why, only when /usr/bin/chromium or /usr/bin/chromedriver is
missing. The page is served from a localhost ``http.server`` thread.

Checks: no console errors (SEVERE log entries), every 3D scene present and initialised
by its script (WebGL context, triangles uploaded, a frame drawn, non-background pixels on
the canvas, redrawn after a mouse drag), every <img> loaded (naturalWidth > 0).
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import trimesh

from iastm_tools import report
from iastm_tools.body import Body, Site
from iastm_tools.fit import fit
from iastm_tools.library import find_profile
from iastm_tools.tool import Tool

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Flags for a closed network and a root user (see the machine notes): no sandbox, no
#: GPU (SwiftShader WebGL, opted in explicitly), no background connections, fresh profile.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--enable-unsafe-swiftshader", "--window-size=1280,900")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Debian chromium/chromium-driver not installed (run scripts/install_browser.sh "
           "as root, or `make test`, which does)")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    box = trimesh.creation.box((300.0, 300.0, 60.0))
    box.apply_translation([0.0, 0.0, -30.0])
    body = Body("flat", box, sites={"calf": Site("calf", [0, 0, 0], [0, 0, 1], [1, 0, 0])})
    results = [fit(Tool.from_profile(find_profile(n)), body, "calf", 8.0, (45.0, 45.0),
                   model="halfspace", rotation_range_deg=(0.0, 0.0), coarse_tilts=2,
                   coarse_rotations=2, refine_evals=0)
               for n in ("blade-large-cc", "scanner-straight")]
    out = tmp_path_factory.mktemp("browser") / "report"
    report.write_report(results, out, bundle_formats=("json",), approach_points=2)
    return out


@pytest.fixture(scope="module")
def server(report_dir):
    handler = functools.partial(_QuietHandler, directory=str(report_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="iastm-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _show_every_scene(driver) -> None:
    """Scroll every scene into view (a scene gets its WebGL context when seen) and wait
    until each has drawn."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && (window.iastmScenes || []).length "
        "=== document.querySelectorAll('.scene3d').length"))
    n = driver.execute_script("return window.iastmScenes.length")
    for i in range(n):
        driver.execute_script(
            "window.iastmScenes[arguments[0]].el.scrollIntoView({block: 'center'})", i)
        WebDriverWait(driver, 30).until(lambda d, i=i: d.execute_script(
            "var s = window.iastmScenes[arguments[0]]; return s.ready || s.failed", i))


@pytest.fixture(scope="module")
def page(browser, server):
    browser.get(server + "index.html")
    _show_every_scene(browser)
    logs = browser.get_log("browser")
    return browser, logs


def test_no_console_errors(page):
    _driver, logs = page
    severe = [e for e in logs if e.get("level") == "SEVERE"]
    assert not severe, severe


def test_every_image_loaded(page):
    driver, _ = page
    imgs = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    assert len(imgs) >= 4
    bad = [i for i in imgs if not (i[1] and i[2] > 0)]
    assert not bad, bad


def test_3d_scenes_initialised_and_drawn(page):
    driver, _ = page
    scenes = driver.execute_script(
        "return window.iastmScenes.map(s => ({id: s.id, ready: s.ready, frames: s.frames, "
        "triangles: s.triangles, state: s.el.getAttribute('data-state')}))")
    n = driver.execute_script("return document.querySelectorAll('.scene3d canvas').length")
    assert len(scenes) == n == 2
    for s in scenes:
        assert s["ready"] and s["state"] == "live" and s["frames"] >= 1, s
        assert s["triangles"] > 1000, s
    # the canvas shows the scene: many colours, not just the background
    url = driver.execute_script("return document.querySelector('.scene3d canvas')"
                                ".toDataURL('image/png')")
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
                     .convert("RGB"))
    assert img.shape[0] > 100 and img.shape[1] > 100
    non_white = (img.min(axis=-1) < 240).mean()
    assert non_white > 0.3
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50


def test_scene_redraws_on_drag(page):
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.by import By

    driver, _ = page
    before = driver.execute_script("return window.iastmScenes[0].frames")
    canvas = driver.find_element(By.CSS_SELECTOR, ".scene3d canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    ActionChains(driver).move_to_element(canvas).click_and_hold().move_by_offset(60, 20) \
        .release().perform()
    driver.execute_script("return new Promise(r => requestAnimationFrame(() => r()))")
    after = driver.execute_script("return window.iastmScenes[0].frames")
    assert after > before
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe


def test_many_scenes_share_the_webgl_contexts(browser, server, report_dir):
    """A page with more scenes than the browser's WebGL context limit (~16): every scene
    draws when scrolled to, at most 8 hold a context, and none is lost by the browser."""
    from iastm_tools import preview

    scene = preview.tool_scene(Tool.from_profile(find_profile("knob-tip")), coarse=True)
    body = "".join(preview.scene_html_fragment(scene, f"s{i}", height_px=300)
                   for i in range(20))
    (report_dir / "many.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<style>{preview.VIEWER_CSS}</style></head><body>{body}"
        f"<script>{preview.VIEWER_JS}</script></body></html>", encoding="utf-8")
    browser.get(server + "many.html")
    _show_every_scene(browser)
    states = browser.execute_script(
        "return window.iastmScenes.map(s => [s.ready, s.live, s.failed])")
    assert len(states) == 20
    assert all(ready and not failed for ready, _live, failed in states)
    assert 1 <= sum(live for _r, live, _f in states) <= 8
    logs = browser.get_log("browser")
    assert not [e for e in logs if "WebGL" in e.get("message", "") and "context" in
                e.get("message", "").lower()], logs
    assert not [e for e in logs if e.get("level") == "SEVERE"], logs
