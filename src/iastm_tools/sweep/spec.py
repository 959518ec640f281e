"""Sweep specification: the TOML file of ``iastm sweep`` / ``iastm optimize``, parsed into
one frozen, validated :class:`SweepSpec`.

A spec names a base profile, the profile parameters to vary (paths into the profile as in
:meth:`iastm_tools.profile.Profile.with_`, e.g. ``segments[1].edge.apex_radius_mm``, with a
``range`` or a list of ``values``), how to sample them (a full ``grid`` or a seeded Latin
hypercube, ``lhs``), the bodies, sites and forces to fit every variant on, the fit settings,
the plots, and the settings of ``iastm optimize``. The format is documented in
``docs/sweep.md``; ``examples/sweep-*.toml`` are annotated examples.

Every problem raises :class:`SpecError` with one line naming the file and field, what is
wrong and what is allowed (CLI: exit code 2).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FieldError, IastmError
from ..profile import Profile

SAMPLINGS = ("grid", "lhs")
PLOT_KINDS = ("metric", "pareto")
SENSES = ("min", "max")
#: Design objectives of ``iastm optimize`` (all minimised): the metric of the fitted contact
#: and its sign. "ppt" is the 1 cm^2 window-mean pressure over the site's pressure-pain
#: threshold; "evenness" the coefficient of variation of the line load along the edge
#: (0 = the force spread perfectly evenly along the whole edge).
DESIGN_OBJECTIVES = ("peak", "ppt", "window", "area", "evenness")
AGGREGATES = ("max", "mean")
#: The fast-preview fit (``fit.preview = true``): the calibrated Winkler model with a reduced
#: pose search (3 tilts x 6 rotations, no refinement). Explicit keys in ``[fit]`` override it.
PREVIEW_FIT: Mapping[str, Any] = {"model": "winkler", "coarse_tilts": 3, "coarse_rotations": 6,
                                  "refine_evals": 0}
#: Defaults of :func:`iastm_tools.fit.fit` (used when ``preview`` is false).
FULL_FIT: Mapping[str, Any] = {"model": "layered", "coarse_tilts": 4, "coarse_rotations": 8,
                               "refine_evals": 0}
#: Largest sweep accepted (rows): a guard against a grid that multiplies out by mistake.
MAX_ROWS = 1_000_000
#: Largest force (N): the fit's own limit (iastm_tools.fit.MAX_FORCE_N).
MAX_FORCE_N = 200.0

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_COLUMN_RE = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,100}$")

_TOP_KEYS = {"sweep", "parameters", "fit", "plots", "optimize"}
_SWEEP_KEYS = {"name", "profile", "sampling", "samples", "seed"}
_PARAM_KEYS = {"path", "name", "range", "steps", "values", "decimals"}
_FIT_KEYS = {"bodies", "sites", "forces_n", "edges", "preview", "model", "objective",
             "angle_range_deg", "rotation_range_deg", "coarse_tilts", "coarse_rotations",
             "refine_evals"}
_PLOT_KEYS = {"kind", "x", "y", "sense", "aggregate"}
_OPT_KEYS = {"objective", "aggregate", "min_contact_area_mm2", "min_edge_contact_fraction",
             "max_fraction_above_ppt", "generations", "population", "seed", "formats"}


class SpecError(FieldError):
    """A sweep spec is invalid (``field`` is the path of the bad field)."""


def _err(source: str, fieldpath: str, msg: str, value: object = None,
         allowed: str | None = None) -> SpecError:
    return SpecError(fieldpath, msg, value=value, allowed=allowed, source=source or None)


# --------------------------------------------------------------------------------------
# the frozen objects


@dataclass(frozen=True)
class Parameter:
    """One varied profile parameter.

    name: column name in the results table (default: the first path). paths: profile
    paths that all get the same value (e.g. the bevel angle of two edges). Either ``range``
    (lo, hi) of a number, continuous for ``lhs`` and ``steps`` evenly spaced values for
    ``grid``, or ``values``: an explicit list (numbers, strings or booleans; categorical
    for ``lhs``). decimals: sampled numbers are rounded to this many decimals (default 4,
    0.1 um for mm), so that row hashes do not depend on floating-point noise.
    """

    name: str
    paths: tuple[str, ...]
    range: tuple[float, float] | None = None
    steps: int | None = None
    values: tuple[Any, ...] | None = None
    decimals: int = 4

    @property
    def continuous(self) -> bool:
        """True for a numeric ``range`` (the only kind ``iastm optimize`` can vary)."""
        return self.range is not None

    def grid_values(self) -> tuple[Any, ...]:
        """The values of a grid sweep, in order."""
        if self.values is not None:
            return self.values
        lo, hi = self.range  # type: ignore[misc]
        n = int(self.steps or 1)
        if n == 1:
            return (self.round(0.5 * (lo + hi)),)
        return tuple(self.round(lo + (hi - lo) * i / (n - 1)) for i in range(n))

    def from_unit(self, u: float) -> Any:
        """The value at ``u`` in [0, 1): a point of the range, or a category of ``values``."""
        if self.values is not None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        lo, hi = self.range  # type: ignore[misc]
        return self.round(lo + (hi - lo) * float(u))

    def round(self, value: float) -> float:
        """``value`` rounded to ``decimals`` (and -0.0 made 0.0)."""
        return float(round(float(value), self.decimals)) + 0.0


@dataclass(frozen=True)
class FitSettings:
    """Where and how every variant is fitted (arguments of :func:`iastm_tools.fit.fit`).

    bodies: built-in body names or absolute scan paths (sites from the scan's
    ``.sites.json``); sites: site names (every site on every body); forces_n: normal forces
    (N). edges: working edges to fit, by segment index (int) or label (str); empty = all,
    and a row then reports the best edge. preview: the fast-preview preset
    (:data:`PREVIEW_FIT`); explicit keys override it.
    """

    bodies: tuple[str, ...]
    sites: tuple[str, ...]
    forces_n: tuple[float, ...]
    model: str
    objective: str
    angle_range_deg: tuple[float, float]
    rotation_range_deg: tuple[float, float]
    coarse_tilts: int
    coarse_rotations: int
    refine_evals: int
    edges: tuple[int | str, ...] = ()
    preview: bool = False
    body_labels: tuple[str, ...] = ()

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`iastm_tools.fit.fit` (besides tool/body/site/force)."""
        return {
            "angle_range_deg": self.angle_range_deg,
            "rotation_range_deg": self.rotation_range_deg,
            "model": self.model,
            "objective": self.objective,
            "coarse_tilts": self.coarse_tilts,
            "coarse_rotations": self.coarse_rotations,
            "refine_evals": self.refine_evals,
        }

    @property
    def n_targets(self) -> int:
        """Rows per variant: bodies x sites x forces."""
        return len(self.bodies) * len(self.sites) * len(self.forces_n)


