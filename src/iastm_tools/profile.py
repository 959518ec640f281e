"""Tool profiles: the TOML format, its data model and its validation.

A profile describes one instrument once: name, revision, stainless grade, plate thickness,
the outline as an ordered closed chain of segments in the plate plane (mm, counter-clockwise
seen from +Z, interior on the left), the corner blends between segments and, for each
segment, the cross-section of its edge. Every field is checked on load; any problem raises
:class:`~iastm_tools.errors.ProfileError` naming the field path
(``segments[2].edge.apex_radius_mm``),
the value and what is allowed. Geometric checks that need the whole outline (closure,
self-intersection, bevel width against the local plate width) live in :mod:`.outline`
and are run by :func:`load_profile` / :meth:`Profile.from_dict` too, so a ``Profile`` that
exists is buildable.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ProfileError
from .materials import MATERIALS, Material, material

EdgeStyle = Literal["square", "single_bevel", "double_bevel", "full_round"]
SegmentKind = Literal["line", "arc", "knob", "tip"]

EDGE_STYLES: tuple[str, ...] = ("square", "single_bevel", "double_bevel", "full_round")
SEGMENT_KINDS: tuple[str, ...] = ("line", "arc", "knob", "tip")

#: Plate thickness range (mm): published IASTM instruments are 3-6 mm thick
#: (shared/reference/tool_families.md); 1.5-10 mm admits gua sha plates and prototypes.
THICKNESS_RANGE_MM = (1.5, 10.0)
#: Bevel angle between the bevel face and the opposite plate face (deg). Instruments use
#: 30-60 deg (tool_families.md); 15-75 deg is accepted, beyond that the edge is no bevel.
BEVEL_ANGLE_RANGE_DEG = (15.0, 75.0)
#: Smallest corner blend (mm): waterjet inside corners are about R0.8 minimum
#: (SendCutSend waterjet guidelines, via shared/reference/cad_recipes.md section 4).
MIN_CORNER_RADIUS_MM = 0.8
#: Smallest hone radius on a bevel apex (mm): polishing alone rounds an edge by a few
#: hundredths of a mm and radii under ~0.3 mm need the vendor's agreement (cad_recipes.md s4);
#: 0.1 mm is accepted as the limit of what can be specified at all.
MIN_APEX_RADIUS_MM = 0.1
#: Largest tip radius (mm): a "tip" is a small rounded point; larger ends are arcs or knobs.
MAX_TIP_RADIUS_MM = 15.0
#: Outline size limits (mm) for a hand-held plate (tool_families.md: 80-200 mm long).
MAX_EXTENT_MM = 400.0

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_REVISION_RE = re.compile(r"^[A-Z0-9][A-Z0-9.-]{0,7}$")


@dataclass(frozen=True)
class EdgeSpec:
    """Cross-section of one outline edge.

    style: ``square`` (plate faces meet the side wall, corners broken by
    ``edge_break_radius_mm``), ``single_bevel`` (one face bevelled at ``angle_deg`` to the
    opposite face, apex honed to ``apex_radius_mm``; ``face`` is the face that carries the
    bevel), ``double_bevel`` (both faces bevelled symmetrically, apex at mid-thickness),
    ``full_round`` (a semicircle of radius thickness/2).
    working: whether this edge is a treatment edge (a contour for fitting). Bevels and full
    rounds are working edges by default, square edges are not.
    """

    style: EdgeStyle
    angle_deg: float = 0.0
    apex_radius_mm: float = 0.0
    face: Literal["top", "bottom"] = "top"
    edge_break_radius_mm: float = 0.0
    working: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The TOML table for this edge (only the fields its style uses)."""
        out: dict[str, Any] = {"style": self.style}
        if self.style in ("single_bevel", "double_bevel"):
            out["angle_deg"] = self.angle_deg
            out["apex_radius_mm"] = self.apex_radius_mm
        if self.style == "single_bevel":
            out["face"] = self.face
        if self.style == "square":
            out["edge_break_radius_mm"] = self.edge_break_radius_mm
        out["working"] = self.working
        return out


