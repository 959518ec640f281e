"""The FFTs of the contact solver's two hot loops: ducc0 when importable, else scipy.fft.

Every iteration of the contact solver is one padded linear convolution
(:class:`~iastm_tools.contact.kernels.Convolver`) and one periodic preconditioner
application (:class:`~iastm_tools.contact.kernels.Preconditioner`); on the calf fits they
are most of a fit's time.  scipy's FFTs (pocketfft) run on 4-float SIMD vectors in the
wheels; ducc0 (M. Reinecke, the successor of pocketfft by its author, the CPU FFT of JAX)
is faster on the same transforms.  Measured on the 2-core target machine, one thread, per
call: the single-precision convolution of a 352 x 352 window 1.76 -> 1.25 ms, of 336 x 448
2.07 -> 1.41 ms; double precision 3.3 -> 1.7 ms and 3.9 -> 2.0 ms; the preconditioner
0.53 -> 0.37 ms.  The results agree to float round-off (2.6e-7 of the largest value in
single precision, 5e-16 in double).

ducc0 is licensed GPL-2.0-or-later (see the README's "Licences").  ``IASTM_FFT_BACKEND=scipy``
selects scipy.fft, which is also used when ducc0 cannot be imported.  The backend is read
once, at import.

With ducc0 the transforms of the two loops write into buffers owned by the caller (one
:class:`PaddedConvolution` or :class:`PeriodicFilter` per solve and thread), so an
iteration allocates nothing but its float64 result.
"""

from __future__ import annotations

import os

import numpy as np
from scipy import fft as sfft

from ..errors import IastmError

try:  # pragma: no cover - which branch runs depends on the installation
    import ducc0.fft as _ducc
except ImportError:  # pragma: no cover
    _ducc = None

BACKENDS = ("ducc0", "scipy")


def _choose_backend() -> str:
    """``IASTM_FFT_BACKEND`` (ducc0 or scipy; default ducc0 when it can be imported)."""
    asked = (os.environ.get("IASTM_FFT_BACKEND") or "ducc0").strip().lower()
    if asked not in BACKENDS:
        raise IastmError(f"IASTM_FFT_BACKEND must be one of {', '.join(BACKENDS)} "
                         f"(got {asked!r})")
    return "ducc0" if asked == "ducc0" and _ducc is not None else "scipy"


BACKEND = _choose_backend()


