"""Rows of a sweep: what one row is, its content hash, and how a worker computes it.

A row is one profile variant fitted on one body site at one force. Its identity is the
sha256 of the canonical JSON of every input that can change its result: the base
profile's content, the parameter changes, the body's content (built-in name and build
version, or the scan file's and its sites file's bytes), the site, the force, the fit
settings and the version of the fitting code (:func:`fit_code_version`: the package
version and a hash of the sources and data files the result depends on). A row already in
the store under that hash is never computed again; any change of input or code gives a
new hash.

:func:`evaluate_row` runs in a worker (a local process or a Dask worker): it builds the
variant, fits it and returns a flat record of plain numbers and strings. It never raises:
an invalid variant, an unknown site or a fit without contact is a record with
``status = "failed"`` and a one-line ``reason``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The code a row's result depends on is imported now, and its version (a hash of the same
# files) taken now too, so that the version names the code this process actually runs
# even if the files are edited later (a worker started afterwards then reports another
# version and its rows fail with both versions named, instead of being mislabelled).
from .. import body as _body  # noqa: F401
from .. import contact as _contact  # noqa: F401
from .. import fit as _fit  # noqa: F401
from .. import massprops as _massprops  # noqa: F401
from .. import tissue as _tissue  # noqa: F401
from .sample import variant_changes, variants
from .spec import SweepSpec

#: Version of the row format and hash recipe (bump when either changes).
ROW_FORMAT = 1
#: Longest failure reason kept (characters).
MAX_REASON_CHARS = 300

#: Output columns of a row, in table order, with their Arrow type: the best (or chosen)
#: edge's pose and contact metrics (see :class:`iastm_tools.fit.ContourFit`), line-load
#: statistics, the variant's CAD-free mass, and bookkeeping.
METRIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "string"),
    ("reason", "string"),
    ("contour", "string"),
    ("edges_fitted", "int64"),
    ("tilt_deg", "float64"),
    ("rotation_deg", "float64"),
    ("skin_face", "string"),
    ("objective_value", "float64"),
    ("solved_force_n", "float64"),
    ("contact_area_mm2", "float64"),
    ("contact_length_mm", "float64"),
    ("contact_width_mm", "float64"),
    ("edge_length_mm", "float64"),
    ("edge_contact_fraction", "float64"),
    ("peak_pressure_kpa", "float64"),
    ("mean_pressure_kpa", "float64"),
    ("window_mean_pressure_kpa", "float64"),
    ("ppt_kpa", "float64"),
    ("ppt_ratio", "float64"),
    ("area_above_ppt_mm2", "float64"),
    ("fraction_above_ppt", "float64"),
    ("line_load_mean_n_per_mm", "float64"),
    ("line_load_max_n_per_mm", "float64"),
    ("line_load_cv", "float64"),
    ("approach_mm", "float64"),
    ("a_over_r", "float64"),
    ("approach_over_r", "float64"),
    ("a_over_h", "float64"),
    ("small_strain_valid", "bool"),
    ("converged", "bool"),
    ("evaluations", "int64"),
    ("mass_g", "float64"),
    ("n_warnings", "int64"),
    ("warnings", "string"),
    ("seconds", "float64"),
)
#: Input columns every table has (parameter columns are inserted after ``variant``).
INPUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("row", "int64"),
    ("row_hash", "string"),
    ("variant", "int64"),
    ("body", "string"),
    ("site", "string"),
    ("force_n", "float64"),
    ("model", "string"),
    ("fit_objective", "string"),
)

# Sources and data whose change changes fit results (relative to the package root).
_CODE_GLOBS = ("fit/*.py", "contact/*.py", "body/*.py", "tissue.py", "data/tissues.toml",
               "contours.py", "section.py", "outline.py", "profile.py", "materials.py",
               "massprops.py", "sweep/rows.py")


@functools.lru_cache(maxsize=1)
def fit_code_version() -> str:
    """``<package version>+<12 hex of sha256 over the fitting code and tissue data>``,
    taken when this module was imported (see the imports above)."""
    from .. import __version__

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for pattern in _CODE_GLOBS:
        for path in sorted(root.glob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


fit_code_version()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def body_identity(body: str) -> str:
    """What identifies a body's content: a built-in name with its build version, or the
    sha256 of a scan file and of its ``.sites.json`` sidecar (absolute path given)."""
    from ..body.body import BUILD_VERSION, BUILTIN_BODIES

    if body in BUILTIN_BODIES and not Path(body).suffix:
        return f"builtin:{body}:build{BUILD_VERSION}"
    path = Path(body)
    side = Path(f"{path}.sites.json")
    sides = _file_sha256(side) if side.is_file() else "none"
    return f"file:{_file_sha256(path)}:sites:{sides}"


def canonical_json(data: Any) -> str:
    """Sorted-key, compact JSON (floats as Python's shortest repr): the hashed text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, eq=False)
class RowTask:
    """Everything a worker needs to compute one row (picklable, small).

    row: index in the plan; variant: index of the variant; params: the variant as
    (name, value) pairs; changes: (profile path, value) pairs; base_profile: the base
    profile as ``Profile.to_dict()``; body: built-in name or absolute scan path;
    body_label: the body as written in the spec; fit: keyword arguments of
    :func:`iastm_tools.fit.fit`; edges: the edges to fit (segment index or label);
    code_version: :func:`fit_code_version` where the task was made; hash: the row hash.
    """

    row: int
    variant: int
    params: tuple[tuple[str, Any], ...]
    changes: tuple[tuple[str, Any], ...]
    base_profile: Mapping[str, Any]
    base_key: str
    body: str
    body_label: str
    site: str
    force_n: float
    fit: tuple[tuple[str, Any], ...]
    edges: tuple[int | str, ...]
    code_version: str
    hash: str

    def inputs(self) -> dict[str, Any]:
        """The input columns of this row (parameter columns included)."""
        fit = dict(self.fit)
        return {"row": self.row, "row_hash": self.hash, "variant": self.variant,
                **dict(self.params), "body": self.body_label, "site": self.site,
                "force_n": self.force_n, "model": fit["model"],
                "fit_objective": fit["objective"]}


def make_tasks(spec: SweepSpec, variant_list: list[dict[str, Any]] | None = None,
               first_variant: int = 0) -> list[RowTask]:
    """Rows of ``spec`` (or of the given variants): variant-major, then body, site, force."""
    base = spec.profile.to_dict()
    base_key = hashlib.sha256(canonical_json(base).encode()).hexdigest()
    code = fit_code_version()
    fs = spec.fit
    fit_kw = fs.fit_kwargs()
    fit_items = tuple(sorted((k, list(v) if isinstance(v, tuple) else v)
                             for k, v in fit_kw.items()))
    variant_list = variants(spec) if variant_list is None else variant_list
    idents = {b: body_identity(b) for b in fs.bodies}
    tasks: list[RowTask] = []
    for vi, var in enumerate(variant_list, start=first_variant):
        changes = variant_changes(spec.parameters, var)
        for body, label in zip(fs.bodies, fs.body_labels, strict=True):
            for site in fs.sites:
                for force in fs.forces_n:
                    content = {"format": ROW_FORMAT, "code": code, "profile": base,
                               "changes": changes, "body": idents[body], "site": site,
                               "force_n": force, "fit": dict(fit_items),
                               "edges": list(fs.edges)}
                    h = hashlib.sha256(canonical_json(content).encode()).hexdigest()
                    tasks.append(RowTask(
                        len(tasks), vi, tuple(var.items()), tuple(changes.items()), base,
                        base_key, body, label, site, force, fit_items, fs.edges, code, h))
    return tasks


# --------------------------------------------------------------------------------------
# worker side

_LOCK = threading.Lock()
_BODIES: dict[str, Any] = {}
_BASES: dict[str, Any] = {}


def load_body_cached(body: str) -> Any:
    """The body, loaded once per process (built-ins from the cache; scans from the file)."""
    with _LOCK:
        if body not in _BODIES:
            from ..body import Body

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # unit detection / repair notes: in body.notes
                _BODIES[body] = Body.load(body)
        return _BODIES[body]


def _base_profile(task: RowTask) -> Any:
    from ..profile import Profile

    with _LOCK:
        if task.base_key not in _BASES:
            _BASES[task.base_key] = Profile.from_dict(dict(task.base_profile))
        return _BASES[task.base_key]


@functools.lru_cache(maxsize=256)
def _mass_g(profile: Any) -> float | None:
    from ..library import summary

    try:
        return float(summary(profile)["mass_g"])
    except Exception:  # mass is a by-product; a failure here must not fail the row
        return None


def one_line(exc: BaseException) -> str:
    """A one-line reason: the exception's first line (its type if it is not an input error)."""
    from ..errors import IastmError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, IastmError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:MAX_REASON_CHARS]


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def line_load_stats(line_load: Any) -> tuple[float | None, float | None, float | None]:
    """Mean, max (N/mm) and coefficient of variation of the line load along the whole edge
    (nodes evenly spaced, end nodes half-weighted as in the fit's read-out); the CV is 0
    for a perfectly even load and grows as the load concentrates on part of the edge."""
    import numpy as np

    q = np.asarray(line_load, dtype=float)
    if q.size < 2:
        return None, None, None
    w = np.ones_like(q)
    w[[0, -1]] = 0.5
    mean = float((w * q).sum() / w.sum())
    if mean <= 0:
        return mean, float(q.max()), None
    std = math.sqrt(float((w * (q - mean) ** 2).sum() / w.sum()))
    return mean, float(q.max()), std / mean


