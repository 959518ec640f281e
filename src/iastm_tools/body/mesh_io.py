"""Read and write surface meshes (STL, OBJ, PLY, OFF, GLB/GLTF) as plain arrays.

Reading returns the raw vertex and face arrays in *file units*; units and repair are
separate steps (:mod:`.units`, :mod:`.repair`). Every failure is an :class:`IastmError`
that names the file, what is wrong and what is allowed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import IastmError
from ..fileio import write_atomic

__all__ = ["READ_FORMATS", "WRITE_FORMATS", "MeshFileError", "read_mesh_arrays", "write_mesh"]

#: Suffix -> trimesh file type, for reading.
READ_FORMATS: dict[str, str] = {
    ".stl": "stl", ".obj": "obj", ".ply": "ply", ".off": "off", ".glb": "glb", ".gltf": "gltf",
}
#: Suffix -> trimesh file type, for writing.
WRITE_FORMATS: dict[str, str] = {
    ".stl": "stl", ".obj": "obj", ".ply": "ply", ".off": "off", ".glb": "glb",
}


class MeshFileError(IastmError):
    """A mesh file cannot be read or is not a usable surface."""


def _allowed(formats: dict[str, str]) -> str:
    return ", ".join(sorted(formats))


def read_mesh_arrays(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle surface; return ``(vertices (N,3) float64, faces (M,3) int64)``.

    Units are whatever the file uses (no scaling). Polygons are triangulated; a GLB/GLTF
    scene is flattened with its transforms applied. Raises MeshFileError for a missing or
    empty file, an unknown suffix, a file the reader rejects, or a file without triangles.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise MeshFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in READ_FORMATS:
        raise MeshFileError(
            f"{path}: unknown mesh format {suffix or '(no suffix)'!r}; "
            f"allowed: {_allowed(READ_FORMATS)}"
        )
    if path.stat().st_size == 0:
        raise MeshFileError(f"{path}: file is empty; expected a {suffix[1:].upper()} surface mesh")
    try:
        with np.errstate(all="ignore"):
            loaded = trimesh.load(
                str(path), file_type=READ_FORMATS[suffix], process=False, force="mesh"
            )
    except Exception as exc:  # the readers raise many unrelated types
        raise MeshFileError(
            f"{path}: cannot be read as {suffix[1:].upper()} ({type(exc).__name__}: {exc}); "
            f"allowed: valid {_allowed(READ_FORMATS)} files with triangle or polygon faces"
        ) from exc
    vertices = np.asarray(getattr(loaded, "vertices", np.empty((0, 3))), dtype=np.float64)
    faces = np.asarray(getattr(loaded, "faces", np.empty((0, 3))), dtype=np.int64)
    if faces.ndim != 2 or len(faces) == 0 or vertices.ndim != 2 or len(vertices) < 3:
        raise MeshFileError(
            f"{path}: contains no triangles ({len(vertices)} vertices, {len(faces)} faces); "
            "a body scan must be a triangle surface (point clouds and line sets are not allowed)"
        )
    if faces.shape[1] != 3:
        raise MeshFileError(f"{path}: faces have {faces.shape[1]} corners; expected triangles")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshFileError(
            f"{path}: face indices out of range 0..{len(vertices) - 1} "
            f"(found {faces.min()}..{faces.max()})"
        )
    return vertices, faces


def write_mesh(
    path: Path | str, vertices: np.ndarray, faces: np.ndarray, *, force: bool = False
) -> Path:
    """Write a triangle mesh atomically; the format follows the suffix (mm, no unit tag).

    Raises MeshFileError for an unknown suffix and OutputExistsError when ``path`` exists and
    ``force`` is False.
    """
    import trimesh

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise MeshFileError(
            f"{path}: cannot write format {suffix or '(no suffix)'!r}; "
            f"allowed: {_allowed(WRITE_FORMATS)}"
        )
    mesh = trimesh.Trimesh(np.asarray(vertices), np.asarray(faces), process=False)

    def _write(tmp: Path) -> None:
        data = mesh.export(file_type=WRITE_FORMATS[suffix])
        if isinstance(data, str):
            data = data.encode("utf-8")
        tmp.write_bytes(data)

    return write_atomic(path, _write, force=force)
