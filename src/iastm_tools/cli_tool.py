"""``iastm list | info | export | demo``: the instrument commands (argument parsing only)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .errors import IastmError

#: Bundle formats, in the order the export module writes them (kept here so that the CLI
#: does not import CadQuery just to show --help; test_cli checks it equals export.FORMATS).
ALL_FORMATS = ("step", "stl", "3mf", "dxf", "pdf", "svg", "json")


def _echo_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A plain fixed-width text table (header from ``columns`` (key, title))."""
    cells = [[title for _, title in columns]]
    for row in rows:
        cells.append(["-" if row.get(k) is None else str(row.get(k)) for k, _ in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


_LIST_COLUMNS = [
    ("name", "name"),
    ("family", "family"),
    ("material", "grade"),
    ("length_mm", "length mm"),
    ("width_mm", "width mm"),
    ("thickness_mm", "thick mm"),
    ("mass_g", "mass g"),
    ("working_edges", "working edges"),
]


def _progress(total: int, label: str):
    """A rich progress bar on stderr (only drawn on a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
        transient=True,
    )


def register(app: typer.Typer) -> None:
    """Add the instrument commands to the root ``iastm`` app."""

    @app.command("list")
    def list_cmd(
        directory: Annotated[
            Path | None,
            typer.Option("--dir", help="Profile folder (default: $IASTM_PROFILES or ./profiles)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """List the library profiles with key dimensions (mm) and mass (g).

        Mass comes from the CAD-free volume (exact plan area and Pappus terms), within
        0.03 % of the built solid's; ``iastm info`` gives the solid's own figures.
        """
        from .library import library_paths, library_summaries

        rows = library_summaries(library_paths(directory))
        if as_json:
            _echo_json(rows)
        else:
            typer.echo(_table(rows, _LIST_COLUMNS))

    @app.command("info")
    def info_cmd(
        profile: Annotated[str, typer.Argument(help="Profile file or library name.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Details of one profile: dimensions, mass, build checks and working contours."""
        from .library import find_profile
        from .tool import Tool

        tool = Tool.from_profile(find_profile(profile))
        data = tool.summary()
        data["material_density_g_cm3"] = tool.profile.material.density_g_cm3
        data["material_source"] = tool.profile.material.source
        data["build"] = {
            k: round(v, 4) if isinstance(v, float) else v
            for k, v in vars(tool.built.report).items()
        }
        data["contours"] = [c.summary() for c in tool.contours]
        if as_json:
            _echo_json(data)
            return
        typer.echo(f"{tool.name} rev {tool.profile.revision}: {tool.profile.description}")
        typer.echo(f"  family     {tool.profile.family}")
        typer.echo(
            f"  material   {tool.profile.material.grade} "
            f"({tool.profile.material.density_g_cm3} g/cm^3)"
        )
        typer.echo(
            f"  size       {data['length_mm']} x {data['width_mm']} x "
            f"{data['thickness_mm']} mm, plan area {data['plan_area_mm2']} mm^2"
        )
        typer.echo(f"  volume     {data['volume_mm3']} mm^3, mass {data['mass_g']} g")
        rep = tool.built.report
        typer.echo(
            f"  checks     valid single solid; plate volume = plan area x thickness; "
            f"{rep.n_cutters} edge sweeps (Pappus {rep.pappus_removed_mm3:.2f} mm^3), "
            f"{rep.n_runouts} bevel run-outs ({rep.runout_removed_mm3:.2f} mm^3)"
        )
        typer.echo("  working contours:")
        cols = [
            ("segment", "seg"),
            ("name", "name"),
            ("kind", "kind"),
            ("length_mm", "length mm"),
            ("radius_mm", "radius mm"),
            ("style", "style"),
            ("angle_deg", "angle deg"),
            ("apex_radius_mm", "apex r mm"),
            ("bevel_width_mm", "bevel w mm"),
        ]
        typer.echo("    " + _table(data["contours"], cols).replace("\n", "\n    "))

    @app.command("export")
    def export_cmd(
        profiles: Annotated[list[str], typer.Argument(help="Profile files or library names.")],
        out: Annotated[
            Path, typer.Option("--out", help="Output folder; one sub-folder per tool.")
        ] = Path("exports"),
        formats: Annotated[
            str,
            typer.Option("--formats", help="Comma-separated subset of " + ",".join(ALL_FORMATS)),
        ] = ",".join(ALL_FORMATS),
        step_schema: Annotated[
            str, typer.Option("--step-schema", help="ap214 or ap242.")
        ] = "ap214",
        stl_tolerance: Annotated[
            float,
            typer.Option(
                "--stl-tolerance", help="Absolute chordal tolerance of STL/3MF meshes (mm)."
            ),
        ] = 0.01,
        force: Annotated[bool, typer.Option("--force", help="Replace existing bundles.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Write the machining bundle (STEP, STL, 3MF, DXF, drawing, params) of each profile."""
        tools, fmts = _prepare_export(profiles, out, formats, force)
        results = _export_all(tools, out, fmts, step_schema, stl_tolerance, force)
        if as_json:
            _echo_json(results)
        else:
            for r in results:
                typer.echo(f"{r['name']}: {r['directory']} ({', '.join(r['files'])})")

    @app.command("demo")
    def demo_cmd(
        out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("exports"),
        force: Annotated[bool, typer.Option("--force", help="Replace existing bundles.")] = False,
        with_report: Annotated[bool, typer.Option(
            "--report/--no-report", help="Also fit the library on the default sites and "
            "write the HTML report to OUT/report/.")] = True,
    ) -> None:
        """The main job on the embedded defaults: build every library profile, write its
        machining bundle to ``exports/`` and print a summary table; then fit every tool
        on the default sites and write the HTML report to ``exports/report/``."""
        from .library import library_paths

        paths = [str(p) for p in library_paths()]
        tools, fmts = _prepare_export(paths, out, ",".join(ALL_FORMATS), force)
        if with_report and (out / "report").exists() and not force:
            raise IastmError(f"{out / 'report'}: exists; pass --force to overwrite")
        results = _export_all(tools, out, fmts, "ap214", 0.01, force)
        rows = [t.summary() for t in tools]
        typer.echo(_table(rows, _LIST_COLUMNS))
        typer.echo(f"\n{len(results)} machining bundles written to {out}/")
        if with_report:
            index = _demo_report(tools, out, force)
            typer.echo(f"report: {index}")


#: Fit settings of the demo report: the fast preview model (a Winkler foundation
#: calibrated per edge by one layered BEM solve, so skin over fat is modelled) and a
#: reduced pose search (3 tilts x 4 rotations) keep ``make demo`` to minutes on two cores;
#: ``iastm report`` uses the layered model by default.
DEMO_FIT_SETTINGS = {"model": "winkler", "coarse_tilts": 3, "coarse_rotations": 4,
                     "refine_evals": 0}
DEMO_FORCE_N = 8.0


def _demo_report(tools, out: Path, force: bool) -> Path:
    """Fit every tool on the default report sites of the default body and write the
    report to ``out/report`` linking the bundles just written. A tool/site that cannot be
    fitted is reported on stderr and left out."""
    from .body import Body
    from .fit import fit
    from .report import DEFAULT_REPORT_SITES, write_report

    body = Body.load("default")
    total = sum(len(t.contours) for t in tools) * len(DEFAULT_REPORT_SITES)
    fits, skipped = [], []
    with _progress(total, "{task.description}") as bar:
        task = bar.add_task("fitting", total=total)
        for tool in tools:
            for site in DEFAULT_REPORT_SITES:
                bar.update(task, description=f"fitting {tool.name} on {site}")
                try:
                    fits.append(fit(tool, body, site, DEMO_FORCE_N, (30.0, 90.0),
                                    progress=lambda: bar.advance(task), **DEMO_FIT_SETTINGS))
                except IastmError as exc:
                    typer.echo(f"warning: {tool.name} on {site}: {exc}", err=True)
                    skipped.append((tool.name, site, str(exc)))
                    bar.advance(task, len(tool.contours))
    with _progress(len(fits), "writing report") as bar:
        task = bar.add_task("report", total=len(fits))
        res = write_report(fits, out / "report", force=force, existing_bundles=out,
                           title="IASTM tool library on the default body",
                           progress=lambda: bar.advance(task), skipped=skipped)
    return res.index


def _prepare_export(profiles: list[str], out: Path, formats: str, force: bool):
    """Load every profile and check every target before anything is written."""
    from .library import find_profile
    from .tool import Tool

    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in ALL_FORMATS]
    if bad or not fmts:
        raise IastmError(
            f"--formats: unknown format {', '.join(bad) or '(empty)'}; "
            f"allowed: {', '.join(ALL_FORMATS)}"
        )
    tools = [Tool.from_profile(find_profile(p)) for p in profiles]
    names = [t.name for t in tools]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise IastmError(f"profiles: the same tool name appears twice: {', '.join(dupes)}")
    if out.exists() and not out.is_dir():
        raise IastmError(f"--out {out}: exists and is not a folder")
    if not force:
        existing = [str(out / n) for n in names if (out / n).exists()]
        if existing:
            raise IastmError(
                f"{existing[0]}: bundle exists; pass --force to overwrite"
                + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else "")
            )
    return tools, fmts


def _export_all(tools, out: Path, fmts: list[str], schema: str, tol: float, force: bool):
    from .export import export_bundle

    results = []
    with _progress(len(tools), "exporting") as bar:
        task = bar.add_task("export", total=len(tools))
        for tool in tools:
            res = export_bundle(
                tool, out, formats=fmts, step_schema=schema, stl_tolerance_mm=tol, force=force
            )
            results.append(
                {
                    "name": tool.name,
                    "directory": str(res.directory),
                    "files": sorted(p.name for p in res.paths.values()),
                }
            )
            bar.advance(task)
    return results