@dataclass(frozen=True)
class PlotSpec:
    """A plot written after the sweep into ``OUT/plots/``.

    kind "metric": metric ``y`` against parameter (or metric) ``x``, one series per
    body/site/force. kind "pareto": every variant at its worst case over the targets
    (``aggregate = "worst"``, default) or every row (``"none"``), metric ``x`` against
    metric ``y``, with the Pareto front for the senses ``sense`` ("min" / "max" each).
    """

    kind: str
    x: str
    y: str
    sense: tuple[str, str] = ("min", "min")
    aggregate: str = "worst"


@dataclass(frozen=True)
class OptimizeSettings:
    """Settings of ``iastm optimize`` (differential evolution over the continuous parameters).

    objective: one of :data:`DESIGN_OBJECTIVES`, minimised after aggregating over every
    body x site x force (``aggregate``: "max" = the worst target, "mean"). Constraints on
    every target: min_contact_area_mm2, min_edge_contact_fraction, max_fraction_above_ppt
    (None = no constraint). generations: differential-evolution generations after the
    initial Latin-hypercube population of about ``population`` candidates; seed: its seed.
    formats: machining-bundle formats of the best variant (default all).
    """

    objective: str = "ppt"
    aggregate: str = "max"
    min_contact_area_mm2: float | None = None
    min_edge_contact_fraction: float | None = None
    max_fraction_above_ppt: float | None = None
    generations: int = 10
    population: int = 12
    seed: int = 0
    formats: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base profile, parameters, sampling, fit targets, plots, optimize.

    Build with :func:`load_spec` (a TOML file) or :meth:`from_dict`.
    """

    name: str
    profile: Profile
    profile_ref: str
    sampling: str
    parameters: tuple[Parameter, ...]
    fit: FitSettings
    samples: int | None = None
    seed: int = 0
    plots: tuple[PlotSpec, ...] = ()
    optimize: OptimizeSettings = field(default_factory=OptimizeSettings)
    source: str = field(default="", compare=False)

    def check_sweep(self) -> None:
        """Raise SpecError unless the spec can run as a sweep: a grid needs ``steps`` for
        every range, a Latin hypercube needs ``samples`` (``iastm optimize`` needs
        neither)."""
        src = self.source or None
        if self.sampling == "lhs" and not self.samples:
            raise SpecError("sweep.samples", "required for lhs sampling",
                            allowed="the number of variants, an integer >= 1", source=src)
        if self.sampling == "grid":
            for i, p in enumerate(self.parameters):
                if p.range is not None and p.steps is None:
                    raise SpecError(f"parameters[{i}].steps",
                                    "required with a range in a grid sweep",
                                    allowed="an integer >= 1 (number of evenly spaced "
                                    "values), or sampling = \"lhs\"", source=src)

    @property
    def n_variants(self) -> int:
        """Number of profile variants the sampling yields."""
        if self.sampling == "lhs":
            return int(self.samples or 0)
        return math.prod(len(p.grid_values()) for p in self.parameters) if self.parameters else 1

    @property
    def n_rows(self) -> int:
        """Rows of the sweep: variants x bodies x sites x forces."""
        return self.n_variants * self.fit.n_targets

    def canonical(self) -> dict[str, Any]:
        """Everything that decides the rows, as plain data (for :meth:`spec_hash`)."""
        return {
            "profile": self.profile.to_dict(),
            "sampling": self.sampling,
            "samples": self.samples,
            "seed": self.seed,
            "parameters": [
                {"name": p.name, "paths": list(p.paths),
                 "range": list(p.range) if p.range else None, "steps": p.steps,
                 "values": list(p.values) if p.values is not None else None,
                 "decimals": p.decimals}
                for p in self.parameters
            ],
            "fit": {**self.fit.fit_kwargs(), "bodies": list(self.fit.body_labels),
                    "sites": list(self.fit.sites), "forces_n": list(self.fit.forces_n),
                    "edges": list(self.fit.edges)},
        }

    def spec_hash(self) -> str:
        """sha256 of :meth:`canonical` (plots and optimize settings do not change it)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "",
                  base_dir: Path | None = None) -> SweepSpec:
        """Parse and validate a spec mapping; relative paths are taken from ``base_dir``."""
        return _parse(data, source, Path(base_dir) if base_dir else Path.cwd())


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec TOML file (paths in it are relative to the file)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(str(path), "spec file not found" if not path.exists() else
                        "is not a file", allowed="a path to a sweep spec .toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), "not UTF-8 text", allowed="a TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), f"not valid TOML: {exc}", allowed="a TOML file") from exc
    return SweepSpec.from_dict(data, source=str(path), base_dir=path.resolve().parent)


