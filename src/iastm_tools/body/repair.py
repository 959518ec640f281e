"""Repair a scanned surface and report exactly what was changed.

Steps, in order (all in mm): drop non-finite vertices and the faces that use them; merge
duplicate vertices; drop degenerate and duplicate faces; drop surplus faces on non-manifold
edges; drop small loose pieces; make the winding consistent; fill holes whose perimeter is
at most ``max_hole_perimeter_mm``; point the normals outward. Large meshes can then be
resampled (:func:`resample_mesh`) with the deviation it introduced measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import IastmError

__all__ = [
    "DEFAULT_MAX_HOLE_PERIMETER_MM",
    "RepairReport",
    "ResampleReport",
    "boundary_loops",
    "repair_mesh",
    "resample_mesh",
]

#: Holes up to this perimeter are closed (a few missing scan triangles, ~15 mm across);
#: larger openings (e.g. the cut end of a limb scan) are real boundaries and stay open.
DEFAULT_MAX_HOLE_PERIMETER_MM = 50.0
#: More non-manifold faces than this fraction of the mesh means the scan is not a surface.
MAX_NONMANIFOLD_FRACTION = 0.01
#: Loose pieces smaller than this fraction of all faces are scan debris and are dropped.
SMALL_PIECE_FRACTION = 0.01


@dataclass
class RepairReport:
    """What :func:`repair_mesh` changed (counts; perimeters in mm)."""

    dropped_nonfinite_vertices: int = 0
    merged_vertices: int = 0
    welded_stl_corners: int = 0
    dropped_degenerate_faces: int = 0
    dropped_duplicate_faces: int = 0
    dropped_nonmanifold_faces: int = 0
    dropped_small_pieces: int = 0
    dropped_small_piece_faces: int = 0
    flipped_faces: int = 0
    inverted_all: bool = False
    filled_holes: int = 0
    filled_hole_perimeters_mm: list[float] = field(default_factory=list)
    open_boundaries_mm: list[float] = field(default_factory=list)
    resample: ResampleReport | None = None

    @property
    def changed(self) -> bool:
        """True if any repair was made."""
        d = self.as_dict()
        d.pop("open_boundaries_mm")
        d.pop("welded_stl_corners")
        return any(bool(v) for v in d.values())

    def lines(self) -> list[str]:
        """Human-readable list of the repairs made (empty if none)."""
        out = []
        if self.dropped_nonfinite_vertices:
            out.append(f"dropped {self.dropped_nonfinite_vertices} NaN/inf vertices "
                       "and the faces using them")
        if self.merged_vertices:
            out.append(f"merged {self.merged_vertices} duplicate vertices")
        if self.dropped_degenerate_faces:
            out.append(f"dropped {self.dropped_degenerate_faces} degenerate (zero-area) faces")
        if self.dropped_duplicate_faces:
            out.append(f"dropped {self.dropped_duplicate_faces} duplicate faces")
        if self.dropped_nonmanifold_faces:
            out.append(f"dropped {self.dropped_nonmanifold_faces} surplus faces on "
                       "non-manifold edges")
        if self.dropped_small_pieces:
            out.append(f"dropped {self.dropped_small_pieces} loose pieces "
                       f"({self.dropped_small_piece_faces} faces)")
        if self.flipped_faces:
            out.append(f"flipped {self.flipped_faces} faces to a consistent winding")
        if self.inverted_all:
            out.append("inverted all faces so normals point outward")
        if self.filled_holes:
            per = ", ".join(f"{p:.1f}" for p in self.filled_hole_perimeters_mm)
            out.append(f"filled {self.filled_holes} holes (perimeters {per} mm)")
        if self.resample is not None:
            out.append(self.resample.line())
        return out

    def as_dict(self) -> dict:
        """Plain-JSON form."""
        d = asdict(self)
        d["resample"] = None if self.resample is None else asdict(self.resample)
        return d


@dataclass(frozen=True)
class ResampleReport:
    """Resampling of a very large scan: face counts and deviation from the original (mm)."""

    faces_before: int
    faces_after: int
    max_deviation_mm: float
    mean_deviation_mm: float

    def line(self) -> str:
        """One line for reports."""
        return (f"resampled {self.faces_before} -> {self.faces_after} faces; deviation from "
                f"the original surface mean {self.mean_deviation_mm:.3f} mm, "
                f"max {self.max_deviation_mm:.3f} mm")


def _edges(faces: np.ndarray) -> np.ndarray:
    """Directed edges (3M, 2) in face order: (v0,v1), (v1,v2), (v2,v0) of each face."""
    return faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)


def _unique_values(x: np.ndarray) -> np.ndarray:
    """Sorted unique values of a 1-D array (sort based; numpy's hash path is slow here)."""
    x = np.sort(np.asarray(x).ravel())
    return x[np.concatenate([[True], x[1:] != x[:-1]])] if len(x) else x


def _edge_codes(edges: np.ndarray) -> np.ndarray:
    """One int64 per undirected edge (fast 1-D unique instead of row-wise unique)."""
    key = np.sort(edges, axis=1)
    return key[:, 0] * np.int64(key.max() + 1) + key[:, 1]


def boundary_loops(vertices: np.ndarray, faces: np.ndarray) -> list[np.ndarray]:
    """Closed boundary loops as arrays of vertex indices, each in its boundary-edge order."""
    directed = _edges(faces)
    _, inverse, counts = np.unique(_edge_codes(directed), return_inverse=True,
                                   return_counts=True)
    boundary = directed[counts[inverse.ravel()] == 1]
    nxt: dict[int, int] = {}
    for a, b in boundary:
        nxt[int(a)] = int(b)
    loops = []
    seen: set[int] = set()
    for start in list(nxt):
        if start in seen:
            continue
        loop = [start]
        seen.add(start)
        cur = nxt[start]
        ok = True
        while cur != start:
            if cur in seen or cur not in nxt:
                ok = False
                break
            loop.append(cur)
            seen.add(cur)
            cur = nxt[cur]
        if ok and len(loop) >= 3:
            loops.append(np.asarray(loop, dtype=np.int64))
    return loops


def _loop_perimeter(vertices: np.ndarray, loop: np.ndarray) -> float:
    p = vertices[loop]
    return float(np.linalg.norm(np.roll(p, -1, axis=0) - p, axis=1).sum())


def repair_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    source: str,
    max_hole_perimeter_mm: float = DEFAULT_MAX_HOLE_PERIMETER_MM,
):
    """Repair a triangle surface given in mm; return ``(trimesh.Trimesh, RepairReport)``.

    Raises IastmError (naming ``source``) when nothing usable is left: all vertices
    non-finite, zero total area, or more than 1% of the faces on non-manifold edges.
    """
    import trimesh

    report = RepairReport()
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)

    finite = np.isfinite(v).all(axis=1)
    if not finite.any():
        raise IastmError(f"{source}: every vertex is NaN or infinite; nothing to repair")
    if not finite.all():
        report.dropped_nonfinite_vertices = int((~finite).sum())
        f = f[finite[f].all(axis=1)]
        if len(f) == 0:
            raise IastmError(f"{source}: every face uses a NaN/inf vertex; nothing usable left")

    # merge duplicates (tolerance 1e-6 of the size, at least 1e-5 mm)
    used = _unique_values(f)
    extent = float(np.ptp(v[used], axis=0).max())
    tol = max(extent * 1e-6, 1e-5)
    keys = np.ascontiguousarray(np.round(v[used] / tol).astype(np.int64))
    _, first, inv = np.unique(keys.view(np.dtype((np.void, 24))).ravel(), return_index=True,
                              return_inverse=True)
    report.merged_vertices = int(len(used) - len(first))
    remap = np.full(len(v), -1, dtype=np.int64)
    remap[used] = inv.ravel()
    v = v[used[first]]
    f = remap[f]

    # degenerate faces: repeated index or (near-)zero area
    tri = v[f]
    area2 = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    degenerate = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
    degenerate |= area2 <= (tol * tol)
    report.dropped_degenerate_faces = int(degenerate.sum())
    f = f[~degenerate]
    if len(f) == 0 or float(area2[~degenerate].sum()) <= 0.0:
        raise IastmError(
            f"{source}: the mesh has zero surface area (all faces degenerate); "
            "a body scan must be a surface with non-zero area"
        )
    sf = np.ascontiguousarray(np.sort(f, axis=1))
    _, keep = np.unique(sf.view(np.dtype((np.void, sf.dtype.itemsize * 3))).ravel(),
                        return_index=True)
    report.dropped_duplicate_faces = int(len(f) - len(keep))
    f = f[np.sort(keep)]

    # non-manifold edges: keep the two largest faces on each
    _, inverse, counts = np.unique(_edge_codes(_edges(f)), return_inverse=True,
                                   return_counts=True)
    inverse = inverse.ravel()
    face_of = np.repeat(np.arange(len(f)), 3)
    bad_edges = np.flatnonzero(counts > 2)
    if len(bad_edges):
        tri = v[f]
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        on_bad = np.flatnonzero(np.isin(inverse, bad_edges))
        e_of, f_of = inverse[on_bad], face_of[on_bad]
        order = np.lexsort((-area[f_of], e_of))  # by edge, largest face first
        e_of, f_of = e_of[order], f_of[order]
        starts = np.flatnonzero(np.concatenate([[True], e_of[1:] != e_of[:-1]]))
        rank = np.arange(len(e_of)) - np.repeat(starts, np.diff(np.append(starts, len(e_of))))
        drop = set(f_of[rank >= 2].tolist())
        if len(drop) > MAX_NONMANIFOLD_FRACTION * len(f):
            raise IastmError(
                f"{source}: non-manifold scan: {len(bad_edges)} edges are shared by more than two "
                f"faces ({len(drop)} surplus faces, more than {MAX_NONMANIFOLD_FRACTION:.0%} of "
                "the mesh); allowed: a manifold surface (repair it in e.g. MeshLab first)"
            )
        report.dropped_nonmanifold_faces = len(drop)
        f = np.delete(f, sorted(drop), axis=0)

    mesh = trimesh.Trimesh(v, f, process=False)
    # loose pieces
    pieces = trimesh.graph.connected_components(mesh.face_adjacency, nodes=np.arange(len(f)))
    if len(pieces) > 1:
        sizes = np.array([len(p) for p in pieces])
        small = sizes < SMALL_PIECE_FRACTION * len(f)
        if small.any() and not small.all():
            keep_faces = np.concatenate([p for p, s in zip(pieces, small, strict=True) if not s])
            report.dropped_small_pieces = int(small.sum())
            report.dropped_small_piece_faces = int(sizes[small].sum())
            mesh = trimesh.Trimesh(v, f[np.sort(keep_faces)], process=False)
    mesh.remove_unreferenced_vertices()

    directed = _edges(np.asarray(mesh.faces))
    codes = directed[:, 0] * np.int64(len(mesh.vertices)) + directed[:, 1]
    if len(_unique_values(codes)) != len(codes):  # some directed edge used twice: fix winding
        before = mesh.faces.copy()
        trimesh.repair.fix_winding(mesh)
        report.flipped_faces = int((mesh.faces != before).any(axis=1).sum())

    # fill small holes with a fan around the loop centroid
    loops = boundary_loops(mesh.vertices, mesh.faces)
    new_v = [mesh.vertices]
    new_f = [mesh.faces]
    n = len(mesh.vertices)
    for loop in loops:
        per = _loop_perimeter(mesh.vertices, loop)
        if per <= max_hole_perimeter_mm:
            c = mesh.vertices[loop].mean(axis=0)
            new_v.append(c[None, :])
            nxt = np.roll(loop, -1)
            new_f.append(np.column_stack([nxt, loop, np.full(len(loop), n)]))
            n += 1
            report.filled_holes += 1
            report.filled_hole_perimeters_mm.append(round(per, 2))
        else:
            report.open_boundaries_mm.append(round(per, 1))
    if report.filled_holes:
        mesh = trimesh.Trimesh(np.vstack(new_v), np.vstack(new_f), process=False)

    # outward normals: signed volume about the centroid (exact for closed surfaces)
    tri = mesh.triangles
    c = mesh.vertices.mean(axis=0)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    signed = float(np.einsum("ij,ij->i", tri.mean(axis=1) - c, cross).sum())
    if signed < 0:
        mesh = trimesh.Trimesh(mesh.vertices, mesh.faces[:, ::-1], process=False)
        report.inverted_all = True
    return mesh, report