@dataclass(frozen=True)
class Segment:
    """One piece of the outline, from the previous point to ``to``.

    kind: ``line``; ``arc`` (minor arc of ``radius_mm``, ``sense`` convex = bulging out of the
    plate, concave = into it); ``knob`` (convex major arc: a round end, more than a half
    circle); ``tip`` (convex minor arc of small radius: a rounded point).
    corner_radius_mm: blend radius of the corner at the *end* of this segment.
    """

    kind: SegmentKind
    to: tuple[float, float]
    edge: EdgeSpec
    corner_radius_mm: float
    radius_mm: float = 0.0
    sense: Literal["convex", "concave"] = "convex"
    label: str = ""

    def to_dict(self, default_corner_mm: float | None = None) -> dict[str, Any]:
        """The TOML table for this segment."""
        out: dict[str, Any] = {"kind": self.kind, "to": [self.to[0], self.to[1]]}
        if self.kind != "line":
            out["radius_mm"] = self.radius_mm
        if self.kind == "arc":
            out["sense"] = self.sense
        if self.label:
            out["label"] = self.label
        if default_corner_mm is None or self.corner_radius_mm != default_corner_mm:
            out["corner_radius_mm"] = self.corner_radius_mm
        out["edge"] = self.edge.to_dict()
        return out


