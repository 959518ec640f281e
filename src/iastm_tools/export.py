"""Machining bundle: STEP, STL, 3MF, DXF, drawing and params.json for one tool (mm).

What a machine shop needs (shared/reference/cad_recipes.md sections 3-5): a STEP file for
the geometry (AP214 by default, AP242 on request; mm; product name ``<name> rev <rev>``),
a PDF drawing for everything STEP cannot carry (tolerances, finish, material, passivation;
:mod:`iastm_tools.drawing`), a DXF of the blank outline for waterjet/laser cutting (one
closed LWPOLYLINE with exact arc bulges, nominal 1:1 mm, the shop applies kerf), and a
``params.json`` with the resolved profile and derived figures. STL and 3MF are meshes for
prototypes and visuals only, meshed with an *absolute* chordal tolerance in mm (CadQuery's
own mesh tolerance is relative, cad_recipes.md section 3).

:func:`export_bundle` writes everything into ``out_dir/<name>/`` atomically: the files are
built in a temporary sibling directory that is renamed into place only when complete, so a
failure leaves nothing behind and an existing bundle is only replaced with ``force=True``.

OCCT state: the STEP schema is a process-global ``Interface_Static`` setting; it is set
before and restored after every STEP write. Meshing works on a copy of the solid, so the
tool's own solid never gets a triangulation attached.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from .errors import IastmError
from .fileio import atomic_directory, write_atomic, write_text_atomic
from .outline import Outline

if TYPE_CHECKING:
    import cadquery as cq

    from .tool import Tool

#: Every file format the bundle can hold, in the order they are written.
FORMATS: tuple[str, ...] = ("step", "stl", "3mf", "dxf", "pdf", "svg", "json")
#: User-facing STEP schema names -> OCCT ``write.step.schema`` values (OCCT STEP user guide).
STEP_SCHEMAS: Mapping[str, str] = MappingProxyType({"ap214": "AP214IS", "ap242": "AP242DIS"})
#: The FILE_SCHEMA string each schema writes (as measured in cad_recipes.md section 3).
STEP_SCHEMA_HEADERS: Mapping[str, str] = MappingProxyType({
    "ap214": "AUTOMOTIVE_DESIGN",
    "ap242": "AP242_MANAGED_MODEL_BASED_3D_ENGINEERING_MIM_LF",
})
#: Allowed absolute chordal tolerance of STL/3MF meshes (mm): below 1 um the mesh only
#: grows (OCCT cannot hold it on small tori anyway, cad_recipes.md section 3); above 1 mm
#: the mesh no longer resembles the tool.
STL_TOLERANCE_RANGE_MM = (0.001, 1.0)
DEFAULT_STL_TOLERANCE_MM = 0.01
#: Angular mesh tolerance (deg). 10 deg keeps the sagitta on the r0.5 apex rounds under
#: 0.002 mm (0.5 x (1 - cos 5 deg)) while the linear tolerance governs the large arcs;
#: 5.7 deg (0.1 rad) doubles the triangle count for no gain in volume accuracy (measured).
DEFAULT_ANGULAR_TOLERANCE_DEG = 10.0
ANGULAR_TOLERANCE_RANGE_DEG = (1.0, 45.0)
#: A mesh whose enclosed volume differs from the solid's by more than this is rejected
#: (the issue's acceptance bound for STL).
MESH_VOLUME_RTOL = 0.005
#: Vertices of different faces closer than this are the same mesh vertex (mm).
WELD_TOL_MM = 1e-6
#: DXF layer of the outer cutting contour (cad_recipes.md section 5).
DXF_LAYER_OUTER = "CUT_OUTER"

#: Global OCCT settings a STEP write changes; saved before and restored after every write.
_STEP_STATICS = ("write.step.schema", "write.step.unit", "write.precision.mode",
                 "write.surfacecurve.mode")

_FILE_SUFFIX = {"step": ".step", "stl": ".stl", "3mf": ".3mf", "dxf": ".dxf",
                "pdf": "-drawing.pdf", "svg": "-drawing.svg"}


#: Typical route for a plate instrument (cad_recipes.md section 5, "bom" row).
PROCESS_ROUTE = ("waterjet blank from the DXF (kerf by the shop)", "CNC bevels and edge sections",
                 "deburr", "polish (Ra per drawing)", "passivate or electropolish",
                 "laser mark", "clean and pack")


def _fmt_thickness(value_mm: float) -> str:
    """Plate thickness as written on stock orders: ``4`` or ``4.5``."""
    return f"{value_mm:g}"


class ExportError(IastmError):
    """An export could not be produced as asked (e.g. the mesh at this tolerance is not
    watertight); the message says what to change."""


def bundle_filename(name: str, fmt: str) -> str:
    """File name of format ``fmt`` inside the bundle of tool ``name``."""
    if fmt == "json":
        return "params.json"
    return f"{name}{_FILE_SUFFIX[fmt]}"


def _normalise_formats(formats: Iterable[str] | str | None) -> tuple[str, ...]:
    if formats is None:
        return FORMATS
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    wanted: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise IastmError(f"formats: {item!r} is not a format name; "
                             f"allowed: {', '.join(FORMATS)}")
        key = item.strip().lower().lstrip(".")
        if key == "step" or key == "stp":
            key = "step"
        if key not in FORMATS:
            raise IastmError(f"formats: unknown format {item!r}; allowed: {', '.join(FORMATS)}")
        wanted.add(key)
    if not wanted:
        raise IastmError(f"formats: empty; allowed: one or more of {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in wanted)


@dataclass(frozen=True)
class ExportOptions:
    """Validated export settings.

    formats: subset of :data:`FORMATS` (a comma-separated string is accepted too).
    step_schema: ``ap214`` (default, readable by every CAM system) or ``ap242``.
    stl_tolerance_mm: absolute chordal tolerance of the STL/3MF mesh (mm).
    stl_angular_tolerance_deg: angular tolerance of the mesh (deg).
    """

    formats: tuple[str, ...] = FORMATS
    step_schema: str = "ap214"
    stl_tolerance_mm: float = DEFAULT_STL_TOLERANCE_MM
    stl_angular_tolerance_deg: float = DEFAULT_ANGULAR_TOLERANCE_DEG

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", _normalise_formats(self.formats))
        raw = self.step_schema
        schema = raw.strip().lower() if isinstance(raw, str) else None
        if schema not in STEP_SCHEMAS:
            raise IastmError(f"step_schema: unknown STEP schema {self.step_schema!r}; "
                             f"allowed: {' | '.join(STEP_SCHEMAS)}")
        object.__setattr__(self, "step_schema", schema)
        _check_range("stl_tolerance_mm", self.stl_tolerance_mm, STL_TOLERANCE_RANGE_MM, "mm")
        _check_range("stl_angular_tolerance_deg", self.stl_angular_tolerance_deg,
                     ANGULAR_TOLERANCE_RANGE_DEG, "deg")


def _check_range(name: str, value: object, bounds: tuple[float, float], unit: str) -> None:
    lo, hi = bounds
    ok = (not isinstance(value, bool) and isinstance(value, int | float)
          and math.isfinite(float(value)) and lo <= float(value) <= hi)
    if not ok:
        raise IastmError(f"{name}: {value!r} out of range; allowed: {lo:g} to {hi:g} {unit}")


# --------------------------------------------------------------------------------------
# STEP


def _step_timestamp() -> str:
    """ISO 8601 UTC time for the STEP header; ``SOURCE_DATE_EPOCH`` makes it reproducible."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    seconds = int(epoch) if epoch and epoch.isdigit() else int(time.time())
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def software_versions() -> dict[str, str]:
    """Versions of the software that produced a bundle."""
    import cadquery as cq
    import ezdxf
    import OCP

    from . import __version__

    return {"iastm_tools": __version__, "cadquery": cq.__version__,
            "occt": str(getattr(OCP, "__version__", "unknown")), "ezdxf": ezdxf.__version__}