# --------------------------------------------------------------------------------------
# parsing


def _table(d: Any, path: str, source: str, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise _err(source, path, "must be a table", type(d).__name__, "[" + path + "] ...")
    for key in d:
        if key not in keys:
            raise _err(source, f"{path}.{key}" if path else key, "unknown key",
                       allowed=", ".join(sorted(keys)))
    return d


def _num(v: Any, path: str, source: str, lo: float = -math.inf, hi: float = math.inf,
         *, lo_open: bool = False, unit: str = "") -> float:
    rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]{' ' + unit if unit else ''}"
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _err(source, path, "must be a finite number", v, rng)
    if v < lo or v > hi or (lo_open and v == lo):
        raise _err(source, path, "out of range", v, rng)
    return float(v)


def _int(v: Any, path: str, source: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(source, path, "must be an integer", v, f"an integer in [{lo}, {hi}]")
    if not lo <= v <= hi:
        raise _err(source, path, "out of range", v, f"an integer in [{lo}, {hi}]")
    return int(v)


def _choice(v: Any, path: str, source: str, choices: tuple[str, ...]) -> str:
    if v not in choices:
        raise _err(source, path, "invalid choice", v, " | ".join(choices))
    return str(v)


def _list(v: Any, path: str, source: str, *, min_len: int = 1) -> list[Any]:
    if not isinstance(v, list) or len(v) < min_len:
        raise _err(source, path, f"must be a list of at least {min_len} item(s)", v)
    return v


def _pair(v: Any, path: str, source: str, lo: float, hi: float, unit: str,
          *, strict: bool = False) -> tuple[float, float]:
    what = "lo < hi" if strict else "lo <= hi"
    if not isinstance(v, list) or len(v) != 2:
        raise _err(source, path, f"must be two numbers [lo, hi] with {what}", v,
                   f"numbers in [{lo:g}, {hi:g}] {unit}".rstrip())
    a = _num(v[0], f"{path}[0]", source, lo, hi, unit=unit)
    b = _num(v[1], f"{path}[1]", source, lo, hi, unit=unit)
    if a > b or (strict and a == b):
        raise _err(source, path, f"must have {what}", v)
    return a, b


def _path_tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    for name, index in _PATH_TOKEN.findall(path):
        tokens.append(int(index) if index else int(name) if name.isdigit() else name)
    return tokens


def profile_field(data: Mapping[str, Any], path: str) -> Any:
    """The value at a profile path (``segments[1].edge.angle_deg``) of ``Profile.to_dict()``;
    KeyError if the path does not exist."""
    node: Any = data
    tokens = _path_tokens(path)
    if not tokens or "".join(m.group(0) for m in _PATH_TOKEN.finditer(path)) != \
            path.replace(".", ""):
        raise KeyError(path)
    for tok in tokens:
        try:
            node = node[tok]
        except (KeyError, IndexError, TypeError):
            raise KeyError(path) from None
    return node


def _resolve_profile(ref: Any, source: str, base_dir: Path) -> tuple[Profile, str]:
    from ..library import find_profile
    from ..profile import load_profile

    if not isinstance(ref, str) or not ref:
        raise _err(source, "sweep.profile", "must be a library name or a profile path", ref)
    candidate = (base_dir / ref) if not Path(ref).is_absolute() else Path(ref)
    try:
        path = candidate if candidate.is_file() else find_profile(ref)
    except IastmError as exc:
        raise _err(source, "sweep.profile", f"no such profile ({exc})", ref) from None
    return load_profile(path), ref


def _parse_parameter(d: Any, i: int, source: str, sampling: str,
                     profile_data: Mapping[str, Any]) -> Parameter:
    where = f"parameters[{i}]"
    d = _table(d, where, source, _PARAM_KEYS)
    if "path" not in d:
        raise _err(source, f"{where}.path", "missing required field",
                   allowed='a profile path, e.g. "segments[1].edge.apex_radius_mm"')
    raw_paths = d["path"] if isinstance(d["path"], list) else [d["path"]]
    paths: list[str] = []
    current: list[Any] = []
    for j, p in enumerate(raw_paths):
        pp = f"{where}.path" + (f"[{j}]" if isinstance(d["path"], list) else "")
        if not isinstance(p, str):
            raise _err(source, pp, "must be a string", p)
        try:
            current.append(profile_field(profile_data, p))
        except KeyError:
            raise _err(source, pp, "no such field in the base profile", p,
                       'a path into the profile, e.g. "thickness_mm", '
                       '"segments[1].radius_mm", "segments[1].edge.angle_deg"') from None
        if isinstance(current[-1], dict | list):
            raise _err(source, pp, "names a table or list, not a value", p)
        paths.append(p)
    if not paths:
        raise _err(source, f"{where}.path", "must name at least one profile path")
    name = d.get("name", paths[0])
    if not isinstance(name, str) or not _COLUMN_RE.match(name):
        raise _err(source, f"{where}.name", "invalid column name", name,
                   "1-100 characters of letters, digits, _ . - [ ]")
    decimals = _int(d.get("decimals", 4), f"{where}.decimals", source, 0, 12)
    has_range, has_values = "range" in d, "values" in d
    if has_range == has_values:
        raise _err(source, where, "give exactly one of 'range' or 'values'",
                   allowed="range = [lo, hi] (numbers) or values = [...]")
    if has_range:
        if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in current):
            raise _err(source, f"{where}.range", "the profile field is not a number",
                       current[0], "values = [...] for text or true/false fields")
        lo, hi = _pair(d["range"], f"{where}.range", source, -1e6, 1e6, "", strict=True)
        steps = None
        if sampling == "grid" and "steps" in d:  # required by a sweep, not by optimize
            steps = _int(d["steps"], f"{where}.steps", source, 1, 10_000)
        elif "steps" in d:
            raise _err(source, f"{where}.steps", "not used by lhs sampling (it samples the "
                       "range continuously)", allowed="remove it, or use sampling = \"grid\"")
        return Parameter(name, tuple(paths), (lo, hi), steps, None, decimals)
    if "steps" in d:
        raise _err(source, f"{where}.steps", "not used with 'values'")
    raw = _list(d["values"], f"{where}.values", source)
    values: list[Any] = []
    for j, v in enumerate(raw):
        vp = f"{where}.values[{j}]"
        if isinstance(v, bool | str):
            values.append(v)
        elif isinstance(v, int | float):
            values.append(float(round(_num(v, vp, source), decimals)) + 0.0)
        else:
            raise _err(source, vp, "must be a number, string or true/false", v)
    if len({json.dumps(v) for v in values}) != len(values):
        raise _err(source, f"{where}.values", "has duplicate values", raw)
    return Parameter(name, tuple(paths), None, None, tuple(values), decimals)


