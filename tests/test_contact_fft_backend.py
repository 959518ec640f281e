"""FFT backend of the contact solver: ducc0 and scipy.fft give the same transforms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import fft as sfft

from iastm_tools.contact import fft_backend as fb
from iastm_tools.contact.kernels import padded_size
from iastm_tools.errors import IastmError

ducc = pytest.importorskip("ducc0")


def _reference_convolution(p: np.ndarray, spectrum: np.ndarray, padded: tuple[int, int]):
    """The unpruned padded convolution, irfft2(rfft2(p padded) * spectrum), first nx x ny."""
    nx, ny = p.shape
    full = sfft.irfft2(sfft.rfft2(p, s=padded) * spectrum, s=padded)
    return full[:nx, :ny]


@settings(max_examples=25, deadline=None)
@given(nx=st.integers(2, 70), ny=st.integers(2, 70), single=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_padded_convolution_backends_agree(nx, ny, single, seed):
    """Both backends equal the unpruned padded convolution: 1e-12 of the largest value in
    double precision, 2e-6 in single (float round-off of a sum of nx ny terms), on random
    grids of any size (odd, prime, 2) and random complex spectra."""
    rng = np.random.default_rng(seed)
    padded = (padded_size(nx), padded_size(ny))
    dtype = np.complex64 if single else np.complex128
    spectrum = (rng.standard_normal((padded[0], padded[1] // 2 + 1))
                + 1j * rng.standard_normal((padded[0], padded[1] // 2 + 1))).astype(dtype)
    p = rng.random((nx, ny))
    ref = _reference_convolution(p, spectrum.astype(np.complex128), padded)
    scale = np.abs(ref).max()
    tol = 2e-6 if single else 1e-12
    for backend in fb.BACKENDS:
        conv = fb.PaddedConvolution((nx, ny), padded, spectrum, backend=backend)
        for _ in range(2):  # the buffers are reused: a second call gives the same
            out = conv(p)
            assert out.dtype == np.float64 and out.shape == (nx, ny)
            assert np.abs(out - ref).max() <= tol * scale


@settings(max_examples=20, deadline=None)
@given(nx=st.integers(2, 60), ny=st.integers(2, 60), single=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_periodic_filter_backends_agree(nx, ny, single, seed):
    """The periodic filter of both backends equals irfft2(rfft2(r zero-padded) * m): 1e-12
    (double) / 2e-6 (single) of the largest value; repeated calls are unaffected by the
    previous output (the input buffer's padding stays zero)."""
    rng = np.random.default_rng(seed)
    fft_shape = (sfft.next_fast_len(nx, real=True) + 2, sfft.next_fast_len(ny, real=True))
    dtype = np.float32 if single else np.float64
    mult = rng.random((fft_shape[0], fft_shape[1] // 2 + 1)).astype(dtype)
    tol = 2e-6 if single else 1e-12
    for backend in fb.BACKENDS:
        filt = fb.PeriodicFilter((nx, ny), fft_shape, mult, backend=backend)
        for _ in range(2):
            r = rng.standard_normal((nx, ny))
            ref = sfft.irfft2(sfft.rfft2(r, s=fft_shape) * mult.astype(float), s=fft_shape)
            ref = ref[:nx, :ny]
            out = filt(r)
            assert np.abs(out - ref).max() <= tol * np.abs(ref).max()


def test_transform_helpers_match_scipy(monkeypatch):
    """rfft2 (with zero padding), irfft2 and the DCT-I of the chosen backend equal scipy's
    to 1e-13 of the largest value."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((37, 50))
    s = (80, 104)
    for backend in fb.BACKENDS:
        monkeypatch.setattr(fb, "BACKEND", backend)
        spec = fb.rfft2(a, s)
        ref = sfft.rfft2(a, s=s)
        assert np.abs(spec - ref).max() <= 1e-13 * np.abs(ref).max()
        back = fb.irfft2(spec.copy(), s, overwrite=True)
        np.testing.assert_allclose(back[:37, :50], a, atol=1e-13)
        d = fb.dct1(a)
        ref_d = sfft.dctn(a, type=1)
        assert np.abs(d - ref_d).max() <= 1e-13 * np.abs(ref_d).max()


def test_backend_choice(monkeypatch):
    """IASTM_FFT_BACKEND picks the backend; a bad value is a one-line input error naming
    the choices (the CLI: exit 2, no traceback); an unknown backend argument a ValueError."""
    monkeypatch.setenv("IASTM_FFT_BACKEND", "scipy")
    assert fb._choose_backend() == "scipy"
    monkeypatch.setenv("IASTM_FFT_BACKEND", "ducc0")
    assert fb._choose_backend() == "ducc0"
    monkeypatch.setenv("IASTM_FFT_BACKEND", "fftw")
    with pytest.raises(IastmError, match="IASTM_FFT_BACKEND must be one of ducc0, scipy"):
        fb._choose_backend()
    spec = np.zeros((4, 3), dtype=np.complex128)
    with pytest.raises(ValueError, match="backend must be one of"):
        fb.PaddedConvolution((2, 2), (4, 4), spec, backend="numpy")
    with pytest.raises(ValueError, match="backend must be one of"):
        fb.PeriodicFilter((2, 2), (4, 4), np.zeros((4, 3)), backend="numpy")