def product_name(tool: Tool) -> str:
    """The STEP PRODUCT name: ``<name> rev <revision>``."""
    return f"{tool.name} rev {tool.profile.revision}"


def write_step(tool: Tool, path: Path, *, schema: str = "ap214", force: bool = False) -> Path:
    """Write the tool's solid as a STEP file (mm) with product name and header metadata.

    ``schema`` is ``ap214`` (OCCT ``AP214IS``, FILE_SCHEMA ``AUTOMOTIVE_DESIGN``) or
    ``ap242`` (``AP242DIS``). The global OCCT schema and unit settings are restored
    afterwards, whatever happens.
    """
    from OCP.APIHeaderSection import APIHeaderSection_MakeHeader
    from OCP.IFSelect import IFSelect_RetDone
    from OCP.Interface import Interface_Static
    from OCP.StepBasic import StepBasic_Product
    from OCP.STEPControl import STEPControl_AsIs, STEPControl_Controller, STEPControl_Writer
    from OCP.TCollection import TCollection_HAsciiString

    schema = ExportOptions(formats=("step",), step_schema=schema).step_schema
    name = product_name(tool)
    versions = software_versions()
    description = (f"{tool.profile.description or tool.name}; material "
                   f"{tool.profile.material.grade} (not carried by STEP: see the drawing); "
                   "units mm")

    def _write(tmp: Path) -> None:
        STEPControl_Controller.Init_s()
        saved = {key: Interface_Static.CVal_s(key) for key in _STEP_STATICS}
        try:
            Interface_Static.SetCVal_s("write.step.schema", STEP_SCHEMAS[schema])
            Interface_Static.SetCVal_s("write.step.unit", "MM")
            # uncertainty = the shape's greatest tolerance, with p-curves: a solid whose
            # boolean intersection edges carry e.g. 0.014 mm of tolerance then re-imports
            # with the same volume (rel 3e-8 instead of 5e-6 with the default "average")
            Interface_Static.SetCVal_s("write.precision.mode", "1")
            Interface_Static.SetCVal_s("write.surfacecurve.mode", "1")
            writer = STEPControl_Writer()
            status = writer.Transfer(tool.solid.wrapped, STEPControl_AsIs)
            if status != IFSelect_RetDone:
                raise ExportError(f"{tool.name}: STEP transfer failed ({status})")
            model = writer.Model()
            for i in range(1, model.NbEntities() + 1):
                entity = model.Value(i)
                if isinstance(entity, StepBasic_Product):
                    entity.SetId(TCollection_HAsciiString(name))
                    entity.SetName(TCollection_HAsciiString(name))
                    entity.SetDescription(TCollection_HAsciiString(tool.profile.description))
            header = APIHeaderSection_MakeHeader(model)
            header.SetName(TCollection_HAsciiString(name))
            header.SetTimeStamp(TCollection_HAsciiString(_step_timestamp()))
            header.SetAuthorValue(1, TCollection_HAsciiString("iastm_tools"))
            header.SetOrganizationValue(1, TCollection_HAsciiString("iastm_tools"))
            header.SetOriginatingSystem(TCollection_HAsciiString(
                f"iastm_tools {versions['iastm_tools']} / CadQuery {versions['cadquery']} / "
                f"OCCT {versions['occt']}"))
            header.SetAuthorisation(TCollection_HAsciiString("unreleased: see drawing"))
            header.SetDescriptionValue(1, TCollection_HAsciiString(description))
            if writer.Write(str(tmp)) != IFSelect_RetDone:
                raise ExportError(f"{tool.name}: OCCT could not write the STEP file")
        finally:
            for key, value in saved.items():
                Interface_Static.SetCVal_s(key, value)

    return write_atomic(Path(path), _write, force=force)


