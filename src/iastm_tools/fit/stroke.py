"""Stroke mode: the best pose of every edge at stations along a path on the body.

A clinician draws the tool along the limb. :func:`fit_stroke` places ``stations`` equally
spaced points on the line through the site landmark along its limb axis (from
``-length_mm / 2`` to ``+length_mm / 2``), snaps each onto the skin (its own outward normal
from the surface patch there, the limb axis of the site), fits every working edge there
with :func:`~iastm_tools.fit.fit` and reports how the contact changes along the stroke.
The site's tissue (layers and pain threshold) is used at every station.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IastmError
from ..fileio import write_text_atomic
from .result import FitResult

#: Radius (mm) of the skin patch whose area-weighted normal is a station's normal: about a
#: tool's contact length, so the normal follows the limb, not single mesh facets.
STATION_PATCH_RADIUS_MM = 15.0
MAX_STATIONS = 100


@dataclass(frozen=True, eq=False)
class StrokeResult:
    """Fits at stations along a stroke (mm from the site landmark along the limb axis)."""

    tool: str
    body: str
    site: str
    force_n: float
    stations_mm: tuple[float, ...]
    fits: tuple[FitResult, ...]
    seconds: float = 0.0

    def series(self, contour: str, metric: str) -> np.ndarray:
        """``metric`` (a ContourFit attribute, e.g. "peak_pressure_kpa") of ``contour`` at
        every station (NaN where the contour was not fitted)."""
        out = []
        for fr in self.fits:
            hit = [c for c in fr.contours if c.contour == contour]
            out.append(float(getattr(hit[0], metric)) if hit else math.nan)
        return np.array(out)

    @property
    def contour_names(self) -> tuple[str, ...]:
        return tuple(c.contour for c in self.fits[0].contours) if self.fits else ()

    def summary(self) -> dict[str, Any]:
        per = {}
        for name in sorted(self.contour_names):
            per[name] = {m: [round(v, 4) for v in self.series(name, m).tolist()]
                         for m in ("contact_area_mm2", "peak_pressure_kpa",
                                   "mean_pressure_kpa", "window_mean_pressure_kpa",
                                   "edge_contact_fraction")}
            per[name]["tilt_deg"] = [round(fr_c.pose.tilt_deg, 3) for fr in self.fits
                                     for fr_c in fr.contours if fr_c.contour == name]
            per[name]["rotation_deg"] = [round(fr_c.pose.rotation_deg, 3) for fr in self.fits
                                         for fr_c in fr.contours if fr_c.contour == name]
            peak = self.series(name, "peak_pressure_kpa")
            per[name]["peak_pressure_variation"] = (
                round(float(np.nanmax(peak) / np.nanmin(peak)), 4)
                if np.all(np.isfinite(peak)) and np.nanmin(peak) > 0 else None)
        return {
            "tool": self.tool, "body": self.body, "site": self.site, "force_n": self.force_n,
            "stations_mm": [round(s, 3) for s in self.stations_mm],
            "seconds": round(self.seconds, 2),
            "contours": per,
            "fits": [f.summary() for f in self.fits],
        }

    def to_json(self, path: str | Path | None = None, *, force: bool = False) -> str:
        """The stroke as JSON text; also written atomically to ``path`` if given."""
        text = json.dumps(self.summary(), indent=1)
        if path is not None:
            write_text_atomic(Path(path), text + "\n", force=force)
        return text


def station_sites(body: Any, site: Any, stations: int, length_mm: float) -> list[tuple[float,
                                                                                     Any]]:
    """(offset_mm, Site) of every station, snapped onto the skin; IastmError when a station
    falls off the body (more than the allowed site offset from the surface)."""
    from ..body.sites import make_site

    if not (isinstance(stations, int) and 2 <= stations <= MAX_STATIONS):
        raise IastmError(f"stroke stations must be an integer in [2, {MAX_STATIONS}] "
                         f"(got {stations!r})")
    if not (isinstance(length_mm, int | float) and math.isfinite(length_mm)
            and 0.0 < length_mm <= 1000.0):
        raise IastmError(f"stroke length_mm must be in (0, 1000] mm (got {length_mm!r})")
    offsets = np.linspace(-0.5 * length_mm, 0.5 * length_mm, stations)
    axis = np.asarray(site.limb_axis, dtype=float)
    out = []
    for s in offsets:
        p = np.asarray(site.point_mm, dtype=float) + s * axis
        try:
            st = make_site(site.name, body.query, p, axis, radius_mm=STATION_PATCH_RADIUS_MM,
                           source=f"stroke station {s:+.1f} mm")
        except IastmError as exc:
            raise IastmError(f"stroke on {site.name!r} leaves the body at {s:+.1f} mm from the "
                             f"landmark ({exc}); shorten length_mm") from None
        out.append((float(s), st))
    return out


def fit_stroke(
    tool: Any,
    body: Any,
    site: Any,
    force_n: float,
    *,
    stations: int = 10,
    length_mm: float = 100.0,
    progress: Callable[[], None] | None = None,
    contours: Sequence[str] | None = None,
    **fit_kwargs: Any,
) -> StrokeResult:
    """Fit every working edge at ``stations`` points along ``length_mm`` of the site's limb
    axis (centred on the landmark). ``fit_kwargs`` go to :func:`~iastm_tools.fit.fit`
    (angle_range_deg, model, objective, ...). ``progress`` is called once per station."""
    from .optimize import fit, resolve_inputs

    t0 = time.perf_counter()
    tool, body, site_obj = resolve_inputs(tool, body, site)
    tissue = fit_kwargs.pop("tissue", None) or body.tissue(site_obj.name)
    fits = []
    places = station_sites(body, site_obj, stations, length_mm)
    for _, st in places:
        fits.append(fit(tool, body, st, force_n, tissue=tissue, contours=contours,
                        **fit_kwargs))
        if progress is not None:
            progress()
    return StrokeResult(tool.name, body.name, site_obj.name, float(force_n),
                        tuple(s for s, _ in places), tuple(fits),
                        time.perf_counter() - t0)
