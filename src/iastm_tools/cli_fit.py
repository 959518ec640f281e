"""``iastm fit`` and ``iastm compare``: contact-area pose fitting (argument parsing only).

Register with ``register(app)`` on the root Typer app; heavy imports happen inside the
commands so that ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .errors import IastmError

_FIT_COLUMNS = [
    ("rank", "rank"),
    ("contour", "edge"),
    ("tilt_deg", "tilt deg"),
    ("rotation_deg", "rot deg"),
    ("skin_face", "face"),
    ("contact_area_mm2", "area mm2"),
    ("contact_length_mm", "length mm"),
    ("contact_width_mm", "width mm"),
    ("edge_contact_fraction", "edge frac"),
    ("peak_pressure_kpa", "peak kPa"),
    ("mean_pressure_kpa", "mean kPa"),
    ("window_mean_pressure_kpa", "1cm2 kPa"),
    ("ppt_kpa", "PPT kPa"),
    ("area_above_ppt_mm2", ">PPT mm2"),
    ("dermal_max_shear_kpa", "dermal tau kPa"),
    ("converged", "conv"),
]


def parse_angle_range(text: str, option: str = "--angle", lo: float = 0.0,
                      hi: float = 90.0) -> tuple[float, float]:
    """``"30:60"`` -> (30.0, 60.0); a single number fixes the angle. Degrees in [lo, hi]."""
    parts = text.split(":")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise IastmError(f"{option}: expected LO:HI degrees, e.g. 30:60 (got {text!r})") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or not (lo <= vals[0] <= vals[1] <= hi):
        raise IastmError(f"{option}: need {lo:g} <= LO <= HI <= {hi:g} degrees (got {text!r})")
    return vals[0], vals[1]


def _rows(result) -> list[dict]:
    rows = []
    for c in result.contours:
        d = c.summary()
        d.update({k: d["pose"][k] for k in ("tilt_deg", "rotation_deg", "skin_face")})
        for k in ("tilt_deg", "rotation_deg"):
            d[k] = round(d[k], 1)
        for k in ("contact_area_mm2", "contact_length_mm", "peak_pressure_kpa",
                  "mean_pressure_kpa", "window_mean_pressure_kpa", "area_above_ppt_mm2",
                  "dermal_max_shear_kpa"):
            if d[k] is not None:
                d[k] = round(d[k], 1)
        d["contact_width_mm"] = round(d["contact_width_mm"], 2)
        d["edge_contact_fraction"] = round(d["edge_contact_fraction"], 2)
        rows.append(d)
    return rows


def register(app: typer.Typer) -> None:
    """Add ``fit`` and ``compare`` to the root ``iastm`` app."""

    @app.command("fit")
    def fit_cmd(
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
        json_out: Annotated[Path | None, typer.Option("--json", help="Write JSON here.")] =
        None,
        overwrite: Annotated[bool, typer.Option("--force-write", help="Overwrite --json.")] =
        False,
        refine: Annotated[int, typer.Option(
            "--refine", help="BEM solves in the local pose refinement with --model "
            "(0 = pose from the calibrated Winkler search).")] = 0,
        stroke: Annotated[int, typer.Option(
            "--stroke", help="Fit at N stations along the limb axis through the site "
            "(0 = the site only).")] = 0,
        stroke_length: Annotated[float, typer.Option(
            "--stroke-length", help="Length of the stroke (mm), centred on the site.")] = 100.0,
    ) -> None:
        """Fit every working edge of PROFILE on a body site and print them, best first."""
        from .cli_tool import _progress, _table

        lo, hi = parse_angle_range(angle)
        rot = parse_angle_range(rotation, "--rotation", -180.0, 180.0)
        if refine < 0:
            raise IastmError(f"--refine must be >= 0 (got {refine})")
        if stroke:
            _stroke(profile, body, site, force, (lo, hi), rot, model, objective, stroke,
                    stroke_length, json_out, overwrite, refine)
            return
        result = _run_fit(profile, body, site, force, (lo, hi), rot, model, objective,
                          _progress, refine)
        typer.echo(f"{result.tool} on {result.body}/{result.site}, {result.force_n:g} N, "
                   f"model {result.model}, objective {result.objective} "
                   f"({result.seconds:.1f} s)")
        typer.echo(_table(_rows(result), _FIT_COLUMNS))
        for c in result.contours:
            for w in c.warnings:
                typer.echo(f"  {c.contour}: {w}", err=True)
        for name, why in result.unfitted:
            typer.echo(f"  {name}: not fitted: {why}", err=True)
        if json_out is not None:
            result.to_json(json_out, force=overwrite)
            typer.echo(f"wrote {json_out}")

    @app.command("compare")
    def compare_cmd(
        profiles: Annotated[list[str], typer.Argument(help="Two or more profiles.")],
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
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Rank tools by the best edge of each on one site (same force, model, objective)."""
        from .cli_tool import _progress, _table

        lo, hi = parse_angle_range(angle)
        rot = parse_angle_range(rotation, "--rotation", -180.0, 180.0)
        from .body import Body

        body_obj = Body.load(body)
        rows = []
        for prof in profiles:
            res = _run_fit(prof, body_obj, site, force, (lo, hi), rot, model, objective,
                           _progress)
            best = _rows(res)[0]
            best["tool"] = res.tool
            best["objective_value"] = res.best.objective_value
            rows.append(best)
        rows.sort(key=lambda r: r["objective_value"])
        for i, r in enumerate(rows):
            r["rank"] = i + 1
        if as_json:
            typer.echo(json.dumps(rows, indent=1))
            return
        typer.echo(_table(rows, [("rank", "rank"), ("tool", "tool"), *_FIT_COLUMNS[1:]]))