# --------------------------------------------------------------------------------------
# meshes (STL, 3MF)


@dataclass(frozen=True, eq=False)
class TriangleMesh:
    """A welded, outward-oriented triangle mesh (mm).

    vertices: (N, 3) float; faces: (M, 3) int indices, counter-clockwise seen from outside.
    tolerance_mm / angular_tolerance_deg: what it was meshed with.
    """

    vertices: np.ndarray
    faces: np.ndarray
    tolerance_mm: float
    angular_tolerance_deg: float

    @property
    def volume_mm3(self) -> float:
        """Enclosed volume (divergence theorem, sum of signed tetrahedra), mm^3."""
        v = self.vertices[self.faces]
        return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)

    def is_closed(self) -> bool:
        """Every edge is shared by exactly two faces, traversed once each way."""
        f = self.faces.astype(np.int64)
        n = max(int(f.max()) + 1, 1) if len(f) else 1
        a = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
        b = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
        directed = a * n + b
        if len(np.unique(directed)) != len(directed):
            return False  # an edge used twice in the same direction: bad orientation
        # each directed edge needs its reverse
        return bool(np.all(np.isin(b * n + a, directed)))

    def face_normals(self) -> np.ndarray:
        v = self.vertices[self.faces]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        length = np.linalg.norm(n, axis=1, keepdims=True)
        return n / np.where(length > 0, length, 1.0)


