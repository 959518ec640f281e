"""Per-site tissue model (layers, pain threshold, friction) shipped as data, every value sourced.

The default table lives in ``iastm_tools/data/tissues.toml`` (installed with the package).
For each treatment site it gives the layers from the skin down (thickness in mm, Young's
modulus in kPa, Poisson ratio), the depth to bone where bone is within reach, the
pressure-pain threshold (PPT, kPa; female, male and a default) and the friction
coefficient of a stainless instrument on lubricated skin. Every number carries a source
string; see the header of the TOML file for the source-string grammar and the unit
conversions the loader applies (kgf/cm^2, shear modulus, shear-wave speed, neo-Hookean C10).

Any value can be overridden, from the API (``load_tissue_table(overrides={...})``) or the
CLI (``--tissue calf.layers.fat.thickness_mm=12``, parsed by :func:`parse_override`).

PPT is measured with a 1 cm^2 disc (Fischer, Pain 30:115, 1987), so it is a mean pressure
over 1 cm^2: compare it with the contact pressure averaged over 1 cm^2 windows
(:data:`PPT_PROBE_AREA_MM2`), not only with the peak of a fine grid.

All moduli are linear-elastic, resting-muscle stand-ins for nonlinear, viscoelastic,
anisotropic tissue; the contact solvers must report that they are ranking tools at
clinical loads (shared/reference/contact_mechanics.md, section 0).
"""

from __future__ import annotations

import copy
import functools
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from .contact.tissue_stack import Layer, TissueStack
from .errors import FieldError

__all__ = [
    "KGF_PER_CM2_IN_KPA",
    "PPT_DISC_DIAMETER_MM",
    "PPT_PROBE_AREA_MM2",
    "PPT_WINDOW_SIDE_MM",
    "SITES",
    "SWE_DENSITY_KG_M3",
    "SiteTissue",
    "TissueError",
    "TissueLayer",
    "default_tissue_path",
    "get_site",
    "kgf_per_cm2_to_kpa",
    "load_tissue_table",
    "neo_hookean_c10_to_youngs_kpa",
    "parse_override",
    "parse_overrides",
    "shear_modulus_to_youngs_kpa",
    "shear_wave_speed_to_youngs_kpa",
]

#: Treatment sites of the default table (the body module uses the same keys).
SITES: tuple[str, ...] = (
    "forearm_flexor",
    "forearm_extensor",
    "calf",
    "posterior_thigh",
    "lateral_thigh",
    "lumbar_paraspinals",
    "upper_trapezius",
    "achilles",
    "patellar_tendon",
    "plantar_fascia",
)

#: 1 kgf/cm^2 in kPa: standard gravity 9.80665 m/s^2 (3rd CGPM, 1901) on 1 kg over 1e-4 m^2.
KGF_PER_CM2_IN_KPA = 98.0665
#: Tissue density shear-wave elastography systems assume when converting speed to modulus.
SWE_DENSITY_KG_M3 = 1000.0
#: PPT probe: the 1 cm^2 rubber disc of the pressure threshold meter (Fischer 1987, abstract).
PPT_PROBE_AREA_MM2 = 100.0
#: Side of the square averaging window with the PPT probe's area (mm).
PPT_WINDOW_SIDE_MM = math.sqrt(PPT_PROBE_AREA_MM2)
#: Diameter of the circular PPT probe of 1 cm^2 (mm), 11.28 mm.
PPT_DISC_DIAMETER_MM = 2.0 * math.sqrt(PPT_PROBE_AREA_MM2 / math.pi)

# Allowed ranges (inclusive unless noted); wide enough for any human site, narrow enough
# to catch a unit slip (m for mm, MPa for kPa, N for kPa).
_THICKNESS_MM = (0.05, 200.0)
_YOUNGS_KPA = (1.0, 1.0e6)
_POISSON = (0.0, 0.5)  # lower bound exclusive
_PPT_KPA = (50.0, 2000.0)
_FRICTION = (0.01, 3.0)
_DEPTH_TOL_MM = 1e-6

_SOURCE_KINDS = ("estimate", "derived", "quoted", "override")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_MODULUS_KEYS = ("youngs_kpa", "shear_modulus_kpa", "shear_wave_speed_m_s", "neo_hookean_c10_kpa")
_HALFSPACE_SOURCE = (
    "derived: half-space, the last layer extends to infinite depth (no bone within reach)"
)
_OVERRIDE_SOURCE = "override: user value"

Sex = Literal["female", "male"]


class TissueError(FieldError):
    """A tissue file, field or override is invalid (``source`` is the file or "override")."""


# --------------------------------------------------------------------------- conversions


def kgf_per_cm2_to_kpa(value: float) -> float:
    """Pressure in kgf/cm^2 (the unit of most algometers, e.g. Fischer 1987) to kPa."""
    return value * KGF_PER_CM2_IN_KPA


