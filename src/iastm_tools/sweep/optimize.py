"""Edge optimisation (``iastm optimize``): the variant of the continuous spec parameters
that minimises a design objective over every body x site x force, under constraints.

Search: scipy's differential evolution (seeded Latin-hypercube initial population, then
``generations`` generations; no gradient polish, because fit metrics are piecewise
constant in the parameters: the contact area is a pixel count). Every candidate is a
variant of the base profile; its rows (one per body x site x force) are computed by the
sweep machinery, in parallel (local processes or Dask) and stored in the folder's durable
row store, so an interrupted optimisation resumes where it stopped (the search is
deterministic, so a rerun proposes the same candidates and finds their rows stored).

Score of a candidate (minimised): the objective of each row (:data:`ROW_OBJECTIVES`),
aggregated over the rows by ``max`` (the worst target) or ``mean``. A candidate that
violates a constraint on any row scores ``INFEASIBLE + total relative violation``, one
with a failed row (an invalid variant, no contact) ``FAILED``: any feasible candidate beats
any infeasible one, and a less infeasible one beats a more infeasible one.

Outputs in the folder: ``best/<name>.toml`` (the best variant's profile),
``bundle/<name>/`` (its machining bundle, when feasible), ``optimize.json`` (settings,
best parameters, per-target metrics, search summary), ``candidates.parquet/.csv`` (one line
per candidate), ``history.parquet/.csv`` (every row computed), ``plots/``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IastmError
from ..fileio import write_text_atomic
from ..profile import Profile
from .rows import RowTask, canonical_json, make_tasks
from .run import Executor, Progress, compute_rows, make_executor, spec_text, sweep_meta
from .spec import DESIGN_OBJECTIVES, OptimizeSettings, SpecError, SweepSpec
from .store import OpenMode, RowStore, table_columns, table_rows, write_table

#: Row metric of each design objective and its sign (all minimised).
ROW_OBJECTIVES: Mapping[str, tuple[str, float]] = {
    "peak": ("peak_pressure_kpa", 1.0),
    "ppt": ("ppt_ratio", 1.0),
    "window": ("window_mean_pressure_kpa", 1.0),
    "area": ("contact_area_mm2", -1.0),
    "evenness": ("line_load_cv", 1.0),
}
#: Score offset of a candidate that violates a constraint (above any real objective value:
#: pressures in kPa, ratios, areas in mm^2 are all far below it).
INFEASIBLE = 1.0e6
#: Score of a candidate with a failed row.
FAILED = 1.0e9


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to TOML")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def profile_toml(profile: Profile, header: str = "") -> str:
    """The profile as a TOML file in the library's layout (round-trips through
    :func:`iastm_tools.profile.load_profile`); ``header`` lines become comments."""
    d = profile.to_dict()
    lines = [f"# {h}".rstrip() for h in header.splitlines()] if header else []
    for k, v in d.items():
        if k not in ("default_edge", "segments"):
            lines.append(f"{k} = {_toml_value(v)}")
    lines += ["", "[default_edge]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in d["default_edge"].items()]
    for seg in d["segments"]:
        lines += ["", "[[segments]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in seg.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Score:
    """Score of one candidate: ``value`` (minimised), the aggregated objective (None if a
    row failed), feasibility, the total relative constraint violation, failed rows."""

    value: float
    objective: float | None
    feasible: bool
    violation: float
    failed_rows: int


def score_candidate(records: list[Mapping[str, Any]], settings: OptimizeSettings) -> Score:
    """Score a candidate from the records of its rows (see the module docstring)."""
    failed = sum(1 for r in records if r.get("status") != "ok")
    metric, sign = ROW_OBJECTIVES[settings.objective]
    vals = [r.get(metric) for r in records]
    if failed or not records or any(v is None or not math.isfinite(v) for v in vals):
        return Score(FAILED, None, False, math.inf, failed or len(records))
    per_row = [sign * float(v) for v in vals]
    agg = max(per_row) if settings.aggregate == "max" else float(np.mean(per_row))
    violation = 0.0
    for r in records:
        if settings.min_contact_area_mm2:
            violation += max(0.0, 1.0 - float(r["contact_area_mm2"] or 0.0)
                             / settings.min_contact_area_mm2)
        if settings.min_edge_contact_fraction:
            violation += max(0.0, 1.0 - float(r["edge_contact_fraction"] or 0.0)
                             / settings.min_edge_contact_fraction)
        if settings.max_fraction_above_ppt is not None:
            above = r.get("fraction_above_ppt")
            violation += max(0.0, float(above or 0.0) - settings.max_fraction_above_ppt)
    if violation > 0:
        return Score(INFEASIBLE * (1.0 + violation), agg, False, violation, 0)
    return Score(agg, agg, True, 0.0, 0)


@dataclass(frozen=True)
class OptimizeOutcome:
    """Result of :func:`optimize_design` (see the module docstring for the files)."""

    out_dir: Path
    objective: str
    aggregate: str
    best_parameters: dict[str, Any]
    best_score: Score
    best_candidate: int
    candidates: int
    rows_computed: int
    rows_reused: int
    per_target: list[dict[str, Any]]
    message: str
    seconds: float
    executor: str
    profile_path: Path | None = None
    bundle_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.best_score.feasible

    def summary(self) -> dict[str, Any]:
        s = self.best_score
        return {
            "out_dir": str(self.out_dir), "objective": self.objective,
            "aggregate": self.aggregate, "feasible": s.feasible,
            "best_objective": s.objective, "best_score": s.value,
            "best_violation": s.violation, "best_candidate": self.best_candidate,
            "best_parameters": self.best_parameters, "per_target": self.per_target,
            "candidates": self.candidates, "rows_computed": self.rows_computed,
            "rows_reused": self.rows_reused, "message": self.message,
            "seconds": round(self.seconds, 3), "executor": self.executor,
            "profile": str(self.profile_path) if self.profile_path else None,
            "bundle": str(self.bundle_dir) if self.bundle_dir else None,
            "files": {k: str(v) for k, v in self.files.items()},
        }


_TARGET_KEYS = ("body", "site", "force_n", "status", "reason", "contour", "tilt_deg",
                "rotation_deg", "skin_face", "contact_area_mm2", "edge_contact_fraction",
                "peak_pressure_kpa", "window_mean_pressure_kpa", "ppt_kpa", "ppt_ratio",
                "fraction_above_ppt", "line_load_cv", "mass_g")


class _Search:
    """Evaluates batches of candidates through the store and an executor."""

    def __init__(self, spec: SweepSpec, settings: OptimizeSettings, store: RowStore,
                 executor: Executor, progress: Progress | None, expected_rows: int) -> None:
        self.spec, self.settings, self.store, self.executor = spec, settings, store, executor
        self.progress, self.expected = progress, expected_rows
        self.tasks: list[RowTask] = []
        self.candidates: list[tuple[dict[str, Any], Score]] = []
        self.computed = self.reused = self.failed = 0

    def variant(self, x: np.ndarray) -> dict[str, Any]:
        return {p.name: p.round(float(np.clip(xi, *p.range)))  # type: ignore[misc]
                for p, xi in zip(self.spec.parameters, x, strict=True)}

    def evaluate(self, xs: list[np.ndarray]) -> list[float]:
        variants = [self.variant(x) for x in xs]
        tasks = make_tasks(self.spec, variants, first_variant=len(self.candidates))
        done_before = self.computed + self.reused

        def prog(done: int, total: int, failed: int) -> None:
            if self.progress is not None:
                self.progress(done_before + done, max(self.expected, done_before + total),
                              self.failed + failed)

        tally = compute_rows(tasks, self.store, self.executor, progress=prog)
        self.computed += tally.computed
        self.reused += tally.reused
        self.failed += tally.failed
        self.tasks += tasks
        per = self.spec.fit.n_targets
        scores = []
        for i, var in enumerate(variants):
            recs = [self.store.get(t.hash) or {} for t in tasks[i * per:(i + 1) * per]]
            s = score_candidate(recs, self.settings)
            self.candidates.append((var, s))
            scores.append(s.value)
        return scores


def _de(search: _Search, bounds: list[tuple[float, float]], settings: OptimizeSettings
        ) -> tuple[np.ndarray, str]:
    from scipy.optimize import differential_evolution

    def batch_map(_func: Callable[..., float], xs: Any) -> list[float]:
        return search.evaluate([np.asarray(x, dtype=float) for x in xs])

    d = len(bounds)
    kw: dict[str, Any] = dict(
        maxiter=settings.generations, popsize=max(1, math.ceil(settings.population / d)),
        tol=0.01, mutation=(0.5, 1.0), recombination=0.7, polish=False,
        init="latinhypercube", updating="deferred", workers=batch_map)
    rng = np.random.default_rng(settings.seed)
    try:
        res = differential_evolution(lambda x: 0.0, bounds, rng=rng, **kw)
    except TypeError:  # scipy < 1.15 names it ``seed``
        res = differential_evolution(lambda x: 0.0, bounds, seed=rng, **kw)
    return np.asarray(res.x, dtype=float), str(res.message)


def _meta_extra(spec: SweepSpec, settings: OptimizeSettings) -> dict[str, Any]:
    opt = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()}
    run = hashlib.sha256(canonical_json({"spec": spec.spec_hash(), "optimize": opt})
                         .encode()).hexdigest()
    return {"spec_hash": run, "optimize": opt}


def optimize_design(spec: SweepSpec, out_dir: str | Path, *, objective: str | None = None,
                    workers: int | None = None, scheduler: str | None = None,
                    resume: bool | None = None, force: bool = False,
                    progress: Progress | None = None, bundle: bool = True,
                    formats: tuple[str, ...] | None = None, plots: bool = True,
                    executor: Executor | None = None) -> OptimizeOutcome:
    """Optimise the continuous parameters of ``spec`` (see the module docstring).

    objective: overrides ``[optimize] objective`` (one of :data:`DESIGN_OBJECTIVES`).
    formats: machining-bundle formats (default: the spec's, else all); bundle=False skips
    the bundle. Other arguments as :func:`~iastm_tools.sweep.run_sweep`.
    """
    t0 = time.perf_counter()
    settings = spec.optimize
    if objective is not None:
        if objective not in DESIGN_OBJECTIVES:
            raise IastmError(f"--objective: must be one of {' | '.join(DESIGN_OBJECTIVES)} "
                             f"(got {objective!r})")
        settings = replace(settings, objective=objective)
    if not spec.parameters:
        raise SpecError("parameters", "optimize needs at least one parameter with a range",
                        source=spec.source or None)
    for i, p in enumerate(spec.parameters):
        if not p.continuous:
            raise SpecError(f"parameters[{i}]", "optimize varies only continuous parameters",
                            value=p.name, allowed="range = [lo, hi] (no 'values')",
                            source=spec.source or None)
    bounds = [p.range for p in spec.parameters]
    d = len(bounds)
    npop = max(5, max(1, math.ceil(settings.population / d)) * d)  # scipy: at least 5
    expected = npop * (settings.generations + 1) * spec.fit.n_targets
    out = Path(out_dir)
    own = executor is None
    ex = executor or make_executor(workers, scheduler, spec.fit.bodies)  # connect first
    try:
        store, _state = RowStore.open(
            out, sweep_meta(spec, "optimize", _meta_extra(spec, settings)), spec_text(spec),
            OpenMode(resume=resume, force=force))
    except BaseException:
        if own:
            ex.close()
        raise
    files: dict[str, Path] = {}
    try:
        search = _Search(spec, settings, store, ex, progress, expected)
        try:
            _x, message = _de(search, bounds, settings)  # type: ignore[arg-type]
        except BaseException:
            if own:
                ex.close(cancel=True)
            raise
        if own:
            ex.close()
        hist_rows = table_rows(search.tasks, store)
        seen: set[str] = set()
        unique_rows = [r for r in hist_rows
                       if not (r["row_hash"] in seen or seen.add(r["row_hash"]))]
        for i, r in enumerate(unique_rows):
            r["row"] = i
        files.update({f"history_{k}": v for k, v in write_table(
            out, unique_rows, table_columns(p.name for p in spec.parameters),
            stem="history").items()})
    finally:
        store.close()
    # best candidate: lowest score, the earliest on ties (deterministic)
    best_i = min(range(len(search.candidates)), key=lambda i: search.candidates[i][1].value)
    best_var, best_score = search.candidates[best_i]
    per = spec.fit.n_targets
    best_rows = [r for r in hist_rows if r["variant"] == best_i]
    per_target = [{k: r.get(k) for k in _TARGET_KEYS} for r in best_rows[:per]]
    cand_rows = [{"candidate": i, **var, "score": s.value, "objective": s.objective,
                  "feasible": s.feasible, "violation": None if math.isinf(s.violation)
                  else s.violation, "failed_rows": s.failed_rows}
                 for i, (var, s) in enumerate(search.candidates)]
    cand_cols = ["candidate", *(p.name for p in spec.parameters), "score", "objective",
                 "feasible", "violation", "failed_rows"]
    files.update({f"candidates_{k}": v for k, v in
                  write_table(out, cand_rows, cand_cols, stem="candidates").items()})
    # the best variant's profile and machining bundle
    profile_path = bundle_dir = None
    changes = {path: best_var[p.name] for p in spec.parameters for path in p.paths}
    best_profile: Profile | None = None
    try:
        best_profile = spec.profile.with_(**changes)
    except IastmError:
        best_profile = None
    if best_profile is not None:
        name = f"{spec.profile.name}-opt"[:64]
        summary = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
                            for k, v in best_var.items())
        desc = (f"{spec.profile.description} | optimised ({settings.objective}, "
                f"{settings.aggregate} over {per} targets): {summary}")
        best_profile = Profile.from_dict({**best_profile.to_dict(), "name": name,
                                          "description": desc[:500]})
        header = (f"Optimised by `iastm optimize` from {spec.profile.name} "
                  f"({spec.source or 'spec'}).\nObjective: {settings.objective} "
                  f"({settings.aggregate} over bodies x sites x forces), score "
                  f"{best_score.value:.6g}, feasible: {str(best_score.feasible).lower()}.\n"
                  f"Parameters: {summary}")
        profile_path = write_text_atomic(out / "best" / f"{name}.toml",
                                         profile_toml(best_profile, header), force=True)
        files["profile"] = profile_path
        if bundle and best_score.feasible:
            from ..export import export_bundle
            from ..tool import Tool

            res = export_bundle(Tool(best_profile), out / "bundle",
                                formats=formats or settings.formats, force=True)
            bundle_dir = res.directory
    outcome = OptimizeOutcome(
        out, settings.objective, settings.aggregate, best_var, best_score, best_i,
        len(search.candidates), search.computed, search.reused, per_target, message,
        time.perf_counter() - t0, ex.name, profile_path, bundle_dir, files)
    if plots:
        from .plots import plot_optimization

        files.update(plot_optimization(outcome, cand_rows, hist_rows, settings,
                                       out / "plots"))
    files["summary"] = write_text_atomic(
        out / "optimize.json", json.dumps(_jsonable(outcome.summary()), indent=1) + "\n",
        force=True)
    return outcome


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
