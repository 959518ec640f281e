"""Library survey: several tools x sites x forces on one body, ranked per site and force.

The question a maker or clinic asks of a whole tool set ("which of my tools spreads 8 N
best on a calf, and on a forearm, at 5, 8 and 12 N?"). Each (tool, site, force) is one row
fitted by :func:`iastm_tools.sweep.rows.evaluate_row` (all edges of the tool; the row holds
the best edge), on the same executors as a sweep: local processes by default, a Dask
cluster with ``scheduler``. Rows are not stored: a survey is a report, not a table to
resume.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IastmError
from .rows import ROW_FORMAT, RowTask, body_identity, canonical_json, evaluate_row, fit_code_version
from .run import make_executor
from .spec import FULL_FIT, PREVIEW_FIT

#: Forces (N) of a survey when none are given: light, moderate and firm IASTM strokes
#: (5-20 N range of shared/reference/tissue_and_clinical.md).
DEFAULT_FORCES_N: tuple[float, ...] = (5.0, 8.0, 12.0)


@dataclass(frozen=True)
class SurveyOutcome:
    """Rows of a survey (one dict per tool x site x force, with ``tool``, ``site``,
    ``force_n``, ``status``, the best edge's metrics as in a sweep table and ``rank``
    among the tools fitted at that site and force, 1 = best), the wall time (s) and the
    executor's description."""

    rows: list[dict[str, Any]]
    seconds: float
    executor: str

    @property
    def failed(self) -> int:
        """Rows that could not be fitted (their ``reason`` says why)."""
        return sum(r["status"] != "ok" for r in self.rows)

    def best(self) -> list[dict[str, Any]]:
        """The rank-1 row of every (site, force), in site then force order."""
        return [r for r in self.rows if r.get("rank") == 1]


def _reach_mm(profile: Any) -> float:
    """Largest distance (mm) of the tool's outline from its centroid: how far the skin
    map of a fit must reach (see :func:`iastm_tools.fit.gap.cached_skin_map`)."""
    import numpy as np

    from ..tool import Tool

    pts = np.asarray(Tool(profile).outline.polygon(0.5), dtype=float)[:, :2]
    return float(np.linalg.norm(pts - pts.mean(axis=0), axis=1).max())


def survey_tasks(profiles: Sequence[Any], body: str, sites: Sequence[str],
                 forces_n: Sequence[float], fit_kwargs: dict[str, Any]) -> list[RowTask]:
    """One task per (tool, site, force), site-major so that a worker meets the same site
    (and reuses its skin map) for consecutive rows, the largest tools of a site first (so
    that their skin map, which must reach the whole tool, usually serves the smaller ones
    without being built again). ``profiles``: Profile objects."""
    code = fit_code_version()
    order = sorted(range(len(profiles)), key=lambda i: (-round(_reach_mm(profiles[i]), 3), i))
    ident = body_identity(body)
    fit_items = tuple(sorted((k, list(v) if isinstance(v, tuple) else v)
                             for k, v in fit_kwargs.items()))
    tasks: list[RowTask] = []
    for site in sites:
        for vi in order:
            prof = profiles[vi]
            base = prof.to_dict()
            key = hashlib.sha256(canonical_json(base).encode()).hexdigest()
            for force in forces_n:
                content = {"format": ROW_FORMAT, "code": code, "profile": base, "changes": {},
                           "body": ident, "site": site, "force_n": float(force),
                           "fit": dict(fit_items), "edges": []}
                h = hashlib.sha256(canonical_json(content).encode()).hexdigest()
                tasks.append(RowTask(len(tasks), vi, (), (), base, key, body, body, site,
                                     float(force), fit_items, (), code, h))
    return tasks


def run_survey(
    profiles: Sequence[str | Path],
    body: str = "default",
    sites: Sequence[str] | None = None,
    forces_n: Sequence[float] = DEFAULT_FORCES_N,
    *,
    preview: bool = True,
    objective: str = "area",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    fit_options: Mapping[str, Any] | None = None,
) -> SurveyOutcome:
    """Fit every profile on every site of ``body`` at every force and rank the tools.

    profiles: library names or profile paths. body: built-in name or scan path. sites:
    site names (default: all of the body's sites). forces_n: normal forces (N).
    preview: the fast calibrated-Winkler fit (:data:`~iastm_tools.sweep.spec.PREVIEW_FIT`),
    else the layered model (slow: minutes per tool). objective: "area" | "peak" | "ppt"
    (as :func:`iastm_tools.fit.fit`); tools are ranked by their best edge's objective value.
    workers: local processes (default: the number of cores); scheduler: a Dask scheduler
    address instead. progress(done, total, failed) is called after every row.
    fit_options: keyword arguments of :func:`iastm_tools.fit.fit` that override the preset
    (e.g. ``angle_range_deg``, ``model``, ``coarse_tilts``).
    """
    from ..body import Body
    from ..fit.optimize import MAX_FORCE_N, OBJECTIVES
    from ..library import find_profile
    from ..profile import load_profile

    if objective not in OBJECTIVES:
        raise IastmError(f"objective must be one of {', '.join(OBJECTIVES)} (got {objective!r})")
    if not profiles:
        raise IastmError("survey: no profiles given")
    forces = [float(f) for f in forces_n]
    if not forces or not all(math.isfinite(f) and 0.0 < f <= MAX_FORCE_N for f in forces):
        raise IastmError(f"forces_n must be one or more forces in (0, {MAX_FORCE_N:g}] N "
                         f"(got {list(forces_n)!r})")
    loaded = [load_profile(find_profile(str(p))) for p in profiles]
    body_obj = Body.load(body)
    site_names = list(body_obj.sites) if not sites else [body_obj.site(s).name for s in sites]
    fit_kw = dict(PREVIEW_FIT if preview else FULL_FIT)
    fit_kw["objective"] = objective
    fit_kw.update(fit_options or {})
    tasks = survey_tasks(loaded, body, site_names, forces, fit_kw)
    t0 = time.perf_counter()
    records: dict[int, dict[str, Any]] = {}
    with make_executor(workers, scheduler, bodies=(body,)) as ex:
        desc = ex.name
        if progress is not None:
            progress(0, len(tasks), 0)
        for task, rec in ex.imap_unordered(evaluate_row, tasks):
            records[task.row] = {"tool": task.base_profile["name"], "site": task.site,
                                 "force_n": task.force_n, "model": fit_kw["model"],
                                 "fit_objective": fit_kw["objective"], **rec}
            if progress is not None:
                progress(len(records), len(tasks),
                         sum(r["status"] != "ok" for r in records.values()))
    # site, then tool, then force, in the order given
    rows = [records[t.row] for t in sorted(tasks, key=lambda t: (
        site_names.index(t.site), t.variant, forces.index(t.force_n)))]
    _rank(rows)
    return SurveyOutcome(rows, time.perf_counter() - t0, desc)


def _rank(rows: list[dict[str, Any]]) -> None:
    """Set ``rank`` (1 = lowest objective value) among the fitted rows of each site and
    force; failed rows get rank None."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in rows:
        r["rank"] = None
        if r["status"] == "ok":
            groups.setdefault((r["site"], r["force_n"]), []).append(r)
    for group in groups.values():
        group.sort(key=lambda r: (r["objective_value"], r["tool"]))
        for i, r in enumerate(group):
            r["rank"] = i + 1
