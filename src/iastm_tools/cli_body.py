"""``iastm body ...`` sub-commands (issue 3): list, info, make. Parsing only; the work is
done by :mod:`iastm_tools.body`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .errors import IastmError

app = typer.Typer(no_args_is_help=True, help="Body surfaces, treatment sites and tissue data.")


@app.command("list")
def list_bodies(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the built-in bodies."""
    from .body import BUILTIN_BODIES

    if as_json:
        typer.echo(json.dumps(BUILTIN_BODIES, indent=1))
        return
    for name, text in BUILTIN_BODIES.items():
        typer.echo(f"{name:16s} {text}")


@app.command("info")
def info(
    body: Annotated[str, typer.Argument(
        help="Built-in body name or a scan file (STL/OBJ/PLY/OFF/GLB).")],
    units: Annotated[str | None, typer.Option(
        "--units", help="Units of the scan file: mm, cm, m or in.")] = None,
    sites: Annotated[Path | None, typer.Option(
        "--sites", help="JSON {name: {point_mm, limb_axis}}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    no_tissue: Annotated[bool, typer.Option("--no-tissue",
        help="Skip the tissue summary.")] = False,
) -> None:
    """Size, units, watertightness, repairs, sites, curvature and tissue at each site."""
    import warnings

    from .body import Body

    with warnings.catch_warnings():  # unit guesses and repairs are printed as notes below
        warnings.simplefilter("ignore")
        b = Body.load(body, units, sites=sites)
    data = b.info(with_tissue=not no_tissue)
    if as_json:
        typer.echo(json.dumps(data, indent=1, default=str))
        return
    typer.echo(f"body: {data['name']}  ({data['source']})")
    if data["license"]:
        typer.echo(f"license: {data['license']}")
    typer.echo(f"units read: {data['units']} (all values below in mm)")
    ext = " x ".join(f"{x:.1f}" for x in data["extent_mm"])
    typer.echo(f"size: {ext} mm; {data['vertices']} vertices, {data['faces']} faces, "
               f"mean edge {data['mean_edge_mm']:.2f} mm")
    typer.echo(f"watertight: {'yes' if data['watertight'] else 'no'}"
               + (f"; open boundaries (mm): {data['open_boundaries_mm']}"
                  if data["open_boundaries_mm"] else ""))
    typer.echo("repairs: " + ("; ".join(data["repairs"]) if data["repairs"] else "none"))
    for note in data["notes"]:
        typer.echo(f"note: {note}")
    if not data["sites"]:
        typer.echo("sites: none")
    for name, s in data["sites"].items():
        r1, r2 = s.get("radius_of_curvature_mm", [None, None])
        typer.echo(f"site {name}: point {s['point_mm']} mm, normal {s['normal']}, "
                   f"axis {s['limb_axis']}, {s['region_faces']} faces"
                   + (f", edge {s['region_mean_edge_mm']:.2f} mm" if "region_mean_edge_mm" in s
                      else ""))
        typer.echo(f"    curvature k1 {s['curvature_per_mm'][0]:.5f} k2 "
                   f"{s['curvature_per_mm'][1]:.5f} 1/mm (radii {r1} / {r2} mm)")
        t = s.get("tissue")
        if t is None:
            continue
        if "error" in t:
            typer.echo(f"    tissue: unavailable ({t['error']})")
        else:
            layers = ", ".join(f"{la['name']} {la['thickness_mm']} mm/{la['youngs_kpa']:.0f} kPa"
                               for la in t["layers"])
            typer.echo(f"    tissue: {layers}; PPT {t['ppt_kpa']:.0f} kPa; "
                       f"friction {t['friction']}")


def _sex(value: str) -> float:
    key = value.strip().lower()
    if key in ("f", "female"):
        return 0.0
    if key in ("m", "male"):
        return 1.0
    try:
        return float(key)
    except ValueError:
        raise IastmError(f"--sex: {value!r} not understood; allowed f, m or a number 0..1") \
            from None


@app.command("make")
def make(
    out: Annotated[Path, typer.Argument(help="Output mesh (.ply/.stl/.obj/.off/.glb) in mm; a "
                                        "<out>.sites.json sidecar with the sites is written too.")],
    sex: Annotated[str, typer.Option("--sex", help="f, m or 0 (female) .. 1 (male).")] = "0.5",
    age: Annotated[float, typer.Option("--age", help="Age in years, 25..90.")] = 25.0,
    muscle: Annotated[float, typer.Option("--muscle", help="0..1 (0.5 average).")] = 0.5,
    weight: Annotated[float, typer.Option("--weight", help="0..1 (0.5 average).")] = 0.5,
    calf: Annotated[float, typer.Option("--calf", help="Calf girth slider -1..1.")] = 0.0,
    thigh: Annotated[float, typer.Option("--thigh", help="Thigh girth slider -1..1.")] = 0.0,
    knee: Annotated[float, typer.Option("--knee", help="Knee girth slider -1..1.")] = 0.0,
    ankle: Annotated[float, typer.Option("--ankle", help="Ankle girth slider -1..1.")] = 0.0,
    wrist: Annotated[float, typer.Option("--wrist", help="Wrist girth slider -1..1.")] = 0.0,
    neck: Annotated[float, typer.Option("--neck", help="Neck girth slider -1..1.")] = 0.0,
    upperarm: Annotated[float, typer.Option("--upperarm",
        help="Upper-arm girth slider -1..1.")] = 0.0,
    lowerarm_length: Annotated[float, typer.Option("--lowerarm-length",
        help="Forearm length -1..1.")] = 0.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing output.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Write a MakeHuman body variant (mm) with its treatment sites."""
    from .body import Body, BodyParams

    params = BodyParams(sex=_sex(sex), age_years=age, muscle=muscle, weight=weight, calf=calf,
                        thigh=thigh, knee=knee, ankle=ankle, wrist=wrist, neck=neck,
                        upperarm=upperarm, lowerarm_length=lowerarm_length)
    b = Body.make(params)
    path = b.save(out, force=force)
    summary = {"mesh": str(path), "sites_json": f"{path}.sites.json",
               "faces": len(b.mesh.faces), "watertight": bool(b.mesh.is_watertight),
               "params": params.as_dict()}
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
    else:
        typer.echo(f"wrote {path} ({summary['faces']} faces, watertight "
                   f"{summary['watertight']}) and {summary['sites_json']}")


@app.command("tissue")
def tissue(
    site: Annotated[str | None, typer.Argument(help="Site name; all sites when omitted.")] = None,
    override: Annotated[list[str] | None, typer.Option(
        "--tissue", help="Override a value, PATH=VALUE in the field's unit, e.g. "
        "calf.layers.fat.thickness_mm=12 or calf.ppt_kpa=400 (repeatable).")] = None,
    table: Annotated[Path | None, typer.Option(
        "--table", help="A tissue TOML file instead of the shipped one.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tissue model per site (layers, bone depth, pain threshold, friction) with sources."""
    from .tissue import load_tissue_table, parse_overrides

    sites = load_tissue_table(table, parse_overrides(override or []))
    if site is not None and site not in sites:
        raise IastmError(f"{site}: unknown site; available: {', '.join(sorted(sites))}")
    chosen = [sites[site]] if site else [sites[k] for k in sorted(sites)]
    rows = [{"site": st.site,
             "values": [{"path": p, "value": v, "source": s} for p, v, s in st.value_sources()]}
            for st in chosen]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        typer.echo(row["site"])
        for v in row["values"]:
            typer.echo(f"  {v['path'].split('.', 1)[1]:28s} {v['value']:>10.4g}   {v['source']}")
