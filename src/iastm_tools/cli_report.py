"""``iastm preview`` and ``iastm report``: 3D preview and HTML report (argument parsing only).

Register with ``register(app)`` on the root Typer app; heavy imports (pyvista, matplotlib,
the fit) happen inside the commands so that ``--help`` stays fast.

``--force`` is the normal force (N), as in ``iastm fit``; replacing an existing output is
``--force-write``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import IastmError

#: Pose-search settings of ``--search``: "full" is the fit's default search, "quick" the
#: reduced search of docs/fit.md (3 tilts x 4 rotations, 8 refinement solves).
SEARCH_SETTINGS = {
    "full": {},
    "quick": {"coarse_tilts": 3, "coarse_rotations": 4, "refine_evals": 8},
}


def parse_window_size(text: str) -> tuple[int, int]:
    """``"1024x768"`` -> (1024, 768); 64-8192 pixels each."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise IastmError(f"--window-size: expected WIDTHxHEIGHT pixels, e.g. 1024x768 "
                         f"(got {text!r})") from None
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise IastmError(f"--window-size: each side must be 64-8192 pixels (got {text!r})")
    return w, h


def _search(name: str) -> dict:
    if name not in SEARCH_SETTINGS:
        raise IastmError(f"--search: unknown setting {name!r}; allowed: "
                         f"{' | '.join(SEARCH_SETTINGS)}")
    return SEARCH_SETTINGS[name]


def run_fits(profiles: list[str], body: str, sites: list[str], force_n: float,
             angles: tuple[float, float], rotations: tuple[float, float], model: str,
             objective: str, search: dict, progress_factory,
             skipped: list | None = None) -> list:
    """Fit every profile on every site (one progress bar over all edges); every profile
    and site is checked before the first fit starts.

    skipped: if a list, a tool/site whose fit fails with an input error (e.g. the tool is
    larger than the site) is appended to it as (tool, site, reason), with a warning on
    stderr, instead of stopping everything; if every fit fails the first error is raised.
    """
    from .body import Body
    from .contact.solver import MODELS
    from .fit import MAX_FORCE_N, OBJECTIVES, fit
    from .library import find_profile
    from .tool import Tool

    # input errors stop everything at once (not per fit)
    if model not in MODELS:
        raise IastmError(f"--model: must be one of {' | '.join(MODELS)} (got {model!r})")
    if objective not in OBJECTIVES:
        raise IastmError(f"--objective: must be one of {' | '.join(OBJECTIVES)} "
                         f"(got {objective!r})")
    if not (0.0 < force_n <= MAX_FORCE_N):
        raise IastmError(f"--force: normal force must be in (0, {MAX_FORCE_N:g}] N "
                         f"(got {force_n:g})")
    tools = [Tool.from_profile(find_profile(p)) for p in profiles]
    names = [t.name for t in tools]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise IastmError(f"profiles: the same tool name appears twice: {', '.join(dupes)}")
    body_obj = Body.load(body)
    for s in sites:
        body_obj.site(s)  # unknown site: one line, exit 2, before any work
    total = sum(len(t.contours) for t in tools) * len(sites)
    results: list = []
    first: IastmError | None = None
    with progress_factory(total, "{task.description}") as bar:
        task = bar.add_task("fit", total=total)
        for tool in tools:
            for s in sites:
                bar.update(task, description=f"{tool.name} on {s}")
                try:
                    results.append(fit(tool, body_obj, s, force_n, angles, model=model,
                                       objective=objective, rotation_range_deg=rotations,
                                       progress=lambda: bar.advance(task), **search))
                except IastmError as exc:
                    if skipped is None:
                        raise
                    first = first or exc
                    skipped.append((tool.name, s, str(exc)))
    if not results and first is not None:
        raise first
    for name, s, why in skipped or ():
        typer.echo(f"warning: {name} on {s}: not fitted: {why}", err=True)
    return results


