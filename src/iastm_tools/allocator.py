"""glibc allocator settings for the fit's large, short-lived arrays (Linux only).

A layered fit allocates and frees arrays of 0.1-30 MB thousands of times (FFT buffers,
gap grids, pressure fields).  By default glibc serves blocks from 128 kB up (the
threshold then adapts up to 32 MB) with fresh ``mmap`` pages and returns them with
``munmap``: every allocation pays its page faults again, and with the contour threads of a
fit both threads queue on the process's memory-map lock.  Keeping such blocks in the heap
(``M_MMAP_THRESHOLD`` 32 MB, freed tops kept up to ``M_TRIM_THRESHOLD`` 256 MB,
``M_TOP_PAD`` 64 MB) removes most of that.  Measured on the 2-core target machine, two
threads fitting `hook-j`'s hook R18 c at once: system time 2.0 -> 0.9 s and page faults
536k -> 228k for 8 fits; per tool (layered, calf, 8 N) `hook-j` 2.00-2.06 -> 1.86-1.98 s.
The numbers a fit returns do not depend on it.  The price: up to ~256 MB of freed memory
per arena stays with the process until it exits.

``IASTM_MALLOC_TUNING=0`` leaves the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

#: mallopt parameter numbers (glibc malloc.h) and the values set.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
SETTINGS = (
    (M_MMAP_THRESHOLD, 32 * 2**20),
    (M_TRIM_THRESHOLD, 256 * 2**20),
    (M_TOP_PAD, 64 * 2**20),
)

_LOCK = threading.Lock()
_DONE: list[bool] = []


def tune_allocator() -> bool:
    """Apply :data:`SETTINGS` once per process (glibc only; see the module docstring).

    Returns True when the settings are in force, False when the platform has no glibc or
    ``IASTM_MALLOC_TUNING=0`` asks to leave the allocator alone.
    """
    with _LOCK:
        if _DONE:
            return _DONE[0]
        _DONE.append(_apply())
        return _DONE[0]


def _apply() -> bool:
    if os.environ.get("IASTM_MALLOC_TUNING", "1").strip() == "0":
        return False
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError on musl and others
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS)
