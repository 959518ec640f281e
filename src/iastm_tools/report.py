"""HTML report of fits (issue 6): one self-contained page people would rather look at.

:func:`write_report` writes a folder::

    DIR/index.html            the report: CSS, charts (PNG data URIs), interactive WebGL
                              scenes and their script all inline: it opens offline, from
                              a file, with nothing fetched
    DIR/bundles/<tool>/       the machining bundle of every tool (iastm_tools.export),
                              linked from the page by relative paths
    DIR/fits/<tool>--<site>.json   every fit's summary (FitResult.to_json)

The folder is built in a temporary sibling and renamed into place when complete
(:func:`iastm_tools.fileio.atomic_directory`); an existing folder is replaced only with
``force``.

Content: a summary table of the best edge of every tool on every site with a colour-coded
pain-threshold status, a comparison chart, then one section per tool and site (3D scene
of the best pose with the pressure heat map, contour table, line-load chart, links to the
bundle and the JSON) and in it one sub-section per working edge (pressure map, cross-edge
profile, force vs approach, regime flags and warnings).

Threshold status uses the 1 cm^2 window-mean pressure (the PPT probe area) against the
site's pressure-pain threshold: below 80 % "below PPT", 80-100 % "near PPT", above
"above PPT". The 80 % margin is a presentation choice, not a clinical threshold (the PPT
values are partly estimates, see docs/tissue.md).
"""

from __future__ import annotations

import base64
import html
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import IastmError
from .fileio import atomic_directory, write_text_atomic

#: Share of the PPT above which the 1 cm^2 mean is flagged "near PPT" (presentation only).
NEAR_PPT_FRACTION = 0.8
#: Sites the demo report covers (the lead tunes this once layered fits are fast).
DEFAULT_REPORT_SITES = ("calf", "forearm_flexor")
#: Approach depths solved per edge for the force vs approach chart.
APPROACH_POINTS = 5
#: Pixel size of the static 3D images (fallback when WebGL is missing).
SCENE_IMAGE_SIZE = (880, 520)


@dataclass(frozen=True)
class ReportResult:
    """A written report: its folder, the page, and the bundle folder of each tool."""

    directory: Path
    index: Path
    bundles: dict[str, Path]
    fit_files: tuple[Path, ...]


def ppt_status(window_kpa: float, ppt_kpa: float | None) -> tuple[str, str]:
    """(css class, text) of the 1 cm^2 window-mean pressure against the PPT."""
    if not ppt_kpa:
        return "st-none", "no PPT"
    ratio = window_kpa / ppt_kpa
    if ratio >= 1.0:
        return "st-above", f"above PPT ({ratio:.0%})"
    if ratio >= NEAR_PPT_FRACTION:
        return "st-near", f"near PPT ({ratio:.0%})"
    return "st-below", f"below PPT ({ratio:.0%})"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(x: Any, nd: int = 1) -> str:
    if x is None:
        return "&ndash;"
    if isinstance(x, bool):
        return "yes" if x else "no"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if not math.isfinite(v):
        return "&infin;" if v > 0 else "&ndash;"
    return f"{v:,.{nd}f}"


def _img(png: bytes, alt: str, cls: str = "chart") -> str:
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<img class="{cls}" alt="{_e(alt)}" src="{src}">'


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text.lower())


def _regime_notes(cf: Any) -> list[tuple[str, str]]:
    """(level, text) notes about the validity of the numbers of one edge."""
    notes: list[tuple[str, str]] = []
    if not cf.small_strain_valid:
        notes.append(("warn", f"outside small-strain theory: a/R = {cf.a_over_r:.2f} "
                              f"(&le; 0.3) and approach/R = {cf.approach_over_r:.2f} "
                              "(&le; 0.1) are not both met; pressures are indicative "
                              "(linear elasticity), rank tools rather than quote kPa"))
    if not cf.converged:
        notes.append(("warn", "the pose search or the contact solve did not converge"))
    for w in cf.warnings:
        notes.append(("info", _e(w)))
    return notes