def shear_modulus_to_youngs_kpa(shear_kpa: float) -> float:
    """Young's modulus (kPa) of a nearly incompressible solid from its shear modulus: E = 3 G."""
    return 3.0 * shear_kpa


def shear_wave_speed_to_youngs_kpa(
    speed_m_s: float, density_kg_m3: float = SWE_DENSITY_KG_M3
) -> float:
    """Young's modulus (kPa) from a shear-wave speed (m/s): E = 3 rho c^2.

    ``density_kg_m3`` defaults to 1000 kg/m^3, the value SWE systems assume.
    """
    return 3.0 * density_kg_m3 * speed_m_s**2 / 1000.0


def neo_hookean_c10_to_youngs_kpa(c10_kpa: float) -> float:
    """Small-strain Young's modulus (kPa) of an incompressible neo-Hookean solid: E = 6 C10."""
    return 6.0 * c10_kpa


# --------------------------------------------------------------------------- data classes


def _fmt_range(lo: float, hi: float, unit: str, *, lo_open: bool = False) -> str:
    left = "(" if lo_open else "["
    return f"{left}{lo:g}, {hi:g}] {unit}".rstrip()


def _check_number(
    value: object,
    field: str,
    lo: float,
    hi: float,
    unit: str,
    *,
    source: str | None,
    lo_open: bool = False,
    shown: object = None,
) -> float:
    """Return ``value`` as float if it is a finite number in range, else raise TissueError."""
    allowed = _fmt_range(lo, hi, unit, lo_open=lo_open)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TissueError(field, "must be a number", value=value, allowed=allowed, source=source)
    number = float(value)
    if math.isnan(number):
        raise TissueError(field, "is NaN", value=value, allowed=allowed, source=source)
    if math.isinf(number):
        raise TissueError(field, "is infinite", value=value, allowed=allowed, source=source)
    below = number <= lo if lo_open else number < lo
    if below or number > hi:
        raise TissueError(
            field,
            "is out of range",
            value=value if shown is None else shown,
            allowed=allowed,
            source=source,
        )
    return number