def _stroke(profile, body, site, force, angles, rotations, model, objective, stations,
            length_mm, json_out, overwrite, refine=0) -> None:
    """``iastm fit --stroke N``: the best pose of every edge at N stations, one table."""
    from .cli_tool import _progress, _table
    from .fit import fit_stroke
    from .library import find_profile
    from .tool import Tool

    if json_out is not None and json_out.exists() and not overwrite:
        raise IastmError(f"{json_out}: exists; pass --force-write to replace it")
    tool = Tool.from_profile(find_profile(profile))
    with _progress(stations, f"stroke of {tool.name}") as bar:
        task = bar.add_task("stroke", total=stations)
        res = fit_stroke(tool, body, site, force, stations=stations, length_mm=length_mm,
                         angle_range_deg=angles, rotation_range_deg=rotations, model=model,
                         objective=objective, refine_evals=refine,
                         progress=lambda: bar.advance(task))
    rows = []
    for s_mm, fr in zip(res.stations_mm, res.fits, strict=True):
        for r in _rows(fr):
            r["station_mm"] = round(s_mm, 1)
            rows.append(r)
    typer.echo(f"{res.tool} stroke on {res.body}/{res.site}, {force:g} N, {stations} stations "
               f"over {length_mm:g} mm, model {model} ({res.seconds:.1f} s)")
    typer.echo(_table(rows, [("station_mm", "station mm"), *_FIT_COLUMNS]))
    summ = res.summary()["contours"]
    for name, d in summ.items():
        var = d["peak_pressure_variation"]
        typer.echo(f"  {name}: peak pressure max/min along the stroke = "
                   f"{'n/a' if var is None else f'{var:.2f}'}")
    if json_out is not None:
        res.to_json(json_out, force=overwrite)
        typer.echo(f"wrote {json_out}")


def _run_fit(profile, body, site, force, angles, rotations, model, objective,
             progress_factory, refine=0):
    from .fit import fit
    from .library import find_profile
    from .tool import Tool

    tool = Tool.from_profile(find_profile(profile))
    n = len(tool.contours)
    with progress_factory(n, f"fitting {tool.name}") as bar:
        task = bar.add_task("fit", total=n)
        return fit(tool, body, site, force, angles, model=model, objective=objective,
                   rotation_range_deg=rotations, refine_evals=refine,
                   progress=lambda: bar.advance(task))