def register(app: typer.Typer) -> None:
    """Add ``preview`` and ``report`` to the root ``iastm`` app."""

    @app.command("preview")
    def preview_cmd(
        profile: Annotated[str, typer.Argument(help="Profile file or library name.")],
        body: Annotated[str, typer.Option("--body", help="Built-in body name or scan file.")] =
        "default",
        site: Annotated[str, typer.Option("--site", help="Treatment site name.")] = "calf",
        force: Annotated[float, typer.Option("--force", help="Normal force (N), (0, 200].")] =
        8.0,
        angle: Annotated[str, typer.Option("--angle", help="Tilt range LO:HI degrees.")] =
        "30:90",
        rotation: Annotated[str, typer.Option(
            "--rotation", help="Stroke angle from the limb axis, LO:HI degrees.")] = "-90:90",
        model: Annotated[str, typer.Option("--model", help="layered | halfspace | winkler")] =
        "layered",
        objective: Annotated[str, typer.Option("--objective", help="area | peak | ppt")] =
        "area",
        search: Annotated[str, typer.Option("--search", help="Pose search: full | quick.")] =
        "full",
        contour: Annotated[str | None, typer.Option(
            "--contour", help="Edge to show (default: the best).")] = None,
        tool_only: Annotated[bool, typer.Option(
            "--tool-only", help="Show the tool alone (no fit).")] = False,
        screenshot: Annotated[Path | None, typer.Option(
            "--screenshot", help="Render off-screen to this PNG (no display needed).")] = None,
        html_out: Annotated[Path | None, typer.Option(
            "--html", help="Also write the interactive scene as an offline HTML page.")] =
        None,
        window_size: Annotated[str, typer.Option(
            "--window-size", help="Window / image size WIDTHxHEIGHT pixels.")] = "1024x768",
        overwrite: Annotated[bool, typer.Option(
            "--force-write", help="Overwrite --screenshot / --html files.")] = False,
    ) -> None:
        """Show PROFILE in its best-fit pose on a body site: pressure heat map on the skin
        (kPa, the site's pain threshold marked), working edges highlighted and labelled.

        Opens an interactive window; with --screenshot it renders off-screen instead."""
        from . import preview
        from .cli_fit import parse_angle_range
        from .cli_tool import _progress
        from .library import find_profile
        from .tool import Tool

        size = parse_window_size(window_size)
        for path in (screenshot, html_out):
            if path is not None and path.exists() and not overwrite:
                raise IastmError(f"{path}: exists; pass --force-write to overwrite")
        if screenshot is None and html_out is None and not preview.has_display():
            raise IastmError("no display for an interactive window; pass --screenshot "
                             "out.png (or --html out.html) to render off-screen")
        if tool_only:
            scene = preview.tool_scene(Tool.from_profile(find_profile(profile)))
        else:
            lo, hi = parse_angle_range(angle)
            rot = parse_angle_range(rotation, "--rotation", -180.0, 180.0)
            (result,) = run_fits([profile], body, [site], force, (lo, hi), rot, model,
                                 objective, _search(search), _progress)
            scene = preview.fit_scene(result, contour)
            typer.echo(scene.notes[0] if scene.notes else scene.title)
        if html_out is not None:
            preview.export_html(scene, html_out, force=overwrite)
            typer.echo(f"wrote {html_out}")
        if screenshot is not None:
            preview.screenshot(scene, screenshot, window_size=size, force=overwrite)
            typer.echo(f"wrote {screenshot}")
        if screenshot is None and html_out is None:
            preview.render(scene, off_screen=False, window_size=size).show()

    @app.command("report")
    def report_cmd(
        profiles: Annotated[list[str], typer.Argument(help="Profile files or library names.")],
        out: Annotated[Path, typer.Option("--out", help="Report folder (index.html inside).")],
        body: Annotated[str, typer.Option("--body", help="Built-in body name or scan file.")] =
        "default",
        sites: Annotated[list[str] | None, typer.Option(
            "--site", help="Treatment site (repeat for several).")] = None,
        force: Annotated[float, typer.Option("--force", help="Normal force (N), (0, 200].")] =
        8.0,
        angle: Annotated[str, typer.Option("--angle", help="Tilt range LO:HI degrees.")] =
        "30:90",
        rotation: Annotated[str, typer.Option(
            "--rotation", help="Stroke angle from the limb axis, LO:HI degrees.")] = "-90:90",
        model: Annotated[str, typer.Option("--model", help="layered | halfspace | winkler")] =
        "layered",
        objective: Annotated[str, typer.Option("--objective", help="area | peak | ppt")] =
        "area",
        search: Annotated[str, typer.Option("--search", help="Pose search: full | quick.")] =
        "full",
        title: Annotated[str, typer.Option("--title", help="Page title.")] =
        "IASTM fit report",
        bundles: Annotated[bool, typer.Option(
            "--bundles/--no-bundles", help="Write and link each tool's machining bundle.")] =
        True,
        scenes: Annotated[bool, typer.Option(
            "--scenes/--no-scenes", help="Interactive 3D scenes and their images.")] = True,
        overwrite: Annotated[bool, typer.Option(
            "--force-write", help="Replace an existing report folder.")] = False,
    ) -> None:
        """Fit every PROFILE on every --site and write a self-contained HTML report to
        --out (3D scenes, charts, tables, PPT status, warnings, machining bundles)."""
        from .cli_fit import parse_angle_range
        from .cli_tool import _progress
        from .report import write_report

        if out.exists() and not overwrite:
            raise IastmError(f"{out}: exists; pass --force-write to replace it")
        if out.exists() and not out.is_dir():
            raise IastmError(f"--out {out}: exists and is not a folder")
        lo, hi = parse_angle_range(angle)
        rot = parse_angle_range(rotation, "--rotation", -180.0, 180.0)
        site_list = list(dict.fromkeys(sites or ["calf"]))
        skipped: list = []
        results = run_fits(profiles, body, site_list, force, (lo, hi), rot, model,
                           objective, _search(search), _progress, skipped)
        n_steps = len(results) + (len({r.tool for r in results}) if bundles else 0)
        with _progress(n_steps, "writing report") as bar:
            task = bar.add_task("report", total=n_steps)
            res = write_report(results, out, force=overwrite, title=title,
                               bundle_formats=None if bundles else (), scenes=scenes,
                               screenshots=scenes, progress=lambda: bar.advance(task),
                               skipped=skipped)
        typer.echo(f"wrote {res.index} ({len(results)} fits, {len(res.bundles)} bundles)")