def _weld(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices closer than :data:`WELD_TOL_MM`; drop faces that collapse."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pairs = cKDTree(points).query_pairs(WELD_TOL_MM, output_type="ndarray")
    n = len(points)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # first point of each cluster represents it; renumber to 0..k-1 in order of appearance
    uniq, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    remap = np.empty(len(uniq), dtype=np.int64)
    remap[uniq[order]] = np.arange(len(uniq))
    new_faces = remap[labels[faces]]
    ok = ((new_faces[:, 0] != new_faces[:, 1]) & (new_faces[:, 1] != new_faces[:, 2])
          & (new_faces[:, 0] != new_faces[:, 2]))
    return points[np.sort(first)], new_faces[ok]


def mesh_solid(solid: cq.Solid, tolerance_mm: float = DEFAULT_STL_TOLERANCE_MM,
               angular_tolerance_deg: float = DEFAULT_ANGULAR_TOLERANCE_DEG) -> TriangleMesh:
    """Triangulate ``solid`` with an absolute chordal ``tolerance_mm`` (mm).

    Meshes a geometry-only copy (no triangulation reused, cad_recipes.md section 3 "re-mesh
    pitfall"), so ``solid`` itself is left without a mesh.
    """
    from OCP.BRep import BRep_Tool
    from OCP.BRepBuilderAPI import BRepBuilderAPI_Copy
    from OCP.BRepMesh import BRepMesh_IncrementalMesh
    from OCP.TopAbs import TopAbs_FACE, TopAbs_REVERSED
    from OCP.TopExp import TopExp_Explorer
    from OCP.TopLoc import TopLoc_Location
    from OCP.TopoDS import TopoDS

    _check_range("stl_tolerance_mm", tolerance_mm, STL_TOLERANCE_RANGE_MM, "mm")
    _check_range("stl_angular_tolerance_deg", angular_tolerance_deg,
                 ANGULAR_TOLERANCE_RANGE_DEG, "deg")
    shape = BRepBuilderAPI_Copy(solid.wrapped, True, False).Shape()
    BRepMesh_IncrementalMesh(shape, float(tolerance_mm), False,
                             math.radians(float(angular_tolerance_deg)), True)
    pts: list[np.ndarray] = []
    tris: list[np.ndarray] = []
    offset = 0
    explorer = TopExp_Explorer(shape, TopAbs_FACE)
    while explorer.More():
        face = TopoDS.Face_s(explorer.Current())
        loc = TopLoc_Location()
        tri = BRep_Tool.Triangulation_s(face, loc)
        if tri is None:
            raise ExportError(f"a face could not be meshed at tolerance {tolerance_mm} mm")
        trsf = loc.Transformation()
        n = tri.NbNodes()
        pts.append(np.array([tri.Node(i).Transformed(trsf).Coord() for i in range(1, n + 1)]))
        k = np.array([tri.Triangle(i).Get() for i in range(1, tri.NbTriangles() + 1)],
                     dtype=np.int64) - 1 + offset
        if face.Orientation() == TopAbs_REVERSED:
            k = k[:, [0, 2, 1]]
        tris.append(k)
        offset += n
        explorer.Next()
    vertices, faces = _weld(np.concatenate(pts), np.concatenate(tris))
    return TriangleMesh(vertices, faces, float(tolerance_mm), float(angular_tolerance_deg))


def mesh_tool(tool: Tool, tolerance_mm: float = DEFAULT_STL_TOLERANCE_MM,
              angular_tolerance_deg: float = DEFAULT_ANGULAR_TOLERANCE_DEG) -> TriangleMesh:
    """Mesh the tool and check it: closed, consistently oriented, volume within 0.5 %."""
    mesh = mesh_solid(tool.solid, tolerance_mm, angular_tolerance_deg)
    if not mesh.is_closed():
        raise ExportError(f"{tool.name}: the mesh at tolerance {tolerance_mm} mm is not "
                          "watertight; try another stl_tolerance_mm")
    rel = abs(mesh.volume_mm3 / tool.volume_mm3 - 1.0)
    if rel > MESH_VOLUME_RTOL:
        raise ExportError(f"{tool.name}: mesh volume differs from the solid by {rel:.2%} "
                          f"(allowed {MESH_VOLUME_RTOL:.1%}); use a smaller stl_tolerance_mm")
    return mesh


def write_stl(mesh: TriangleMesh, path: Path, *, title: str = "iastm_tools",
              force: bool = False) -> Path:
    """Write ``mesh`` as a binary STL (mm; STL has no unit field, the header says mm)."""
    header = f"binary STL, mm: {title}".encode("ascii", "replace")[:80].ljust(80, b" ")
    dtype = np.dtype([("normal", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rec = np.zeros(len(mesh.faces), dtype=dtype)
    rec["normal"] = mesh.face_normals()
    rec["v"] = mesh.vertices[mesh.faces]

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(struct.pack("<I", len(rec)))
            fh.write(rec.tobytes())

    return write_atomic(Path(path), _write, force=force)


_3MF_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="model" '
    'ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>'
    "</Types>\n"
)
_3MF_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
    'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>'
    "</Relationships>\n"
)


def write_3mf(mesh: TriangleMesh, path: Path, *, title: str = "iastm_tools",
              force: bool = False) -> Path:
    """Write ``mesh`` as a 3MF package (core spec 2015/02, unit millimeter, one object).

    Written directly (not via CadQuery, whose writer adds a creation date and re-meshes
    with a relative tolerance): the output is byte-reproducible.
    """
    verts = "".join(f'<vertex x="{x:.6f}" y="{y:.6f}" z="{z:.6f}"/>' for x, y, z in mesh.vertices)
    tris = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in mesh.faces)
    model = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<model unit="millimeter" xml:lang="en-US" '
        'xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">'
        f'<metadata name="Title">{escape(title)}</metadata>'
        '<metadata name="Application">iastm_tools</metadata>'
        f'<resources><object id="1" type="model" name={quoteattr(title)}><mesh>'
        f"<vertices>{verts}</vertices><triangles>{tris}</triangles>"
        '</mesh></object></resources><build><item objectid="1"/></build></model>\n'
    )

    def _write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for arcname, text in (("[Content_Types].xml", _3MF_CONTENT_TYPES),
                                  ("_rels/.rels", _3MF_RELS), ("3D/3dmodel.model", model)):
                info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, text.encode("utf-8"))

    return write_atomic(Path(path), _write, force=force)


