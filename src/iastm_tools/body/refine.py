"""Mesh refinement that keeps a closed surface closed.

- :func:`loop_subdivide`: Loop subdivision of the whole mesh (Loop, MSc thesis, Univ. of
  Utah, 1987) via trimesh; smooths and quarters every triangle.
- :func:`refine_region`: local red-green refinement: triangles of a region with an edge
  longer than ``max_edge_mm`` are split in four, neighbours that would get a hanging vertex
  are split in two (or four), so the mesh stays conforming and watertight. New edge
  vertices use Loop's edge mask (3/8, 3/8, 1/8, 1/8) so they follow the smooth surface;
  existing vertices do not move.
"""

from __future__ import annotations

import numpy as np

__all__ = ["loop_subdivide", "refine_region"]


def loop_subdivide(
    vertices: np.ndarray, faces: np.ndarray, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """Loop-subdivide ``iterations`` times; returns ``(vertices, faces)``."""
    import trimesh

    if iterations <= 0:
        return np.asarray(vertices, float), np.asarray(faces, np.int64)
    v, f = trimesh.remesh.subdivide_loop(vertices, faces, iterations=iterations)
    return np.asarray(v, float), np.asarray(f, np.int64)


def _refine_once(
    v: np.ndarray, f: np.ndarray, region: np.ndarray, max_edge: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    slots = f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 3, 2)  # slot s: edge (f[s], f[s+1])
    key = np.sort(slots.reshape(-1, 2), axis=1)
    code = key[:, 0] * np.int64(len(v)) + key[:, 1]
    ucode, inverse = np.unique(code, return_inverse=True)
    uniq = np.column_stack([ucode // len(v), ucode % len(v)])
    fe = inverse.ravel().reshape(-1, 3)
    length = np.linalg.norm(v[uniq[:, 0]] - v[uniq[:, 1]], axis=1)
    mark = np.zeros(len(uniq), dtype=bool)
    mark[fe[region][length[fe[region]] > max_edge]] = True
    if not mark.any():
        return v, f, region, 0
    while True:  # closure: a face with two split edges is split in four
        count = mark[fe].sum(axis=1)
        promote = count == 2
        if not promote.any():
            break
        mark[fe[promote].ravel()] = True
    # Loop edge mask: opposite vertex of slot s is f[(s + 2) % 3]
    opp = f[:, [2, 0, 1]]
    opp_sum = np.zeros((len(uniq), 3))
    opp_n = np.zeros(len(uniq))
    np.add.at(opp_sum, fe.ravel(), v[opp.ravel()])
    np.add.at(opp_n, fe.ravel(), 1.0)
    ids = np.flatnonzero(mark)
    a, b = v[uniq[ids, 0]], v[uniq[ids, 1]]
    interior = (opp_n[ids] == 2)[:, None]
    pos = np.where(interior, 0.375 * (a + b) + 0.125 * opp_sum[ids], 0.5 * (a + b))
    new_index = np.full(len(uniq), -1, dtype=np.int64)
    new_index[ids] = len(v) + np.arange(len(ids))
    v2 = np.vstack([v, pos])

    count = mark[fe].sum(axis=1)
    out_f = [f[count == 0]]
    out_r = [region[count == 0]]
    red = count == 3
    if red.any():
        r = f[red]
        m = new_index[fe[red]]  # m0 on (v0,v1), m1 on (v1,v2), m2 on (v2,v0)
        out_f.append(np.vstack([
            np.column_stack([r[:, 0], m[:, 0], m[:, 2]]),
            np.column_stack([r[:, 1], m[:, 1], m[:, 0]]),
            np.column_stack([r[:, 2], m[:, 2], m[:, 1]]),
            m,
        ]))
        out_r.append(np.tile(region[red], 4))
    green = count == 1
    if green.any():
        g = f[green]
        slot = mark[fe[green]].argmax(axis=1)
        rows = np.arange(len(g))
        p0 = g[rows, slot]
        p1 = g[rows, (slot + 1) % 3]
        p2 = g[rows, (slot + 2) % 3]
        mm = new_index[fe[green][rows, slot]]
        out_f.append(np.vstack([np.column_stack([p0, mm, p2]), np.column_stack([mm, p1, p2])]))
        out_r.append(np.tile(region[green], 2))
    return v2, np.vstack(out_f), np.concatenate(out_r), len(ids)


def refine_region(
    vertices: np.ndarray,
    faces: np.ndarray,
    region: np.ndarray,
    *,
    max_edge_mm: float,
    max_passes: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split region triangles until their edges are <= ``max_edge_mm`` (or passes run out).

    region: boolean mask over faces. Returns ``(vertices, faces, region_mask)``; the mask
    follows the child faces. Faces outside the region are split only where needed to stay
    conforming.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    r = np.asarray(region, dtype=bool)
    for _ in range(max_passes):
        v, f, r, n = _refine_once(v, f, r, max_edge_mm)
        if n == 0:
            break
    return v, f, r
