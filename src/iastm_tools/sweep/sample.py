"""Profile variants of a sweep: a full grid or a seeded Latin hypercube over the parameters.

A variant is an ordered mapping ``parameter name -> value``; :func:`variant_changes` turns
it into the ``path -> value`` changes of :meth:`iastm_tools.profile.Profile.with_`.
Same spec, same variants, in the same order (the Latin hypercube is seeded by the spec).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .spec import Parameter, SweepSpec

Variant = dict[str, Any]


def grid(parameters: tuple[Parameter, ...]) -> list[Variant]:
    """Every combination of the parameters' grid values (the last parameter varies fastest)."""
    if not parameters:
        return [{}]
    axes = [p.grid_values() for p in parameters]
    return [{p.name: v for p, v in zip(parameters, combo, strict=True)}
            for combo in itertools.product(*axes)]


def latin_hypercube(parameters: tuple[Parameter, ...], samples: int, seed: int) -> list[Variant]:
    """``samples`` variants from a Latin hypercube (scipy.stats.qmc.LatinHypercube, seeded).

    Ranges are sampled continuously (then rounded to the parameter's decimals); a list of
    ``values`` is sampled as categories with equal shares of the unit interval.
    """
    from scipy.stats import qmc

    try:
        sampler = qmc.LatinHypercube(d=len(parameters), rng=np.random.default_rng(seed))
    except TypeError:  # scipy < 1.15 names it ``seed``
        sampler = qmc.LatinHypercube(d=len(parameters), seed=np.random.default_rng(seed))
    unit = sampler.random(samples)
    return [{p.name: p.from_unit(float(u[j])) for j, p in enumerate(parameters)}
            for u in unit]


def variants(spec: SweepSpec) -> list[Variant]:
    """The variants of ``spec`` in sweep order."""
    if spec.sampling == "lhs":
        return latin_hypercube(spec.parameters, int(spec.samples or 0), spec.seed)
    return grid(spec.parameters)


def variant_changes(parameters: tuple[Parameter, ...], variant: Variant) -> dict[str, Any]:
    """``path -> value`` for :meth:`Profile.with_` (a parameter may set several paths)."""
    return {path: variant[p.name] for p in parameters for path in p.paths}
