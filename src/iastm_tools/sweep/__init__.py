"""Design sweeps and edge optimisation (issue 7).

A sweep fits many profile variants (a grid or a seeded Latin hypercube over profile
parameters) on several body sites and forces, locally in processes or on a Dask cluster,
into a resumable folder with a results table (Parquet and CSV) and plots::

    from iastm_tools.sweep import load_spec, run_sweep
    spec = load_spec("examples/sweep-concave-radius.toml")
    outcome = run_sweep(spec, "exports/sweep-concave-radius", workers=2)
    print(outcome.summary())

``optimize_design`` searches continuous edge parameters (differential evolution) for the
variant that minimises an aggregated objective under constraints and writes its profile
and machining bundle. Modules: :mod:`.spec` (the TOML format), :mod:`.sample` (grid and
Latin hypercube), :mod:`.rows` (row hash and the worker function), :mod:`.store` (durable
row store, table), :mod:`.run` (executors), :mod:`.optimize`, :mod:`.plots`.
"""

from __future__ import annotations

from .optimize import OptimizeOutcome, optimize_design, profile_toml
from .run import SweepOutcome, make_executor, run_sweep
from .spec import PREVIEW_FIT, SpecError, SweepSpec, load_spec

__all__ = [
    "PREVIEW_FIT",
    "OptimizeOutcome",
    "SpecError",
    "SweepOutcome",
    "SweepSpec",
    "load_spec",
    "make_executor",
    "optimize_design",
    "profile_toml",
    "run_sweep",
]