# --------------------------------------------------------------------------------------
# DXF


def dxf_bulge_points(outline: Outline) -> list[tuple[float, float, float]]:
    """The closed outline as LWPOLYLINE vertices ``(x_mm, y_mm, bulge)``.

    Each vertex is the start of one outline piece; its bulge (tan(sweep / 4), + = CCW)
    describes the piece to the next vertex: 0 for lines, exact for arcs.
    """
    return [(float(p.p0[0]), float(p.p0[1]), float(p.bulge)) for p in outline.prims]


def bulge_polygon_area_mm2(points: Iterable[tuple[float, float, float]]) -> float:
    """Signed area (mm^2, + for CCW) enclosed by a closed bulge polyline, exact.

    Chord polygon (shoelace) plus, for each arc, its circular segment
    R^2 / 2 (theta - sin theta) with theta = 4 atan(bulge), R = chord / (2 sin(theta / 2)).
    """
    pts = list(points)
    area = 0.0
    for (x0, y0, b), (x1, y1, _) in zip(pts, pts[1:] + pts[:1], strict=True):
        area += 0.5 * (x0 * y1 - x1 * y0)
        if b != 0.0:
            theta = 4.0 * math.atan(b)
            chord = math.hypot(x1 - x0, y1 - y0)
            radius = chord / (2.0 * math.sin(abs(theta) / 2.0))
            segment = 0.5 * radius * radius * (abs(theta) - math.sin(abs(theta)))
            area += math.copysign(segment, theta)
    return area