@dataclass(frozen=True)
class Profile:
    """A validated tool profile. Construct with :func:`load_profile` or :meth:`from_dict`."""

    name: str
    revision: str
    description: str
    family: str
    material: Material
    thickness_mm: float
    corner_radius_mm: float
    start: tuple[float, float]
    default_edge: EdgeSpec
    segments: tuple[Segment, ...]
    source: str = field(default="", compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "") -> Profile:
        """Parse and validate a profile mapping (as read from TOML)."""
        profile = _parse(data, source)
        from .outline import validate_outline  # geometry checks need the parsed profile

        validate_outline(profile)
        return profile

    def to_dict(self) -> dict[str, Any]:
        """The resolved profile as a TOML-ready mapping (round-trips through ``from_dict``)."""
        return {
            "name": self.name,
            "revision": self.revision,
            "description": self.description,
            "family": self.family,
            "material": self.material.grade,
            "thickness_mm": self.thickness_mm,
            "corner_radius_mm": self.corner_radius_mm,
            "start": [self.start[0], self.start[1]],
            "default_edge": self.default_edge.to_dict(),
            "segments": [s.to_dict(self.corner_radius_mm) for s in self.segments],
        }

    def with_(self, **changes: Any) -> Profile:
        """A new validated profile with ``changes`` applied.

        Keys are top-level fields (``thickness_mm=5``) or paths into the TOML structure
        (``**{"segments[2].edge.apex_radius_mm": 0.8}``, dots also accepted:
        ``segments.2.edge.angle_deg``).
        """
        data = copy.deepcopy(self.to_dict())
        for path, value in changes.items():
            _set_path(data, path, value)
        return Profile.from_dict(data, source=self.source)

    @property
    def working_segments(self) -> tuple[int, ...]:
        """Indices of the segments whose edges are working edges."""
        return tuple(i for i, s in enumerate(self.segments) if s.edge.working)


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile TOML file."""
    path = Path(path)
    if not path.exists():
        raise ProfileError(str(path), "file not found", allowed="a path to a .toml profile")
    if path.is_dir():
        raise ProfileError(str(path), "is a directory", allowed="a path to a .toml profile")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ProfileError(str(path), "not UTF-8 text", allowed="a TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(str(path), f"not valid TOML: {exc}", allowed="a TOML file") from exc
    return Profile.from_dict(data, source=str(path))


# --------------------------------------------------------------------------------------
# parsing helpers


_TOP_KEYS = {
    "name",
    "revision",
    "description",
    "family",
    "material",
    "thickness_mm",
    "corner_radius_mm",
    "start",
    "default_edge",
    "segments",
}
_SEGMENT_KEYS = {"kind", "to", "radius_mm", "sense", "edge", "corner_radius_mm", "label"}
_EDGE_KEYS = {"style", "angle_deg", "apex_radius_mm", "face", "edge_break_radius_mm", "working"}


def _err(source: str, fieldpath: str, msg: str, value: object = None, allowed: str | None = None):
    return ProfileError(fieldpath, msg, value=value, allowed=allowed, source=source or None)


def _check_keys(d: Mapping[str, Any], allowed: set[str], where: str, source: str) -> None:
    for key in d:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            raise _err(source, path, "unknown key", allowed=", ".join(sorted(allowed)))


def _require(d: Mapping[str, Any], key: str, where: str, source: str) -> Any:
    if key not in d:
        path = f"{where}.{key}" if where else key
        raise _err(source, path, "missing required field")
    return d[key]


def _number(
    value: Any,
    path: str,
    source: str,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    unit: str = "",
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _err(
            source, path, "must be a number", value, f"a number in {_range(lo, hi, lo_open, unit)}"
        )
    v = float(value)
    if not math.isfinite(v):
        raise _err(source, path, "must be finite", value, _range(lo, hi, lo_open, unit))
    if v < lo or v > hi or (lo_open and v == lo):
        raise _err(source, path, "out of range", value, _range(lo, hi, lo_open, unit))
    return v


def _range(lo: float, hi: float, lo_open: bool, unit: str) -> str:
    left = "(" if lo_open else "["
    return f"{left}{lo:g}, {hi:g}]{' ' + unit if unit else ''}"


def _string(
    value: Any,
    path: str,
    source: str,
    pattern: re.Pattern[str] | None = None,
    allowed: str = "a string",
) -> str:
    if not isinstance(value, str):
        raise _err(source, path, "must be a string", value, allowed)
    if pattern is not None and not pattern.match(value):
        raise _err(source, path, "invalid", value, allowed)
    return value


def _choice(value: Any, path: str, source: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _err(source, path, "invalid choice", value, " | ".join(choices))
    return str(value)


def _point(value: Any, path: str, source: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _err(source, path, "must be a point [x_mm, y_mm]", value, "two numbers")
    x = _number(value[0], f"{path}[0]", source, -MAX_EXTENT_MM, MAX_EXTENT_MM, unit="mm")
    y = _number(value[1], f"{path}[1]", source, -MAX_EXTENT_MM, MAX_EXTENT_MM, unit="mm")
    return (x, y)


def _parse_edge(d: Any, path: str, source: str, thickness_mm: float) -> EdgeSpec:
    if not isinstance(d, Mapping):
        raise _err(source, path, "must be a table", d, "{style = ...}")
    _check_keys(d, _EDGE_KEYS, path, source)
    style = _choice(_require(d, "style", path, source), f"{path}.style", source, EDGE_STYLES)
    used = {"style", "working"}
    working_default = style != "square"
    angle = apex = brk = 0.0
    face = "top"
    t = thickness_mm
    if style in ("single_bevel", "double_bevel"):
        used |= {"angle_deg", "apex_radius_mm"}
        angle = _number(
            _require(d, "angle_deg", path, source),
            f"{path}.angle_deg",
            source,
            *BEVEL_ANGLE_RANGE_DEG,
            unit="deg",
        )
        apex = _number(
            _require(d, "apex_radius_mm", path, source),
            f"{path}.apex_radius_mm",
            source,
            MIN_APEX_RADIUS_MM,
            t,
            unit="mm",
        )
        max_apex = max_apex_radius_mm(style, angle, t)
        if apex > max_apex:
            raise _err(
                source,
                f"{path}.apex_radius_mm",
                "too large for the thickness and bevel "
                "angle (the hone would consume the bevel face)",
                apex,
                f"[{MIN_APEX_RADIUS_MM:g}, {max_apex:.3f}] mm for a {style} of "
                f"{angle:g} deg on a {t:g} mm plate",
            )
    if style == "single_bevel":
        used.add("face")
        face = _choice(d.get("face", "top"), f"{path}.face", source, ("top", "bottom"))
    if style == "square":
        used.add("edge_break_radius_mm")
        brk = _number(
            d.get("edge_break_radius_mm", 0.0),
            f"{path}.edge_break_radius_mm",
            source,
            0.0,
            0.45 * t,
            unit="mm (at most 0.45 x thickness)",
        )
    for key in d:
        if key not in used:
            raise _err(
                source,
                f"{path}.{key}",
                f"not used by style {style!r}",
                allowed=", ".join(sorted(used)),
            )
    working = d.get("working", working_default)
    if not isinstance(working, bool):
        raise _err(source, f"{path}.working", "must be true or false", working)
    return EdgeSpec(style, angle, apex, face, brk, working)  # type: ignore[arg-type]


def max_apex_radius_mm(style: str, angle_deg: float, thickness_mm: float) -> float:
    """Largest hone radius (mm) that leaves at least 5 % of each bevel face flat.

    single bevel: the apex angle is ``angle_deg`` and the bevel face is T / sin(angle) long;
    the hone is tangent to both faces at r / tan(angle / 2) from the apex.
    double bevel: apex angle 2 x angle, faces (T/2) / sin(angle), tangent length r / tan(angle).
    """
    a = math.radians(angle_deg)
    if style == "single_bevel":
        face_len = thickness_mm / math.sin(a)
        return 0.95 * face_len * math.tan(a / 2.0)
    if style == "double_bevel":
        face_len = 0.5 * thickness_mm / math.sin(a)
        return 0.95 * face_len * math.tan(a)
    raise ValueError(style)


def _parse(data: Mapping[str, Any], source: str) -> Profile:
    if not isinstance(data, Mapping):
        raise _err(source, "<root>", "must be a table", allowed="a TOML document")
    _check_keys(data, _TOP_KEYS, "", source)
    name = _string(
        _require(data, "name", "", source),
        "name",
        source,
        _NAME_RE,
        "lower-case letters, digits, '-' and '_', 1-64 characters",
    )
    revision = _string(
        data.get("revision", "A"),
        "revision",
        source,
        _REVISION_RE,
        "upper-case letters, digits, '.', '-' (e.g. 'A', 'B2')",
    )
    description = _string(data.get("description", ""), "description", source)
    family = _string(data.get("family", ""), "family", source)
    grade = _require(data, "material", "", source)
    try:
        mat = material(str(grade))
    except KeyError:
        raise _err(
            source, "material", "unknown stainless grade", grade, " | ".join(MATERIALS)
        ) from None
    thickness = _number(
        _require(data, "thickness_mm", "", source),
        "thickness_mm",
        source,
        *THICKNESS_RANGE_MM,
        unit="mm",
    )
    corner = _number(
        _require(data, "corner_radius_mm", "", source),
        "corner_radius_mm",
        source,
        MIN_CORNER_RADIUS_MM,
        50.0,
        unit="mm",
    )
    start = _point(_require(data, "start", "", source), "start", source)
    default_edge_raw = _require(data, "default_edge", "", source)
    default_edge = _parse_edge(default_edge_raw, "default_edge", source, thickness)
    segs_raw = _require(data, "segments", "", source)
    if not isinstance(segs_raw, list) or not all(isinstance(s, Mapping) for s in segs_raw):
        raise _err(source, "segments", "must be an array of tables", allowed="[[segments]] ...")
    if len(segs_raw) < 2:
        raise _err(
            source,
            "segments",
            "too few segments for a closed outline",
            len(segs_raw),
            "at least 2 (e.g. a tip and an arc), usually 4-12",
        )
    segments: list[Segment] = []
    for i, s in enumerate(segs_raw):
        p = f"segments[{i}]"
        _check_keys(s, _SEGMENT_KEYS, p, source)
        kind = _choice(_require(s, "kind", p, source), f"{p}.kind", source, SEGMENT_KINDS)
        to = _point(_require(s, "to", p, source), f"{p}.to", source)
        radius = 0.0
        sense = "convex"
        if kind == "line":
            for key in ("radius_mm", "sense"):
                if key in s:
                    raise _err(
                        source,
                        f"{p}.{key}",
                        "not used by a line",
                        allowed="kind, to, edge, corner_radius_mm, label",
                    )
        else:
            hi = MAX_TIP_RADIUS_MM if kind == "tip" else 1000.0
            radius = _number(
                _require(s, "radius_mm", p, source), f"{p}.radius_mm", source, 0.5, hi, unit="mm"
            )
        if kind == "arc":
            sense = _choice(
                _require(s, "sense", p, source), f"{p}.sense", source, ("convex", "concave")
            )
        elif "sense" in s:
            raise _err(source, f"{p}.sense", f"not used by a {kind} (always convex)")
        edge = _parse_edge(s.get("edge", default_edge_raw), f"{p}.edge", source, thickness)
        cr = _number(
            s.get("corner_radius_mm", corner),
            f"{p}.corner_radius_mm",
            source,
            MIN_CORNER_RADIUS_MM,
            50.0,
            unit="mm",
        )
        label = _string(s.get("label", ""), f"{p}.label", source)
        segments.append(Segment(kind, to, edge, cr, radius, sense, label))  # type: ignore[arg-type]
    return Profile(
        name,
        revision,
        description,
        family,
        mat,
        thickness,
        corner,
        start,
        default_edge,
        tuple(segments),
        source,
    )


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted / indexed ``path`` in nested dicts and lists."""
    tokens: list[str | int] = []
    for name, index in _PATH_TOKEN.findall(path):
        if index:
            tokens.append(int(index))
        elif name.isdigit():
            tokens.append(int(name))
        else:
            tokens.append(name)
    if not tokens:
        raise ProfileError(path, "empty change path")
    node: Any = data
    for tok in tokens[:-1]:
        try:
            node = node[tok]
        except (KeyError, IndexError, TypeError):
            raise ProfileError(path, "no such field in the profile") from None
    last = tokens[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise ProfileError(path, "no such field in the profile")
    elif not isinstance(node, dict):
        raise ProfileError(path, "no such field in the profile")
    node[last] = value