class PaddedConvolution:
    """u = IFFT2[FFT2(p padded to ``padded``) x spectrum], first ``shape`` points: a linear
    (non-periodic) convolution of an (nx, ny) field with a kernel laid out on a padded grid.

    The 2-D transforms are pruned: the padded input rows beyond ``nx`` are zero, so the
    row transforms (along y) run on ``nx`` rows only, and only ``nx`` output rows are
    transformed back.  ``spectrum``: the rfft2 of the padded kernel, shape
    (px, py // 2 + 1), complex of the working precision.  Not thread-safe (it owns its
    buffers): one instance per solve.
    """

    def __init__(self, shape: tuple[int, int], padded: tuple[int, int],
                 spectrum: np.ndarray, backend: str = BACKEND) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS} (got {backend!r})")
        self.shape = (int(shape[0]), int(shape[1]))
        self.padded = (int(padded[0]), int(padded[1]))
        self.spectrum = spectrum
        self.backend = backend if _ducc is not None else "scipy"
        self.real_dtype = np.float32 if spectrum.dtype == np.complex64 else np.float64
        if self.backend == "ducc0":
            nx, _ = self.shape
            px, py = self.padded
            self._rows_in = np.zeros((nx, py), dtype=self.real_dtype)
            self._spec = np.empty((px, py // 2 + 1), dtype=spectrum.dtype)
            self._rows_out = np.empty((nx, py), dtype=self.real_dtype)

    def __call__(self, p: np.ndarray, workers: int = 1) -> np.ndarray:
        """The convolution of ``p`` (nx, ny), as float64 (a new array)."""
        nx, ny = self.shape
        px, py = self.padded
        if self.backend == "scipy":
            rows = sfft.rfft(np.asarray(p, dtype=self.real_dtype), n=py, axis=1,
                             workers=workers)
            spec = sfft.fft(rows, n=px, axis=0, workers=workers, overwrite_x=True)
            spec *= self.spectrum
            cols = sfft.ifft(spec, axis=0, workers=workers, overwrite_x=True)[:nx]
            return sfft.irfft(cols, n=py, axis=1, workers=workers)[:, :ny].astype(float)
        rows_in, spec, rows_out = self._rows_in, self._spec, self._rows_out
        rows_in[:, :ny] = p  # columns ny.. stay zero: the padding
        _ducc.r2c(rows_in, axes=(1,), forward=True, out=spec[:nx], nthreads=workers)
        spec[nx:] = 0.0
        _ducc.c2c(spec, axes=(0,), forward=True, out=spec, nthreads=workers)
        spec *= self.spectrum
        _ducc.c2c(spec, axes=(0,), forward=False, inorm=2, out=spec, nthreads=workers)
        _ducc.c2r(spec[:nx], axes=(1,), lastsize=py, forward=False, inorm=2, out=rows_out,
                  nthreads=workers, allow_overwriting_input=True)
        return rows_out[:, :ny].astype(float)


class PeriodicFilter:
    """z = IFFT2[FFT2(r zero-padded to ``fft_shape``) x multiplier], first ``shape`` points:
    a periodic filter with a real multiplier (shape (fx, fy // 2 + 1), float of the working
    precision).  Not thread-safe (it owns its buffers): one instance per solve."""

    def __init__(self, shape: tuple[int, int], fft_shape: tuple[int, int],
                 multiplier: np.ndarray, backend: str = BACKEND) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS} (got {backend!r})")
        self.shape = (int(shape[0]), int(shape[1]))
        self.fft_shape = (int(fft_shape[0]), int(fft_shape[1]))
        self.multiplier = multiplier
        self.backend = backend if _ducc is not None else "scipy"
        complex_dtype = np.complex64 if multiplier.dtype == np.float32 else np.complex128
        self._in = np.zeros(self.fft_shape, dtype=multiplier.dtype)
        if self.backend == "ducc0":
            fx, fy = self.fft_shape
            self._spec = np.empty((fx, fy // 2 + 1), dtype=complex_dtype)
            self._out = np.empty(self.fft_shape, dtype=multiplier.dtype)

    def __call__(self, r: np.ndarray, workers: int = 1) -> np.ndarray:
        """The filtered ``r`` (nx, ny), as float64 (a new array)."""
        nx, ny = self.shape
        buf = self._in
        buf[:nx, :ny] = r  # the rest stays zero
        if self.backend == "scipy":
            spec = sfft.rfft2(buf, workers=workers)
            spec *= self.multiplier
            out = sfft.irfft2(spec, s=self.fft_shape, workers=workers)
            return out[:nx, :ny].astype(float)
        _ducc.r2c(buf, axes=(0, 1), forward=True, out=self._spec, nthreads=workers)
        self._spec *= self.multiplier
        _ducc.c2r(self._spec, axes=(0, 1), lastsize=self.fft_shape[1], forward=False,
                  inorm=2, out=self._out, nthreads=workers, allow_overwriting_input=True)
        return self._out[:nx, :ny].astype(float)


def rfft2(a: np.ndarray, s: tuple[int, int], workers: int = 1) -> np.ndarray:
    """``scipy.fft.rfft2(a, s=s)`` (``a`` zero-padded to ``s``) on the chosen backend."""
    if BACKEND == "scipy":
        return sfft.rfft2(a, s=s, workers=workers)
    a = np.asarray(a)
    real = np.float32 if a.dtype == np.float32 else np.float64
    if a.shape != tuple(s):
        padded = np.zeros(s, dtype=real)
        padded[: a.shape[0], : a.shape[1]] = a
        a = padded
    return _ducc.r2c(np.asarray(a, dtype=real), axes=(0, 1), forward=True, nthreads=workers)


def irfft2(spec: np.ndarray, s: tuple[int, int], workers: int = 1,
           overwrite: bool = False) -> np.ndarray:
    """``scipy.fft.irfft2(spec, s=s)`` on the chosen backend; ``overwrite``: ``spec`` may
    be destroyed (saves a copy)."""
    if BACKEND == "scipy":
        return sfft.irfft2(spec, s=s, workers=workers, overwrite_x=overwrite)
    return _ducc.c2r(spec, axes=(0, 1), lastsize=int(s[1]), forward=False, inorm=2,
                     nthreads=workers, allow_overwriting_input=overwrite)


def dct1(a: np.ndarray, workers: int = 1) -> np.ndarray:
    """``scipy.fft.dctn(a, type=1)`` (unnormalised, every axis) on the chosen backend."""
    if BACKEND == "scipy":
        return sfft.dctn(a, type=1, workers=workers)
    return _ducc.dct(np.asarray(a, dtype=float), type=1, axes=tuple(range(np.ndim(a))),
                     inorm=0, nthreads=workers)
