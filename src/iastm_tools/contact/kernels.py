"""Non-periodic influence kernels (surface displacement per pixel pressure) and their spectra.

All kernels map a pressure that is uniform over one rectangular pixel (``dx`` by ``dy``,
mm) to the normal surface displacement (mm) at pixel centres, per kPa.  Convolution is
linear (not circular): the kernel is laid out on a zero-padded grid of at least
``2N - 1`` points per axis (Hockney / DC-FFT, Liu, Wang & Liu, Wear 243 (2000)), so a
solve has no periodic images.

* half-space: Love's exact integral of a uniform pressure over a rectangle (Johnson,
  Contact Mechanics, 1985, eq. 3.25; Love, Phil Trans A 228 (1929)).
* layered: half-space pixel kernel of the top layer (exact, it carries the 1/r
  singularity) plus the remainder ``G_r`` whose spectrum is
  ``(2 / (E1* q)) (phi(q) - 1)``, with phi the layered compliance ratio of :mod:`.layered`.
  ``G_r`` is finite at r = 0 and smooth on the scale of the thinnest layer, but has a
  long-range ``-(1 - phi(0)) / (pi E1* r)`` tail.  We subtract
  ``e^{-q c} (A + b1 q + b2 q^2)`` (c = depth to the base; A, b1, b2 from the Taylor
  expansion of phi at q = 0) whose real-space transform is closed-form and added back
  analytically; the rest is O(q^2) (smooth) at q = 0, decays like 1/r^5 and is computed by
  one inverse FFT on a box of 2-4x the padded grid (>= padded + 8c), with the exact
  pixel average (sinc
  factors) applied in q.  Errors: aliasing ~exp(-2 pi h_min / dx) (5e-6 at
  dx = h_min / 2), periodic images ~(c / (4 N dx))^5, phi spline (3000 log-spaced points)
  ~1e-9.  Checked against the axisymmetric Fredholm (Hayes-method) solutions in the tests.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numba
import numpy as np
from scipy import fft as sfft
from scipy.interpolate import CubicSpline

from .fft_backend import PaddedConvolution, PeriodicFilter, dct1, rfft2
from .layered import compliance_ratio, effective_depth_mm
from .tissue_stack import TissueStack

#: Threads per FFT: 1 unless ``IASTM_FFT_WORKERS`` says otherwise. On the 2-core target
#: machine two pocketfft threads made the solver's transforms slower on nearly every grid
#: of a fit (measured per call: the preconditioner 1.8-4x slower at 96 x 160 - 640 x 384,
#: the padded convolution 2x slower up to 192 x 192 and at most 18 % faster at 480 x 480),
#: and the whole layered library on the calf on one contour thread took 41.0 s with 2
#: against 32.2 s with 1. The cores are used by the contour threads of a fit and by the
#: sweep and survey worker processes instead.
FFT_WORKERS = max(1, int(os.environ.get("IASTM_FFT_WORKERS", "1") or 1))
_SHARING = 0  # threads inside fft_share()
_SHARING_LOCK = threading.Lock()
_LOCAL = threading.local()


def fft_workers() -> int:
    """Threads per FFT for the calling thread: ``FFT_WORKERS``, split between the threads
    that are inside :func:`fft_share` when the caller is one of them (with
    ``IASTM_FFT_WORKERS`` > 1: the contours of one fit run in parallel threads, and
    several FFT threads each would oversubscribe the cores, measured 10-25 % slower on 2,
    while the last contour left running gets them all)."""
    if getattr(_LOCAL, "sharing", False):
        return max(1, FFT_WORKERS // max(_SHARING, 1))
    return FFT_WORKERS


@contextmanager
def fft_share() -> Iterator[None]:
    """Share the ``FFT_WORKERS`` FFT threads with the other threads inside this block."""
    global _SHARING
    with _SHARING_LOCK:
        _SHARING += 1
    before = getattr(_LOCAL, "sharing", False)
    _LOCAL.sharing = True
    try:
        yield
    finally:
        _LOCAL.sharing = before
        with _SHARING_LOCK:
            _SHARING -= 1
# a stack deeper than this many grid extents is treated as a half-space: the layered
# remainder is then ~uniform over the grid and below 1e-3 of the half-space response
EFFECTIVELY_INFINITE = 1000.0


def _corner(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x asinh(y/|x|) + y asinh(x/|y|), with the 0 limits on the axes."""
    ax = np.abs(x)
    ay = np.abs(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(ax > 0, x * np.arcsinh(y / np.where(ax > 0, ax, 1.0)), 0.0)
        t2 = np.where(ay > 0, y * np.arcsinh(x / np.where(ay > 0, ay, 1.0)), 0.0)
    return t1 + t2


def love_pixel(x: np.ndarray, y: np.ndarray, dx: float, dy: float, e_star_kpa: float) -> np.ndarray:
    """Displacement (mm) at (x, y) (mm) from 1 kPa on the pixel [-dx/2, dx/2] x [-dy/2, dy/2].

    Johnson (1985) eq. 3.25 written with asinh so that it is stable on the pixel axes.
    """
    a, b = 0.5 * dx, 0.5 * dy
    s = (
        _corner(x + a, y + b)
        - _corner(x + a, y - b)
        - _corner(x - a, y + b)
        + _corner(x - a, y - b)
    )
    return s / (math.pi * e_star_kpa)


@functools.lru_cache(maxsize=8)
def _love_quadrant(bnx: int, bny: int, dx: float, dy: float, e_star_kpa: float) -> np.ndarray:
    """:func:`love_pixel` at the offsets 0..bn-1 of a bnx x bny grid (it is even in x and
    in y), each pixel corner evaluated once: corners sit at (m + 1/2) d, m = -1 .. bn-1,
    and the pixel at offset k uses corners k and k - 1, so the four-corner sum is a 2-D
    first difference of the corner table.  Cached, so every window of a grid (and the grid
    itself) is a look-up in one table (:func:`_layout`).
    """
    u = (np.arange(-1, bnx) + 0.5) * dx
    v = (np.arange(-1, bny) + 0.5) * dy
    F = _corner(u[:, None], v[None, :])
    d = F[1:, 1:] - F[1:, :-1] - F[:-1, 1:] + F[:-1, :-1]
    d /= math.pi * e_star_kpa
    d.setflags(write=False)
    return d


def line_pixel(x: np.ndarray, dx: float, e_star_kpa: float) -> np.ndarray:
    """Plane-strain surface displacement (mm) at x from 1 kPa on the strip [-dx/2, dx/2].

    From the line-load solution u = -(2/(pi E*)) ln|x| + const (Johnson 1985, eq. 2.25b)
    integrated over the strip; defined up to the usual additive constant of plane strain.
    """

    def f(s: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(s != 0, s * np.log(np.abs(s)) - s, 0.0)

    a = 0.5 * dx
    return -(2.0 / (math.pi * e_star_kpa)) * (f(x + a) - f(x - a))


@dataclass(frozen=True)
class _PhiModel:
    """phi(q) spline in log q plus the small-q subtraction of the layered remainder."""

    spline: CubicSpline
    q_lo: float
    q_hi: float
    c: float  # depth scale of the subtraction (mm)
    coef: tuple[float, float, float]  # A, b1, b2 of e^{-qc} (A + b1 q + b2 q^2)


@functools.lru_cache(maxsize=16)
def _phi_model(tissue: TissueStack) -> _PhiModel:
    """Tabulate phi and fit its Taylor expansion phi0 + phi1 q + phi2 q^2 at q -> 0."""
    thick = [la.thickness_mm for la in tissue.layers if math.isfinite(la.thickness_mm)]
    h_min = min(thick)
    c = effective_depth_mm(tissue)
    if not math.isfinite(c):
        c = h_min
    q_lo, q_hi = 1e-4 / c, 60.0 / h_min
    lq = np.linspace(math.log(q_lo), math.log(q_hi), 3000)
    spline = CubicSpline(lq, compliance_ratio(np.exp(lq), tissue))
    phi0 = float(compliance_ratio(np.array([0.0]), tissue)[0])
    qs = np.linspace(0.0, 0.05 / c, 41)[1:]
    fit = np.polynomial.polynomial.polyfit(qs, compliance_ratio(qs, tissue) - phi0, [1, 2, 3, 4])
    phi1, phi2 = float(fit[1]), float(fit[2])
    A = phi0 - 1.0
    b1 = phi1 + A * c
    b2 = phi2 + b1 * c - A * c * c / 2.0
    return _PhiModel(spline, q_lo, q_hi, c, (A, b1, b2))


def remainder_spectrum(q: np.ndarray, tissue: TissueStack) -> np.ndarray:
    """C_r(q) = (2 / (E1* q)) (phi(q) - 1 - e^{-qc} (A + b1 q + b2 q^2)) in mm/kPa.

    A, b1, b2 make the bracket O(q^3) at q -> 0, so C_r is smooth (O(q^2)) there and its
    real-space form decays like 1/r^5: a periodic FFT on a box twice the padded grid then
    has negligible images.  The subtracted terms are added back analytically (see
    :func:`_subtracted_real`).
    """
    m = _phi_model(tissue)
    e_star = tissue.layers[0].plane_strain_kpa
    A, b1, b2 = m.coef
    qc = np.clip(q, m.q_lo, None)
    phi = np.where(qc >= m.q_hi, 1.0, m.spline(np.log(np.clip(qc, m.q_lo, m.q_hi))))
    f2 = phi - 1.0 - np.exp(-qc * m.c) * (A + qc * (b1 + b2 * qc))
    return 2.0 * f2 / (e_star * qc)


def remainder_spectrum_grid(qx: np.ndarray, qy: np.ndarray, spacing: tuple[float, float],
                            tissue: TissueStack) -> np.ndarray:
    """:func:`remainder_spectrum` at |(qx_i, qy_j)| times the pixel average
    sinc(qx dx / 2) sinc(qy dy / 2), on the (len(qx), len(qy)) grid of 1-D wave numbers
    (rad/mm).

    The same numbers as the array expression (to 1e-15 of the largest; tested) in one
    compiled pass: the spline's knots are uniform in log q, so each point's interval is
    found by a division instead of a search, and no full-size temporaries are made: the
    remainder tables of a fit's grids have 0.5-4 M points, e.g. 0.07-0.08 -> 0.02 s for one
    of 1281 x 769 points.
    """
    m = _phi_model(tissue)
    A, b1, b2 = m.coef
    qx = np.ascontiguousarray(qx, dtype=float).ravel()
    qy = np.ascontiguousarray(qy, dtype=float).ravel()
    sx = np.sinc(qx * spacing[0] / (2.0 * math.pi))
    sy = np.sinc(qy * spacing[1] / (2.0 * math.pi))
    out = np.empty((qx.size, qy.size))
    _remainder_grid(qx, qy, sx, sy, m.spline.x, np.ascontiguousarray(m.spline.c), m.q_lo,
                    m.q_hi, m.c, A, b1, b2, tissue.layers[0].plane_strain_kpa, out)
    return out


@numba.njit(cache=True, nogil=True)
def _remainder_grid(qx: np.ndarray, qy: np.ndarray, sx: np.ndarray, sy: np.ndarray,
                    knots: np.ndarray, coef: np.ndarray, q_lo: float, q_hi: float, c: float,
                    A: float, b1: float, b2: float, e_star: float,
                    out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The pass of :func:`remainder_spectrum_grid` (the spline evaluated as scipy's PPoly
    does: interval with knots[k] <= x < knots[k + 1], powers summed from the lowest)."""
    n = knots.size - 1
    l0 = knots[0]
    step = (knots[n] - l0) / n
    l_lo, l_hi = math.log(q_lo), math.log(q_hi)
    for i in range(qx.size):
        for j in range(qy.size):
            qc = max(math.hypot(qx[i], qy[j]), q_lo)
            if qc >= q_hi:
                phi = 1.0
            else:
                lq = min(max(math.log(qc), l_lo), l_hi)
                k = min(max(int((lq - l0) / step), 0), n - 1)
                while k > 0 and lq < knots[k]:
                    k -= 1
                while k < n - 1 and lq >= knots[k + 1]:
                    k += 1
                x = lq - knots[k]
                phi = 0.0
                z = 1.0
                for d in range(4):
                    phi += coef[3 - d, k] * z
                    z *= x
            f2 = phi - 1.0 - math.exp(-qc * c) * (A + qc * (b1 + b2 * qc))
            out[i, j] = 2.0 * f2 / (e_star * qc) * (sx[i] * sy[j])


def _subtracted_real(x: np.ndarray, y: np.ndarray, tissue: TissueStack) -> np.ndarray:
    """Real-space form (mm per kPa mm^2) of the subtracted spectrum.

    Hankel transforms (Laplace transforms of J0): int e^{-qc} J0(qr) dq = 1/s,
    int q e^{-qc} J0 dq = c/s^3, int q^2 e^{-qc} J0 dq = (2c^2 - r^2)/s^5, s = sqrt(r^2+c^2);
    the Green's function is 1/(pi E1*) times the q-integral of the bracket.
    """
    m = _phi_model(tissue)
    A, b1, b2 = m.coef
    c = m.c
    r2 = x * x + y * y
    s2 = r2 + c * c
    s = np.sqrt(s2)
    val = A / s + b1 * c / (s2 * s) + b2 * (2.0 * c * c - r2) / (s2 * s2 * s)
    return val / (math.pi * tissue.layers[0].plane_strain_kpa)


@functools.lru_cache(maxsize=8)
def _remainder_quadrant(
    bnx: int, bny: int, spacing: tuple[float, float], tissue: TissueStack
) -> np.ndarray:
    """Pixel-integrated layered remainder for offsets 0..bn-1 of a bnx x bny grid (it is
    even in x and in y: the other quadrants are its mirror images, see :func:`_layout`).

    Spectral part: C_r(q) times the exact pixel-averaging factor sinc(qx dx/2) sinc(qy dy/2),
    one inverse transform on a box >= 2x the padded grid and >= padded + 8 c (images
    ~(c/L)^5), at most 4x (rounded up to an even fast length).  The spectrum is real and
    even in qx and qy, so the transform is a 2-D DCT-I of its quadrant (the same numbers
    as the inverse FFT of the whole box, measured 1e-16 of the table's peak, on a quarter
    of the points: 0.08-0.20 -> 0.05-0.11 s for a 480 x 480 grid).  Analytic part:
    :func:`_subtracted_real` integrated over the pixel with 3 x 3 Gauss points (it varies
    on the scale c >= the thinnest layer).  Cached, so every window of this grid reuses it.
    """
    dx, dy = spacing
    bpx, bpy = padded_size(bnx), padded_size(bny)
    c_px = _phi_model(tissue).c / np.array(spacing)

    def box(bp: int, c: float) -> int:
        return 2 * sfft.next_fast_len(math.ceil(min(max(2 * bp, bp + 8 * c), 4 * bp) / 2),
                                      real=True)

    bx, by = box(bpx, c_px[0]), box(bpy, c_px[1])
    qx = 2.0 * math.pi * np.arange(bx // 2 + 1)[:, None] / (bx * dx)
    qy = 2.0 * math.pi * np.arange(by // 2 + 1)[None, :] / (by * dy)
    spec = remainder_spectrum_grid(qx, qy, spacing, tissue)
    quadrant_table = dct1(spec, fft_workers())
    quadrant_table /= bx * by
    del spec
    table = np.array(quadrant_table[:bnx, :bny])
    del quadrant_table
    # the pixel average is even in x and in y (a radial function, symmetric Gauss
    # points): computed on the quadrant of non-negative offsets
    X = (np.arange(bnx) * dx)[:, None]
    Y = (np.arange(bny) * dy)[None, :]
    quadrant = np.zeros((bnx, bny))
    g, w = np.polynomial.legendre.leggauss(3)
    for gi, wi in zip(g, w, strict=True):
        for gj, wj in zip(g, w, strict=True):
            quadrant += (wi * wj / 4.0) * dx * dy * _subtracted_real(
                X + 0.5 * gi * dx, Y + 0.5 * gj * dy, tissue
            )
    table += quadrant
    table.setflags(write=False)
    return table


def _layout(quadrant: np.ndarray, nx: int, ny: int, px: int, py: int) -> np.ndarray:
    """An even kernel on the padded linear-convolution layout of an (nx, ny) grid from its
    quadrant of non-negative offsets (at least nx x ny): offset k sits at index k and
    px + k for k < 0.  The unused band (|offset| >= n) gets the clipped offset's value
    here and is zeroed by :func:`kernel_real`."""
    ax = np.minimum(np.where(np.arange(px) < nx, np.arange(px), px - np.arange(px)), nx - 1)
    ay = np.minimum(np.where(np.arange(py) < ny, np.arange(py), py - np.arange(py)), ny - 1)
    return quadrant[np.ix_(ax, ay)]


def _phi_eval(q: np.ndarray, tissue: TissueStack) -> np.ndarray:
    """phi(q) from the cached spline, its Taylor model below q_lo and 1 above q_hi."""
    m = _phi_model(tissue)
    A, b1, b2 = m.coef
    c = m.c
    # Taylor coefficients back from the subtraction: phi0 = A + 1, phi1 = b1 - A c, ...
    phi0, phi1 = A + 1.0, b1 - A * c
    phi2 = b2 - b1 * c + A * c * c / 2.0
    lq = np.log(np.clip(q, m.q_lo, m.q_hi))
    out = np.where(q >= m.q_hi, 1.0, m.spline(lq))
    return np.where(q < m.q_lo, phi0 + q * (phi1 + phi2 * q), out)


def line_remainder(offsets_mm: np.ndarray, dx: float, tissue: TissueStack) -> np.ndarray:
    """Plane-strain layered remainder per strip (mm per kPa) at the given offsets.

    With the strip kernel of :func:`line_pixel` written as
    -(2/(pi E*)) ln|x| = (1/pi) int_0^inf (2/(E* q)) (cos qx - e^{-q l}) dq (l = 1 mm,
    Frullani), the layered kernel (1/pi) int C(q) cos(qx) dq, C = 2 phi / (E* q), differs
    from it by R(x) = (1/pi) int_0^inf (2/(E* q)) [(phi - 1) cos qx + (1 - phi(0)) e^{-q l}] dq,
    whose integrand is finite at q = 0 and decays exponentially: composite 16-point
    Gauss-Legendre in q.  (On a half-space base the plane-strain approach is undefined and
    the (1 - phi(0)) term just fixes the constant.)  Strip average: midpoint value plus
    dx^2 R''/24.
    """
    m = _phi_model(tissue)
    e_star = tissue.layers[0].plane_strain_kpa
    thick = [la.thickness_mm for la in tissue.layers if math.isfinite(la.thickness_mm)]
    h_min = min(thick)
    ell = 1.0
    x = np.abs(np.asarray(offsets_mm, dtype=float))
    x_max = max(float(x.max()), dx)
    q_max = max(45.0 / h_min, 40.0 / ell)
    # panels: uniform (resolves cos(q x_max) and e^{-q l}) merged with geometric ones
    # (ratio ~1.1) from 1e-4 / depth to 40 / h_min (resolve phi on every layer's scale)
    width = min(0.5 / ell, math.pi / x_max)
    uniform = np.linspace(0.0, q_max, math.ceil(q_max / width) + 1)
    q_geo_hi = min(q_max, 40.0 / h_min)
    geometric = np.geomspace(1e-4 / m.c, q_geo_hi, max(2, math.ceil(math.log(4e5) / 0.1)))
    edges = np.unique(np.concatenate([uniform, geometric]))
    xg, wg = np.polynomial.legendre.leggauss(16)
    mid = 0.5 * (edges[1:] + edges[:-1])
    half = 0.5 * (edges[1:] - edges[:-1])
    q = (mid[:, None] + half[:, None] * xg).ravel()
    w = (half[:, None] * wg).ravel()
    phi = _phi_eval(q, tissue)
    phi0 = float(_phi_eval(np.array([0.0]), tissue)[0])
    a = 2.0 * (phi - 1.0) / (e_star * q) * w
    const = float(np.sum(2.0 * (1.0 - phi0) * np.exp(-q * ell) / (e_star * q) * w))
    val = np.empty_like(x)
    d2 = np.empty_like(x)
    chunk = max(1, int(2e6 // q.size))
    for i in range(0, x.size, chunk):
        cq = np.cos(np.outer(x[i : i + chunk], q))
        val[i : i + chunk] = cq @ a
        d2[i : i + chunk] = cq @ (-(q * q) * a)
    return (val + const + dx * dx * d2 / 24.0) / math.pi * dx


def _offsets(n: int, npad: int, d: float) -> np.ndarray:
    """Signed pixel offsets (mm) on a padded axis laid out for linear convolution."""
    i = np.arange(npad)
    off = np.where(i < n, i, i - npad).astype(float)
    off[(i >= n) & (i <= npad - n)] = np.nan  # never used by a linear convolution
    return off * d


def padded_size(n: int) -> int:
    """Smallest fast FFT length >= 2n - 1."""
    return sfft.next_fast_len(2 * n - 1, real=True)


def kernel_real(
    shape: tuple[int, int],
    spacing: tuple[float, float],
    tissue: TissueStack,
    model: str,
    box_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Real-space kernel on the padded grid (mm per kPa), NaN-free, zero where unused."""
    nx, ny = shape
    dx, dy = spacing
    px, py = padded_size(nx), padded_size(ny)
    # the tables of the whole grid when ``shape`` is a window of it: the same values
    bnx, bny = (int(nx), int(ny)) if box_shape is None else (int(box_shape[0]),
                                                             int(box_shape[1]))
    top = tissue.layers[0]
    quadrant = _love_quadrant(bnx, bny, float(dx), float(dy), top.plane_strain_kpa)
    extent = max(nx * dx, ny * dy)
    depth = effective_depth_mm(tissue)
    if (
        model == "layered"
        and not (tissue.base == "halfspace" and len(tissue.layers) == 1)
        and not depth > EFFECTIVELY_INFINITE * extent
    ):
        quadrant = quadrant + _remainder_quadrant(bnx, bny, spacing, tissue)
    k = _layout(quadrant, nx, ny, px, py)
    # zero the unused band so that a stray write can never alias
    mask_x = np.isnan(_offsets(nx, px, dx))
    mask_y = np.isnan(_offsets(ny, py, dy))
    k[mask_x, :] = 0.0
    k[:, mask_y] = 0.0
    return k


@functools.lru_cache(maxsize=32)
def kernel_spectrum(
    shape: tuple[int, int],
    spacing: tuple[float, float],
    tissue: TissueStack,
    model: str,
    box_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """rfft2 of :func:`kernel_real` (cached per shape, spacing, tissue, model, box)."""
    k = kernel_real(shape, spacing, tissue, model, box_shape)
    spec = rfft2(k, k.shape, fft_workers())
    spec.setflags(write=False)
    return spec


@functools.lru_cache(maxsize=32)
def kernel_spectrum32(
    shape: tuple[int, int],
    spacing: tuple[float, float],
    tissue: TissueStack,
    model: str,
    box_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Single-precision copy of :func:`kernel_spectrum` for the fast first CG phase."""
    spec = kernel_spectrum(shape, spacing, tissue, model, box_shape).astype(np.complex64)
    spec.setflags(write=False)
    return spec


class Convolver:
    """u = K * p on an (nx, ny) grid, linear (non-periodic) convolution by padded rfft2.

    ``single=True`` convolves in float32 (about 3x faster FFTs, relative error ~1e-7); the
    solver uses it only for the first iterations and always finishes in float64.

    The 2-D transforms are pruned: the rows of the padded input beyond ``nx`` are zero and
    the output rows beyond ``nx`` are discarded, so the row passes (along y) run on ``nx``
    rows only and the column passes (along x) zero-pad / truncate. The same numbers as
    ``irfft2(rfft2(padded) * spectrum)`` (to round-off) for about half the row work: 22-28 %
    less time per call with one FFT thread (the fit's contour threads), measured on
    192 x 720 to 480 x 480 grids.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        spacing: tuple[float, float],
        tissue: TissueStack,
        model: str,
        single: bool = False,
        box_shape: tuple[int, int] | None = None,
    ) -> None:
        self.shape = shape
        self.padded = (padded_size(shape[0]), padded_size(shape[1]))
        box = None if box_shape is None or tuple(box_shape) == tuple(shape) else tuple(box_shape)
        if single:
            self.spec = kernel_spectrum32(shape, spacing, tissue, model, box)
        else:
            self.spec = kernel_spectrum(shape, spacing, tissue, model, box)
        self._fft = PaddedConvolution(shape, self.padded, self.spec)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        """K * p (mm) for a pixel pressure p (kPa) on the (nx, ny) grid, as float64."""
        return self._fft(p, fft_workers())


# ----------------------------------------------------------------------------- preconditioner

PRECOND_ALIASES = 2  # aliased images per side summed into the discrete symbol


def uses_layered_remainder(
    shape: tuple[int, int], spacing: tuple[float, float], tissue: TissueStack, model: str
) -> bool:
    """True when :func:`kernel_real` adds the layered remainder to the top-layer kernel.

    The same test as in :func:`kernel_real`, so that the preconditioner's symbol describes
    the kernel actually convolved with.
    """
    extent = max(shape[0] * spacing[0], shape[1] * spacing[1])
    return (
        model == "layered"
        and not (tissue.base == "halfspace" and len(tissue.layers) == 1)
        and not effective_depth_mm(tissue) > EFFECTIVELY_INFINITE * extent
    )


@functools.lru_cache(maxsize=32)
def kernel_symbol(
    fft_shape: tuple[int, int],
    spacing: tuple[float, float],
    tissue: TissueStack,
    layered: bool,
) -> np.ndarray:
    """Symbol (mm/kPa) of the infinite pixel-kernel convolution on the rfft2 grid of fft_shape.

    The pixel kernel (uniform pressure on a dx x dy pixel, displacement at pixel centres)
    has the discrete-time Fourier transform
    ``sum_m C(q_m) sinc(q_m,x dx / 2) sinc(q_m,y dy / 2)``, ``q_m = q + 2 pi (m_x / dx,
    m_y / dy)``, with the continuous compliance ``C(q) = 2 phi(|q|) / (E1* |q|)`` (Johnson
    1985 eq. 13.3 for the half-space; phi from :mod:`.layered`).  The half-space part is
    summed over ``|m| <= PRECOND_ALIASES`` images; the layered remainder ``phi - 1`` decays
    like ``exp(-2 |q| h_min)`` and needs none.  Unlike the DFT of the truncated, zero-padded
    kernel (the :class:`Convolver` spectrum), this is positive everywhere: the truncation
    of the long-range layered tail makes about 1.5 % of that spectrum negative on a thin
    window.  |q| is floored at half the fundamental frequency (the half-space symbol is
    infinite at q = 0).  Cached per (fft_shape, spacing, tissue, layered).
    """
    fx, fy = fft_shape
    dx, dy = spacing
    e1 = tissue.layers[0].plane_strain_kpa
    qx = 2.0 * math.pi * sfft.fftfreq(fx, dx)[:, None]
    qy = 2.0 * math.pi * sfft.rfftfreq(fy, dy)[None, :]
    q_floor = 0.5 * min(2.0 * math.pi / (fx * dx), 2.0 * math.pi / (fy * dy))
    out = np.zeros((fx, fy // 2 + 1))
    m = np.arange(-PRECOND_ALIASES, PRECOND_ALIASES + 1)
    for mx in m:
        ax = qx + 2.0 * math.pi * mx / dx
        sx = np.sinc(ax * dx / (2.0 * math.pi))
        for my in m:
            ay = qy + 2.0 * math.pi * my / dy
            sy = np.sinc(ay * dy / (2.0 * math.pi))
            out += (2.0 / e1) * sx * sy / np.maximum(np.hypot(ax, ay), q_floor)
    if layered:
        q = np.maximum(np.hypot(qx, qy), q_floor)
        pix = np.sinc(qx * dx / (2.0 * math.pi)) * np.sinc(qy * dy / (2.0 * math.pi))
        out += 2.0 * (_phi_eval(q, tissue) - 1.0) / (e1 * q) * pix
    out.setflags(write=False)
    return out


class Preconditioner:
    """z = M^-1 r: the inverse of the kernel symbol applied by FFT (an SPD approximation of K^-1).

    Vollebregt's FFT-based preconditioner for the elastic normal contact problem
    (E.A.H. Vollebregt, J. Comput. Phys. 257 (2014) 333-351): the influence matrix K is a
    Toeplitz (convolution) matrix, so its inverse is approximated by the inverse of its
    symbol (:func:`kernel_symbol`, strictly positive) on a periodic FFT grid.  The solver
    restricts input and output to the contact set, which keeps it symmetric positive
    definite there.  ``r`` is a gap-like residual (mm), ``z`` a pressure (kPa).  It inverts
    the stiffness contrast of a layered stack (stiff skin on soft fat) and the pixel
    anisotropy exactly for the full plane; what remains for the conjugate gradient is the
    restriction to the contact set.

    fft_shape: the periodic grid (at least ``shape``); default: the grid itself (next
    fast FFT length, no zero padding).  Periodic images only make the preconditioner a
    little less exact (measured: same iteration counts as on the 2x padded grid) and it
    then costs about a third of a :class:`Convolver` call.  ``single=True``: float32 FFTs
    (for the single-precision warm start of the solver).
    """

    def __init__(
        self,
        shape: tuple[int, int],
        spacing: tuple[float, float],
        tissue: TissueStack,
        model: str,
        single: bool = False,
        fft_shape: tuple[int, int] | None = None,
    ) -> None:
        self.shape = shape
        self.fft_shape = (
            (sfft.next_fast_len(shape[0], real=True), sfft.next_fast_len(shape[1], real=True))
            if fft_shape is None
            else (int(fft_shape[0]), int(fft_shape[1]))
        )
        if self.fft_shape[0] < shape[0] or self.fft_shape[1] < shape[1]:
            raise ValueError(f"fft_shape {self.fft_shape} is smaller than the grid {shape}")
        sym = kernel_symbol(
            self.fft_shape, spacing, tissue, uses_layered_remainder(shape, spacing, tissue, model)
        )
        dtype = np.float32 if single else np.float64
        self._inv = (1.0 / sym).astype(dtype)
        self._fft = PeriodicFilter(shape, self.fft_shape, self._inv)

    def __call__(self, r: np.ndarray) -> np.ndarray:
        """M^-1 r on the (nx, ny) grid: r in mm, result in kPa (float64)."""
        return self._fft(r, fft_workers())