_CONTOUR_COLUMNS = (
    ("rank", "rank", 0),
    ("contour", "edge", None),
    ("tilt", "tilt (deg)", 1),
    ("rotation", "rotation (deg)", 1),
    ("face", "face", None),
    ("contact_area_mm2", "contact area (mm²)", 1),
    ("contact_length_mm", "length (mm)", 1),
    ("contact_width_mm", "width (mm)", 2),
    ("edge_contact_fraction", "edge in contact", 2),
    ("peak_pressure_kpa", "peak (kPa)", 0),
    ("mean_pressure_kpa", "mean (kPa)", 0),
    ("window_mean_pressure_kpa", "1 cm² mean (kPa)", 0),
    ("ppt_kpa", "PPT (kPa)", 0),
    ("status", "PPT status", None),
    ("area_above_ppt_mm2", "area &gt; PPT (mm²)", 1),
    ("approach_mm", "approach (mm)", 2),
    ("a_over_r", "a/R", 2),
    ("approach_over_r", "approach/R", 2),
    ("a_over_h", "a/h", 2),
    ("small_strain_valid", "small strain", None),
    ("converged", "converged", None),
)


def _contour_row(cf: Any, sid: str) -> str:
    cells = []
    for key, _title, nd in _CONTOUR_COLUMNS:
        if key == "tilt":
            val = _num(cf.pose.tilt_deg, 1)
        elif key == "rotation":
            val = _num(cf.pose.rotation_deg, 1)
        elif key == "face":
            val = _e(cf.pose.skin_face)
        elif key == "status":
            cls, text = ppt_status(cf.window_mean_pressure_kpa, cf.ppt_kpa)
            val = f'<span class="pill {cls}">{_e(text)}</span>'
        elif key == "contour":
            val = f'<a href="#{_e(sid)}-{_e(_slug(cf.contour))}">{_e(cf.contour)}</a>'
        elif key in ("small_strain_valid", "converged"):
            ok = bool(getattr(cf, key))
            val = f'<span class="{"ok" if ok else "bad"}">{"yes" if ok else "no"}</span>'
        else:
            val = _num(getattr(cf, key), nd if nd is not None else 1)
        cells.append(f"<td>{val}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _bundle_links(files: dict[str, str]) -> str:
    if not files:
        return ""
    names = {"step": "STEP", "stl": "STL", "3mf": "3MF", "dxf": "DXF blank",
             "pdf": "PDF drawing", "svg": "SVG drawing", "json": "params.json",
             "readme": "README", "fit": "fit JSON"}
    links = [f'<a class="file" href="{_e(href)}">{_e(names.get(k, k))}</a>'
             for k, href in files.items()]
    return '<div class="files">' + "".join(links) + "</div>"


def _section(result: Any, index: int, bundle_links: dict[str, str], *, scenes: bool,
             screenshots: bool, approach_points: int) -> str:
    """One tool-on-site section: scene, tables, charts, per-edge sub-sections."""
    from . import plots, preview

    sid = f"{_slug(result.tool)}--{_slug(result.site)}"
    best = result.best
    cls, text = ppt_status(best.window_mean_pressure_kpa, best.ppt_kpa)
    parts = [f'<section class="result" id="{_e(sid)}">',
             f'<h2>{_e(result.tool)} <span class="on">on</span> {_e(result.site)} '
             f'<span class="pill {cls}">{_e(text)}</span></h2>',
             f'<p class="meta">body {_e(result.body)} &middot; {result.force_n:g} N &middot; '
             f'model {_e(result.model)} &middot; objective {_e(result.objective)} &middot; '
             f'tilt range {result.angle_range_deg[0]:g}&ndash;{result.angle_range_deg[1]:g}'
             f' deg &middot; fitted in {result.seconds:.1f} s</p>',
             _bundle_links(bundle_links)]
    if scenes:
        try:
            scene = preview.fit_scene(result, max_heatmap_nodes=preview.HTML_MAX_HEATMAP_NODES,
                                      coarse=True)
        except IastmError as exc:
            parts.append(f'<p class="note warn">3D scene not available: {_e(exc)}</p>')
        else:
            png = None
            if screenshots:
                img = preview.screenshot(scene, window_size=SCENE_IMAGE_SIZE)
                png = preview.image_bytes(img, "jpeg")
            parts.append('<figure class="scene">')
            parts.append(preview.scene_html_fragment(scene, f"scene-{index}",
                                                     fallback_png=png,
                                                     fallback_mime="image/jpeg"))
            parts.append(f"<figcaption>{_e(scene.notes[0] if scene.notes else scene.title)}"
                         "; the tool is drawn translucent, resting on the undeformed skin "
                         "(the approach into the tissue is in the table).</figcaption>"
                         "</figure>")
    head = "".join(f"<th>{t}</th>" for _k, t, _n in _CONTOUR_COLUMNS)
    rows = "".join(_contour_row(cf, sid) for cf in result.contours)
    parts.append(f'<div class="tablewrap"><table class="data"><thead><tr>{head}</tr></thead>'
                 f"<tbody>{rows}</tbody></table></div>")
    if all(cf.contact is not None for cf in result.contours):
        fig = plots.pressure_along_edge(result)
        parts.append(_img(plots.figure_png(fig, palette=True),
                          f"load along the edges of {result.tool}", "chart wide"))
    for cf in result.contours:
        parts.append(_contour_section(cf, sid, approach_points))
    parts.append("</section>")
    return "\n".join(parts)


def _contour_section(cf: Any, sid: str, approach_points: int) -> str:
    from . import plots

    cls, text = ppt_status(cf.window_mean_pressure_kpa, cf.ppt_kpa)
    out = [f'<div class="contour" id="{_e(sid)}-{_e(_slug(cf.contour))}">',
           f'<h3>#{cf.rank} {_e(cf.contour)} <span class="pill {cls}">{_e(text)}</span></h3>',
           f'<p class="meta">tilt {cf.pose.tilt_deg:.1f} deg, rotation '
           f'{cf.pose.rotation_deg:.1f} deg from the limb axis, {_e(cf.pose.skin_face)} face '
           f'to the skin; {cf.contact_area_mm2:.1f} mm² in contact over '
           f'{cf.edge_contact_fraction:.0%} of the {cf.edge_length_mm:.1f} mm edge; peak '
           f'{cf.peak_pressure_kpa:.0f} kPa, 1 cm² mean {cf.window_mean_pressure_kpa:.0f} '
           f'kPa{"" if not cf.ppt_kpa else f", PPT {cf.ppt_kpa:.0f} kPa"}.</p>']
    notes = _regime_notes(cf)
    if notes:
        out.append('<ul class="notes">' + "".join(
            f'<li class="{lvl}">{txt}</li>' for lvl, txt in notes) + "</ul>")
    if cf.contact is not None:
        fig = plots.contour_panel(cf, n_points=approach_points)
        out.append(_img(plots.figure_png(fig, palette=True), "pressure map, cross-edge "
                        f"profile and force vs approach of {cf.contour}", "chart wide"))
    out.append("</div>")
    return "\n".join(out)


def _summary_table(results: Sequence[Any], links: dict[tuple[str, str], str]) -> str:
    head = ("<tr><th>tool</th><th>site</th><th>best edge</th><th>tilt (deg)</th>"
            "<th>rotation (deg)</th><th>contact area (mm²)</th><th>peak (kPa)</th>"
            "<th>1 cm² mean (kPa)</th><th>PPT (kPa)</th><th>PPT status</th>"
            "<th>small strain</th><th>drawing</th></tr>")
    rows = []
    for r in results:
        b = r.best
        cls, text = ppt_status(b.window_mean_pressure_kpa, b.ppt_kpa)
        sid = f"{_slug(r.tool)}--{_slug(r.site)}"
        ok = bool(b.small_strain_valid)
        drawing = links.get((r.tool, "pdf"))
        rows.append(
            f'<tr><td><a href="#{_e(sid)}">{_e(r.tool)}</a></td><td>{_e(r.site)}</td>'
            f"<td>{_e(b.contour)}</td><td>{_num(b.pose.tilt_deg)}</td>"
            f"<td>{_num(b.pose.rotation_deg)}</td><td>{_num(b.contact_area_mm2)}</td>"
            f"<td>{_num(b.peak_pressure_kpa, 0)}</td>"
            f"<td>{_num(b.window_mean_pressure_kpa, 0)}</td><td>{_num(b.ppt_kpa, 0)}</td>"
            f'<td><span class="pill {cls}">{_e(text)}</span></td>'
            f'<td><span class="{"ok" if ok else "bad"}">{"yes" if ok else "no"}</span></td>'
            f"<td>{'' if not drawing else f'<a href={chr(34)}{_e(drawing)}{chr(34)}>PDF</a>'}"
            "</td></tr>")
    return (f'<div class="tablewrap"><table class="data summary"><thead>{head}</thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _skipped_html(skipped: Sequence[tuple[str, str, str]]) -> str:
    if not skipped:
        return ""
    items = "".join(f"<li><b>{_e(t)}</b> on <b>{_e(s)}</b>: {_e(why)}</li>"
                    for t, s, why in skipped)
    return f'<h3>Not fitted</h3><ul class="notes skipped">{items}</ul>'


def _generated_stamp() -> str:
    """Generation date for the footer: ``SOURCE_DATE_EPOCH`` if set (reproducible)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    seconds = int(epoch) if epoch and epoch.isdigit() else int(time.time())
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def report_html(results: Sequence[Any], *, title: str = "IASTM fit report",
                bundle_links: dict[str, dict[str, str]] | None = None, scenes: bool = True,
                screenshots: bool = True, approach_points: int = APPROACH_POINTS,
                progress: Callable[[], None] | None = None,
                skipped: Sequence[tuple[str, str, str]] = ()) -> str:
    """The report page as one HTML string (see the module docstring).

    bundle_links: tool name -> {format: relative href} (plus "fit" for the fit JSON, keyed
    ``"<tool>--<site>"``). progress: called once per finished tool/site section.
    skipped: (tool, site, reason) of fits that failed, listed under the summary.
    """
    from . import __version__, plots, preview

    results = list(results)
    if not results:
        raise IastmError("report: no fit results to report")
    links = bundle_links or {}
    flat_links = {(tool, fmt): href for tool, d in links.items() for fmt, href in d.items()}
    sites = list(dict.fromkeys(r.site for r in results))
    tools = list(dict.fromkeys(r.tool for r in results))
    forces = sorted({r.force_n for r in results})
    models = sorted({r.model for r in results})
    body_names = sorted({r.body for r in results})
    sections = []
    for i, r in enumerate(results):
        per = dict(links.get(r.tool, {}))
        fit_href = links.get(f"{r.tool}--{r.site}", {}).get("fit")
        if fit_href:
            per["fit"] = fit_href
        sections.append(_section(r, i, per, scenes=scenes, screenshots=screenshots,
                                 approach_points=approach_points))
        if progress is not None:
            progress()
    chart = ""
    if len(results) > 1:
        fig = plots.comparison_chart(results)
        chart = ('<h2>Comparison</h2><p class="meta">best edge of every tool; dashed lines: '
                 "each site's pressure-pain threshold</p>"
                 + _img(plots.figure_png(fig, palette=True), "comparison across tools and sites",
                        "chart wide"))
    toc = "".join(f'<li><a href="#{_e(_slug(r.tool))}--{_e(_slug(r.site))}">{_e(r.tool)} '
                  f"on {_e(r.site)}</a></li>" for r in results)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_e(title)}</title>
<style>{_CSS}{preview.VIEWER_CSS}</style></head>
<body><header><h1>{_e(title)}</h1>
<p class="meta">{len(tools)} tool{"s" if len(tools) != 1 else ""} &middot;
site{"s" if len(sites) != 1 else ""} {_e(", ".join(sites))} &middot;
body {_e(", ".join(body_names))} &middot;
{_e(", ".join(f"{f:g}" for f in forces))} N &middot; model {_e(", ".join(models))}</p>
<p class="legend"><span class="pill st-below">below PPT</span> 1 cm² mean pressure under
{NEAR_PPT_FRACTION:.0%} of the site's pressure-pain threshold &middot;
<span class="pill st-near">near PPT</span> {NEAR_PPT_FRACTION:.0%}&ndash;100 % &middot;
<span class="pill st-above">above PPT</span> over it. Units: mm, N, kPa, degrees.
Pressures come from linear contact mechanics on a layered tissue model whose values are
partly estimates: use them to rank tools and poses, not as clinical thresholds.</p>
</header>
<main>
<h2>Summary</h2>
{_summary_table(results, flat_links)}
{_skipped_html(skipped)}
{chart}
<nav><h2>Sections</h2><ol>{toc}</ol></nav>
{"".join(sections)}
</main>
<footer>iastm_tools {_e(__version__)} &middot; generated {_e(_generated_stamp())} &middot;
drag a 3D scene to rotate, wheel to zoom, shift-drag to pan, double-click to reset.</footer>
<script>{preview.VIEWER_JS}</script>
</body></html>
"""


def write_report(results: Sequence[Any], out_dir: str | Path, *, force: bool = False,
                 title: str = "IASTM fit report", bundle_formats: Sequence[str] | None = None,
                 existing_bundles: str | Path | None = None, scenes: bool = True,
                 screenshots: bool = True, approach_points: int = APPROACH_POINTS,
                 progress: Callable[[], None] | None = None,
                 skipped: Sequence[tuple[str, str, str]] = ()) -> ReportResult:
    """Write the report folder for ``results`` (a sequence of FitResult).

    bundle_formats: formats of the machining bundles written under ``bundles/`` (default
    all of :data:`iastm_tools.export.FORMATS`; empty: none). existing_bundles: instead of
    writing bundles, link to ``existing_bundles/<tool>/`` (e.g. the demo's ``exports/``).
    scenes / screenshots: include the interactive 3D scenes / their static images.
    progress: called after each tool's bundle and each tool/site section.
    skipped: (tool, site, reason) of fits that could not be made, listed on the page.
    Raises OutputExistsError if ``out_dir`` exists and not ``force``.
    """
    from .export import FORMATS, bundle_filename, export_bundle

    results = list(results)
    if not results:
        raise IastmError("report: no fit results to report")
    out = Path(out_dir)
    if out.exists() and not force:
        from .errors import OutputExistsError

        raise OutputExistsError(f"{out}: exists; pass --force-write (force=True) to overwrite")
    formats = tuple(FORMATS if bundle_formats is None else bundle_formats)
    tools: dict[str, Any] = {}
    for r in results:
        if getattr(r, "tool_object", None) is not None:
            tools.setdefault(r.tool, r.tool_object)
    with atomic_directory(out, force=force) as tmp:
        links: dict[str, dict[str, str]] = {}
        bundles: dict[str, Path] = {}
        for name, tool in tools.items():
            if existing_bundles is not None:
                folder = Path(existing_bundles) / name
                if not folder.is_dir():
                    continue
                rel = Path(os.path.relpath(folder.resolve(), out.resolve()))
                files = {fmt: bundle_filename(name, fmt) for fmt in FORMATS
                         if (folder / bundle_filename(name, fmt)).exists()}
                bundles[name] = folder
            elif formats:
                res = export_bundle(tool, tmp / "bundles", formats=formats)
                rel = Path("bundles") / name
                files = {fmt: p.name for fmt, p in res.paths.items()}
                bundles[name] = out / "bundles" / name
                if progress is not None:
                    progress()
            else:
                continue
            links[name] = {fmt: (rel / f).as_posix() for fmt, f in files.items()}
            links[name]["readme"] = (rel / "README.txt").as_posix()
        fit_files = []
        (tmp / "fits").mkdir()
        for r in results:
            fname = f"{_slug(r.tool)}--{_slug(r.site)}.json"
            r.to_json(tmp / "fits" / fname)
            fit_files.append(out / "fits" / fname)
            links.setdefault(f"{r.tool}--{r.site}", {})["fit"] = f"fits/{fname}"
        page = report_html(results, title=title, bundle_links=links, scenes=scenes,
                           screenshots=screenshots, approach_points=approach_points,
                           progress=progress, skipped=skipped)
        write_text_atomic(tmp / "index.html", page)
        # temporary files and folders are created private (0600/0700); a report is meant
        # to be opened and served like any document: the user's usual modes (umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        os.chmod(tmp / "index.html", 0o666 & ~umask)
    return ReportResult(out, out / "index.html", bundles, tuple(fit_files))


_CSS = """
:root{--ink:#1d2430;--muted:#5b6675;--line:#e3e7ec;--bg:#f6f8fa;--accent:#0b7285;
--ok:#2b8a3e;--okbg:#e6f4ea;--near:#a15c00;--nearbg:#fff3d6;--bad:#c92a2a;--badbg:#fde8e8}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:var(--bg)}
header{background:linear-gradient(135deg,#16324f,#0b7285);color:#fff;padding:28px 40px 18px}
header h1{margin:0 0 4px;font-size:26px;font-weight:650;letter-spacing:.2px}
header .meta{color:#d6ecf3}
header .legend{font-size:13px;color:#e6f2f6;max-width:1100px}
main{max-width:1280px;margin:0 auto;padding:12px 32px 40px}
h2{font-size:21px;margin:30px 0 8px;font-weight:650}
h2 .on{color:var(--muted);font-weight:400}
h3{font-size:17px;margin:22px 0 6px;font-weight:620}
.meta{color:var(--muted);margin:2px 0 10px;font-size:14px}
section.result{background:#fff;border:1px solid var(--line);border-radius:10px;
padding:6px 24px 20px;margin:26px 0;box-shadow:0 1px 3px rgba(20,30,50,.05)}
.tablewrap{overflow-x:auto;margin:8px 0 14px}
table.data{border-collapse:collapse;font-size:13px;width:100%;background:#fff}
table.data th{background:#eef2f6;text-align:left;font-weight:600;padding:6px 8px;
border-bottom:2px solid #d5dbe2;white-space:nowrap;position:sticky;top:0}
table.data td{padding:5px 8px;border-bottom:1px solid var(--line);white-space:nowrap;
font-variant-numeric:tabular-nums}
table.data tbody tr:hover{background:#f3f8fb}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;
vertical-align:middle}
.st-below{background:var(--okbg);color:var(--ok)}
.st-near{background:var(--nearbg);color:var(--near)}
.st-above{background:var(--badbg);color:var(--bad)}
.st-none{background:#eceff3;color:var(--muted)}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}
a{color:var(--accent)}
.files{margin:6px 0 12px}
.file{display:inline-block;margin:0 6px 6px 0;padding:3px 10px;border:1px solid #b9d8df;
border-radius:6px;background:#f0f9fb;text-decoration:none;font-size:13px}
.file:hover{background:#dff1f5}
figure.scene{margin:10px 0 16px}
figure.scene figcaption{color:var(--muted);font-size:13px;margin-top:4px}
img.chart{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px;
background:#fff}
img.chart.wide{display:block;margin:10px 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:12px;
align-items:start}
.charts img.chart{width:100%}
ul.notes{margin:6px 0 12px;padding:0;list-style:none}
ul.notes li{padding:6px 10px;border-radius:6px;margin:4px 0;font-size:13px}
ul.notes li.warn,.note.warn{background:var(--nearbg);border-left:4px solid #f0a202}
ul.notes li.info{background:#eef4fb;border-left:4px solid #6b9bd1}
ul.skipped li{background:#f3f4f6;border-left:4px solid #9aa3ad}
nav ol{columns:2;font-size:14px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:20px}
"""