def _check_text(value: object, field: str, *, source: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TissueError(field, "must be a non-empty string", value=value, source=source)
    return value


@dataclass(frozen=True)
class TissueLayer:
    """One tissue layer, top (skin) first, with the source of each value.

    thickness_mm: layer thickness (mm), 0.05-200; ``math.inf`` only for the last layer of
        a half-space site.
    youngs_kpa: Young's modulus (kPa), 1-1e6; a linear-elastic resting-state stand-in.
    poisson: Poisson ratio in (0, 0.5].
    """

    name: str
    thickness_mm: float
    youngs_kpa: float
    poisson: float
    thickness_source: str
    youngs_source: str
    poisson_source: str

    def __post_init__(self) -> None:
        label = f"layer {self.name!r}"
        _check_text(self.name, f"{label}.name", source=None)
        if not (
            isinstance(self.thickness_mm, float)
            and math.isinf(self.thickness_mm)
            and self.thickness_mm > 0
        ):
            _check_number(
                self.thickness_mm, f"{label}.thickness_mm", *_THICKNESS_MM, "mm", source=None
            )
        _check_number(self.youngs_kpa, f"{label}.youngs_kpa", *_YOUNGS_KPA, "kPa", source=None)
        _check_number(self.poisson, f"{label}.poisson", *_POISSON, "", source=None, lo_open=True)
        for attr in ("thickness_source", "youngs_source", "poisson_source"):
            _check_text(getattr(self, attr), f"{label}.{attr}", source=None)

    @property
    def is_halfspace(self) -> bool:
        """True if the layer extends to infinite depth."""
        return math.isinf(self.thickness_mm)

    def to_layer(self) -> Layer:
        """The solver-side :class:`~iastm_tools.contact.tissue_stack.Layer`."""
        return Layer(self.thickness_mm, self.youngs_kpa, self.poisson, self.name)


@dataclass(frozen=True)
class SiteTissue:
    """Tissue model of one treatment site.

    layers: top (skin) first. depth_to_bone_mm: depth of rigid bone (mm), equal to the sum
    of the layer thicknesses; ``None`` means the last layer is an elastic half-space.
    ppt_female_kpa / ppt_male_kpa / ppt_kpa: pressure-pain thresholds (kPa) measured with a
    1 cm^2 probe (``ppt_probe_area_mm2``); ``ppt_kpa`` is the default (the mean of the two
    unless set explicitly). friction: Coulomb coefficient under ``friction_condition``.
    sources: full references cited by this site; notes: caveats.
    """

    site: str
    description: str
    layers: tuple[TissueLayer, ...]
    depth_to_bone_mm: float | None
    depth_to_bone_source: str | None
    ppt_female_kpa: float
    ppt_male_kpa: float
    ppt_kpa: float
    ppt_female_source: str
    ppt_male_source: str
    ppt_source: str
    friction: float
    friction_condition: str
    friction_source: str
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    ppt_probe_area_mm2: float = PPT_PROBE_AREA_MM2

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "notes", tuple(self.notes))
        site = self.site
        if not self.layers:
            raise TissueError(f"{site}.layers", "needs at least one layer")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, TissueLayer):
                raise TissueError(f"{site}.layers[{i}]", "must be a TissueLayer", value=layer)
            if layer.is_halfspace and i != len(self.layers) - 1:
                raise TissueError(
                    f"{site}.layers[{i}].thickness_mm", "only the last layer may be infinite"
                )
        last = self.layers[-1]
        if self.depth_to_bone_mm is None:
            if not last.is_halfspace:
                raise TissueError(
                    f"{site}.layers[{len(self.layers) - 1}].thickness_mm",
                    "a site without depth_to_bone_mm needs an infinite last layer (half-space)",
                    value=last.thickness_mm,
                )
        else:
            depth = _check_number(
                self.depth_to_bone_mm, f"{site}.depth_to_bone_mm", *_THICKNESS_MM, "mm", source=None
            )
            _check_text(self.depth_to_bone_source, f"{site}.depth_to_bone_source", source=None)
            if last.is_halfspace:
                raise TissueError(
                    f"{site}.layers[{len(self.layers) - 1}].thickness_mm",
                    "a site on bone needs a finite last layer",
                )
            total = sum(layer.thickness_mm for layer in self.layers)
            if abs(total - depth) > _DEPTH_TOL_MM:
                raise TissueError(
                    f"{site}.depth_to_bone_mm",
                    f"the layers sum to {total:g} mm but depth_to_bone_mm is {depth:g} mm",
                    allowed="equal to the sum of the layer thicknesses",
                )
        for attr in ("ppt_female_kpa", "ppt_male_kpa", "ppt_kpa"):
            _check_number(getattr(self, attr), f"{site}.{attr}", *_PPT_KPA, "kPa", source=None)
        _check_number(self.friction, f"{site}.friction", *_FRICTION, "", source=None)
        for attr in (
            "description",
            "ppt_female_source",
            "ppt_male_source",
            "ppt_source",
            "friction_condition",
            "friction_source",
        ):
            _check_text(getattr(self, attr), f"{site}.{attr}", source=None)
        _check_number(
            self.ppt_probe_area_mm2, f"{site}.ppt_probe_area_mm2", 1.0, 1.0e4, "mm^2", source=None
        )

    @property
    def base(self) -> Literal["rigid", "halfspace"]:
        """'rigid' when bone is within ``depth_to_bone_mm``, else 'halfspace'."""
        return "halfspace" if self.depth_to_bone_mm is None else "rigid"

    @property
    def stack(self) -> TissueStack:
        """The layers as a :class:`~iastm_tools.contact.tissue_stack.TissueStack` (bonded).

        On bone (``depth_to_bone_mm`` given) the base is rigid; otherwise the last layer is
        an infinite elastic half-space.
        """
        return TissueStack(
            tuple(layer.to_layer() for layer in self.layers), base=self.base, interface="bonded"
        )

    @property
    def skin_thickness_mm(self) -> float:
        """Thickness of the skin (epidermis + dermis) layer, mm: the depth at which to report
        dermal (Ruffini-ending) stimulation. Falls back to the top layer."""
        for layer in self.layers:
            if layer.name == "skin":
                return layer.thickness_mm
        return self.layers[0].thickness_mm

    def layer(self, name: str) -> TissueLayer:
        """The layer called ``name``; TissueError listing the names if absent."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = ", ".join(layer.name for layer in self.layers)
        raise TissueError(f"{self.site}.layers", f"no layer named {name!r}", allowed=names)

    def ppt_for(self, sex: Sex | None = None) -> float:
        """PPT (kPa, 1 cm^2 probe) for ``sex`` ('female', 'male') or the default if None."""
        if sex is None:
            return self.ppt_kpa
        if sex == "female":
            return self.ppt_female_kpa
        if sex == "male":
            return self.ppt_male_kpa
        raise TissueError("sex", "unknown sex", value=sex, allowed="'female', 'male' or None")

    def value_sources(self) -> list[tuple[str, float, str]]:
        """Every numeric value of the site as ``(path, value, source)``, for reports and tests."""
        out: list[tuple[str, float, str]] = []
        for i, layer in enumerate(self.layers):
            p = f"{self.site}.layers[{i}]"
            out.append((f"{p}.thickness_mm", layer.thickness_mm, layer.thickness_source))
            out.append((f"{p}.youngs_kpa", layer.youngs_kpa, layer.youngs_source))
            out.append((f"{p}.poisson", layer.poisson, layer.poisson_source))
        if self.depth_to_bone_mm is not None:
            out.append(
                (
                    f"{self.site}.depth_to_bone_mm",
                    self.depth_to_bone_mm,
                    self.depth_to_bone_source or "",
                )
            )
        out.append((f"{self.site}.ppt_female_kpa", self.ppt_female_kpa, self.ppt_female_source))
        out.append((f"{self.site}.ppt_male_kpa", self.ppt_male_kpa, self.ppt_male_source))
        out.append((f"{self.site}.ppt_kpa", self.ppt_kpa, self.ppt_source))
        out.append((f"{self.site}.friction", self.friction, self.friction_source))
        return out


# --------------------------------------------------------------------------- loading


def default_tissue_path() -> Path:
    """Path of the shipped ``tissues.toml`` (inside the installed package)."""
    return Path(str(resources.files("iastm_tools").joinpath("data/tissues.toml")))


@dataclass
class _Ctx:
    """Where values come from, for error messages."""

    label: str
    refs: dict[str, str] = field(default_factory=dict)
    overridden: set[str] = field(default_factory=set)

    def origin(self, path: str) -> str:
        return f"{self.label} (override {path})" if path in self.overridden else self.label


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TissueError("(file)", f"cannot be read: {exc.strerror or exc}", source=label) from exc
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TissueError("(file)", "is not UTF-8 text", source=label) from exc
    except tomllib.TOMLDecodeError as exc:
        raise TissueError("(file)", f"is not valid TOML: {exc}", source=label) from exc


@functools.lru_cache(maxsize=1)
def _default_raw() -> dict[str, Any]:
    return _read_toml(default_tissue_path(), "tissues.toml (package data)")


@functools.lru_cache(maxsize=1)
def _default_table() -> dict[str, SiteTissue]:
    return _build_table(copy.deepcopy(_default_raw()), _Ctx("tissues.toml (package data)"))


def load_tissue_table(
    path: Path | str | None = None,
    overrides: Mapping[str, object] | None = None,
) -> dict[str, SiteTissue]:
    """Load and strictly validate a tissue table; apply ``overrides``; return site -> SiteTissue.

    path: a tissue TOML file; ``None`` loads the shipped table (parsed once and cached).
    overrides: dotted paths -> values, e.g. ``{"calf.layers.fat.thickness_mm": 12.0,
        "calf.ppt_kpa": 400}``; see :func:`parse_override` for the paths. Units as in the
        file (mm, kPa, -). Invalid files, fields or overrides raise :class:`TissueError`
        naming the file, the field path, the value and what is allowed.
    """
    if path is None:
        label = "tissues.toml (package data)"
        if not overrides:
            return dict(_default_table())
        raw = copy.deepcopy(_default_raw())
    else:
        label = str(path)
        raw = _read_toml(Path(path), label)
    ctx = _Ctx(label)
    if overrides:
        _apply_overrides(raw, overrides, ctx)
    return _build_table(raw, ctx)


def get_site(site: str, table: Mapping[str, SiteTissue] | None = None) -> SiteTissue:
    """The tissue of ``site`` from ``table`` (default: the shipped table)."""
    table = load_tissue_table() if table is None else table
    try:
        return table[site]
    except KeyError:
        raise TissueError(
            "site", "unknown site", value=site, allowed=", ".join(sorted(table))
        ) from None


def _expect_table(value: object, field: str, ctx: _Ctx) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TissueError(field, "must be a table", value=value, source=ctx.label)
    return value


def _check_keys(table: Mapping[str, Any], field: str, allowed: Iterable[str], ctx: _Ctx) -> None:
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            raise TissueError(
                f"{field}.{key}" if field else key,
                "unknown key",
                allowed=", ".join(allowed),
                source=ctx.label,
            )


def _require(table: Mapping[str, Any], key: str, field: str, ctx: _Ctx) -> Any:
    if key not in table:
        raise TissueError(f"{field}.{key}" if field else key, "is missing", source=ctx.label)
    return table[key]


def _source(table: Mapping[str, Any], key: str, field: str, ctx: _Ctx) -> str:
    path = f"{field}.{key}"
    text = _check_text(_require(table, key, field, ctx), path, source=ctx.origin(path))
    head = text.split(":", 1)[0].strip() if ":" in text else ""
    if head in _SOURCE_KINDS:
        return text
    keys = [k.strip() for k in head.split("+")] if head else []
    if not keys or any(k not in ctx.refs for k in keys):
        raise TissueError(
            path,
            "must start with a reference key from [references] or 'estimate:', 'derived:', "
            "'quoted:' followed by where the number comes from",
            value=text[:80],
            allowed=", ".join(sorted(ctx.refs)) + ", " + ", ".join(_SOURCE_KINDS),
            source=ctx.origin(path),
        )
    return text


def _cited_keys(text: str, refs: Mapping[str, str]) -> list[str]:
    head = text.split(":", 1)[0] if ":" in text else ""
    keys = [k.strip() for k in head.split("+") if k.strip() in refs]
    # Reference keys mentioned later in the text count as cited too.
    keys += [k for k in refs if k not in keys and re.search(rf"\b{re.escape(k)}\b", text)]
    return keys


_SITE_KEYS = (
    "description",
    "depth_to_bone_mm",
    "depth_to_bone_source",
    "ppt_female_kpa",
    "ppt_female_kgf_cm2",
    "ppt_female_source",
    "ppt_male_kpa",
    "ppt_male_kgf_cm2",
    "ppt_male_source",
    "ppt_kpa",
    "ppt_source",
    "friction",
    "friction_condition",
    "friction_source",
    "notes",
    "layers",
)
_LAYER_KEYS = (
    "name",
    "thickness_mm",
    "thickness_source",
    *_MODULUS_KEYS,
    "youngs_source",
    "poisson",
    "poisson_source",
)


def _build_table(raw: dict[str, Any], ctx: _Ctx) -> dict[str, SiteTissue]:
    _expect_table(raw, "(file)", ctx)
    _check_keys(raw, "", ("meta", "references", "sites"), ctx)
    meta = _expect_table(_require(raw, "meta", "", ctx), "meta", ctx)
    _check_keys(
        meta,
        "meta",
        (
            "schema_version",
            "description",
            "ppt_probe_area_cm2",
            "ppt_probe_source",
            "ppt_comparison",
        ),
        ctx,
    )
    version = _require(meta, "schema_version", "meta", ctx)
    if version != 1 or isinstance(version, bool):
        raise TissueError(
            "meta.schema_version",
            "unsupported schema version",
            value=version,
            allowed="1",
            source=ctx.label,
        )
    probe_cm2 = _check_number(
        _require(meta, "ppt_probe_area_cm2", "meta", ctx),
        "meta.ppt_probe_area_cm2",
        0.01,
        100.0,
        "cm^2",
        source=ctx.label,
    )
    refs = _expect_table(_require(raw, "references", "", ctx), "references", ctx)
    for key, text in refs.items():
        if not _NAME_RE.match(key):
            raise TissueError(
                f"references.{key}", "reference keys must be lower_snake_case", source=ctx.label
            )
        _check_text(text, f"references.{key}", source=ctx.label)
    ctx.refs = dict(refs)
    _source(meta, "ppt_probe_source", "meta", ctx)
    sites = _expect_table(_require(raw, "sites", "", ctx), "sites", ctx)
    if not sites:
        raise TissueError("sites", "needs at least one site", source=ctx.label)
    table: dict[str, SiteTissue] = {}
    for name, site_raw in sites.items():
        if not _NAME_RE.match(name):
            raise TissueError(name, "site names must be lower_snake_case", source=ctx.label)
        table[name] = _build_site(name, _expect_table(site_raw, name, ctx), ctx, probe_cm2 * 100.0)
    return table


def _build_layer(
    site: str, i: int, raw: Mapping[str, Any], is_last: bool, halfspace: bool, ctx: _Ctx
) -> TissueLayer:
    p = f"{site}.layers[{i}]"
    _check_keys(raw, p, _LAYER_KEYS, ctx)
    name = _check_text(_require(raw, "name", p, ctx), f"{p}.name", source=ctx.label)
    if not _NAME_RE.match(name):
        raise TissueError(
            f"{p}.name", "layer names must be lower_snake_case", value=name, source=ctx.label
        )
    if is_last and halfspace:
        if "thickness_mm" in raw or "thickness_source" in raw:
            raise TissueError(
                f"{p}.thickness_mm",
                "the last layer of a site without depth_to_bone_mm is a half-space and has no "
                "thickness; remove it or give the site a depth_to_bone_mm",
                value=raw.get("thickness_mm"),
                source=ctx.origin(f"{p}.thickness_mm"),
            )
        thickness, thickness_source = math.inf, _HALFSPACE_SOURCE
    else:
        thickness = _check_number(
            _require(raw, "thickness_mm", p, ctx),
            f"{p}.thickness_mm",
            *_THICKNESS_MM,
            "mm",
            source=ctx.origin(f"{p}.thickness_mm"),
        )
        thickness_source = _source(raw, "thickness_source", p, ctx)
    given = [k for k in _MODULUS_KEYS if k in raw]
    if len(given) != 1:
        raise TissueError(
            f"{p}.youngs_kpa",
            "give exactly one modulus"
            + (f" (got {', '.join(given)})" if given else " (none given)"),
            allowed=", ".join(_MODULUS_KEYS),
            source=ctx.label,
        )
    key = given[0]
    youngs = _modulus_to_youngs(key, raw[key], f"{p}.{key}", ctx)
    youngs_source = _source(raw, "youngs_source", p, ctx)
    poisson = _check_number(
        _require(raw, "poisson", p, ctx),
        f"{p}.poisson",
        *_POISSON,
        "",
        source=ctx.origin(f"{p}.poisson"),
        lo_open=True,
    )
    poisson_source = _source(raw, "poisson_source", p, ctx)
    return TissueLayer(
        name, thickness, youngs, poisson, thickness_source, youngs_source, poisson_source
    )


def _modulus_to_youngs(key: str, value: object, path: str, ctx: _Ctx) -> float:
    source = ctx.origin(path)
    if key == "youngs_kpa":
        return _check_number(value, path, *_YOUNGS_KPA, "kPa", source=source)
    number = _check_number(
        value, path, 0.0, 1.0e9, "(source unit, > 0)", source=source, lo_open=True
    )
    convert = {
        "shear_modulus_kpa": shear_modulus_to_youngs_kpa,
        "shear_wave_speed_m_s": shear_wave_speed_to_youngs_kpa,
        "neo_hookean_c10_kpa": neo_hookean_c10_to_youngs_kpa,
    }[key]
    youngs = convert(number)
    lo, hi = _YOUNGS_KPA
    if not lo <= youngs <= hi:
        raise TissueError(
            path,
            f"gives E = {youngs:.4g} kPa, out of range",
            value=value,
            allowed=_fmt_range(lo, hi, "kPa") + " for E",
            source=source,
        )
    return youngs


def _ppt(raw: Mapping[str, Any], sex: str, site: str, ctx: _Ctx) -> float:
    kpa_key, kgf_key = f"ppt_{sex}_kpa", f"ppt_{sex}_kgf_cm2"
    if (kpa_key in raw) == (kgf_key in raw):
        raise TissueError(
            f"{site}.{kpa_key}",
            "give exactly one of "
            + f"{kpa_key}, {kgf_key}"
            + (" (both given)" if kpa_key in raw else " (missing)"),
            source=ctx.label,
        )
    if kpa_key in raw:
        path = f"{site}.{kpa_key}"
        return _check_number(raw[kpa_key], path, *_PPT_KPA, "kPa", source=ctx.origin(path))
    path = f"{site}.{kgf_key}"
    lo, hi = _PPT_KPA
    value = _check_number(
        raw[kgf_key],
        path,
        lo / KGF_PER_CM2_IN_KPA,
        hi / KGF_PER_CM2_IN_KPA,
        "kgf/cm^2",
        source=ctx.origin(path),
    )
    return kgf_per_cm2_to_kpa(value)


def _build_site(site: str, raw: Mapping[str, Any], ctx: _Ctx, probe_mm2: float) -> SiteTissue:
    _check_keys(raw, site, _SITE_KEYS, ctx)
    description = _check_text(
        _require(raw, "description", site, ctx), f"{site}.description", source=ctx.label
    )
    depth: float | None = None
    depth_source: str | None = None
    if "depth_to_bone_mm" in raw:
        path = f"{site}.depth_to_bone_mm"
        depth = _check_number(
            raw["depth_to_bone_mm"], path, *_THICKNESS_MM, "mm", source=ctx.origin(path)
        )
        depth_source = _source(raw, "depth_to_bone_source", site, ctx)
    elif "depth_to_bone_source" in raw:
        raise TissueError(
            f"{site}.depth_to_bone_source", "given without depth_to_bone_mm", source=ctx.label
        )
    layers_raw = _require(raw, "layers", site, ctx)
    if not isinstance(layers_raw, list) or not layers_raw:
        raise TissueError(
            f"{site}.layers",
            "must be a non-empty array of tables ([[...layers]])",
            value=layers_raw if not isinstance(layers_raw, list) else None,
            source=ctx.label,
        )
    layers = []
    for i, layer_raw in enumerate(layers_raw):
        layer_raw = _expect_table(layer_raw, f"{site}.layers[{i}]", ctx)
        layers.append(
            _build_layer(site, i, layer_raw, i == len(layers_raw) - 1, depth is None, ctx)
        )
    names = [layer.name for layer in layers]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise TissueError(
                f"{site}.layers[{i}].name", "duplicate layer name", value=name, source=ctx.label
            )
    if depth is not None:
        total = sum(layer.thickness_mm for layer in layers)
        if abs(total - depth) > _DEPTH_TOL_MM:
            path = f"{site}.depth_to_bone_mm"
            raise TissueError(
                path,
                f"the layers sum to {total:g} mm but depth_to_bone_mm is {depth:g} mm",
                allowed="equal to the sum of the layer thicknesses "
                "(override both, or only one of them)",
                source=ctx.origin(path),
            )
    female = _ppt(raw, "female", site, ctx)
    male = _ppt(raw, "male", site, ctx)
    female_source = _source(raw, "ppt_female_source", site, ctx)
    male_source = _source(raw, "ppt_male_source", site, ctx)
    if "ppt_kpa" in raw:
        path = f"{site}.ppt_kpa"
        ppt = _check_number(raw["ppt_kpa"], path, *_PPT_KPA, "kPa", source=ctx.origin(path))
        ppt_source = _source(raw, "ppt_source", site, ctx)
    else:
        if "ppt_source" in raw:
            raise TissueError(f"{site}.ppt_source", "given without ppt_kpa", source=ctx.label)
        ppt = 0.5 * (female + male)
        ppt_source = "derived: mean of ppt_female_kpa and ppt_male_kpa"
    path = f"{site}.friction"
    friction = _check_number(
        _require(raw, "friction", site, ctx), path, *_FRICTION, "", source=ctx.origin(path)
    )
    condition = _check_text(
        _require(raw, "friction_condition", site, ctx),
        f"{site}.friction_condition",
        source=ctx.label,
    )
    friction_source = _source(raw, "friction_source", site, ctx)
    notes = raw.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) and n.strip() for n in notes):
        raise TissueError(
            f"{site}.notes", "must be an array of non-empty strings", source=ctx.label
        )
    texts = [depth_source or "", female_source, male_source, ppt_source, friction_source]
    for layer in layers:
        texts += [layer.thickness_source, layer.youngs_source, layer.poisson_source]
    cited: list[str] = []
    for text in texts:
        for key in _cited_keys(text, ctx.refs):
            if key not in cited:
                cited.append(key)
    sources = tuple(f"{key}: {ctx.refs[key]}" for key in cited)
    if any(text.startswith("override:") for text in texts):
        sources += ("override: values set by the user (CLI --tissue or API overrides)",)
    return SiteTissue(
        site=site,
        description=description,
        layers=tuple(layers),
        depth_to_bone_mm=depth,
        depth_to_bone_source=depth_source,
        ppt_female_kpa=female,
        ppt_male_kpa=male,
        ppt_kpa=ppt,
        ppt_female_source=female_source,
        ppt_male_source=male_source,
        ppt_source=ppt_source,
        friction=friction,
        friction_condition=condition,
        friction_source=friction_source,
        sources=sources,
        notes=tuple(notes),
        ppt_probe_area_mm2=probe_mm2,
    )


# --------------------------------------------------------------------------- overrides

_SITE_FIELDS = ("ppt_kpa", "ppt_female_kpa", "ppt_male_kpa", "friction", "depth_to_bone_mm")
_LAYER_FIELDS = ("thickness_mm", "youngs_kpa", "poisson")
_PATH_HELP = (
    "<site>.{"
    + ",".join(_SITE_FIELDS)
    + "} or <site>.layers.<name|index>.{"
    + ",".join(_LAYER_FIELDS)
    + "}; <site> may be '*' for every site"
)
_TOKEN_RE = re.compile(r"^([a-z_][a-z0-9_]*|\*)(?:\[(\d+)\])?$")


def parse_override(text: str) -> tuple[str, float | None]:
    """Parse one CLI override ``path=value`` into ``(path, value)``.

    ``value`` is a float (in the field's unit: mm, kPa or -), or ``None`` for
    ``<site>.depth_to_bone_mm=none`` (treat the site as a half-space). The path is checked
    against the table when the overrides are applied (:func:`load_tissue_table`).
    """
    if not isinstance(text, str) or "=" not in text:
        raise TissueError(
            "--tissue",
            "expected PATH=VALUE, e.g. calf.layers.fat.thickness_mm=12",
            value=text,
            allowed=_PATH_HELP,
            source="override",
        )
    path, _, value = (part.strip() for part in text.partition("="))
    if not path:
        raise TissueError(
            "--tissue", "empty path before '='", value=text, allowed=_PATH_HELP, source="override"
        )
    return path, _override_value(value, path)


def parse_overrides(texts: Iterable[str]) -> dict[str, float | None]:
    """Parse repeated CLI ``--tissue PATH=VALUE`` options into an overrides dict (later wins)."""
    return dict(parse_override(text) for text in texts)


def _override_value(value: object, path: str) -> float | None:
    if value is None or (
        isinstance(value, str) and value.strip().lower() in ("none", "null", "halfspace")
    ):
        if path.rsplit(".", 1)[-1] != "depth_to_bone_mm":
            raise TissueError(
                path, "only depth_to_bone_mm accepts 'none'", value=value, source="override"
            )
        return None
    if isinstance(value, bool):
        raise TissueError(path, "must be a number", value=value, source="override")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise TissueError(path, "must be a number", value=value, source="override")


def _split_path(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    for part in path.split("."):
        if part.isdigit():
            tokens.append(int(part))
            continue
        match = _TOKEN_RE.match(part)
        if not match:
            raise TissueError(
                path, "malformed override path", allowed=_PATH_HELP, source="override"
            )
        tokens.append(match.group(1))
        if match.group(2) is not None:
            tokens.append(int(match.group(2)))
    return tokens


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, object], ctx: _Ctx) -> None:
    sites = raw.get("sites")
    if not isinstance(sites, dict):
        return  # _build_table reports the structural error
    per_site: dict[str, list[tuple[str, list[str | int], float | None]]] = {}
    for path, value in overrides.items():
        if not isinstance(path, str):
            raise TissueError(
                str(path), "override paths must be strings", allowed=_PATH_HELP, source="override"
            )
        tokens = _split_path(path)
        value = _override_value(value, path)
        head = tokens[0]
        targets = list(sites) if head == "*" else [head]
        if head != "*" and head not in sites:
            raise TissueError(
                path, f"unknown site {head!r}", allowed=", ".join(sites), source="override"
            )
        for site in targets:
            per_site.setdefault(site, []).append((path, tokens[1:], value))
    for site, items in per_site.items():
        _apply_site_overrides(site, sites[site], items, ctx)


def _apply_site_overrides(
    site: str,
    sraw: dict[str, Any],
    items: list[tuple[str, list[str | int], float | None]],
    ctx: _Ctx,
) -> None:
    if not isinstance(sraw, dict) or not isinstance(sraw.get("layers"), list):
        return  # reported by the validator
    layers: list[dict[str, Any]] = sraw["layers"]
    depth_value: tuple[str, float | None] | None = None
    thickness_changed = False
    for path, rest, value in items:
        if len(rest) == 1 and rest[0] in _SITE_FIELDS:
            key = rest[0]
            if key == "depth_to_bone_mm":
                depth_value = (path, value)
                continue
            assert value is not None  # _override_value allows None only for depth
            if key == "friction":
                sraw["friction"] = value
                sraw["friction_source"] = _OVERRIDE_SOURCE
            elif key == "ppt_kpa":
                sraw["ppt_kpa"] = value
                sraw["ppt_source"] = _OVERRIDE_SOURCE
            else:
                sex = key.split("_")[1]
                sraw.pop(f"ppt_{sex}_kgf_cm2", None)
                sraw[key] = value
                sraw[f"ppt_{sex}_source"] = _OVERRIDE_SOURCE
            ctx.overridden.add(f"{site}.{key}")
            continue
        if len(rest) == 3 and rest[0] == "layers" and rest[2] in _LAYER_FIELDS:
            index = _layer_index(site, layers, rest[1], path)
            key = str(rest[2])
            assert value is not None
            layer = layers[index]
            if key == "youngs_kpa":
                for other in _MODULUS_KEYS:
                    layer.pop(other, None)
                layer["youngs_kpa"] = value
                layer["youngs_source"] = _OVERRIDE_SOURCE
            elif key == "poisson":
                layer["poisson"] = value
                layer["poisson_source"] = _OVERRIDE_SOURCE
            else:
                if (
                    index == len(layers) - 1
                    and "depth_to_bone_mm" not in sraw
                    and depth_value is None
                ):
                    raise TissueError(
                        path,
                        "the last layer of this site is a half-space and has no thickness",
                        value=value,
                        allowed=f"set {site}.depth_to_bone_mm to put bone under it",
                        source="override",
                    )
                layer["thickness_mm"] = value
                layer["thickness_source"] = _OVERRIDE_SOURCE
                thickness_changed = True
            ctx.overridden.add(f"{site}.layers[{index}].{key}")
            continue
        raise TissueError(path, "unknown override path", allowed=_PATH_HELP, source="override")

    if depth_value is not None:
        path, depth = depth_value
        ctx.overridden.add(f"{site}.depth_to_bone_mm")
        if depth is None:  # make the site a half-space
            sraw.pop("depth_to_bone_mm", None)
            sraw.pop("depth_to_bone_source", None)
            layers[-1].pop("thickness_mm", None)
            layers[-1].pop("thickness_source", None)
            return
        sraw["depth_to_bone_mm"] = depth
        sraw["depth_to_bone_source"] = _OVERRIDE_SOURCE
        if not thickness_changed:  # the deepest layer takes up the difference
            above = sum(_as_float(layer.get("thickness_mm")) for layer in layers[:-1])
            remainder = depth - above
            if not remainder >= _THICKNESS_MM[0]:
                raise TissueError(
                    path,
                    f"leaves no room for layer {layers[-1].get('name')!r}: "
                    f"the layers above sum to {above:g} mm",
                    value=depth,
                    allowed=f"> {above + _THICKNESS_MM[0]:g} mm",
                    source="override",
                )
            layers[-1]["thickness_mm"] = remainder
            layers[-1]["thickness_source"] = (
                "derived: depth_to_bone_mm override minus the layers above"
            )
    elif thickness_changed and "depth_to_bone_mm" in sraw:
        # Bone follows the layers unless the user also sets depth_to_bone_mm.
        sraw["depth_to_bone_mm"] = sum(_as_float(layer.get("thickness_mm")) for layer in layers)
        sraw["depth_to_bone_source"] = "derived: sum of the layer thicknesses after override"


def _as_float(value: object) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    )


def _layer_index(site: str, layers: list[dict[str, Any]], selector: str | int, path: str) -> int:
    names = [str(layer.get("name")) for layer in layers]
    if isinstance(selector, int):
        if 0 <= selector < len(layers):
            return selector
        raise TissueError(
            path,
            f"layer index {selector} out of range",
            allowed=f"0-{len(layers) - 1}",
            source="override",
        )
    if selector in names:
        return names.index(selector)
    raise TissueError(
        path,
        f"no layer named {selector!r} at site {site!r}",
        allowed=", ".join(names) + " (or an index)",
        source="override",
    )