def _parse_bodies(raw: Any, source: str, base_dir: Path) -> tuple[tuple[str, ...],
                                                                   tuple[str, ...]]:
    from ..body.body import BUILTIN_BODIES

    items = _list(raw, "fit.bodies", source)
    resolved, labels = [], []
    for j, b in enumerate(items):
        p = f"fit.bodies[{j}]"
        if not isinstance(b, str) or not b:
            raise _err(source, p, "must be a body name or a scan path", b)
        if b in BUILTIN_BODIES and not Path(b).suffix:
            resolved.append(b)
        else:
            path = Path(b) if Path(b).is_absolute() else base_dir / b
            if not path.is_file():
                raise _err(source, p, "not a built-in body and no such scan file", b,
                           ", ".join(BUILTIN_BODIES) + " or a path (relative to the spec)")
            resolved.append(str(path.resolve()))
        labels.append(b)
    if len(set(resolved)) != len(resolved):
        raise _err(source, "fit.bodies", "lists a body twice", items)
    return tuple(resolved), tuple(labels)


def _parse_fit(d: Any, source: str, base_dir: Path) -> FitSettings:
    from ..contact.solver import MODELS
    from ..fit import OBJECTIVES

    d = _table(d, "fit", source, _FIT_KEYS)
    preview = d.get("preview", False)
    if not isinstance(preview, bool):
        raise _err(source, "fit.preview", "must be true or false", preview)
    preset = dict(PREVIEW_FIT if preview else FULL_FIT)
    bodies, labels = _parse_bodies(d.get("bodies", ["default"]), source, base_dir)
    sites = _list(d.get("sites", ["calf"]), "fit.sites", source)
    for j, s in enumerate(sites):
        if not isinstance(s, str) or not s:
            raise _err(source, f"fit.sites[{j}]", "must be a site name", s)
    if len(set(sites)) != len(sites):
        raise _err(source, "fit.sites", "lists a site twice", sites)
    forces = [_num(f, f"fit.forces_n[{j}]", source, 0.0, MAX_FORCE_N, lo_open=True, unit="N")
              for j, f in enumerate(_list(d.get("forces_n", [8.0]), "fit.forces_n", source))]
    if len(set(forces)) != len(forces):
        raise _err(source, "fit.forces_n", "lists a force twice", forces)
    edges: list[int | str] = []
    for j, e in enumerate(d.get("edges", []) if isinstance(d.get("edges", []), list) else
                          _list(d.get("edges"), "fit.edges", source)):
        if isinstance(e, bool) or not isinstance(e, int | str) or e == "":
            raise _err(source, f"fit.edges[{j}]", "must be a segment index or an edge label",
                       e)
        edges.append(e)
    model = _choice(d.get("model", preset["model"]), "fit.model", source, MODELS)
    objective = _choice(d.get("objective", "area"), "fit.objective", source, OBJECTIVES)
    angles = _pair(d.get("angle_range_deg", [30.0, 90.0]), "fit.angle_range_deg", source,
                   0.0, 90.0, "deg")
    rotations = _pair(d.get("rotation_range_deg", [-90.0, 90.0]), "fit.rotation_range_deg",
                      source, -180.0, 180.0, "deg")
    tilts = _int(d.get("coarse_tilts", preset["coarse_tilts"]), "fit.coarse_tilts", source,
                 1, 100)
    rots = _int(d.get("coarse_rotations", preset["coarse_rotations"]), "fit.coarse_rotations",
                source, 1, 360)
    refine = _int(d.get("refine_evals", preset["refine_evals"]), "fit.refine_evals", source,
                  0, 1000)
    return FitSettings(bodies, tuple(sites), tuple(forces), model, objective, angles,
                       rotations, tilts, rots, refine, tuple(edges), preview, labels)