def metrics_of(c: Any) -> dict[str, Any]:
    """Output columns of a :class:`~iastm_tools.fit.ContourFit`."""
    ppt = _f(getattr(c, "ppt_kpa", None))
    win = _f(c.window_mean_pressure_kpa)
    mean_q, max_q, cv = line_load_stats(c.line_load_n_per_mm)
    warns = [str(w).replace("\n", " ") for w in c.warnings]
    return {
        "contour": c.contour,
        "tilt_deg": _f(c.pose.tilt_deg),
        "rotation_deg": _f(c.pose.rotation_deg),
        "skin_face": str(c.pose.skin_face),
        "objective_value": _f(c.objective_value),
        "solved_force_n": _f(c.force_n),
        "contact_area_mm2": _f(c.contact_area_mm2),
        "contact_length_mm": _f(c.contact_length_mm),
        "contact_width_mm": _f(c.contact_width_mm),
        "edge_length_mm": _f(c.edge_length_mm),
        "edge_contact_fraction": _f(c.edge_contact_fraction),
        "peak_pressure_kpa": _f(c.peak_pressure_kpa),
        "mean_pressure_kpa": _f(c.mean_pressure_kpa),
        "window_mean_pressure_kpa": win,
        "ppt_kpa": ppt,
        "ppt_ratio": win / ppt if (win is not None and ppt) else None,
        "area_above_ppt_mm2": _f(c.area_above_ppt_mm2),
        "fraction_above_ppt": _f(c.fraction_above_ppt),
        "line_load_mean_n_per_mm": mean_q,
        "line_load_max_n_per_mm": max_q,
        "line_load_cv": cv,
        "approach_mm": _f(c.approach_mm),
        "a_over_r": _f(c.a_over_r),
        "approach_over_r": _f(c.approach_over_r),
        "a_over_h": _f(c.a_over_h),
        "small_strain_valid": bool(c.small_strain_valid),
        "converged": bool(c.converged),
        "evaluations": int(c.evaluations),
        "n_warnings": len(warns),
        "warnings": " | ".join(warns)[:2000],
    }


