"""Scan loading: formats, units, repair, resampling and bad input (iastm_tools.body)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import trimesh

from iastm_tools.body import Body, BodyRepairWarning, BodyUnitsWarning, MeshFileError
from iastm_tools.body.mesh_io import WRITE_FORMATS, write_mesh
from iastm_tools.errors import IastmError


def _sphere(radius: float = 50.0, subdivisions: int = 4) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=subdivisions)
    return trimesh.Trimesh(m.vertices * radius, m.faces, process=False)


def _write_raw(path: Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write an OBJ by hand (keeps NaN, duplicates and broken winding exactly)."""
    lines = [f"v {x:.17g} {y:.17g} {z:.17g}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


def _load(path: Path, **kw) -> Body:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BodyRepairWarning)
        return Body.load(path, **kw)


@pytest.mark.parametrize("suffix", sorted(WRITE_FORMATS))
def test_every_format_round_trips(tmp_path: Path, suffix: str) -> None:
    """Write + load keeps the surface: area and volume within 1e-6 relative, watertight."""
    m = _sphere()
    path = write_mesh(tmp_path / f"s{suffix}", m.vertices, m.faces)
    body = _load(path, units="mm")
    assert body.mesh.is_watertight
    assert len(body.mesh.faces) == len(m.faces)
    assert body.mesh.area == pytest.approx(m.area, rel=1e-6)
    assert body.mesh.volume == pytest.approx(m.volume, rel=1e-6)
    assert not body.repairs.changed


def test_write_refuses_overwrite_and_unknown_format(tmp_path: Path) -> None:
    """Outputs are never overwritten without force; unknown formats name the allowed ones."""
    m = _sphere()
    path = write_mesh(tmp_path / "a.ply", m.vertices, m.faces)
    with pytest.raises(IastmError, match="exists"):
        write_mesh(path, m.vertices, m.faces)
    with pytest.raises(MeshFileError, match="allowed"):
        write_mesh(tmp_path / "a.xyz", m.vertices, m.faces)


@pytest.mark.parametrize(
    ("scale", "expected"), [(1.0, "mm"), (0.1, "cm"), (0.001, "m")]
)
def test_units_detected_with_warning(tmp_path: Path, scale: float, expected: str) -> None:
    """A 100 mm sphere written in mm, cm or m is detected, warned about and scaled to mm."""
    m = _sphere()
    path = write_mesh(tmp_path / "s.ply", m.vertices * scale, m.faces)
    with pytest.warns(BodyUnitsWarning, match=f"taken as {expected}"):
        body = Body.load(path)
    assert body.units == expected
    assert np.ptp(body.mesh.vertices, axis=0).max() == pytest.approx(100.0, rel=1e-3)


def test_inches_given_explicitly(tmp_path: Path) -> None:
    """--units in multiplies by 25.4 exactly."""
    m = _sphere()
    path = write_mesh(tmp_path / "s.off", m.vertices / 25.4, m.faces)
    body = Body.load(path, units="in")
    assert np.ptp(body.mesh.vertices, axis=0).max() == pytest.approx(100.0, rel=1e-6)


@pytest.mark.parametrize(("scale", "units"), [(50.0, None), (1e-4, None), (0.1, "mm"),
                                              (40.0, "m")])
def test_absurd_size_is_refused(tmp_path: Path, scale: float, units: str | None) -> None:
    """Sizes below 20 mm or above 3 m (as detected or as given) are errors, never rescaled."""
    m = _sphere()
    path = write_mesh(tmp_path / "s.stl", m.vertices * scale, m.faces)
    with pytest.raises(IastmError, match="absurd"):
        Body.load(path, units=units)


def test_unknown_units_refused(tmp_path: Path) -> None:
    m = _sphere()
    path = write_mesh(tmp_path / "s.stl", m.vertices, m.faces)
    with pytest.raises(IastmError, match="allowed: mm, cm, m, in"):
        Body.load(path, units="furlong")


def test_bad_files(tmp_path: Path) -> None:
    """Empty file, unknown format, unreadable content, missing file, no triangles."""
    empty = tmp_path / "e.stl"
    empty.write_bytes(b"")
    with pytest.raises(MeshFileError, match="empty"):
        Body.load(empty)
    unknown = tmp_path / "x.xyz"
    unknown.write_text("1 2 3\n")
    with pytest.raises(MeshFileError, match="unknown mesh format"):
        Body.load(unknown)
    garbage = tmp_path / "g.ply"
    garbage.write_bytes(b"\x00\x01garbage" * 20)
    with pytest.raises(MeshFileError, match=r"g\.ply"):
        Body.load(garbage)
    with pytest.raises(IastmError, match="not a built-in body"):
        Body.load(tmp_path / "missing.stl")
    points = tmp_path / "p.obj"
    points.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(MeshFileError, match="no triangles"):
        Body.load(points)


def test_all_nan_and_zero_area(tmp_path: Path) -> None:
    """All-NaN vertices and a zero-area (collinear) mesh are errors naming the file."""
    nan = _write_raw(tmp_path / "n.obj", np.full((3, 3), np.nan), np.array([[0, 1, 2]]))
    with pytest.raises(IastmError, match=r"n\.obj"):
        Body.load(nan, units="mm")
    v = np.column_stack([np.linspace(0, 100, 10), np.zeros(10), np.zeros(10)])
    f = np.array([[i, i + 1, i + 2] for i in range(8)])
    flat = _write_raw(tmp_path / "z.obj", v, f)
    with pytest.raises(IastmError, match="zero surface area"):
        Body.load(flat, units="mm")