def _metric_names() -> set[str]:
    from .rows import METRIC_COLUMNS

    return {name for name, _ in METRIC_COLUMNS}


def _parse_plots(raw: Any, source: str, columns: set[str]) -> tuple[PlotSpec, ...]:
    metrics = _metric_names()
    out = []
    for i, d in enumerate(_list(raw, "plots", source, min_len=0)):
        where = f"plots[{i}]"
        d = _table(d, where, source, _PLOT_KEYS)
        kind = _choice(d.get("kind", "metric"), f"{where}.kind", source, PLOT_KINDS)
        allowed_x = (columns | metrics) if kind == "metric" else metrics
        for key, allowed in (("x", allowed_x), ("y", metrics)):
            if key not in d:
                raise _err(source, f"{where}.{key}", "missing required field",
                           allowed="a parameter name or a metric column")
            if d[key] not in allowed:
                raise _err(source, f"{where}.{key}", "not a column of the results table",
                           d[key], ", ".join(sorted(allowed))[:400])
        sense = d.get("sense", ["min", "min"])
        if not isinstance(sense, list) or len(sense) != 2 or any(s not in SENSES
                                                                  for s in sense):
            raise _err(source, f"{where}.sense", "must be two of min | max", sense,
                       '["max", "min"] for x maximised, y minimised')
        agg = _choice(d.get("aggregate", "worst"), f"{where}.aggregate", source,
                      ("worst", "none"))
        out.append(PlotSpec(kind, d["x"], d["y"], (sense[0], sense[1]), agg))
    return tuple(out)