def resample_mesh(mesh, *, target_faces: int, source: str):
    """Decimate ``mesh`` (quadric error, fast-simplification) to about ``target_faces``.

    Returns ``(new_mesh, ResampleReport)``; the deviation is the distance (mm) from up to
    50,000 of the original vertices (seeded random sample) to the new surface.
    """
    import trimesh

    from .queries import SurfaceQuery

    try:
        import fast_simplification
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise IastmError(
            f"{source}: {len(mesh.faces)} faces needs resampling but fast-simplification is "
            "not installed (pip install fast-simplification)"
        ) from exc
    reduction = 1.0 - target_faces / len(mesh.faces)
    pts, tris = fast_simplification.simplify(
        np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64),
        target_reduction=float(reduction),
    )
    new = trimesh.Trimesh(pts, tris, process=False)
    rng = np.random.default_rng(0)
    sample = mesh.vertices
    if len(sample) > 50_000:
        sample = sample[rng.choice(len(sample), 50_000, replace=False)]
    dist = SurfaceQuery(new.vertices, new.faces).closest(sample, exact=True).distance
    return new, ResampleReport(
        faces_before=len(mesh.faces), faces_after=len(new.faces),
        max_deviation_mm=float(dist.max()), mean_deviation_mm=float(dist.mean()),
    )