def test_repair_nan_hole_flipped_duplicates(tmp_path: Path) -> None:
    """A sphere with one NaN vertex, 10 flipped faces, unwelded corners and a degenerate face
    comes back watertight, consistently wound and outward, with each repair reported."""
    m = _sphere()
    v = m.vertices.copy()
    f = m.faces.copy()
    f[:10] = f[:10, ::-1]  # flipped
    v[5] = np.nan  # NaN vertex: its faces go, the hole is filled
    # duplicate the vertices of 50 faces (unwelded copies)
    extra = v[f[100:150]].reshape(-1, 3)
    f[100:150] = len(v) + np.arange(150).reshape(50, 3)
    v = np.vstack([v, extra])
    f = np.vstack([f, [[0, 0, 1]]])  # degenerate
    path = _write_raw(tmp_path / "broken.obj", v, f)
    with pytest.warns(BodyRepairWarning, match="repaired"):
        body = Body.load(path, units="mm")
    r = body.repairs
    assert r.dropped_nonfinite_vertices == 1
    assert r.merged_vertices >= 140  # 150 copies, minus those of faces using the NaN vertex
    assert r.dropped_degenerate_faces == 1
    assert r.flipped_faces >= 10 - 1
    assert r.filled_holes == 1
    assert body.mesh.is_watertight and body.mesh.is_winding_consistent
    assert body.mesh.volume > 0
    assert body.mesh.volume == pytest.approx(m.volume, rel=0.01)
    assert any("filled 1 holes" in line for line in r.lines())


def test_large_holes_stay_open_and_inverted_mesh_fixed(tmp_path: Path) -> None:
    """A cut larger than the hole limit stays an open boundary; an inside-out mesh is
    inverted so normals point outward."""
    m = _sphere()
    keep = m.triangles_center[:, 2] < 40.0  # cap of ~60 mm radius removed
    path = _write_raw(tmp_path / "cut.obj", m.vertices, m.faces[keep][:, ::-1])
    body = _load(path, units="mm")
    assert body.repairs.inverted_all
    assert body.repairs.filled_holes == 0
    assert len(body.repairs.open_boundaries_mm) == 1
    assert body.repairs.open_boundaries_mm[0] > 100
    assert not body.mesh.is_watertight
    # outward: a point beyond the equator is outside (+)
    assert body.signed_distance(np.array([[80.0, 0, 0]]))[0] == pytest.approx(30.0, abs=0.5)


def test_non_manifold(tmp_path: Path) -> None:
    """A few extra faces on shared edges are dropped; a scan that is mostly non-manifold
    is refused."""
    m = _sphere()
    apex = len(m.vertices)
    v = np.vstack([m.vertices, [[0.0, 0.0, 120.0]]])
    e = m.edges_unique[:3]
    f = np.vstack([m.faces, np.column_stack([e, np.full(3, apex)])])
    body = _load(_write_raw(tmp_path / "nm.obj", v, f), units="mm")
    assert body.repairs.dropped_nonmanifold_faces == 3
    e = m.edges_unique[:200]
    f = np.vstack([m.faces, np.column_stack([e, np.full(200, apex)])])
    with pytest.raises(IastmError, match="non-manifold"):
        Body.load(_write_raw(tmp_path / "nm2.obj", v, f), units="mm")


def test_resample_reports_deviation(tmp_path: Path) -> None:
    """Scans at or above the face limit are decimated; the deviation from the original is
    measured (< 0.5 mm for a 50 mm sphere going from 20480 to ~5000 faces)."""
    m = _sphere(50.0, 5)
    path = write_mesh(tmp_path / "big.ply", m.vertices, m.faces)
    body = _load(path, units="mm", resample_above_faces=10_000, target_faces=5_000)
    rs = body.repairs.resample
    assert rs is not None and rs.faces_before == len(m.faces)
    assert 4_000 <= rs.faces_after <= 6_000
    assert 0 < rs.max_deviation_mm < 0.5
    assert "resampled" in " ".join(body.repairs.lines())


def test_user_sites(tmp_path: Path) -> None:
    """User sites snap to the surface; a point more than 10 mm off is an error; the sidecar
    <scan>.sites.json is read automatically."""
    m = _sphere()
    path = write_mesh(tmp_path / "s.ply", m.vertices, m.faces)
    body = Body.load(path, units="mm", sites={"calf": {"point_mm": [0, 0, 55.0],
                                                       "limb_axis": [1, 0, 0]}})
    s = body.site("calf")
    assert s.point_mm[2] == pytest.approx(50.0, abs=0.1)
    assert s.normal[2] == pytest.approx(1.0, abs=1e-3)
    assert len(s.region_face_ids) > 0
    with pytest.raises(IastmError, match="available: calf"):
        body.site("achilles")
    with pytest.raises(IastmError, match="from the surface"):
        Body.load(path, units="mm", sites={"calf": {"point_mm": [0, 0, 65.0],
                                                    "limb_axis": [1, 0, 0]}})
    Path(f"{path}.sites.json").write_text(json.dumps(
        {"units": "mm", "sites": {"achilles": {"point_mm": [50, 0, 0], "limb_axis": [0, 0, 1]}}}))
    assert list(Body.load(path).sites) == ["achilles"]