def empty_metrics() -> dict[str, Any]:
    """Every output column set to None (the record of a failed row starts from this)."""
    return {name: None for name, _ in METRIC_COLUMNS}


def evaluate_row(task: RowTask) -> dict[str, Any]:
    """Build the variant, fit it on the row's body site and return the row's record.

    The record holds ``hash``, ``code_version`` (of the worker's code) and every column of
    :data:`METRIC_COLUMNS`. Never raises for a row's own problem: the record then has
    ``status = "failed"`` and a one-line ``reason``.
    """
    t0 = time.perf_counter()
    rec = empty_metrics()
    rec.update(hash=task.hash, code_version=fit_code_version())
    try:
        if rec["code_version"] != task.code_version:
            raise RuntimeError(f"worker runs iastm_tools {rec['code_version']}, the sweep "
                               f"was planned with {task.code_version}")
        from ..fit import fit
        from ..tool import Tool

        profile = _base_profile(task)
        if task.changes:
            profile = profile.with_(**dict(task.changes))
        tool = Tool(profile)
        rec["mass_g"] = _mass_g(profile)
        names = None
        if task.edges:
            names = [tool.contour(e).name for e in task.edges]
        body = load_body_cached(task.body)
        with warnings.catch_warnings(record=True) as caught:  # into the row, not stderr
            warnings.simplefilter("always")
            result = fit(tool, body, task.site, task.force_n, contours=names,
                         **dict(task.fit))
        rec.update(metrics_of(result.best))
        extra = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
        if extra:
            joined = " | ".join(x for x in (rec["warnings"], *extra) if x)
            rec.update(warnings=joined[:2000], n_warnings=rec["n_warnings"] + len(extra))
        rec["edges_fitted"] = len(result.contours)
        rec["status"] = "ok"
    except Exception as exc:  # a row's failure is data, never the end of the sweep
        rec["status"] = "failed"
        rec["reason"] = one_line(exc)
    rec["seconds"] = time.perf_counter() - t0
    return rec


def warm_worker(bodies: tuple[str, ...]) -> int:
    """Load the bodies into this process's cache (called once per local worker)."""
    for b in bodies:
        with contextlib.suppress(Exception):  # reported per row by evaluate_row
            load_body_cached(b)
    return len(_BODIES)