_DXF_OPTIONS_LOCK = threading.Lock()


def write_dxf(tool: Tool, path: Path, *, force: bool = False) -> Path:
    """Write the nominal blank outline as DXF R2000, mm ($INSUNITS = 4), 1:1.

    One closed LWPOLYLINE with arc bulges on layer ``CUT_OUTER``; no text or dimensions
    (cutting shops read every entity as a cut, cad_recipes.md sections 3 and 4). Kerf is
    not applied: the shop offsets the path. With ``SOURCE_DATE_EPOCH`` set the file is
    byte-reproducible: ezdxf's fixed metadata (dates 2000-01-01, constant GUIDs and writer
    marks) replace the save time and random GUIDs.
    """
    import ezdxf

    def _build_and_save(tmp: Path) -> None:
        doc = ezdxf.new("R2000", setup=False)
        doc.header["$INSUNITS"] = 4  # millimetres
        doc.header["$MEASUREMENT"] = 1  # metric
        doc.header["$LUNITS"] = 2  # decimal
        doc.layers.add(DXF_LAYER_OUTER, color=1)
        msp = doc.modelspace()
        msp.add_lwpolyline(dxf_bulge_points(tool.outline), format="xyb", close=True,
                           dxfattribs={"layer": DXF_LAYER_OUTER})
        doc.saveas(tmp)

    def _write(tmp: Path) -> None:
        if not os.environ.get("SOURCE_DATE_EPOCH"):
            _build_and_save(tmp)
            return
        # a global ezdxf option (read when the document is made and when it is saved):
        # set only around this one
        with _DXF_OPTIONS_LOCK:
            before = ezdxf.options.write_fixed_meta_data_for_testing
            ezdxf.options.write_fixed_meta_data_for_testing = True
            try:
                _build_and_save(tmp)
            finally:
                ezdxf.options.write_fixed_meta_data_for_testing = before

    return write_atomic(Path(path), _write, force=force)