def _parse_optimize(d: Any, source: str) -> OptimizeSettings:
    d = _table(d, "optimize", source, _OPT_KEYS)
    from ..export import FORMATS

    def opt_num(key: str, lo: float, hi: float, unit: str = "") -> float | None:
        return None if key not in d else _num(d[key], f"optimize.{key}", source, lo, hi,
                                              unit=unit)

    formats = None
    if "formats" in d:
        formats = tuple(_choice(f, f"optimize.formats[{j}]", source, FORMATS)
                        for j, f in enumerate(_list(d["formats"], "optimize.formats",
                                                    source)))
    return OptimizeSettings(
        objective=_choice(d.get("objective", "ppt"), "optimize.objective", source,
                          DESIGN_OBJECTIVES),
        aggregate=_choice(d.get("aggregate", "max"), "optimize.aggregate", source,
                          AGGREGATES),
        min_contact_area_mm2=opt_num("min_contact_area_mm2", 0.0, 1e6, "mm^2"),
        min_edge_contact_fraction=opt_num("min_edge_contact_fraction", 0.0, 1.0),
        max_fraction_above_ppt=opt_num("max_fraction_above_ppt", 0.0, 1.0),
        generations=_int(d.get("generations", 10), "optimize.generations", source, 0, 1000),
        population=_int(d.get("population", 12), "optimize.population", source, 4, 1000),
        seed=_int(d.get("seed", 0), "optimize.seed", source, 0, 2**32 - 1),
        formats=formats,
    )