# --------------------------------------------------------------------------------------
# params.json


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _clean(value: Any) -> Any:
    """Plain JSON data: tuples to lists, non-finite floats to None."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def params_data(tool: Tool, options: ExportOptions | None = None,
                files: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """Everything ``params.json`` holds, as plain data (units in the keys).

    The resolved profile, derived figures (volume, mass for the profile's grade and for
    every grade, plan area, bounds), material with density source, working contours, edge
    sections, the build report, export settings, software versions and, for each written
    file, its name, size and sha256.
    """
    from .drawing import distinct_sections
    from .materials import MATERIALS

    options = options or ExportOptions()
    mat = tool.profile.material
    bb = tool.bounding_box
    sections = [
        {"label": g.letter, "segments": list(g.segments), "style": g.section.style,
         "angle_deg": g.section.angle_deg, "apex_radius_mm": g.section.apex_radius_mm,
         "face": g.section.face or None, "bevel_width_mm": g.section.bevel_width_mm,
         "thickness_mm": g.section.thickness_mm}
        for g in distinct_sections(tool)
    ]
    data: dict[str, Any] = {
        "format": "iastm_tools machining bundle params, version 1",
        "units": {"length": "mm", "area": "mm^2", "volume": "mm^3", "mass": "g",
                  "angle": "deg", "density": "g/cm^3"},
        "name": tool.name,
        "revision": tool.profile.revision,
        "product_name": product_name(tool),
        "profile": tool.profile.to_dict(),
        "summary": tool.summary(),
        "volume_mm3": tool.volume_mm3,
        "plan_area_mm2": tool.plan_area_mm2,
        "mass_g": tool.mass_g,
        "mass_by_grade_g": {g: m.mass_g(tool.volume_mm3) for g, m in MATERIALS.items()},
        "bounding_box_mm": {"min": [bb.xmin, bb.ymin, bb.zmin], "max": [bb.xmax, bb.ymax, bb.zmax],
                            "size": list(bb.size_mm)},
        "material": {"grade": mat.grade, "description": mat.description, "spec": mat.spec,
                     "density_g_cm3": mat.density_g_cm3, "density_source": mat.source},
        "contours": [c.summary() for c in tool.contours],
        "edge_sections": sections,
        "build_report": asdict(tool.built.report),
        "manufacturing": {
            "blank_envelope_mm": [bb.size_mm[0], bb.size_mm[1], tool.profile.thickness_mm],
            "plate_stock": f"{_fmt_thickness(tool.profile.thickness_mm)} mm plate, "
                           f"{mat.spec}",
            "suggested_process_route": list(PROCESS_ROUTE),
            "note": "suggestion only (cad_recipes.md section 5); the drawing governs",
        },
        "export": {"step_schema": options.step_schema,
                   "stl_tolerance_mm": options.stl_tolerance_mm,
                   "stl_angular_tolerance_deg": options.stl_angular_tolerance_deg,
                   "dxf": "nominal outline 1:1 mm, no kerf compensation, layer " + DXF_LAYER_OUTER},
        "software": software_versions(),
        "files": {fmt: {"file": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)}
                  for fmt, p in (files or {}).items()},
    }
    return _clean(data)


def params_json(tool: Tool, options: ExportOptions | None = None,
                files: Mapping[str, Path] | None = None) -> str:
    """``params.json`` text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(params_data(tool, options, files), sort_keys=True, indent=2,
                      ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------
# the bundle


@dataclass(frozen=True)
class BundleResult:
    """A written bundle: its directory, the file of each format, and the support files
    (``README.txt``, ``SHA256SUMS``). Paths point into the final directory."""

    directory: Path
    paths: Mapping[str, Path] = field(default_factory=dict)
    support_files: tuple[Path, ...] = ()


def _readme(tool: Tool, files: Mapping[str, str], options: ExportOptions) -> str:
    p = tool.profile
    roles = {
        "step": f"3D geometry, one solid, mm, STEP {options.step_schema.upper()}. "
                "GOVERNS GEOMETRY.",
        "pdf": "drawing: dimensions, tolerances (ISO 2768-mK + explicit), material, finish, "
               "edge and passivation notes. GOVERNS TOLERANCES, FINISH AND MATERIAL.",
        "svg": "the same drawing as SVG (for viewing; the PDF is the controlled copy).",
        "dxf": "nominal blank outline for waterjet/laser, 1:1 mm, one closed polyline on "
               f"layer {DXF_LAYER_OUTER}; NO kerf compensation (apply in CAM).",
        "stl": f"binary STL mesh, mm, chordal tolerance {options.stl_tolerance_mm:g} mm: "
               "prototypes and visuals only, NOT machining data.",
        "3mf": "3MF mesh (same mesh as the STL): 3-D printed prototypes only.",
        "json": "resolved parameters, derived volume and mass, software versions, file "
                "checksums.",
    }
    lines = [
        f"{product_name(tool)}: {p.description}",
        f"Material: {p.material.spec}. Units: mm.",
        "",
        "Files:",
    ]
    for fmt, fname in files.items():
        lines.append(f"  {fname}: {roles[fmt]}")
    lines += [
        "  SHA256SUMS: checksums of every file (check with `sha256sum -c SHA256SUMS`).",
        "",
        "Precedence: the STEP file governs geometry; the drawing governs tolerances, finish,",
        "material and process notes. If they disagree, stop and ask.",
        f"Every file of this bundle is revision {p.revision}.",
        f"Generated by iastm_tools {software_versions()['iastm_tools']}.",
        "",
    ]
    return "\n".join(lines)


def export_bundle(tool: Tool, out_dir: Path, formats: Iterable[str] | str | None = None,
                  step_schema: str = "ap214", stl_tolerance_mm: float = DEFAULT_STL_TOLERANCE_MM,
                  force: bool = False, *,
                  stl_angular_tolerance_deg: float = DEFAULT_ANGULAR_TOLERANCE_DEG) -> BundleResult:
    """Write the machining bundle of ``tool`` to ``out_dir/<name>/`` (mm everywhere).

    formats: any of :data:`FORMATS` (default all). ``README.txt`` and ``SHA256SUMS`` are
    always written. The directory appears complete or not at all; an existing one raises
    :class:`~iastm_tools.errors.OutputExistsError` unless ``force``.
    """
    options = ExportOptions(formats=FORMATS if formats is None else formats,  # type: ignore[arg-type]
                            step_schema=step_schema, stl_tolerance_mm=stl_tolerance_mm,
                            stl_angular_tolerance_deg=stl_angular_tolerance_deg)
    final = Path(out_dir) / tool.name
    names = {fmt: bundle_filename(tool.name, fmt) for fmt in options.formats}
    title = f"{product_name(tool)}, mm"
    with atomic_directory(final, force=force) as tmp:
        written: dict[str, Path] = {}
        if "step" in names:
            written["step"] = write_step(tool, tmp / names["step"], schema=options.step_schema)
        if "stl" in names or "3mf" in names:
            mesh = mesh_tool(tool, options.stl_tolerance_mm, options.stl_angular_tolerance_deg)
            if "stl" in names:
                written["stl"] = write_stl(mesh, tmp / names["stl"], title=title)
            if "3mf" in names:
                written["3mf"] = write_3mf(mesh, tmp / names["3mf"], title=title)
        if "dxf" in names:
            written["dxf"] = write_dxf(tool, tmp / names["dxf"])
        if "pdf" in names or "svg" in names:
            from .drawing import write_drawing

            out = write_drawing(tool, pdf_path=tmp / names["pdf"] if "pdf" in names else None,
                                svg_path=tmp / names["svg"] if "svg" in names else None)
            written.update(out)
        if "json" in names:
            written["json"] = write_text_atomic(tmp / names["json"],
                                                params_json(tool, options, dict(written)))
        readme = write_text_atomic(tmp / "README.txt", _readme(tool, names, options))
        sums = "".join(f"{_sha256(p)}  {p.name}\n"
                       for p in sorted([*written.values(), readme], key=lambda q: q.name))
        write_text_atomic(tmp / "SHA256SUMS", sums)
    paths = MappingProxyType({fmt: final / p.name for fmt, p in written.items()})
    return BundleResult(final, paths, (final / "README.txt", final / "SHA256SUMS"))