def _parse(data: Mapping[str, Any], source: str, base_dir: Path) -> SweepSpec:
    data = _table(data, "", source, _TOP_KEYS)
    if "sweep" not in data:
        raise _err(source, "sweep", "missing required table",
                   allowed='[sweep] with profile = "<library name or path>"')
    sw = _table(data["sweep"], "sweep", source, _SWEEP_KEYS)
    stem = Path(source).stem.lower() if source else "sweep"
    default_name = re.sub(r"[^a-z0-9_-]", "-", stem)[:64] or "sweep"
    name = sw.get("name", default_name)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _err(source, "sweep.name", "invalid", name,
                   "lower-case letters, digits, '-' and '_', 1-64 characters")
    if "profile" not in sw:
        raise _err(source, "sweep.profile", "missing required field",
                   allowed="a library name (blade-large-cc) or a profile path")
    profile, ref = _resolve_profile(sw["profile"], source, base_dir)
    sampling = _choice(sw.get("sampling", "grid"), "sweep.sampling", source, SAMPLINGS)
    samples = None
    seed = _int(sw.get("seed", 0), "sweep.seed", source, 0, 2**32 - 1)
    if sampling == "lhs":
        if "samples" in sw:  # required by a sweep (check_sweep), not by optimize
            samples = _int(sw["samples"], "sweep.samples", source, 1, MAX_ROWS)
    elif "samples" in sw:
        raise _err(source, "sweep.samples", "not used by grid sampling (the grid decides the "
                   "number of variants)", allowed='remove it, or sampling = "lhs"')
    pdata = profile.to_dict()
    params = tuple(_parse_parameter(d, i, source, sampling, pdata)
                   for i, d in enumerate(_list(data.get("parameters", []), "parameters",
                                               source, min_len=0)))
    names = [p.name for p in params]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise _err(source, "parameters", "two parameters have the same name", dup,
                   "distinct 'name' (or path) per parameter")
    paths = [q for p in params for q in p.paths]
    dup = next((q for q in paths if paths.count(q) > 1), None)
    if dup is not None:
        raise _err(source, "parameters", "a profile path is varied twice", dup)
    if sampling == "lhs" and not params:
        raise _err(source, "parameters", "lhs sampling needs at least one parameter")
    fit = _parse_fit(data.get("fit", {}), source, base_dir)
    reserved = _metric_names() | {"row", "row_hash", "variant", "body", "site", "force_n",
                                  "model", "fit_objective", "status", "reason"}
    clash = next((n for n in names if n in reserved), None)
    if clash is not None:
        raise _err(source, "parameters", "a parameter name clashes with a results column",
                   clash, "another 'name'")
    plots = _parse_plots(data.get("plots", []), source, set(names))
    opt = _parse_optimize(data.get("optimize", {}), source)
    spec = SweepSpec(name, profile, ref, sampling, params, fit, samples, seed, plots, opt,
                     source)
    if spec.n_rows > MAX_ROWS:
        raise _err(source, "parameters", f"the sweep has {spec.n_rows} rows", spec.n_rows,
                   f"at most {MAX_ROWS}")
    return spec
